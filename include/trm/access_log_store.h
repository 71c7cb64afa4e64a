/* The access-log store: every read of a case's personal data, with the categories opened, its
 * purpose and the request (append-only: sql/migrations/0003_access_control.sql). Reads of the
 * case fields are logged by trm_case_read itself; this logs reads of the other sealed values
 * and lists the log of a case. Each function runs in the caller's transaction. */
#ifndef TRM_ACCESS_LOG_STORE_H
#define TRM_ACCESS_LOG_STORE_H

#include <jansson.h>

#include "trm/db.h"

/* Records a read of sealed data other than the case fields (notes, assessments, guardians,
 * referral notes): the personal-data categories opened (a JSON array of category names). */
enum trm_db_status trm_access_log_add(struct trm_db_conn *c, const char *case_id,
                                      json_t *categories, const char *purpose,
                                      const char *request_id);
/* Who read a case's personal data (the access log, filtered by case, as the caller may see). */
enum trm_db_status trm_access_log_for_case(struct trm_db_conn *c, const char *case_id,
                                           json_t **out);

#endif
