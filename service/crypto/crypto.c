/* Data keys, sealed fields, normalisation and blind indexes (see crypto.h).
 *
 * Associated data (AD) is a sequence of parts, each a 4-byte big-endian length followed by
 * that many bytes; the purpose label is the first part, so it is length-prefixed too:
 *   DEK:   00 00 00 0a "trm-dek-v1"   | len(case_id) case_id | len(kek_id) kek_id
 *   field: 00 00 00 0c "trm-field-v1" | len(case_id) case_id | len(category) category
 *          | len(field) field | 00 00 00 04 version (4 bytes, big-endian)
 *   chunk: 00 00 00 0c "trm-chunk-v1" | len(document_id) document_id
 *          | 00 00 00 04 position (4 bytes, big-endian) | 00 00 00 01 last (1 byte: 0 or 1)
 * Strings are taken without their terminating NUL. The length prefixes make the encoding
 * injective: ("ab", "c") and ("a", "bc") give different AD.
 * Sealed bytes (wrapped DEKs and fields alike): nonce (24) || ciphertext || tag (16).
 * Changing any of this makes every stored ciphertext unreadable: add a "-v2" label instead. */
#include "trm/crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#include "trm/util.h"

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AD_INLINE 256

/* The blind-index digest length is part of the index definition: BLAKE2b output length is
 * a parameter of the hash, so changing it changes every stored index value. */
#define BLIND_HASH_BYTES crypto_generichash_BYTES

struct ad_part {
    const void *data;
    size_t len;
};

/* AD lives on the stack when it fits (always, for UUID case ids and the schema's names) and
 * on the heap otherwise, so a long name is never cut short into an ambiguous AD. */
struct ad {
    uint8_t inline_buf[AD_INLINE];
    uint8_t *buf;
    size_t len;
};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static bool ad_build(struct ad *a, const struct ad_part *parts, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        /* A length must fit its 4-byte prefix, and the total must not wrap. */
        if (parts[i].len > UINT32_MAX || parts[i].len > SIZE_MAX - 4 - total)
            return false;
        total += 4 + parts[i].len;
    }
    a->buf = total <= sizeof a->inline_buf ? a->inline_buf : malloc(total);
    if (a->buf == NULL)
        return false;
    a->len = 0;
    for (size_t i = 0; i < n; i++) {
        put_be32(a->buf + a->len, (uint32_t)parts[i].len);
        a->len += 4;
        if (parts[i].len > 0)
            memcpy(a->buf + a->len, parts[i].data, parts[i].len);
        a->len += parts[i].len;
    }
    return true;
}

static void ad_free(struct ad *a)
{
    if (a->buf != a->inline_buf)
        free(a->buf);
}

static struct ad_part str_part(const char *s)
{
    return (struct ad_part){s, strlen(s)};
}

static bool dek_ad(struct ad *a, const char *case_id, const char *kek_id)
{
    if (case_id == NULL || kek_id == NULL)
        return false;
    struct ad_part parts[] = {str_part("trm-dek-v1"), str_part(case_id), str_part(kek_id)};
    return ad_build(a, parts, sizeof parts / sizeof parts[0]);
}

static bool field_ad(struct ad *a, const char *case_id, const char *category, const char *field,
                     unsigned version)
{
    if (case_id == NULL || category == NULL || field == NULL)
        return false;
    uint8_t v[4];
    put_be32(v, (uint32_t)version);
    struct ad_part parts[] = {str_part("trm-field-v1"),
                              str_part(case_id),
                              str_part(category),
                              str_part(field),
                              {v, sizeof v}};
    return ad_build(a, parts, sizeof parts / sizeof parts[0]);
}

static bool chunk_ad(struct ad *a, const char *document_id, uint32_t seq, bool last)
{
    if (document_id == NULL)
        return false;
    uint8_t v[4], l = last ? 1 : 0;
    put_be32(v, seq);
    struct ad_part parts[] = {
        str_part("trm-chunk-v1"), str_part(document_id), {v, sizeof v}, {&l, 1}};
    return ad_build(a, parts, sizeof parts / sizeof parts[0]);
}

unsigned char *trm_dek_alloc(void)
{
    return sodium_malloc(TRM_DEK_BYTES);
}

unsigned char *trm_dek_new(void)
{
    unsigned char *dek = trm_dek_alloc();
    if (dek != NULL)
        randombytes_buf(dek, TRM_DEK_BYTES);
    return dek;
}

void trm_dek_free(unsigned char *dek)
{
    /* sodium_free wipes the key, and accepts NULL. */
    sodium_free(dek);
}

bool trm_dek_wrap_with(const struct trm_keyring *kr, const char *kek_id, const char *case_id,
                       const unsigned char *dek, uint8_t out[TRM_WRAPPED_DEK_BYTES])
{
    const unsigned char *kek = kek_id ? trm_keyring_kek(kr, kek_id) : NULL;
    struct ad a;
    if (kek == NULL || !dek_ad(&a, case_id, kek_id))
        return false;
    randombytes_buf(out, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_BYTES, NULL, dek, TRM_DEK_BYTES, a.buf,
                                               a.len, NULL, out, kek);
    ad_free(&a);
    return true;
}

bool trm_dek_wrap(const struct trm_keyring *kr, const char *case_id, const unsigned char *dek,
                  uint8_t out[TRM_WRAPPED_DEK_BYTES], char kek_id[TRM_KEK_ID_MAX + 1])
{
    const char *current = trm_keyring_current_kek_id(kr);
    /* The keyring bounds ids; checked anyway so the id stored is the id used. */
    if (strlen(current) > TRM_KEK_ID_MAX || !trm_dek_wrap_with(kr, current, case_id, dek, out))
        return false;
    trm_strlcpy(kek_id, current, TRM_KEK_ID_MAX + 1);
    return true;
}

bool trm_dek_unwrap(const struct trm_keyring *kr, const char *case_id, const char *kek_id,
                    const uint8_t *wrapped, size_t wrapped_len, unsigned char *dek)
{
    const unsigned char *kek = kek_id ? trm_keyring_kek(kr, kek_id) : NULL;
    struct ad a;
    if (wrapped_len != TRM_WRAPPED_DEK_BYTES || kek == NULL || !dek_ad(&a, case_id, kek_id))
        return false;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(dek, NULL, NULL, wrapped + NONCE_BYTES,
                                                        wrapped_len - NONCE_BYTES, a.buf, a.len,
                                                        wrapped, kek);
    ad_free(&a);
    if (rc != 0)
        sodium_memzero(dek, TRM_DEK_BYTES); /* never leave a half-trusted key behind */
    return rc == 0;
}

bool trm_field_seal(const unsigned char *dek, const char *case_id, const char *category,
                    const char *field, unsigned key_version, const uint8_t *plain, size_t len,
                    uint8_t *out)
{
    struct ad a;
    /* Fails only for NULL names or no memory for an oversized AD. */
    if (!field_ad(&a, case_id, category, field, key_version))
        return false;
    randombytes_buf(out, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_BYTES, NULL, plain, len, a.buf, a.len,
                                               NULL, out, dek);
    ad_free(&a);
    return true;
}

bool trm_field_open(const unsigned char *dek, const char *case_id, const char *category,
                    const char *field, unsigned key_version, const uint8_t *sealed, size_t len,
                    uint8_t *out)
{
    struct ad a;
    if (len < TRM_SEAL_OVERHEAD || !field_ad(&a, case_id, category, field, key_version))
        return false;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
        out, NULL, NULL, sealed + NONCE_BYTES, len - NONCE_BYTES, a.buf, a.len, sealed, dek);
    ad_free(&a);
    return rc == 0;
}

bool trm_chunk_seal(const unsigned char *key, const char *document_id, uint32_t seq, bool last,
                    const uint8_t *plain, size_t len, uint8_t *out)
{
    struct ad a;
    if (!chunk_ad(&a, document_id, seq, last))
        return false;
    randombytes_buf(out, NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE_BYTES, NULL, plain, len, a.buf, a.len,
                                               NULL, out, key);
    ad_free(&a);
    return true;
}

bool trm_chunk_open(const unsigned char *key, const char *document_id, uint32_t seq, bool last,
                    const uint8_t *sealed, size_t len, uint8_t *out)
{
    struct ad a;
    if (len < TRM_SEAL_OVERHEAD || !chunk_ad(&a, document_id, seq, last))
        return false;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
        out, NULL, NULL, sealed + NONCE_BYTES, len - NONCE_BYTES, a.buf, a.len, sealed, key);
    ad_free(&a);
    return rc == 0;
}

/* Copies s, replacing each run of Unicode White_Space by one ASCII space and dropping runs
 * at either end. The result is never longer than s. */
static char *collapse_spaces(const uint8_t *s, size_t n)
{
    char *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    bool gap = false;
    for (size_t i = 0; i < n;) {
        ucs4_t c;
        int w = u8_mbtouc(&c, s + i, n - i); /* >= 1 for n - i > 0 */
        if (uc_is_property_white_space(c)) {
            gap = o > 0; /* leading white space is dropped, not deferred */
        } else {
            if (gap)
                out[o++] = ' ';
            gap = false;
            memcpy(out + o, s + i, (size_t)w);
            o += (size_t)w;
        }
        i += (size_t)w;
    }
    out[o] = '\0';
    return out;
}

char *trm_normalize(const char *utf8)
{
    size_t n = strlen(utf8);
    if (u8_check((const uint8_t *)utf8, n) != NULL)
        return NULL;
    if (n == 0)
        return strdup("");
    /* No locale (NULL, not uc_locale_language()): blind indexes must come out the same in
     * every process whatever its locale, e.g. a Turkish one would fold 'I' differently. */
    size_t folded_len = 0;
    uint8_t *folded = u8_casefold((const uint8_t *)utf8, n, NULL, UNINORM_NFKC, NULL, &folded_len);
    if (folded == NULL)
        return NULL;
    char *out = collapse_spaces(folded, folded_len);
    sodium_memzero(folded, folded_len); /* it held a victim's name or document number */
    free(folded);
    return out;
}

uint32_t trm_blind_index(const struct trm_keyring *kr, enum trm_blind_kind kind,
                         const char *normalized, unsigned bits)
{
    unsigned char key[32], h[BLIND_HASH_BYTES];
    /* One key per kind, so equal strings of different kinds do not share an index value. */
    crypto_kdf_derive_from_key(key, sizeof key, (uint64_t)kind, "trmbidx_",
                               trm_keyring_index_root(kr));
    crypto_generichash(h, sizeof h, (const unsigned char *)normalized, strlen(normalized), key,
                       sizeof key);
    sodium_memzero(key, sizeof key);
    uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    sodium_memzero(h, sizeof h);
    if (bits < 1)
        bits = 1;
    if (bits > 32)
        bits = 32;
    return v >> (32 - bits); /* shift < 32: bits >= 1 */
}
