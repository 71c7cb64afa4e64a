/* The referral store: offers of a case to another agency (referral or transfer), their
 * answers, and the re-key of a transferred case (sql/migrations/0006_referrals.sql, 0016).
 * Each function runs in the caller's transaction. */
#ifndef TRM_REFERRAL_STORE_H
#define TRM_REFERRAL_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "trm/crypto.h"
#include "trm/db.h"
#include "trm/util.h"

/* The longest an offer stays open (expires_in_hours), here and in an offer from a peer. */
#define TRM_REFERRAL_MAX_HOURS 720

extern const char *const trm_referral_kinds[];
extern const char *const trm_legal_bases[];
extern const char *const trm_handling_codes[];
extern const char *const trm_urgencies[];
/* Why a referral is made (docs/openapi.yaml): a code, never free text. */
extern const char *const trm_referral_purposes[];

struct trm_referral_offer {
    const char *id, *case_id, *to_agency_id, *kind, *purpose, *urgency, *legal_basis,
        *handling_code, *consent_id, *sealed_note, *note_category, *sealed_reason;
    json_t *categories;
    long expires_in_hours;
};

/* The conditions an offer must meet (trm_referral_offer in SQL), a bit each, in the order
 * SQL checks them. */
enum trm_offer_unmet {
    TRM_UNMET_ERASED = 1u << 0,               /* the case's personal data is erased */
    TRM_UNMET_RECIPIENT = 1u << 1,            /* not an active agency other than the caller's */
    TRM_UNMET_CONSENT_MISSING = 1u << 2,      /* a data-sharing consent must be named */
    TRM_UNMET_CONSENT_NOT_IN_FORCE = 1u << 3, /* withdrawn, expired or not yet given */
    TRM_UNMET_CONSENT_CATEGORIES = 1u << 4,   /* it does not cover every category offered */
    TRM_UNMET_CONSENT_RECIPIENT = 1u << 5,    /* it does not cover the agency or its country */
    TRM_UNMET_REASON = 1u << 6,               /* without consent, a reason is needed */
    TRM_UNMET_VITAL_INTEREST_ROLE = 1u << 7,  /* a vital interest needs a coordinator */
    TRM_UNMET_NOTE_CATEGORY = 1u << 8,        /* the note's category is not offered */
};
#define TRM_OFFER_CONDITIONS 9
/* Offers; *unmet gets the conditions not met (0 when offered); *remote says whether the
 * recipient is a peer instance's agency (the referral is then marked as crossing). NOT_FOUND
 * when the case is not the caller's; CONFLICT when an offer to that agency is open already. */
enum trm_db_status trm_referral_offer(struct trm_db_conn *c, const struct trm_referral_offer *o,
                                      unsigned *unmet, bool *remote);
/* The outcome of an answer, from trm_referral_answer in SQL. */
enum trm_answer_outcome {
    TRM_ANSWER_OK,
    TRM_ANSWER_REMOTE, /* done, and the referral crosses to a peer: the answer must travel */
    TRM_ANSWER_NOT_FOUND,
    TRM_ANSWER_ANSWERED,
    TRM_ANSWER_EXPIRED,
    TRM_ANSWER_NOT_RECIPIENT,
    TRM_ANSWER_NOT_SENDER,
    TRM_ANSWER_CONSENT_WITHDRAWN, /* the consent the offer rests on is withdrawn or expired */
};
struct trm_answer {
    enum trm_answer_outcome outcome;
    char case_id[TRM_UUID_STR_LEN + 1];
    /* An accepted local transfer: what the new custodian seals again under a fresh key
     * ({"case_id", "kek_id", "dek_version", "wrapped", "items": [...]}); NULL otherwise. */
    json_t *rekey;
};
/* accept, decline or withdraw, with the reason sealed (hex) or NULL. Nothing is written
 * unless the outcome is OK or REMOTE. json_decref out->rekey. */
enum trm_db_status trm_referral_answer(struct trm_db_conn *c, const char *id, const char *action,
                                       const char *sealed_reason, struct trm_answer *out);
/* The key an answer's reason is sealed with: the wrapped key of the case of an open offer the
 * caller is a party of (found false when there is none: an offer from a peer instance, or an
 * erased case). */
struct trm_referral_key {
    bool found;
    char case_id[TRM_UUID_STR_LEN + 1], kek_id[TRM_KEK_ID_MAX + 1];
    unsigned dek_version;
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES];
};
enum trm_db_status trm_referral_seal_key(struct trm_db_conn *c, const char *id,
                                         struct trm_referral_key *out);
/* Replaces a transferred case's key and re-sealed values (trm_case_rekey in SQL); CONFLICT
 * when it is not the caller's accepted transfer or was re-keyed meanwhile. */
enum trm_db_status trm_case_rekey_store(struct trm_db_conn *c, const char *case_id,
                                        const char *referral_id, unsigned old_version,
                                        const char *kek_id, const char *wrapped_hex, json_t *items);
/* One referral as JSON (the minimal summary; "sealed_note" hex when the caller may open the
 * note). */
enum trm_db_status trm_referral_get(struct trm_db_conn *c, const char *id, json_t **out);
/* The caller's agency's referrals: incoming or outgoing, optionally of one status. */
enum trm_db_status trm_referral_list(struct trm_db_conn *c, bool incoming, const char *status,
                                     const char *before_created, const char *before_id,
                                     unsigned limit, json_t **out);
/* Marks offers past their deadline expired; *n how many. */
enum trm_db_status trm_referrals_expire(struct trm_db_conn *c, long *n);

#endif
