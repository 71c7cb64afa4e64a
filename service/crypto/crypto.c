/* Data keys, sealed fields, normalisation and blind indexes (see crypto.h).
 *
 * Associated data layout (all lengths 4-byte big-endian):
 *   DEK:   len("trm-dek-v1")   "trm-dek-v1"   len(case_id) case_id  len(kek_id) kek_id
 *   field: len("trm-field-v1") "trm-field-v1" len(case_id) case_id  len(category) category
 *          len(field) field    4 version (big-endian)
 * Sealed bytes: nonce (24) || ciphertext || tag (16). */
#include "trm/crypto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AD_MAX 512

struct ad {
    uint8_t buf[AD_MAX];
    size_t len;
    bool overflow;
};

static void ad_put(struct ad *a, const void *data, size_t n)
{
    if (a->len + 4 + n > sizeof a->buf) {
        a->overflow = true;
        return;
    }
    a->buf[a->len++] = (uint8_t)(n >> 24);
    a->buf[a->len++] = (uint8_t)(n >> 16);
    a->buf[a->len++] = (uint8_t)(n >> 8);
    a->buf[a->len++] = (uint8_t)n;
    memcpy(a->buf + a->len, data, n);
    a->len += n;
}

static void ad_str(struct ad *a, const char *s)
{
    ad_put(a, s, strlen(s));
}

static void dek_ad(struct ad *a, const char *case_id, const char *kek_id)
{
    a->len = 0;
    a->overflow = false;
    ad_str(a, "trm-dek-v1");
    ad_str(a, case_id);
    ad_str(a, kek_id);
}

static void field_ad(struct ad *a, const char *case_id, const char *category, const char *field,
                     unsigned version)
{
    uint8_t v[4] = {(uint8_t)(version >> 24), (uint8_t)(version >> 16), (uint8_t)(version >> 8),
                    (uint8_t)version};
    a->len = 0;
    a->overflow = false;
    ad_str(a, "trm-field-v1");
    ad_str(a, case_id);
    ad_str(a, category);
    ad_str(a, field);
    ad_put(a, v, sizeof v);
}

unsigned char *trm_dek_alloc(void)
{
    return sodium_malloc(TRM_DEK_BYTES);
}

unsigned char *trm_dek_new(void)
{
    unsigned char *dek = trm_dek_alloc();
    if (dek)
        randombytes_buf(dek, TRM_DEK_BYTES);
    return dek;
}

void trm_dek_free(unsigned char *dek)
{
    sodium_free(dek);
}

bool trm_dek_wrap_with(const struct trm_keyring *kr, const char *kek_id, const char *case_id,
                       const unsigned char *dek, uint8_t out[TRM_WRAPPED_DEK_BYTES])
{
    const unsigned char *kek = trm_keyring_kek(kr, kek_id);
    struct ad a;
    dek_ad(&a, case_id, kek_id);
    if (kek == NULL || a.overflow)
        return false;
    randombytes_buf(out, NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE, NULL, dek, TRM_DEK_BYTES, a.buf, a.len,
                                               NULL, out, kek);
    return true;
}

bool trm_dek_wrap(const struct trm_keyring *kr, const char *case_id, const unsigned char *dek,
                  uint8_t out[TRM_WRAPPED_DEK_BYTES], char kek_id[TRM_KEK_ID_MAX + 1])
{
    const char *current = trm_keyring_current_kek_id(kr);
    if (!trm_dek_wrap_with(kr, current, case_id, dek, out))
        return false;
    memcpy(kek_id, current, strlen(current) + 1);
    return true;
}

bool trm_dek_unwrap(const struct trm_keyring *kr, const char *case_id, const char *kek_id,
                    const uint8_t *wrapped, size_t wrapped_len, unsigned char *dek)
{
    const unsigned char *kek = trm_keyring_kek(kr, kek_id);
    struct ad a;
    dek_ad(&a, case_id, kek_id);
    if (kek == NULL || a.overflow || wrapped_len != TRM_WRAPPED_DEK_BYTES)
        return false;
    return crypto_aead_xchacha20poly1305_ietf_decrypt(dek, NULL, NULL, wrapped + NONCE,
                                                      wrapped_len - NONCE, a.buf, a.len, wrapped,
                                                      kek) == 0;
}

void trm_field_seal(const unsigned char *dek, const char *case_id, const char *category,
                    const char *field, unsigned key_version, const uint8_t *plain, size_t len,
                    uint8_t *out)
{
    struct ad a;
    field_ad(&a, case_id, category, field, key_version);
    randombytes_buf(out, NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCE, NULL, plain, len, a.buf, a.len, NULL,
                                               out, dek);
}

bool trm_field_open(const unsigned char *dek, const char *case_id, const char *category,
                    const char *field, unsigned key_version, const uint8_t *sealed, size_t len,
                    uint8_t *out)
{
    struct ad a;
    field_ad(&a, case_id, category, field, key_version);
    if (len < TRM_SEAL_OVERHEAD || a.overflow)
        return false;
    return crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, sealed + NONCE, len - NONCE,
                                                      a.buf, a.len, sealed, dek) == 0;
}

static bool is_space(const uint8_t *s, size_t n, size_t *width)
{
    ucs4_t c;
    int w = u8_mbtouc(&c, s, n);
    *width = w > 0 ? (size_t)w : 1;
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0x85 ||
           c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 ||
           c == 0x202f || c == 0x205f || c == 0x3000;
}

char *trm_normalize(const char *utf8)
{
    size_t n = strlen(utf8);
    if (u8_check((const uint8_t *)utf8, n) != NULL)
        return NULL;
    size_t folded_len = 0;
    uint8_t *folded = u8_casefold((const uint8_t *)utf8, n, NULL, UNINORM_NFKC, NULL, &folded_len);
    if (folded == NULL)
        return n == 0 ? strdup("") : NULL;
    char *out = malloc(folded_len + 1);
    size_t o = 0, w = 0;
    bool pending_space = false;
    for (size_t i = 0; out && i < folded_len; i += w) {
        if (is_space(folded + i, folded_len - i, &w)) {
            pending_space = o > 0;
            continue;
        }
        if (pending_space)
            out[o++] = ' ';
        pending_space = false;
        memcpy(out + o, folded + i, w);
        o += w;
    }
    if (out)
        out[o] = '\0';
    sodium_memzero(folded, folded_len);
    free(folded);
    return out;
}

uint32_t trm_blind_index(const struct trm_keyring *kr, enum trm_blind_kind kind,
                         const char *normalized, unsigned bits)
{
    unsigned char key[32], h[32];
    crypto_kdf_derive_from_key(key, sizeof key, (uint64_t)kind, "trmbidx_",
                               trm_keyring_index_root(kr));
    crypto_generichash(h, sizeof h, (const unsigned char *)normalized, strlen(normalized), key,
                       sizeof key);
    sodium_memzero(key, sizeof key);
    uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    if (bits < 1)
        bits = 1;
    if (bits > 32)
        bits = 32;
    return bits == 32 ? v : v >> (32 - bits);
}
