/* Field-level encryption of personal data (libsodium).
 * - Each case has a random data key (DEK), stored only wrapped by a key-encryption key (KEK)
 *   of the keyring: XChaCha20-Poly1305 with associated data binding the case id and KEK id.
 * - Each personal field is sealed with the DEK: XChaCha20-Poly1305, random nonce, associated
 *   data binding case id, category, field name and DEK version, so a ciphertext copied to
 *   another case, category or field fails to open.
 * - Blind indexes: keyed BLAKE2b over a normalised value (NFKC, case folding, collapsed
 *   spaces) with a per-index key derived from the index root key, truncated to a few bits so
 *   that several cases share each value (docs/encryption.md says why).
 * Associated data is a length-prefixed encoding: "trm-<purpose>-v1", then each part as a
 * 4-byte big-endian length followed by its bytes. Sealed bytes are nonce || ciphertext+tag. */
#ifndef TRM_CRYPTO_H
#define TRM_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trm/keyring.h"

#define TRM_DEK_BYTES 32
/* Bytes added by sealing: 24-byte nonce and 16-byte tag. */
#define TRM_SEAL_OVERHEAD 40
#define TRM_WRAPPED_DEK_BYTES (TRM_DEK_BYTES + TRM_SEAL_OVERHEAD)

/* A data key in guarded memory (sodium_malloc); free with trm_dek_free. */
unsigned char *trm_dek_new(void);
unsigned char *trm_dek_alloc(void);
void trm_dek_free(unsigned char *dek);

/* Wraps dek for case_id under the keyring's current KEK; writes the KEK id used. */
bool trm_dek_wrap(const struct trm_keyring *kr, const char *case_id, const unsigned char *dek,
                  uint8_t out[TRM_WRAPPED_DEK_BYTES], char kek_id[TRM_KEK_ID_MAX + 1]);
/* Wraps under a named KEK (key rotation). */
bool trm_dek_wrap_with(const struct trm_keyring *kr, const char *kek_id, const char *case_id,
                       const unsigned char *dek, uint8_t out[TRM_WRAPPED_DEK_BYTES]);
/* Unwraps with the KEK named kek_id (never by trying keys in turn); false if the KEK is
 * unknown or anything was altered. */
bool trm_dek_unwrap(const struct trm_keyring *kr, const char *case_id, const char *kek_id,
                    const uint8_t *wrapped, size_t wrapped_len, unsigned char *dek);

/* Seals plain (len bytes) into out, which must hold len + TRM_SEAL_OVERHEAD bytes; false
 * (out unusable) when a name is missing or memory runs out. */
bool trm_field_seal(const unsigned char *dek, const char *case_id, const char *category,
                    const char *field, unsigned key_version, const uint8_t *plain, size_t len,
                    uint8_t *out);
/* Opens sealed (len bytes) into out (len - TRM_SEAL_OVERHEAD bytes); false when the
 * ciphertext, its associated data or the key does not match. */
bool trm_field_open(const unsigned char *dek, const char *case_id, const char *category,
                    const char *field, unsigned key_version, const uint8_t *sealed, size_t len,
                    uint8_t *out);

/* A chunk of a document's content, sealed under the document's own key (TRM_DEK_BYTES, made
 * with trm_dek_new): XChaCha20-Poly1305, random nonce, associated data binding the document's
 * id, the chunk's position and whether it is the last, so chunks cannot be moved to another
 * document or place, and a document cut short does not open to its end. out holds
 * len + TRM_SEAL_OVERHEAD bytes; false only when document_id is missing. */
bool trm_chunk_seal(const unsigned char *key, const char *document_id, uint32_t seq, bool last,
                    const uint8_t *plain, size_t len, uint8_t *out);
/* Opens a sealed chunk (len bytes) into out (len - TRM_SEAL_OVERHEAD bytes); false when the
 * key, the document, the position or the last mark does not match, or it was altered. */
bool trm_chunk_open(const unsigned char *key, const char *document_id, uint32_t seq, bool last,
                    const uint8_t *sealed, size_t len, uint8_t *out);

/* Normalises text for matching: Unicode NFKC with case folding, white space runs collapsed
 * to one space, leading and trailing spaces removed. Returns a malloc'd string, or NULL for
 * invalid UTF-8. */
char *trm_normalize(const char *utf8);

enum trm_blind_kind {
    TRM_BLIND_NAME = 1,            /* full name */
    TRM_BLIND_NAME_BIRTH_YEAR = 2, /* full name and year of birth */
    TRM_BLIND_DOCUMENT = 3,        /* identity document number */
};
/* The blind index of an already normalised value, truncated to bits (1..32). */
uint32_t trm_blind_index(const struct trm_keyring *kr, enum trm_blind_kind kind,
                         const char *normalized, unsigned bits);

#endif
