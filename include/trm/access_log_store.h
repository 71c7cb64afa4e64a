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

/* Filters of a query across cases; NULL for none. from and to: dates or UTC times (to
 * excluded). */
struct trm_access_log_filter {
    const char *agency_id, *user_id, *case_id, *purpose, *from, *to;
    long long after_seq;
    unsigned limit;
};
/* Entries the caller may see (row-level security: auditors their country's, cross-border
 * auditors every one; coordinators those of their agency's cases and of cases it handed
 * over), oldest first, as a JSON array of {seq, at, user_id, agency_id, country, case_id,
 * categories, purpose, request_id, token_id, token_issued_by_other}. */
enum trm_db_status trm_access_log_list(struct trm_db_conn *c, const struct trm_access_log_filter *f,
                                       json_t **out);

#endif
