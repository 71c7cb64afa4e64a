/* The plan store (see plan_store.h). */
#include "trm/plan_store.h"

#include <stdio.h>

const char *const trm_plan_statuses[] = {"active", "closed", NULL};

/* clang-format off */
TRM_DB_STMT(stmt_record, 5, "SELECT trm_plan_record($1, $2, $3::date, $4, $5)");
TRM_DB_STMT(stmt_change, 6,
            "SELECT trm_plan_change($1, $2, $3::integer, $4::date, $5, $6)");
TRM_DB_STMT(stmt_get, 2,
            "SELECT trm_plan_json(p) FROM case_plans p WHERE p.case_id = $1 AND p.id = $2");
TRM_DB_STMT(stmt_list, 4,
            "SELECT coalesce(jsonb_agg(trm_plan_json(p) ORDER BY p.recorded_at, p.id), '[]') "
            "FROM (SELECT * FROM case_plans p WHERE p.case_id = $1 "
            "AND ($2::timestamptz IS NULL OR (p.recorded_at, p.id) > ($2::timestamptz, $3::uuid)) "
            "ORDER BY p.recorded_at, p.id LIMIT $4::integer) p");
/* clang-format on */

static enum trm_db_status outcome_call(struct trm_db_conn *c, struct trm_db_stmt *st,
                                       const char *const *p, enum trm_record_outcome *outcome,
                                       json_t **out)
{
    json_t *answer = NULL;
    *out = NULL;
    enum trm_db_status s = trm_db_json_cell(c, st, p, &answer);
    if (s == TRM_DB_OK && !trm_record_outcome_parse(answer, outcome))
        s = TRM_DB_ERROR; /* a word this store does not know: a schema mismatch */
    if (s == TRM_DB_OK && *outcome == TRM_RECORD_OK) {
        *out = json_incref(json_object_get(answer, "plan"));
        if (*out == NULL)
            s = TRM_DB_ERROR;
    }
    json_decref(answer);
    return s;
}

enum trm_db_status trm_plan_record(struct trm_db_conn *c, const char *id, const char *case_id,
                                   const char *review_on, const char *sealed_goals,
                                   const char *category, enum trm_record_outcome *outcome,
                                   json_t **out)
{
    const char *p[] = {id, case_id, review_on, sealed_goals, category};
    return outcome_call(c, &stmt_record, p, outcome, out);
}

enum trm_db_status trm_plan_change(struct trm_db_conn *c, const char *case_id, const char *id,
                                   long version, const char *review_on, const char *status,
                                   const char *sealed_goals, enum trm_record_outcome *outcome,
                                   json_t **out)
{
    char ver[24];
    snprintf(ver, sizeof ver, "%ld", version);
    const char *p[] = {case_id, id, ver, review_on, status, sealed_goals};
    return outcome_call(c, &stmt_change, p, outcome, out);
}

enum trm_db_status trm_plan_get(struct trm_db_conn *c, const char *case_id, const char *id,
                                json_t **out)
{
    const char *p[] = {case_id, id};
    return trm_db_json_cell(c, &stmt_get, p, out);
}

enum trm_db_status trm_plan_list(struct trm_db_conn *c, const char *case_id, const char *after_at,
                                 const char *after_id, unsigned limit, json_t **out)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%u", limit);
    const char *p[] = {case_id, after_at, after_id, lim};
    return trm_db_json_cell(c, &stmt_list, p, out);
}
