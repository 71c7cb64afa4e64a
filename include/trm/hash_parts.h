/* The length-prefixed encoding shared by every hash trm signs or chains (handover-log
 * entries, checkpoints, federation packages, receipts, requests, directories): each part is
 * a 4-byte big-endian length followed by its bytes, so no two lists of parts hash alike. */
#ifndef TRM_HASH_PARTS_H
#define TRM_HASH_PARTS_H

#include <sodium.h>
#include <stdint.h>
#include <string.h>

static inline void trm_hash_put(crypto_hash_sha256_state *st, const void *data, size_t n)
{
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    crypto_hash_sha256_update(st, len, 4);
    crypto_hash_sha256_update(st, data, n);
}

/* A string part; NULL hashes as the empty string. */
static inline void trm_hash_put_str(crypto_hash_sha256_state *st, const char *s)
{
    trm_hash_put(st, s ? s : "", s ? strlen(s) : 0);
}

#endif
