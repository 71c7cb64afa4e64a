/* Federation at work inside trmd: packages sent with an offer or an answer (in the user's
 * transaction), packages received at the inbox, and the delivery worker that carries the
 * outbox to peers and refreshes their agency directories. The pure format is federation.h,
 * the SQL is federation_store.h. */
#ifndef TRM_FEDERATION_OPS_H
#define TRM_FEDERATION_OPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trm/db.h"
#include "trm/federation.h"
#include "trm/util.h"

struct trm_app;
struct trm_keyring_source;

/* Why an offer or an answer cannot travel to a peer instance now. */
enum trm_fed_block {
    TRM_FED_TRAVELS,             /* it can */
    TRM_FED_NOT_SET_UP,          /* no federation identity here, or no box key */
    TRM_FED_PEER_INACTIVE,       /* the recipient's instance is not an active peer */
    TRM_FED_DOCUMENTS_TOO_LARGE, /* the offered documents do not fit a package */
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
/* The documents of the case of the offered categories (allowed, NULL-terminated) the caller
 * sees, opened for an offer's payload (version 3): *out a JSON array of {"kind",
 * "category", "media_type", "file_name", "sha256", "content" (base64)}, NULL when there are
 * none; the read is logged (purpose federation_documents, the categories sent). REFUSED with
 * *too_large when their content passes TRM_FED_DOCUMENTS_MAX bytes together. */
enum trm_db_status trm_fed_documents_pack(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                          const char *case_id, const char *const *allowed,
                                          const char *request_id, json_t **out, bool *too_large);
/* Whether an offer's "documents" are as trm_fed_documents_pack makes them, each of one of
 * categories (NULL-terminated), at most TRM_FED_DOCUMENTS_MAX bytes together. */
bool trm_fed_documents_ok(json_t *docs, const char *const *categories);
/* Stores the documents of an accepted offer (checked as trm_fed_documents_ok does) in the
 * local case made of it (its data key dek, of version), each sealed under a new key of its
 * own; ERROR when one does not check or its digest is not the one listed. */
enum trm_db_status trm_fed_documents_store(struct trm_db_conn *c, const unsigned char *dek,
                                           unsigned version, const char *case_id, json_t *docs,
                                           const char *const *categories);
/* The interpreter need of an open offer from a peer instance (docs/documents.md), for its
 * recipient: opened from the offer's package (the person's contact data travelled in it)
 * and the read logged against the sender's case id; *out NULL when there is none to see. */
enum trm_db_status trm_fed_offer_interpreter(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                             const char *referral_id, const char *request_id,
                                             json_t **out);
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

/* One HTTP exchange with a peer (libcurl). */
struct trm_fed_exchange {
    char url[600];
    long status;         /* 0: no answer came */
    int transport_error; /* CURLcode when no answer came */
    int os_errno;        /* the system's error number for it (ECONNREFUSED...), or 0 */
    char transport[160]; /* libcurl's words for it */
    char code[48];       /* the problem code of an error answer ("" when none) */
};
/* POSTs body (GET when NULL) to x->url with headers (NULL-ended); fills x and returns the
 * answer's body (malloc'd, NUL-terminated; NULL when no answer came). signature_hex (129
 * bytes, or NULL) receives the answer's Trm-Signature header. */
char *trm_fed_exchange(struct trm_fed_exchange *x, const char *body, const char *const *headers,
                       long timeout_s, char *signature_hex);
/* What an exchange that failed means, in one sentence for an operator, e.g. "connection
 * refused at http://...", or "ph.trm answered 401 peer_unauthenticated: this instance
 * (se.trm) is not registered there, or with another signing key". me is our instance id. */
void trm_fed_explain(const struct trm_fed_exchange *x, const char *peer, const char *me,
                     long timeout_s, char *out, size_t cap);

/* One signed fetch of a peer's agency directory, and what it came to. */
enum trm_fed_verdict {
    TRM_FED_CONNECTED,       /* its directory, signed for this request with its registered key */
    TRM_FED_FAILED,          /* no answer, or an error answer (x says which) */
    TRM_FED_BAD_SIGNATURE,   /* an answer not signed with the key registered for it */
    TRM_FED_NOT_A_DIRECTORY, /* signed, but not a directory of that instance */
};
struct trm_fed_directory {
    enum trm_fed_verdict verdict;
    struct trm_fed_exchange x;
    json_t *items;       /* CONNECTED: the agencies, every field checked (caller decrefs) */
    int package_version; /* CONNECTED: the highest package version the peer reads */
    char sentence[800];  /* the verdict in words (trmctl peer check, the worker's log) */
};
/* GETs base_url/v1/federation/agencies as instance me, signed with kr. */
void trm_fed_directory_fetch(const struct trm_keyring *kr, const char *me, const char *peer,
                             const char *base_url, const uint8_t signing_key[TRM_FED_KEY_BYTES],
                             long timeout_s, struct trm_fed_directory *out);

/* One round of the delivery worker (trmd runs it every federation_interval_ms): sends due
 * packages and refreshes peer directories. */
void trm_fed_worker_run_once(struct trm_app *app);

#endif
