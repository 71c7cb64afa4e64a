/* The access-log store (see access_log_store.h): who read which categories of a case. */
#include "trm/access_log_store.h"
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>

/* clang-format off */
TRM_DB_STMT(stmt_access_add, 4,
            "INSERT INTO access_log (user_id, agency_id, country, case_id, categories, purpose, "
            "request_id) SELECT trm_ctx_user(), trm_ctx_agency(), trm_ctx_country(), $1, "
            "$2::text[], $3, $4 WHERE EXISTS (SELECT 1 FROM cases WHERE id = $1)");
TRM_DB_STMT(stmt_access_for_case, 1,
            "SELECT coalesce(jsonb_agg(jsonb_build_object("
            "'at', " TRM_SQL_TIME_US("a.at") ", 'user_id', a.user_id, 'agency_id', a.agency_id, "
            "'country', a.country, 'categories', a.categories, 'purpose', a.purpose, "
            "'request_id', a.request_id, 'token_id', a.token_id, "
            "'token_issued_by_other', a.token_issued_by_other) ORDER BY a.id), '[]') "
            "FROM access_log a WHERE a.case_id = $1");
TRM_DB_STMT(stmt_access_list, 8,
            "SELECT coalesce(jsonb_agg(jsonb_build_object("
            "'seq', a.id, 'at', " TRM_SQL_TIME_US("a.at") ", 'user_id', a.user_id, "
            "'agency_id', a.agency_id, 'country', a.country, 'case_id', a.case_id, "
            "'categories', a.categories, 'purpose', a.purpose, 'request_id', a.request_id, "
            "'token_id', a.token_id, 'token_issued_by_other', a.token_issued_by_other) "
            "ORDER BY a.id), '[]') FROM ("
            "SELECT * FROM access_log a WHERE a.id > $7::bigint "
            "AND ($1::uuid IS NULL OR a.agency_id = $1) "
            "AND ($2::uuid IS NULL OR a.user_id = $2) "
            "AND ($3::uuid IS NULL OR a.case_id = $3) "
            "AND ($4::text IS NULL OR a.purpose = $4) "
            "AND ($5::timestamptz IS NULL OR a.at >= $5) "
            "AND ($6::timestamptz IS NULL OR a.at < $6) "
            "ORDER BY a.id LIMIT $8::integer) a");
/* clang-format on */

enum trm_db_status trm_access_log_add(struct trm_db_conn *c, const char *case_id,
                                      json_t *categories, const char *purpose,
                                      const char *request_id)
{
    char *cats = trm_db_words_literal(categories);
    const char *p[] = {case_id, cats, purpose, request_id};
    enum trm_db_status s = trm_db_do(c, &stmt_access_add, p);
    free(cats);
    return s;
}

enum trm_db_status trm_access_log_for_case(struct trm_db_conn *c, const char *case_id, json_t **out)
{
    const char *p[] = {case_id};
    return trm_db_json_cell(c, &stmt_access_for_case, p, out);
}

enum trm_db_status trm_access_log_list(struct trm_db_conn *c, const struct trm_access_log_filter *f,
                                       json_t **out)
{
    char after[24], lim[16];
    snprintf(after, sizeof after, "%lld", f->after_seq);
    snprintf(lim, sizeof lim, "%u", f->limit);
    const char *p[] = {f->agency_id, f->user_id, f->case_id, f->purpose,
                       f->from,      f->to,      after,      lim};
    return trm_db_json_cell(c, &stmt_access_list, p, out);
}
