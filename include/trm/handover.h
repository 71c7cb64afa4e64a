/* The handover log's cryptography, shared by trmd (verify, checkpoints) and trmctl
 * verify-log (offline): the version-1 entry encoding and hash, checkpoint signatures, and a
 * verifier over an exported NDJSON stream. docs/handover-log.md specifies the formats. */
#ifndef TRM_HANDOVER_H
#define TRM_HANDOVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "trm/keyring.h"

#define TRM_HASH_BYTES 32
#define TRM_SIGN_PUBLIC_BYTES 32
#define TRM_SIGNATURE_BYTES 64

/* One entry as exported ({"type": "entry", ...}): strings as stored, hashes hex. */
struct trm_handover_entry {
    long long seq;
    const char *at, *case_id, *referral_id, *action, *from_agency_id, *to_agency_id, *from_country,
        *to_country, *actor_user_id, *categories /* comma-joined */, *legal_basis, *handling_code,
        *consent_id;
    /* Version 2 (an entry about a federation package): NULL in version 1. Hashes and the
     * signature are hex, as exported. */
    const char *package_id, *package_hash, *peer_instance, *peer_at, *peer_signature;
    /* Version 3: why an offer ended when no party answered it (its consent was withdrawn or
     * expired, its case erased): NULL otherwise. */
    const char *reason;
    uint8_t prev_hash[TRM_HASH_BYTES];
    uint8_t hash[TRM_HASH_BYTES];
};

/* SHA-256 of the entry's encoding (version 1; 2 when it has a package hash; 3 when it has a
 * reason). */
void trm_handover_hash(const struct trm_handover_entry *e, uint8_t out[TRM_HASH_BYTES]);
/* Fills e from an exported JSON object (pointers into j); false when a field is missing or
 * malformed. */
bool trm_handover_entry_from_json(json_t *j, struct trm_handover_entry *e);

/* The signing key pair from the keyring's seed, and its id (first 8 bytes of SHA-256 of the
 * public key, hex). */
void trm_signing_public(const struct trm_keyring *kr, uint8_t pk[TRM_SIGN_PUBLIC_BYTES],
                        char key_id[17]);
/* The checkpoint message: "trm-checkpoint-v1", seq, head hash, time, length-prefixed. */
void trm_checkpoint_sign(const struct trm_keyring *kr, long long seq,
                         const uint8_t head[TRM_HASH_BYTES], const char *at,
                         uint8_t sig[TRM_SIGNATURE_BYTES]);
bool trm_checkpoint_verify(const uint8_t pk[TRM_SIGN_PUBLIC_BYTES], long long seq,
                           const uint8_t head[TRM_HASH_BYTES], const char *at,
                           const uint8_t sig[TRM_SIGNATURE_BYTES]);

/* Verifies a stream of exported entries and checkpoints, in order. State carried between
 * items; the result names the first bad item. */
/* A peer instance's signing key, for the counterpart signatures in version-2 entries. */
struct trm_peer_key {
    const char *instance_id;
    uint8_t key[TRM_SIGN_PUBLIC_BYTES];
};

struct trm_chain_check {
    const uint8_t *public_key; /* NULL: checkpoint signatures are not checked */
    const struct trm_peer_key *peers;
    size_t n_peers;
    long long peer_signatures_checked, peer_signatures_unchecked;
    bool started;
    long long last_seq;
    uint8_t last_hash[TRM_HASH_BYTES];
    long long entries, checkpoints;
    long long bad_seq; /* 0 when all is well so far */
    char reason[160];
    /* Hashes by sequence for checkpoints that come after their entries. */
    struct {
        long long seq;
        uint8_t hash[TRM_HASH_BYTES];
    } recent[1];
};
/* Feeds one exported item; false (with bad_seq and reason) at the first broken one. */
bool trm_chain_feed(struct trm_chain_check *c, json_t *item);

#endif
