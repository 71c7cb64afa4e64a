/* The assessment store: assessments of a case (risk, needs, return risk, best interests),
 * their outcome in clear and their details sealed (hex, with the category whose grant opens
 * them). Written by the owning agency; each function runs in the caller's transaction. */
#ifndef TRM_ASSESSMENT_STORE_H
#define TRM_ASSESSMENT_STORE_H

#include <jansson.h>

#include "trm/db.h"

/* sealed_hex: NULL for no details. *out is the assessment as listed, without its details. */
enum trm_db_status trm_assessment_insert(struct trm_db_conn *c, const char *id, const char *case_id,
                                         const char *kind, const char *outcome,
                                         const char *sealed_hex, const char *category,
                                         json_t **out);
/* [{"id", "kind", "outcome", "category", "recorded_at", "recorded_by", "sealed"}] (sealed hex
 * or null); only the rows the caller may see (the owner, and holders of their category). */
enum trm_db_status trm_assessment_list(struct trm_db_conn *c, const char *case_id, json_t **out);

#endif
