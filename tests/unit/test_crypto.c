/* Field-level encryption: data keys wrapped per case, sealed fields bound to their row,
 * normalisation for matching and blind indexes. The known-answer tests rebuild the
 * associated data and the index keys by hand, so a silent change of either (which would make
 * stored ciphertexts or indexes unreadable) fails here. */
#include "check_run.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trm/crypto.h"
#include "trm/keyring.h"

#define HEX_1 "1111111111111111111111111111111111111111111111111111111111111111"
#define HEX_2 "2222222222222222222222222222222222222222222222222222222222222222"
#define HEX_K1 "3333333333333333333333333333333333333333333333333333333333333333"
#define HEX_K2 "4444444444444444444444444444444444444444444444444444444444444444"

static const char *const case_a = "11111111-1111-4111-8111-111111111111";
static const char *const case_b = "22222222-2222-4222-8222-222222222222";

/* kr: index root 0xaa.., KEK k1. kr2: the same plus KEK k2 (current). kr3: index root 0xbb... */
static struct trm_keyring *kr, *kr2, *kr3;

static struct trm_keyring *make_keyring(char index_hex, bool with_k2)
{
    char index[65], text[512], err[128];
    memset(index, index_hex, 64);
    index[64] = '\0';
    snprintf(text, sizeof text, "index %s\ntoken %s\nsigning %s\nkek k1 %s\n%s", index, HEX_1,
             HEX_2, HEX_K1, with_k2 ? "kek k2 " HEX_K2 "\n" : "");
    struct trm_keyring *k = NULL;
    ck_assert_msg(trm_keyring_parse(&k, text, strlen(text), err, sizeof err), "%s", err);
    return k;
}

static void setup(void)
{
    kr = make_keyring('a', false);
    kr2 = make_keyring('a', true);
    kr3 = make_keyring('b', false);
}

static void teardown(void)
{
    trm_keyring_free(kr);
    trm_keyring_free(kr2);
    trm_keyring_free(kr3);
}

/* Appends a 4-byte big-endian length and the bytes, as the AD encoding does. */
static size_t put_part(uint8_t *buf, size_t at, const void *data, size_t n)
{
    buf[at] = (uint8_t)(n >> 24);
    buf[at + 1] = (uint8_t)(n >> 16);
    buf[at + 2] = (uint8_t)(n >> 8);
    buf[at + 3] = (uint8_t)n;
    memcpy(buf + at + 4, data, n);
    return at + 4 + n;
}

START_TEST(dek_new_is_random)
{
    static const unsigned char zero[TRM_DEK_BYTES] = {0};
    unsigned char *a = trm_dek_new(), *b = trm_dek_new(), *c = trm_dek_alloc();
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_nonnull(c);
    ck_assert(memcmp(a, zero, TRM_DEK_BYTES) != 0);
    ck_assert(memcmp(a, b, TRM_DEK_BYTES) != 0);
    memset(c, 0x5a, TRM_DEK_BYTES); /* guarded memory: the whole key is writable */
    trm_dek_free(a);
    trm_dek_free(b);
    trm_dek_free(c);
    trm_dek_free(NULL);
}
END_TEST

START_TEST(dek_wrap_round_trip)
{
    unsigned char *dek = trm_dek_new(), *out = trm_dek_alloc();
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES], again[TRM_WRAPPED_DEK_BYTES];
    char kek[TRM_KEK_ID_MAX + 1];
    ck_assert(trm_dek_wrap(kr, case_a, dek, wrapped, kek));
    ck_assert_str_eq(kek, "k1");
    ck_assert(trm_dek_unwrap(kr, case_a, "k1", wrapped, sizeof wrapped, out));
    ck_assert_mem_eq(dek, out, TRM_DEK_BYTES);
    /* The last KEK of the file is current. */
    ck_assert(trm_dek_wrap(kr2, case_a, dek, again, kek));
    ck_assert_str_eq(kek, "k2");
    ck_assert(memcmp(wrapped, again, sizeof wrapped) != 0);
    memset(out, 0, TRM_DEK_BYTES);
    ck_assert(trm_dek_unwrap(kr2, case_a, "k2", again, sizeof again, out));
    ck_assert_mem_eq(dek, out, TRM_DEK_BYTES);
    trm_dek_free(dek);
    trm_dek_free(out);
}
END_TEST

START_TEST(dek_unwrap_rejects_anything_altered)
{
    unsigned char *dek = trm_dek_new(), *out = trm_dek_alloc();
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES + 1];
    char kek[TRM_KEK_ID_MAX + 1];
    ck_assert(trm_dek_wrap(kr2, case_a, dek, wrapped, kek));
    ck_assert(!trm_dek_unwrap(kr2, case_b, "k2", wrapped, TRM_WRAPPED_DEK_BYTES, out));
    ck_assert(!trm_dek_unwrap(kr2, case_a, "k9", wrapped, TRM_WRAPPED_DEK_BYTES, out));
    ck_assert(!trm_dek_unwrap(kr2, case_a, "k1", wrapped, TRM_WRAPPED_DEK_BYTES, out));
    ck_assert(!trm_dek_unwrap(kr, case_a, "k2", wrapped, TRM_WRAPPED_DEK_BYTES, out));
    ck_assert(!trm_dek_unwrap(kr2, case_a, "", wrapped, TRM_WRAPPED_DEK_BYTES, out));
    ck_assert(!trm_dek_unwrap(kr2, case_a, "k2", wrapped, TRM_WRAPPED_DEK_BYTES - 1, out));
    ck_assert(!trm_dek_unwrap(kr2, case_a, "k2", wrapped, TRM_WRAPPED_DEK_BYTES + 1, out));
    ck_assert(!trm_dek_unwrap(kr2, case_a, "k2", wrapped, 0, out));
    for (size_t i = 0; i < TRM_WRAPPED_DEK_BYTES; i++) {
        wrapped[i] ^= 0x01;
        ck_assert_msg(!trm_dek_unwrap(kr2, case_a, "k2", wrapped, TRM_WRAPPED_DEK_BYTES, out),
                      "flipped byte %zu", i);
        wrapped[i] ^= 0x01;
    }
    /* Restored, it opens again: the failures above were the alterations. */
    ck_assert(trm_dek_unwrap(kr2, case_a, "k2", wrapped, TRM_WRAPPED_DEK_BYTES, out));
    ck_assert_mem_eq(dek, out, TRM_DEK_BYTES);
    trm_dek_free(dek);
    trm_dek_free(out);
}
END_TEST

START_TEST(dek_wrap_with_named_kek)
{
    unsigned char *dek = trm_dek_new(), *out = trm_dek_alloc();
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES];
    ck_assert(trm_dek_wrap_with(kr2, "k1", case_a, dek, wrapped));
    ck_assert(trm_dek_unwrap(kr2, case_a, "k1", wrapped, sizeof wrapped, out));
    ck_assert_mem_eq(dek, out, TRM_DEK_BYTES);
    ck_assert(!trm_dek_unwrap(kr2, case_a, "k2", wrapped, sizeof wrapped, out));
    /* Chosen by id: another keyring holding the same k1 opens it too. */
    memset(out, 0, TRM_DEK_BYTES);
    ck_assert(trm_dek_unwrap(kr, case_a, "k1", wrapped, sizeof wrapped, out));
    ck_assert_mem_eq(dek, out, TRM_DEK_BYTES);
    ck_assert(!trm_dek_wrap_with(kr2, "k9", case_a, dek, wrapped));
    ck_assert(!trm_dek_wrap_with(kr, "k2", case_a, dek, wrapped));
    trm_dek_free(dek);
    trm_dek_free(out);
}
END_TEST

START_TEST(dek_associated_data_layout)
{
    unsigned char *dek = trm_dek_new();
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES], kek[32], ad[128], plain[TRM_DEK_BYTES];
    ck_assert(trm_dek_wrap_with(kr2, "k1", case_a, dek, wrapped));
    memset(kek, 0x33, sizeof kek);
    size_t n = put_part(ad, 0, "trm-dek-v1", 10);
    n = put_part(ad, n, case_a, strlen(case_a));
    n = put_part(ad, n, "k1", 2);
    ck_assert_uint_eq(n, 4 + 10 + 4 + 36 + 4 + 2);
    ck_assert_int_eq(crypto_aead_xchacha20poly1305_ietf_decrypt(
                         plain, NULL, NULL, wrapped + 24, sizeof wrapped - 24, ad, n, wrapped, kek),
                     0);
    ck_assert_mem_eq(plain, dek, TRM_DEK_BYTES);
    trm_dek_free(dek);
}
END_TEST

static void assert_round_trip(const unsigned char *dek, const uint8_t *value, size_t n)
{
    uint8_t *sealed = malloc(n + TRM_SEAL_OVERHEAD), *plain = malloc(n + 1);
    ck_assert_ptr_nonnull(sealed);
    ck_assert_ptr_nonnull(plain);
    trm_field_seal(dek, case_a, "identity", "full_name", 3, value, n, sealed);
    ck_assert(trm_field_open(dek, case_a, "identity", "full_name", 3, sealed, n + TRM_SEAL_OVERHEAD,
                             plain));
    if (n > 0)
        ck_assert_mem_eq(plain, value, n);
    free(sealed);
    free(plain);
}

START_TEST(field_round_trip)
{
    unsigned char *dek = trm_dek_new();
    assert_round_trip(dek, (const uint8_t *)"\"Maria Santos\"", 14);
    assert_round_trip(dek, (const uint8_t *)"", 0);
    assert_round_trip(dek, (const uint8_t *)"a\0b\0\xff", 5);
    uint8_t big[5000];
    randombytes_buf(big, sizeof big);
    assert_round_trip(dek, big, sizeof big);
    /* Random nonces: the same value sealed twice gives different bytes. */
    uint8_t s1[14 + TRM_SEAL_OVERHEAD], s2[14 + TRM_SEAL_OVERHEAD];
    trm_field_seal(dek, case_a, "identity", "full_name", 1, big, 14, s1);
    trm_field_seal(dek, case_a, "identity", "full_name", 1, big, 14, s2);
    ck_assert(memcmp(s1, s2, sizeof s1) != 0);
    ck_assert(memcmp(s1 + 24, big, 14) != 0); /* not stored in the clear */
    trm_dek_free(dek);
}
END_TEST

START_TEST(field_flipped_bits_fail)
{
    unsigned char *dek = trm_dek_new();
    const char *value = "Tuesday, Lagos";
    size_t n = strlen(value), len = n + TRM_SEAL_OVERHEAD;
    uint8_t sealed[64], plain[64];
    trm_field_seal(dek, case_a, "journey", "route", 1, (const uint8_t *)value, n, sealed);
    /* Every byte of nonce [0, 24), ciphertext [24, 24 + n) and tag [24 + n, len). */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            sealed[i] ^= (uint8_t)(1u << bit);
            ck_assert_msg(!trm_field_open(dek, case_a, "journey", "route", 1, sealed, len, plain),
                          "byte %zu bit %d", i, bit);
            sealed[i] ^= (uint8_t)(1u << bit);
        }
    }
    ck_assert(trm_field_open(dek, case_a, "journey", "route", 1, sealed, len, plain));
    ck_assert_mem_eq(plain, value, n);
    trm_dek_free(dek);
}
END_TEST

START_TEST(field_other_associated_data_fails)
{
    unsigned char *dek = trm_dek_new(), *other = trm_dek_new();
    const char *v = "P1234567";
    size_t n = strlen(v), len = n + TRM_SEAL_OVERHEAD;
    uint8_t sealed[64], plain[64];
    trm_field_seal(dek, case_a, "identity", "document", 7, (const uint8_t *)v, n, sealed);
    ck_assert(trm_field_open(dek, case_a, "identity", "document", 7, sealed, len, plain));
    ck_assert(!trm_field_open(dek, case_b, "identity", "document", 7, sealed, len, plain));
    ck_assert(!trm_field_open(dek, case_a, "contact", "document", 7, sealed, len, plain));
    ck_assert(!trm_field_open(dek, case_a, "identity", "full_name", 7, sealed, len, plain));
    ck_assert(!trm_field_open(dek, case_a, "identity", "document", 8, sealed, len, plain));
    ck_assert(!trm_field_open(dek, case_a, "identity", "document", 6, sealed, len, plain));
    /* Each byte of the version counts, not only the low one. */
    ck_assert(
        !trm_field_open(dek, case_a, "identity", "document", 7u | 1u << 24, sealed, len, plain));
    ck_assert(!trm_field_open(other, case_a, "identity", "document", 7, sealed, len, plain));
    /* Short or cut input. */
    ck_assert(!trm_field_open(dek, case_a, "identity", "document", 7, sealed, len - 1, plain));
    ck_assert(!trm_field_open(dek, case_a, "identity", "document", 7, sealed, 39, plain));
    ck_assert(!trm_field_open(dek, case_a, "identity", "document", 7, sealed, 0, plain));
    trm_dek_free(dek);
    trm_dek_free(other);
}
END_TEST

START_TEST(field_moved_to_another_row_fails)
{
    /* Both rows under the same key, the worst case: only the AD tells them apart. */
    unsigned char *dek = trm_dek_new();
    const char *v = "+234 800 000 0000";
    size_t n = strlen(v), len = n + TRM_SEAL_OVERHEAD;
    uint8_t sealed[64], plain[64];
    trm_field_seal(dek, case_a, "contact", "phone", 1, (const uint8_t *)v, n, sealed);
    ck_assert(!trm_field_open(dek, case_b, "contact", "phone", 1, sealed, len, plain));
    ck_assert(trm_field_open(dek, case_a, "contact", "phone", 1, sealed, len, plain));
    /* Length prefixes keep the boundaries: ("ab", "c") is not ("a", "bc"). */
    trm_field_seal(dek, case_a, "ab", "c", 1, (const uint8_t *)v, n, sealed);
    ck_assert(!trm_field_open(dek, case_a, "a", "bc", 1, sealed, len, plain));
    ck_assert(trm_field_open(dek, case_a, "ab", "c", 1, sealed, len, plain));
    trm_dek_free(dek);
}
END_TEST

START_TEST(field_associated_data_layout)
{
    unsigned char *dek = trm_dek_new();
    uint8_t sealed[64], plain[64], ad[160];
    trm_field_seal(dek, case_a, "identity", "full_name", 0x01020304u, (const uint8_t *)"x", 1,
                   sealed);
    const uint8_t version[4] = {1, 2, 3, 4};
    size_t n = put_part(ad, 0, "trm-field-v1", 12);
    n = put_part(ad, n, case_a, strlen(case_a));
    n = put_part(ad, n, "identity", 8);
    n = put_part(ad, n, "full_name", 9);
    n = put_part(ad, n, version, 4);
    ck_assert_int_eq(crypto_aead_xchacha20poly1305_ietf_decrypt(plain, NULL, NULL, sealed + 24,
                                                                1 + 16, ad, n, sealed, dek),
                     0);
    ck_assert_int_eq(plain[0], 'x');
    /* A long name (AD beyond any small fixed buffer) still seals and is still bound. */
    char field[600];
    memset(field, 'f', sizeof field - 1);
    field[sizeof field - 1] = '\0';
    trm_field_seal(dek, case_a, "identity", field, 1, (const uint8_t *)"x", 1, sealed);
    ck_assert(trm_field_open(dek, case_a, "identity", field, 1, sealed, 41, plain));
    field[598] = 'g';
    ck_assert(!trm_field_open(dek, case_a, "identity", field, 1, sealed, 41, plain));
    trm_dek_free(dek);
}
END_TEST

static void assert_normal(const char *in, const char *want)
{
    char *got = trm_normalize(in);
    ck_assert_msg(got != NULL, "'%s' rejected", in);
    ck_assert_msg(strcmp(got, want) == 0, "'%s' -> '%s', want '%s'", in, got, want);
    /* Normalising again changes nothing. */
    char *again = trm_normalize(got);
    ck_assert_str_eq(again, got);
    free(again);
    free(got);
}

START_TEST(normalisation_equates_spellings)
{
    const char *want = "\xc3\xa5sa lindqvist"; /* "åsa lindqvist", å precomposed (NFC) */
    assert_normal("ÅSA  Lindqvist", want);
    assert_normal("åsa lindqvist", want);
    assert_normal(" Åsa\tLINDQVIST ", want);
    assert_normal("A\xcc\x8asa Lindqvist", want); /* A + combining ring above */
    assert_normal("\xe2\x84\xab"
                  "sa Lindqvist",
                  want); /* U+212B ANGSTROM SIGN */
    assert_normal("Straße", "strasse");
    assert_normal("STRASSE", "strasse");
    assert_normal("Ｊｏｙ", "joy"); /* full-width letters */
    assert_normal("\xef\xac\x81"
                  "fi",
                  "fifi"); /* U+FB01 ligature fi */
    assert_normal("Joy\xc2\xa0"
                  "Cruz",
                  "joy cruz"); /* no-break space */
    assert_normal("Joy\r\n\t \xe3\x80\x80"
                  "Cruz",
                  "joy cruz"); /* ideographic space */
    assert_normal("Joy\xe2\x80\x83"
                  "Cruz",
                  "joy cruz"); /* em space */
    assert_normal("Joy\xc2\x85"
                  "Cruz",
                  "joy cruz"); /* next line U+0085 */
    assert_normal("Joy\xe2\x80\xa8"
                  "Cruz",
                  "joy cruz"); /* line separator */
    assert_normal("  a  b  ", "a b");
}
END_TEST

START_TEST(normalisation_edges)
{
    assert_normal("", "");
    assert_normal("   ", "");
    assert_normal(" \t\r\n\xc2\xa0 ", "");
    ck_assert_ptr_null(trm_normalize("\xff\xfe"));
    ck_assert_ptr_null(trm_normalize("Maria \xff"));
    ck_assert_ptr_null(trm_normalize("\xc3"));         /* truncated sequence */
    ck_assert_ptr_null(trm_normalize("\xc0\xaf"));     /* overlong '/' */
    ck_assert_ptr_null(trm_normalize("\xed\xa0\x80")); /* UTF-16 surrogate */
    /* Accents and letters that only look alike stay distinct: they tell people apart. */
    char *a = trm_normalize("Åsa Lindqvist"), *b = trm_normalize("Asa Lindqvist");
    ck_assert_str_ne(a, b);
    free(a);
    free(b);
    a = trm_normalize("Anna Maria");
    b = trm_normalize("AnnaMaria");
    ck_assert_str_ne(a, b);
    free(a);
    free(b);
}
END_TEST

static uint32_t name_index(const struct trm_keyring *k, const char *raw, unsigned bits)
{
    char *norm = trm_normalize(raw);
    ck_assert_ptr_nonnull(norm);
    uint32_t v = trm_blind_index(k, TRM_BLIND_NAME, norm, bits);
    free(norm);
    return v;
}

START_TEST(blind_index_matches_normalised_input)
{
    uint32_t a = name_index(kr, "ÅSA  Lindqvist", 32);
    ck_assert_uint_eq(a, name_index(kr, "åsa lindqvist", 32));
    ck_assert_uint_eq(a, name_index(kr, " Åsa\tLINDQVIST ", 32));
    ck_assert_uint_eq(a, name_index(kr, "A\xcc\x8asa Lindqvist", 32));
    ck_assert_uint_ne(a, name_index(kr, "asa lindqvist", 32));
    /* The index root decides, not the KEKs: kr2 has kr's root, kr3 another. */
    ck_assert_uint_eq(a, name_index(kr2, "åsa lindqvist", 32));
    ck_assert_uint_ne(a, name_index(kr3, "åsa lindqvist", 32));
}
END_TEST

START_TEST(blind_index_kinds_differ)
{
    const char *v = "p1234567";
    uint32_t name = trm_blind_index(kr, TRM_BLIND_NAME, v, 32);
    uint32_t year = trm_blind_index(kr, TRM_BLIND_NAME_BIRTH_YEAR, v, 32);
    uint32_t doc = trm_blind_index(kr, TRM_BLIND_DOCUMENT, v, 32);
    ck_assert_uint_ne(name, year);
    ck_assert_uint_ne(name, doc);
    ck_assert_uint_ne(year, doc);
}
END_TEST

START_TEST(blind_index_truncation)
{
    const unsigned widths[] = {8, 14, 32};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        unsigned bits = widths[w];
        uint64_t limit = (uint64_t)1 << bits;
        uint32_t max = 0;
        for (int i = 0; i < 500; i++) {
            char name[32];
            snprintf(name, sizeof name, "person %d", i);
            uint32_t v = trm_blind_index(kr, TRM_BLIND_NAME, name, bits);
            uint32_t full = trm_blind_index(kr, TRM_BLIND_NAME, name, 32);
            ck_assert_uint_lt(v, limit);
            ck_assert_uint_eq(v, full >> (32 - bits)); /* the top bits are kept */
            if (v > max)
                max = v;
        }
        /* Not truncated further than asked: some value uses the top half of the range. */
        ck_assert_uint_ge(max, limit / 2);
    }
    /* Out-of-range widths are clamped to 1..32. */
    uint32_t full = trm_blind_index(kr, TRM_BLIND_DOCUMENT, "x", 32);
    ck_assert_uint_eq(trm_blind_index(kr, TRM_BLIND_DOCUMENT, "x", 0), full >> 31);
    ck_assert_uint_eq(trm_blind_index(kr, TRM_BLIND_DOCUMENT, "x", 1), full >> 31);
    ck_assert_uint_eq(trm_blind_index(kr, TRM_BLIND_DOCUMENT, "x", 99), full);
}
END_TEST

START_TEST(blind_index_known_answer)
{
    /* Subkey = KDF(root, id = kind, context "trmbidx_"); value = top bits of the first four
     * bytes of the 32-byte keyed BLAKE2b of the normalised string. */
    unsigned char root[32], sub[32], h[32];
    memset(root, 0xaa, sizeof root);
    const char *v = "\xc3\xa5sa lindqvist";
    crypto_kdf_derive_from_key(sub, sizeof sub, TRM_BLIND_NAME_BIRTH_YEAR, "trmbidx_", root);
    crypto_generichash(h, sizeof h, (const unsigned char *)v, strlen(v), sub, sizeof sub);
    uint32_t want = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    ck_assert_uint_eq(trm_blind_index(kr, TRM_BLIND_NAME_BIRTH_YEAR, v, 32), want);
    ck_assert_uint_eq(trm_blind_index(kr, TRM_BLIND_NAME_BIRTH_YEAR, v, 14), want >> 18);
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("crypto");
    TCase *tc = tcase_create("crypto");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, dek_new_is_random);
    tcase_add_test(tc, dek_wrap_round_trip);
    tcase_add_test(tc, dek_unwrap_rejects_anything_altered);
    tcase_add_test(tc, dek_wrap_with_named_kek);
    tcase_add_test(tc, dek_associated_data_layout);
    tcase_add_test(tc, field_round_trip);
    tcase_add_test(tc, field_flipped_bits_fail);
    tcase_add_test(tc, field_other_associated_data_fails);
    tcase_add_test(tc, field_moved_to_another_row_fails);
    tcase_add_test(tc, field_associated_data_layout);
    tcase_add_test(tc, normalisation_equates_spellings);
    tcase_add_test(tc, normalisation_edges);
    tcase_add_test(tc, blind_index_matches_normalised_input);
    tcase_add_test(tc, blind_index_kinds_differ);
    tcase_add_test(tc, blind_index_truncation);
    tcase_add_test(tc, blind_index_known_answer);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
