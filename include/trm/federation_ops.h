/* Federation at work inside trmd: packages sent with an offer or an answer (in the user's
 * transaction), packages received at the inbox, and the delivery worker that carries the
 * outbox to peers and refreshes their agency directories. The pure format is federation.h,
 * the SQL is federation_store.h. */
#ifndef TRM_FEDERATION_OPS_H
#define TRM_FEDERATION_OPS_H

#include <jansson.h>
#include <stdbool.h>

#include "trm/db.h"
#include "trm/federation.h"
#include "trm/util.h"

struct trm_app;
struct trm_keyring_source;

/* Why an offer or an answer cannot travel to a peer instance now. */
enum trm_fed_block {
    TRM_FED_TRAVELS,       /* it can */
    TRM_FED_NOT_SET_UP,    /* no federation identity here, or no box key */
    TRM_FED_PEER_INACTIVE, /* the recipient's instance is not an active peer */
};
/* The block's name for logs ("federation_disabled", "peer_inactive"). */
const char *trm_fed_block_name(enum trm_fed_block block);

/* In the offering transaction, after trm_referral_offer found the recipient to be a peer's
 * agency: opens the offered categories of the case (logged as a read of those categories)
 * and queues them, with the offer's note (NULL: none), as a package sealed to the peer.
 * REFUSED with *block saying why when the offer cannot travel. */
enum trm_db_status trm_fed_offer_outbound(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                          const char *referral_id, const char *note,
                                          const char *request_id, enum trm_fed_block *block);
/* In the answering transaction, after trm_referral_answer: for a referral that crossed
 * instances, accepting an incoming offer creates the local case from its payload (its id in
 * new_case_id), and the answer is queued for the peer, with its reason (NULL: none) sealed
 * to the peer. Nothing for a local referral. REFUSED with *block saying why when it cannot
 * travel. */
enum trm_db_status trm_fed_answer_outbound(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                           const char *referral_id, const char *action,
                                           const char *reason, unsigned index_bits,
                                           char new_case_id[TRM_UUID_STR_LEN + 1],
                                           enum trm_fed_block *block);

/* In the transaction that withdrew or expired a consent: tells each peer instance concerned
 * (crossing as trm_consent_withdraw answered it: {"withdrawn": [referral ids of offers whose
 * withdrawal must travel], "ended": [accepted referrals whose peer must delete what it
 * received]}). A peer that is not an active peer any more is not told (a warning says so):
 * the withdrawal itself is never refused because a peer cannot be reached. */
enum trm_db_status trm_fed_consent_ended(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                         json_t *crossing);

/* The outcome of a package delivered to our inbox. */
enum trm_fed_inbox_result {
    TRM_FED_IN_OK,            /* stored (or a duplicate): answer 200 with the receipt */
    TRM_FED_IN_INVALID,       /* malformed package */
    TRM_FED_IN_UNKNOWN_PEER,  /* sender not registered or inactive */
    TRM_FED_IN_BAD_SIGNATURE, /* altered, or signed by another key */
    TRM_FED_IN_MISDIRECTED,   /* addressed to another instance */
    TRM_FED_IN_EXPIRED,       /* an offer past its expiry */
    TRM_FED_IN_REPLAYED,      /* a known package id with other content */
    TRM_FED_IN_REFUSED,       /* our state refuses it (unknown recipient agency, answered) */
    TRM_FED_IN_DISABLED,      /* federation is not set up here */
    TRM_FED_IN_UNAVAILABLE,   /* database */
    TRM_FED_IN_ERROR,
};
/* Verifies and stores a package (doc is the parsed body); *receipt gets our signed receipt
 * on OK; why says what was wrong (never quoting a value). */
enum trm_fed_inbox_result trm_fed_inbox(struct trm_app *app, json_t *doc, json_t **receipt,
                                        char *why, size_t whylen);

/* Checks a peer's signed request (the Trm-Instance, Trm-Time and Trm-Signature headers);
 * false with why when it is not from a registered, active peer within the allowed skew. */
bool trm_fed_request_verify(struct trm_app *app, const char *method, const char *path,
                            const char *instance, const char *unix_time, const char *signature,
                            char *why, size_t whylen);

/* One round of the delivery worker (trmd runs it every federation_interval_ms): sends due
 * packages and refreshes peer directories. */
void trm_fed_worker_run_once(struct trm_app *app);

#endif
