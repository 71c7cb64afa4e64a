/* Webhooks: the signature a receiver checks (a known answer computed apart, with Python's
 * hmac), its verification (tampered body, wrong secret, stale or future timestamp), the
 * secrets and URLs an admin may register, and a secret sealed for one agency. */
#include "check_run.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trm/keyring.h"
#include "trm/webhook.h"

#define SECRET "whsec-0123456789abcdef"
#define BODY "{\"id\":\"e1\",\"kind\":\"offer_received\"}"
#define AGENCY_A "11111111-1111-4111-8111-111111111111"
#define AGENCY_B "22222222-2222-4222-8222-222222222222"

START_TEST(signature_known_answer)
{
    char sig[TRM_WEBHOOK_SIGNATURE_LEN + 1];
    trm_webhook_sign(SECRET, 1767225600LL, BODY, strlen(BODY), sig);
    /* python3: hmac.new(secret, b"1767225600." + body, hashlib.sha256).hexdigest() */
    ck_assert_str_eq(sig, "v1=b5077a76c352299a30d8c1cf47620b58d3ab6d60b7b39e5c0a8f5a0ea621a2d7");
}
END_TEST

START_TEST(signature_verifies_and_refuses)
{
    char sig[TRM_WEBHOOK_SIGNATURE_LEN + 1];
    long long now = 1767225600LL;
    trm_webhook_sign(SECRET, now, BODY, strlen(BODY), sig);
    ck_assert(trm_webhook_verify(SECRET, "1767225600", sig, BODY, strlen(BODY), now, 300));
    ck_assert(trm_webhook_verify(SECRET, "1767225600", sig, BODY, strlen(BODY), now + 300, 300));
    /* A body changed by one byte, another secret, another timestamp, a stale or future one. */
    const char *other = "{\"id\":\"e2\",\"kind\":\"offer_received\"}";
    ck_assert(!trm_webhook_verify(SECRET, "1767225600", sig, other, strlen(other), now, 300));
    ck_assert(!trm_webhook_verify("whsec-0123456789abcdeF", "1767225600", sig, BODY, strlen(BODY),
                                  now, 300));
    ck_assert(!trm_webhook_verify(SECRET, "1767225601", sig, BODY, strlen(BODY), now, 300));
    ck_assert(!trm_webhook_verify(SECRET, "1767225600", sig, BODY, strlen(BODY), now + 301, 300));
    ck_assert(!trm_webhook_verify(SECRET, "1767225600", sig, BODY, strlen(BODY), now - 301, 300));
    ck_assert(!trm_webhook_verify(SECRET, "17672256OO", sig, BODY, strlen(BODY), now, 300));
    ck_assert(!trm_webhook_verify(SECRET, "1767225600", "v1=00", BODY, strlen(BODY), now, 300));
    ck_assert(!trm_webhook_verify(SECRET, "1767225600", NULL, BODY, strlen(BODY), now, 300));
}
END_TEST

START_TEST(secrets_and_urls)
{
    ck_assert(trm_webhook_secret_ok("0123456789abcdef"));
    ck_assert(trm_webhook_secret_ok(SECRET));
    ck_assert(!trm_webhook_secret_ok("short"));
    ck_assert(!trm_webhook_secret_ok("0123456789 abcdef"));
    ck_assert(!trm_webhook_secret_ok("0123456789abcdef\n"));
    char long_secret[TRM_WEBHOOK_SECRET_MAX + 2];
    memset(long_secret, 'x', sizeof long_secret - 1);
    long_secret[sizeof long_secret - 1] = '\0';
    ck_assert(!trm_webhook_secret_ok(long_secret));
    long_secret[TRM_WEBHOOK_SECRET_MAX] = '\0';
    ck_assert(trm_webhook_secret_ok(long_secret));

    static const char *const good[] = {
        "https://hooks.example.org/trm",
        "https://hooks.example.org:8443/in?x=1",
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://[::1]:8080/",
        "https://[2001:db8::1]/in",
    };
    static const char *const bad[] = {
        "http://hooks.example.org/trm", /* clear text beyond this machine */
        "http://10.0.0.5/internal",
        "ftp://example.org/",
        "https://user:pass@example.org/",
        "https://example.org /x",
        "https://",
        "https://example.org:99999/",
        "https://example.org:/x",
        "http://127.0.0.1.evil.example/",
        "javascript:alert(1)",
        "",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(trm_webhook_url_ok(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!trm_webhook_url_ok(bad[i]), "%s", bad[i]);
    ck_assert(!trm_webhook_url_ok(NULL));
}
END_TEST

static struct trm_keyring *keyring(char token)
{
    char text[512], err[128], tok[65];
    memset(tok, token, 64);
    tok[64] = '\0';
    snprintf(text, sizeof text, "index %064d\ntoken %s\nsigning %064d\nkek k1 %064d\n", 1, tok, 2,
             3);
    struct trm_keyring *k = NULL;
    ck_assert_msg(trm_keyring_parse(&k, text, strlen(text), err, sizeof err), "%s", err);
    return k;
}

START_TEST(secret_sealed_for_its_agency)
{
    struct trm_keyring *kr = keyring('a'), *other = keyring('b');
    char *hex = trm_webhook_secret_seal(kr, AGENCY_A, SECRET);
    ck_assert_ptr_nonnull(hex);
    ck_assert_ptr_null(strstr(hex, "7768736563")); /* "whsec" in hex: not in clear */
    char out[TRM_WEBHOOK_SECRET_MAX + 1];
    ck_assert(trm_webhook_secret_open(kr, AGENCY_A, hex, out, sizeof out));
    ck_assert_str_eq(out, SECRET);
    /* Bound to its agency and to the key file. */
    ck_assert(!trm_webhook_secret_open(kr, AGENCY_B, hex, out, sizeof out));
    ck_assert(!trm_webhook_secret_open(other, AGENCY_A, hex, out, sizeof out));
    hex[100] = hex[100] == '0' ? '1' : '0';
    ck_assert(!trm_webhook_secret_open(kr, AGENCY_A, hex, out, sizeof out));
    ck_assert(!trm_webhook_secret_open(kr, AGENCY_A, "zz", out, sizeof out));
    ck_assert_ptr_null(trm_webhook_secret_seal(kr, AGENCY_A, "short"));
    free(hex);
    trm_keyring_free(kr);
    trm_keyring_free(other);
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("webhook");
    TCase *tc = tcase_create("webhook");
    tcase_add_test(tc, signature_known_answer);
    tcase_add_test(tc, signature_verifies_and_refuses);
    tcase_add_test(tc, secrets_and_urls);
    tcase_add_test(tc, secret_sealed_for_its_agency);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
