/* Referrals and transfers, and the handover log (the store side). */
#ifndef TRM_REFERRALS_H
#define TRM_REFERRALS_H

#include <jansson.h>
#include <stdbool.h>

#include "trm/db.h"
#include "trm/handover.h"

/* The longest an offer stays open (expires_in_hours), here and in an offer from a peer. */
#define TRM_REFERRAL_MAX_HOURS 720

extern const char *const trm_referral_kinds[];
extern const char *const trm_legal_bases[];
extern const char *const trm_handling_codes[];
extern const char *const trm_urgencies[];

struct trm_referral_offer {
    const char *id, *case_id, *to_agency_id, *kind, *purpose, *urgency, *legal_basis,
        *handling_code, *consent_id, *sealed_note, *sealed_reason;
    json_t *categories;
    long expires_in_hours;
};

/* Offers; *unmet gets the unmet condition codes (empty when offered); *remote says whether
 * the recipient is a peer instance's agency (the referral is then marked as crossing). NOT_FOUND
 * when the case is not the caller's; CONFLICT when an offer to that agency is open already. */
enum trm_db_status trm_referral_offer(struct trm_db_conn *c, const struct trm_referral_offer *o,
                                      json_t **unmet, bool *remote);
/* accept, decline or withdraw; *outcome: ok, remote (done, and the referral crosses to a
 * peer instance: the answer must travel), not_found, answered, expired, not_recipient,
 * not_sender. */
enum trm_db_status trm_referral_answer(struct trm_db_conn *c, const char *id, const char *action,
                                       const char *reason, char outcome[24]);
/* One referral as JSON (the minimal summary, no personal data). */
enum trm_db_status trm_referral_get(struct trm_db_conn *c, const char *id, json_t **out);
/* The caller's agency's referrals: incoming or outgoing, optionally of one status. */
enum trm_db_status trm_referral_list(struct trm_db_conn *c, bool incoming, const char *status,
                                     const char *before_created, const char *before_id,
                                     unsigned limit, json_t **out);
/* Marks offers past their deadline expired; *n how many. */
enum trm_db_status trm_referrals_expire(struct trm_db_conn *c, long *n);
/* Handover entries for a consent withdrawal that ends access. */
enum trm_db_status trm_consent_withdrawn_handovers(struct trm_db_conn *c, const char *consent_id);
/* The accepted referrals to another instance that rest on this consent (a JSON array of
 * ids, oldest first): each peer is told of the withdrawal (docs/federation.md). */
enum trm_db_status trm_consent_remote_referrals(struct trm_db_conn *c, const char *consent_id,
                                                json_t **ids);

struct trm_handover_filter {
    const char *case_id, *agency_id, *country, *action, *from, *to;
    long long after_seq;
    unsigned limit;
};
/* Entries visible to the caller (row-level security), as exported JSON objects. */
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
/* Who read a case's personal data (the access log, filtered by case, as the caller may see). */
enum trm_db_status trm_access_log_for_case(struct trm_db_conn *c, const char *case_id,
                                           json_t **out);

#endif
