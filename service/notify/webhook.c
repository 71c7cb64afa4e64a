/* Webhook signatures, secrets and URLs (see webhook.h). */
#include "trm/webhook.h"
#include "trm/keyring.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECRET_AD "trm-webhook-secret-v1"
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
/* The subkey of the token key that seals webhook secrets (crypto_kdf context and id). */
#define KDF_CONTEXT "trmwhsec"
#define KDF_ID 1

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

/* The authority of url after the scheme (host, optional port), up to the path. */
static bool authority_ok(const char *a, size_t len, bool loopback_only)
{
    size_t host_len = len;
    const char *colon = NULL;
    if (len > 0 && a[0] == '[') {
        const char *end = memchr(a, ']', len);
        if (end == NULL)
            return false;
        host_len = (size_t)(end - a) + 1;
        if (host_len < len && a[host_len] != ':')
            return false;
        colon = host_len < len ? a + host_len : NULL;
    } else {
        colon = memchr(a, ':', len);
        host_len = colon ? (size_t)(colon - a) : len;
        for (size_t i = 0; i < host_len; i++)
            if (!host_char(a[i]))
                return false;
    }
    if (host_len == 0)
        return false;
    if (colon) {
        size_t digits = len - (size_t)(colon - a) - 1;
        char port[6] = "";
        long p;
        if (digits == 0 || digits > 5 || strspn(colon + 1, "0123456789") < digits)
            return false;
        memcpy(port, colon + 1, digits);
        if (!trm_parse_long(port, 1, 65535, &p))
            return false;
    }
    if (!loopback_only)
        return true;
    static const char *const local[] = {"127.0.0.1", "[::1]", "localhost"};
    for (size_t i = 0; i < 3; i++)
        if (strlen(local[i]) == host_len && strncasecmp(a, local[i], host_len) == 0)
            return true;
    return false;
}

bool trm_webhook_url_ok(const char *url)
{
    if (url == NULL)
        return false;
    size_t n = strlen(url);
    if (n > TRM_WEBHOOK_URL_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)url[i] <= ' ' || (unsigned char)url[i] >= 0x7f)
            return false;
    bool https = strncmp(url, "https://", 8) == 0;
    if (!https && strncmp(url, "http://", 7) != 0)
        return false;
    const char *a = url + (https ? 8 : 7);
    size_t len = strcspn(a, "/?#");
    return authority_ok(a, len, !https);
}

bool trm_webhook_secret_ok(const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    if (n < TRM_WEBHOOK_SECRET_MIN || n > TRM_WEBHOOK_SECRET_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)secret[i] < 0x21 || (unsigned char)secret[i] > 0x7e)
            return false;
    return true;
}

static void hmac_hex(const char *secret, const char *timestamp, const char *body, size_t body_len,
                     char out[TRM_WEBHOOK_SIGNATURE_LEN + 1])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)timestamp, strlen(timestamp));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "v1=", 3);
    trm_hex_encode(mac, sizeof mac, out + 3);
    sodium_memzero(&st, sizeof st);
}

void trm_webhook_sign(const char *secret, long long timestamp, const char *body, size_t body_len,
                      char out[TRM_WEBHOOK_SIGNATURE_LEN + 1])
{
    char ts[24];
    snprintf(ts, sizeof ts, "%lld", timestamp);
    hmac_hex(secret, ts, body, body_len, out);
}

bool trm_webhook_verify(const char *secret, const char *timestamp, const char *signature,
                        const char *body, size_t body_len, long long now, long tolerance_s)
{
    long ts;
    if (secret == NULL || signature == NULL || body == NULL ||
        !trm_parse_long(timestamp, 0, 0x7fffffffL, &ts) ||
        strlen(signature) != TRM_WEBHOOK_SIGNATURE_LEN)
        return false;
    if ((long long)ts < now - tolerance_s || (long long)ts > now + tolerance_s)
        return false;
    char want[TRM_WEBHOOK_SIGNATURE_LEN + 1];
    hmac_hex(secret, timestamp, body, body_len, want);
    return sodium_memcmp(want, signature, TRM_WEBHOOK_SIGNATURE_LEN) == 0;
}

/* The associated data: the label and the agency the secret belongs to. */
static size_t secret_ad(const char *agency_id, unsigned char *ad, size_t cap)
{
    int n = snprintf((char *)ad, cap, "%s|%s", SECRET_AD, agency_id);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static bool secret_key(const struct trm_keyring *kr, unsigned char key[32])
{
    const unsigned char *root = kr ? trm_keyring_token_key(kr) : NULL;
    return root && crypto_kdf_derive_from_key(key, 32, KDF_ID, KDF_CONTEXT, root) == 0;
}

char *trm_webhook_secret_seal(const struct trm_keyring *kr, const char *agency_id,
                              const char *secret)
{
    unsigned char key[32], ad[96], buf[NONCE_BYTES + TRM_WEBHOOK_SECRET_MAX + TAG_BYTES];
    size_t n = strlen(secret), ad_len = secret_ad(agency_id, ad, sizeof ad);
    if (!trm_webhook_secret_ok(secret) || ad_len == 0 || !secret_key(kr, key))
        return NULL;
    randombytes_buf(buf, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        buf + NONCE_BYTES, NULL, (const unsigned char *)secret, n, ad, ad_len, NULL, buf, key);
    sodium_memzero(key, sizeof key);
    size_t total = NONCE_BYTES + n + TAG_BYTES;
    char *hex = malloc(2 * total + 1);
    if (hex)
        trm_hex_encode(buf, total, hex);
    return hex;
}

bool trm_webhook_secret_open(const struct trm_keyring *kr, const char *agency_id, const char *hex,
                             char *out, size_t cap)
{
    unsigned char key[32], ad[96], buf[NONCE_BYTES + TRM_WEBHOOK_SECRET_MAX + TAG_BYTES];
    size_t len = hex ? strlen(hex) : 0, ad_len = secret_ad(agency_id, ad, sizeof ad);
    if (len % 2 != 0 || len / 2 > sizeof buf || len / 2 < NONCE_BYTES + TAG_BYTES || ad_len == 0 ||
        !trm_hex_decode(hex, buf, len / 2))
        return false;
    size_t n = len / 2 - NONCE_BYTES - TAG_BYTES;
    if (n + 1 > cap || !secret_key(kr, key))
        return false;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)out, NULL, NULL,
                                                        buf + NONCE_BYTES, len / 2 - NONCE_BYTES,
                                                        ad, ad_len, buf, key);
    sodium_memzero(key, sizeof key);
    if (rc != 0) {
        sodium_memzero(out, cap);
        return false;
    }
    out[n] = '\0';
    return true;
}
