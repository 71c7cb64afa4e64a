/* Field sealing, data-key wrapping, normalisation and blind indexes. */
#include "check_run.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trm/crypto.h"
#include "trm/keyring.h"

static struct trm_keyring *kr, *kr2;

static struct trm_keyring *make_keyring(bool second_kek, char index_byte)
{
    char text[1024], hex[65];
    memset(hex, index_byte, 64);
    hex[64] = '\0';
    snprintf(text, sizeof text, "index %s\ntoken %s\nsigning %s\nkek k1 %s\n%s", hex,
             "1111111111111111111111111111111111111111111111111111111111111111",
             "2222222222222222222222222222222222222222222222222222222222222222",
             "3333333333333333333333333333333333333333333333333333333333333333",
             second_kek
                 ? "kek k2 4444444444444444444444444444444444444444444444444444444444444444\n"
                 : "");
    struct trm_keyring *k = NULL;
    char err[128];
    ck_assert_msg(trm_keyring_parse(&k, text, strlen(text), err, sizeof err), "%s", err);
    return k;
}

static void setup(void)
{
    kr = make_keyring(false, 'a');
    kr2 = make_keyring(true, 'b');
}

static void teardown(void)
{
    trm_keyring_free(kr);
    trm_keyring_free(kr2);
}

static const char *case_a = "11111111-1111-4111-8111-111111111111";
static const char *case_b = "22222222-2222-4222-8222-222222222222";

START_TEST(dek_wrap_round_trip_and_tampering)
{
    unsigned char *dek = trm_dek_new(), *out = trm_dek_alloc();
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES];
    char kek[TRM_KEK_ID_MAX + 1];
    ck_assert(trm_dek_wrap(kr2, case_a, dek, wrapped, kek));
    ck_assert_str_eq(kek, "k2"); /* the last KEK is current */
    ck_assert(trm_dek_unwrap(kr2, case_a, "k2", wrapped, sizeof wrapped, out));
    ck_assert_mem_eq(dek, out, TRM_DEK_BYTES);
    ck_assert(!trm_dek_unwrap(kr2, case_b, "k2", wrapped, sizeof wrapped, out));
    ck_assert(!trm_dek_unwrap(kr2, case_a, "k1", wrapped, sizeof wrapped, out));
    ck_assert(!trm_dek_unwrap(kr2, case_a, "nope", wrapped, sizeof wrapped, out));
    ck_assert(!trm_dek_unwrap(kr, case_a, "k2", wrapped, sizeof wrapped, out));
    ck_assert(!trm_dek_unwrap(kr2, case_a, "k2", wrapped, sizeof wrapped - 1, out));
    for (size_t i = 0; i < sizeof wrapped; i += 7) {
        wrapped[i] ^= 0x01;
        ck_assert(!trm_dek_unwrap(kr2, case_a, "k2", wrapped, sizeof wrapped, out));
        wrapped[i] ^= 0x01;
    }
    /* Re-wrapped under a named KEK, as rotation does. */
    ck_assert(trm_dek_wrap_with(kr2, "k1", case_a, dek, wrapped));
    ck_assert(trm_dek_unwrap(kr2, case_a, "k1", wrapped, sizeof wrapped, out));
    ck_assert_mem_eq(dek, out, TRM_DEK_BYTES);
    ck_assert(!trm_dek_wrap_with(kr2, "k9", case_a, dek, wrapped));
    trm_dek_free(dek);
    trm_dek_free(out);
}
END_TEST

START_TEST(field_seal_open_and_every_tampering)
{
    unsigned char *dek = trm_dek_new(), *other = trm_dek_new();
    const char *value = "\"Maria Santos\"";
    size_t n = strlen(value);
    uint8_t sealed[128], plain[128];
    trm_field_seal(dek, case_a, "identity", "full_name", 1, (const uint8_t *)value, n, sealed);
    size_t len = n + TRM_SEAL_OVERHEAD;
    ck_assert(trm_field_open(dek, case_a, "identity", "full_name", 1, sealed, len, plain));
    ck_assert_mem_eq(plain, value, n);
    /* A flipped bit in nonce, ciphertext and tag. */
    size_t where[] = {0, 23, 24, 24 + n - 1, len - 1};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        sealed[where[i]] ^= 0x80;
        ck_assert(!trm_field_open(dek, case_a, "identity", "full_name", 1, sealed, len, plain));
        sealed[where[i]] ^= 0x80;
    }
    /* Another case (a ciphertext moved to another row), category, field, version, key. */
    ck_assert(!trm_field_open(dek, case_b, "identity", "full_name", 1, sealed, len, plain));
    ck_assert(!trm_field_open(dek, case_a, "contact", "full_name", 1, sealed, len, plain));
    ck_assert(!trm_field_open(dek, case_a, "identity", "aliases", 1, sealed, len, plain));
    ck_assert(!trm_field_open(dek, case_a, "identity", "full_name", 2, sealed, len, plain));
    ck_assert(!trm_field_open(other, case_a, "identity", "full_name", 1, sealed, len, plain));
    ck_assert(!trm_field_open(dek, case_a, "identity", "full_name", 1, sealed, 39, plain));
    /* Two seals of the same value differ (random nonces); an empty value round-trips. */
    uint8_t again[128];
    trm_field_seal(dek, case_a, "identity", "full_name", 1, (const uint8_t *)value, n, again);
    ck_assert(memcmp(sealed, again, len) != 0);
    trm_field_seal(dek, case_a, "health", "notes", 1, (const uint8_t *)"", 0, sealed);
    ck_assert(trm_field_open(dek, case_a, "health", "notes", 1, sealed, TRM_SEAL_OVERHEAD, plain));
    trm_dek_free(dek);
    trm_dek_free(other);
}
END_TEST

static void assert_same_normal(const char *a, const char *b)
{
    char *na = trm_normalize(a), *nb = trm_normalize(b);
    ck_assert_ptr_nonnull(na);
    ck_assert_ptr_nonnull(nb);
    ck_assert_msg(strcmp(na, nb) == 0, "'%s' -> '%s' but '%s' -> '%s'", a, na, b, nb);
    free(na);
    free(nb);
}

START_TEST(normalisation)
{
    assert_same_normal("ÅSA  Lindqvist", "åsa lindqvist");
    assert_same_normal(" Åsa\tLINDQVIST ", "åsa lindqvist");
    assert_same_normal("A\xcc\x8asa Lindqvist", "åsa lindqvist"); /* decomposed Å */
    assert_same_normal("Straße", "STRASSE");
    assert_same_normal("Ｊｏｙ", "joy"); /* full-width letters (NFKC) */
    assert_same_normal("Joy\xc2\xa0"
                       "Cruz",
                       "joy cruz"); /* no-break space */
    char *n = trm_normalize("   ");
    ck_assert_str_eq(n, "");
    free(n);
    n = trm_normalize("");
    ck_assert_str_eq(n, "");
    free(n);
    ck_assert_ptr_null(trm_normalize("\xff\xfe"));
    n = trm_normalize("Åsa Lindqvist");
    char *m = trm_normalize("Asa Lindqvist");
    ck_assert_str_ne(n, m); /* accents are kept: they distinguish names */
    free(n);
    free(m);
}
END_TEST

START_TEST(blind_indexes)
{
    uint32_t a = trm_blind_index(kr, TRM_BLIND_NAME, "åsa lindqvist", 32);
    ck_assert_uint_eq(a, trm_blind_index(kr, TRM_BLIND_NAME, "åsa lindqvist", 32));
    ck_assert_uint_ne(a, trm_blind_index(kr, TRM_BLIND_DOCUMENT, "åsa lindqvist", 32));
    ck_assert_uint_ne(a, trm_blind_index(kr2, TRM_BLIND_NAME, "åsa lindqvist", 32));
    ck_assert_uint_ne(a, trm_blind_index(kr, TRM_BLIND_NAME, "asa lindqvist", 32));
    ck_assert_uint_eq(trm_blind_index(kr, TRM_BLIND_NAME, "åsa lindqvist", 14), a >> 18);
    ck_assert_uint_eq(trm_blind_index(kr, TRM_BLIND_NAME, "åsa lindqvist", 8), a >> 24);
    /* Truncation makes values collide: over 2000 names with 8 bits, many share a value. */
    unsigned seen[256] = {0}, max = 0;
    for (int i = 0; i < 2000; i++) {
        char name[32];
        snprintf(name, sizeof name, "person %d", i);
        uint32_t v = trm_blind_index(kr, TRM_BLIND_NAME, name, 8);
        ck_assert_uint_lt(v, 256);
        if (++seen[v] > max)
            max = seen[v];
    }
    ck_assert_uint_ge(max, 2);
    ck_assert_uint_le(max, 40);
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("sealing");
    TCase *tc = tcase_create("sealing");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, dek_wrap_round_trip_and_tampering);
    tcase_add_test(tc, field_seal_open_and_every_tampering);
    tcase_add_test(tc, normalisation);
    tcase_add_test(tc, blind_indexes);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
