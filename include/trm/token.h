/* API tokens: "trm_" + a 16-character selector + "_" + a 43-character verifier (32 random
 * bytes, base64url). The selector finds the stored row; the verifier is checked against a
 * keyed BLAKE2b hash in constant time. Neither the token nor the verifier is ever stored. */
#ifndef TRM_TOKEN_H
#define TRM_TOKEN_H

#include <stdbool.h>
#include <stdint.h>

#define TRM_TOKEN_PREFIX "trm_"
#define TRM_TOKEN_SELECTOR_LEN 16
#define TRM_TOKEN_VERIFIER_BYTES 32
#define TRM_TOKEN_HASH_BYTES 32
#define TRM_TOKEN_LEN (4 + TRM_TOKEN_SELECTOR_LEN + 1 + 43)

struct trm_token {
    char text[TRM_TOKEN_LEN + 1];
    char selector[TRM_TOKEN_SELECTOR_LEN + 1];
    uint8_t verifier[TRM_TOKEN_VERIFIER_BYTES];
};

/* A fresh random token. Wipe it (sodium_memzero) once shown. */
void trm_token_generate(struct trm_token *t);
/* Splits a presented token; false for anything not of the exact shape. */
bool trm_token_parse(const char *text, struct trm_token *out);
/* The stored form of a verifier: BLAKE2b-256 keyed with the token key. */
void trm_token_hash(const unsigned char *key, const uint8_t *verifier,
                    uint8_t out[TRM_TOKEN_HASH_BYTES]);

#endif
