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

/* A peer instance's signing key, for the counterpart signatures in version-2 entries. */
struct trm_peer_key {
    const char *instance_id;
    uint8_t key[TRM_SIGN_PUBLIC_BYTES];
};

/* An exported checkpoint ({"type": "checkpoint", ...}); the strings point into its JSON. */
struct trm_checkpoint {
    long long seq;
    uint8_t head[TRM_HASH_BYTES];
    const char *at, *key_id;
    uint8_t signature[TRM_SIGNATURE_BYTES];
};
/* Fills k from an exported JSON object; false when a field is missing or malformed. */
bool trm_checkpoint_from_json(json_t *j, struct trm_checkpoint *k);
/* Whether k was signed with pk and names pk's key id. */
bool trm_checkpoint_holds(const uint8_t pk[TRM_SIGN_PUBLIC_BYTES], const struct trm_checkpoint *k);
/* The id of a signing public key: the first 8 bytes of its SHA-256, hex. */
void trm_signing_key_id(const uint8_t pk[TRM_SIGN_PUBLIC_BYTES], char key_id[17]);

/* Sequence numbers run from 1 to at most this (2^53: exact in every JSON reader). */
#define TRM_HANDOVER_SEQ_MAX 9007199254740992LL

/* Verifies an export (docs/handover-log.md), item by item, in the order given:
 * - entries ({"type": "entry"}) and links ({"type": "link"}: an entry outside the reader's
 *   scope, only its seq and hashes) follow each other without gap, each prev_hash the hash
 *   before it (all zero before seq 1); an entry's hash is recomputed, a link's cannot be;
 * - every checkpoint, wherever it stands, must be signed with public_key under its key id
 *   and seal the entry (or link) with its seq, or the entry just before the first (whose hash
 *   the first prev_hash gives); one that comes before its entry is held until it arrives;
 * - at the end (trm_chain_finish): the export holds an entry; one that starts after seq 1
 *   carries the checkpoint over the entry before its start; it ends with a checkpoint over its
 *   last entry, unless allow_unsigned_tail, which counts the entries after the last
 *   checkpoint in unsigned_tail instead; no checkpoint is left over an entry not in it.
 * Memory: 32 bytes per entry, and the checkpoints still waiting for their entry. */
struct trm_chain_state;
struct trm_chain_check {
    /* Set by the caller. */
    const uint8_t *public_key; /* NULL: signatures and key ids of checkpoints not checked */
    const struct trm_peer_key *peers;
    size_t n_peers;
    bool allow_unsigned_tail;
    /* What was verified. */
    long long first_seq, last_seq; /* 0 until the first entry */
    uint8_t last_hash[TRM_HASH_BYTES];
    long long entries;       /* verified in full (hash recomputed) */
    long long links;         /* verified only as links */
    long long checkpoints;   /* verified and matching the chain */
    long long unsigned_tail; /* entries after the last checkpoint (allow_unsigned_tail) */
    long long peer_signatures_checked, peer_signatures_unchecked;
    long long bad_seq; /* 0 while all is well; else the first bad seq, and why */
    char reason[160];
    struct trm_chain_state *state; /* private; trm_chain_free releases it */
};
/* Feeds one exported item; false (with bad_seq and reason) at the first broken one. */
bool trm_chain_feed(struct trm_chain_check *c, json_t *item);
/* The checks at the end of the export; false with bad_seq and reason. */
bool trm_chain_finish(struct trm_chain_check *c);
void trm_chain_free(struct trm_chain_check *c);

#endif
