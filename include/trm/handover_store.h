/* The handover-log store: the append-only chain of handovers (offers, answers, expiries,
 * withdrawals), its head and its signed checkpoints (sql/migrations/0006, 0017). The hashing
 * and signatures are the audit module's (handover.h, checkpoints.h). Each function runs in the
 * caller's transaction. */
#ifndef TRM_HANDOVER_STORE_H
#define TRM_HANDOVER_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "trm/db.h"
#include "trm/handover.h"

struct trm_handover_filter {
    const char *case_id, *agency_id, *country, *action, *from, *to;
    long long after_seq;
    unsigned limit;
};
/* Entries visible to the caller (row-level security), as exported JSON objects but for
 * their "type". */
enum trm_db_status trm_handover_list(struct trm_db_conn *c, const struct trm_handover_filter *f,
                                     json_t **out);
/* The whole chain after after_seq (auditors and coordinators), as exported JSON objects:
 * entries in the caller's scope (the list's), links ({"type": "link", "seq", "prev_hash",
 * "hash"}) for the others. */
enum trm_db_status trm_handover_chain(struct trm_db_conn *c, long long after_seq, unsigned limit,
                                      json_t **out);
/* Checkpoints after after_seq, as exported JSON objects ({"type": "checkpoint", ...}). */
enum trm_db_status trm_handover_checkpoints(struct trm_db_conn *c, long long after_seq,
                                            unsigned limit, json_t **out);
/* The chain head and the last checkpoint (seq, age in seconds; 0 and -1 when none). */
enum trm_db_status trm_handover_head(struct trm_db_conn *c, long long *seq,
                                     uint8_t hash[TRM_HASH_BYTES], long long *checkpoint_seq,
                                     long *checkpoint_age_s);
/* The seqs of the first and last entries the caller may see with `at` in [from, to) (either
 * may be NULL: open); 0 and 0 when there are none. */
enum trm_db_status trm_handover_range(struct trm_db_conn *c, const char *from, const char *to,
                                      long long *first, long long *last);
/* What a checkpoint over entry seq would rest on: trm_handover_seal_basis() in
 * sql/migrations/0017_handover_log_scope.sql ({"sealed", "hash", "checkpoints"}). */
enum trm_db_status trm_handover_seal_basis(struct trm_db_conn *c, long long seq, json_t **out);
/* Stores a signed checkpoint; one over the same seq stored first stays. */
enum trm_db_status trm_handover_checkpoint_add(struct trm_db_conn *c, long long seq,
                                               const uint8_t hash[TRM_HASH_BYTES], const char *at,
                                               const char *key_id,
                                               const uint8_t sig[TRM_SIGNATURE_BYTES]);
#endif
