/* The plan store: assistance plans of a case (the individual plan TRM guidance asks to be
 * revised at every contact): a review date and a status in clear, the goals sealed under the
 * case's key with a category (hex here). Written and revised by the agency that made the
 * plan; seen like the timeline (sql/migrations/0026_casework.sql). */
#ifndef TRM_PLAN_STORE_H
#define TRM_PLAN_STORE_H

#include <jansson.h>

#include "trm/db.h"
#include "trm/service_store.h"

extern const char *const trm_plan_statuses[]; /* NULL-terminated */

/* Records a plan; *out is the plan as stored (with "sealed" hex or null). */
enum trm_db_status trm_plan_record(struct trm_db_conn *c, const char *id, const char *case_id,
                                   const char *review_on, const char *sealed_goals,
                                   const char *category, enum trm_record_outcome *outcome,
                                   json_t **out);
/* Revises a plan at version: review_on, status and sealed_goals as given (NULL: unchanged). */
enum trm_db_status trm_plan_change(struct trm_db_conn *c, const char *case_id, const char *id,
                                   long version, const char *review_on, const char *status,
                                   const char *sealed_goals, enum trm_record_outcome *outcome,
                                   json_t **out);
enum trm_db_status trm_plan_get(struct trm_db_conn *c, const char *case_id, const char *id,
                                json_t **out);
enum trm_db_status trm_plan_list(struct trm_db_conn *c, const char *case_id, const char *after_at,
                                 const char *after_id, unsigned limit, json_t **out);

#endif
