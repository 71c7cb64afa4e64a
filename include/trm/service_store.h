/* The service store: services referred or provided to the person of a case (accommodation,
 * medical, ...), by the owner or by an agency that accepted a referral of the case (which
 * is how the referring agency learns what came of it). Codes, dates and agencies are in
 * clear; a note is sealed under the case's key with its category (hex here). Row-level
 * security decides who sees and writes them (sql/migrations/0026_casework.sql). */
#ifndef TRM_SERVICE_STORE_H
#define TRM_SERVICE_STORE_H

#include <jansson.h>

#include "trm/db.h"

extern const char *const trm_service_types[];    /* NULL-terminated */
extern const char *const trm_service_statuses[]; /* NULL-terminated */

/* Why a service or plan was not written (the database says it in words; parsed here). */
enum trm_record_outcome {
    TRM_RECORD_OK,
    TRM_RECORD_NOT_FOUND,  /* the case (or the record) is not visible to the caller */
    TRM_RECORD_NO_GRANT,   /* visible, but the caller holds no active grant to write with */
    TRM_RECORD_PROVIDER,   /* no such provider agency */
    TRM_RECORD_REFERRAL,   /* not a referral of this case the caller is party to */
    TRM_RECORD_STALE,      /* the version If-Match named is not the record's */
    TRM_RECORD_NOT_WRITER, /* another agency recorded it: only that one changes it */
    TRM_RECORD_DATES,      /* it would end before it started */
};
/* The outcome a function's answer names ({"outcome": word}); false for an unknown word. */
bool trm_record_outcome_parse(json_t *answer, enum trm_record_outcome *out);

struct trm_service_values {
    const char *status, *provider_agency_id, *referred_on, *started_on, *ended_on;
    const char *sealed_note, *note_category; /* hex and its category; NULL: no note */
};

/* Records a service; *out is the service as stored (with "sealed_note" hex or null). */
enum trm_db_status trm_service_record(struct trm_db_conn *c, const char *id, const char *case_id,
                                      const char *type, const char *referral_id,
                                      const struct trm_service_values *v,
                                      enum trm_record_outcome *outcome, json_t **out);
/* Changes the members named in fields (a JSON array of status, provider_agency_id,
 * referred_on, started_on, ended_on, note) at version. */
enum trm_db_status trm_service_change(struct trm_db_conn *c, const char *case_id, const char *id,
                                      long version, json_t *fields,
                                      const struct trm_service_values *v,
                                      enum trm_record_outcome *outcome, json_t **out);
/* One service of a case (NOT_FOUND when not visible). */
enum trm_db_status trm_service_get(struct trm_db_conn *c, const char *case_id, const char *id,
                                   json_t **out);
/* A case's services in the order recorded, after (recorded_at, id) when given, at most
 * limit. */
enum trm_db_status trm_service_list(struct trm_db_conn *c, const char *case_id,
                                    const char *after_at, const char *after_id, unsigned limit,
                                    json_t **out);

#endif
