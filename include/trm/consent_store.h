/* The consent store: a person's consents on a case (kind, categories, recipients, when given
 * and until when), and their end: withdrawn by the owner or expired, with what rests on them
 * (open offers withdrawn, grants ended) in the same statement. Consents are the owning
 * agency's: a recipient of a referral gets NOT_FOUND. Each function runs in the caller's
 * transaction. */
#ifndef TRM_CONSENT_STORE_H
#define TRM_CONSENT_STORE_H

#include <jansson.h>

#include "trm/db.h"
#include "trm/util.h"

struct trm_consent_new {
    const char *id, *case_id, *kind, *given_at, *expires_at;
    json_t *categories, *agency_ids, *countries;
};
enum trm_db_status trm_consent_insert(struct trm_db_conn *c, const struct trm_consent_new *n,
                                      json_t **out);
/* Withdraws a consent and ends what rests on it (trm_consent_withdraw in SQL): offers resting
 * on it are withdrawn, grants resting on it end. The reason is stored only sealed (hex, with
 * its category; NULL when the case's personal data is erased and it cannot be kept). *out
 * is the consent, with "crossing": {"withdrawn": [...], "ended": [...]} the referral ids
 * whose peer instance must be told. NOT_FOUND when no such consent is in force. */
enum trm_db_status trm_consent_withdraw(struct trm_db_conn *c, const char *case_id, const char *id,
                                        const char *sealed_reason_hex, const char *reason_category,
                                        json_t **out);
enum trm_db_status trm_consent_list(struct trm_db_conn *c, const char *case_id, json_t **out);

/* Consents past their expiry not yet processed, with the agency owning their case. */
struct trm_consent_due {
    char consent_id[TRM_UUID_STR_LEN + 1];
    char owner_agency_id[TRM_UUID_STR_LEN + 1];
};
enum trm_db_status trm_consents_due(struct trm_db_conn *c, struct trm_consent_due *out,
                                    unsigned cap, unsigned *n);
/* Processes one expired consent (offers resting on it withdrawn, access resting on it ended);
 * *crossing as trm_consent_withdraw's, or NULL when another process did it meanwhile. */
enum trm_db_status trm_consent_expire(struct trm_db_conn *c, const char *id, json_t **crossing);

#endif
