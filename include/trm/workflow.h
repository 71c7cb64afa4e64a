/* The case workflow store: SOP versions, the facts guards look at, transitions, consents,
 * assessments, guardians and the timeline. Each function runs in the caller's transaction. */
#ifndef TRM_WORKFLOW_H
#define TRM_WORKFLOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "trm/cases.h"
#include "trm/db.h"
#include "trm/sop.h"
#include "trm/util.h"

struct trm_sop_row {
    char id[TRM_UUID_STR_LEN + 1];
    char code[48];
    long version;
    char country[3];
    char title[200];
    char loaded_at[40];
};

/* Stores a validated document (id set by the caller); CONFLICT when code and version exist. */
enum trm_db_status trm_sop_insert(struct trm_db_conn *c, const char *id, const struct trm_sop *sop,
                                  json_t *document, const char *loaded_by);
/* Whether this code and version are loaded already, and with the same document. */
enum trm_db_status trm_sop_existing(struct trm_db_conn *c, const struct trm_sop *sop,
                                    json_t *document, bool *exists, bool *same);
enum trm_db_status trm_sop_list(struct trm_db_conn *c, struct trm_sop_row *out, unsigned cap,
                                unsigned *n);
/* The row and its document (a new reference in *document). */
enum trm_db_status trm_sop_get(struct trm_db_conn *c, const char *id, struct trm_sop_row *row,
                               json_t **document);

/* The parsed SOP of an id, from a process-wide cache (SOP rows never change, so the cache
 * is valid in every trmd process). NULL when unknown or when the database fails. */
const struct trm_sop *trm_sop_cached(struct trm_db_conn *c, const char *id);

/* The facts of a case (NULL sop_id when invisible): with lock, the case row is locked. */
enum trm_db_status trm_case_facts_get(struct trm_db_conn *c, const char *case_id, bool lock,
                                      char sop_id[TRM_UUID_STR_LEN + 1], json_t **facts);
/* Fills facts for a SOP from the JSON trm_case_facts_get returned. */
void trm_case_facts_from_json(const struct trm_sop *sop, json_t *j, struct trm_case_facts *out);

/* Takes a checked transition and reads the case's new summary, in one round trip;
 * CONFLICT when the version or state moved meanwhile. */
enum trm_db_status trm_case_transition_apply(struct trm_db_conn *c, const char *case_id,
                                             long version, const struct trm_sop *sop,
                                             const struct trm_sop_transition *t, json_t *details,
                                             const char *sealed_note_hex, const char *note_category,
                                             struct trm_case_summary *summary);

/* The case's wrapped data key, for sealing or opening personal data of a category (NULL:
 * any): NOT_FOUND when the case is not visible. held says whether the caller holds an active
 * grant of that category (the key is filled only then); erased whether the case's personal
 * data is erased. */
struct trm_case_key {
    char kek_id[40];
    unsigned dek_version;
    uint8_t wrapped[72];
    bool held, erased;
};
enum trm_db_status trm_case_key_get(struct trm_db_conn *c, const char *case_id,
                                    const char *category, struct trm_case_key *out);

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

/* Assessments and guardians: sealed parts as hex (NULL for none), with their category. */
enum trm_db_status trm_assessment_insert(struct trm_db_conn *c, const char *id, const char *case_id,
                                         const char *kind, const char *outcome,
                                         const char *sealed_hex, const char *category,
                                         json_t **out);
/* [{"id", "kind", "outcome", "category", "recorded_at", "recorded_by", "sealed"}] (sealed hex
 * or null); only the rows the caller may see (the owner, and holders of their category). */
enum trm_db_status trm_assessment_list(struct trm_db_conn *c, const char *case_id, json_t **out);
enum trm_db_status trm_guardian_insert(struct trm_db_conn *c, const char *id, const char *case_id,
                                       const char *appointed_on, const char *sealed_hex,
                                       const char *category, json_t **out);
enum trm_db_status trm_guardian_list(struct trm_db_conn *c, const char *case_id, json_t **out);

/* Timeline events after after_id (0: from the start), oldest first. */
enum trm_db_status trm_case_events(struct trm_db_conn *c, const char *case_id, long after_id,
                                   unsigned limit, json_t **out);
/* A timeline entry (details must not hold personal values). */
enum trm_db_status trm_case_event_add(struct trm_db_conn *c, const char *case_id, const char *kind,
                                      json_t *details);
/* A timeline entry written by an agency working on the case (e.g. services provided), with
 * an optional sealed note (hex, sealed under "notes" with note_id) of a category the writer
 * holds. */
enum trm_db_status trm_case_event_note(struct trm_db_conn *c, const char *case_id, const char *kind,
                                       const char *note_id, const char *sealed_note_hex,
                                       const char *category);
/* Records a read of sealed data other than the case fields (notes, assessments, guardians,
 * referral notes): the personal-data categories opened (a JSON array of category names). */
enum trm_db_status trm_access_log_add(struct trm_db_conn *c, const char *case_id,
                                      json_t *categories, const char *purpose,
                                      const char *request_id);

#endif
