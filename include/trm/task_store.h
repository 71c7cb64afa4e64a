/* The task store: what an agency has to do, computed from the data by one query
 * (trm_tasks, sql/migrations/0026_casework.sql) under the caller's row-level security. */
#ifndef TRM_TASK_STORE_H
#define TRM_TASK_STORE_H

#include <jansson.h>

#include "trm/db.h"

/* The kinds of task (NULL-terminated). */
extern const char *const trm_task_kinds[];

struct trm_task_query {
    const char *kind;                 /* NULL: every kind */
    const char *from;                 /* tasks due from then (a time; NULL: overdue ones too) */
    const char *to;                   /* due before then (NULL: each kind's horizon below) */
    long deadline_days;               /* SOP deadlines this far ahead */
    long consent_days;                /* consents ending within this */
    long offer_hours;                 /* offers made ending within this */
    long plan_days;                   /* plan reviews this far ahead */
    long rejected_days;               /* refused deliveries this far back */
    const char *assignee;             /* only cases assigned to this user (NULL: all) */
    const char *after_due, *after_id; /* the cursor: after this task */
    unsigned limit;
};
/* [{"id", "kind", "case_id", "case_reference", "due_at", "overdue", "why", and where they
 * apply "referral_id", "consent_id", "plan_id", "track"}], due first. */
enum trm_db_status trm_task_list(struct trm_db_conn *c, const struct trm_task_query *q,
                                 json_t **out);

#endif
