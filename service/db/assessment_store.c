/* The assessment store (see assessment_store.h): risk, needs, return-risk and best-interests
 * assessments of a case, their details sealed. */
#include "trm/assessment_store.h"
#include "sql.h"

/* clang-format off */
#define ASSESSMENT_JSON                                                                     \
    "jsonb_build_object('id', id, 'kind', kind, 'outcome', outcome, 'category', category, " \
    "'recorded_by', recorded_by, 'recorded_at', " TRM_SQL_TIME("recorded_at") ")"
TRM_DB_STMT(stmt_assessment_insert, 6,
            "WITH a AS (INSERT INTO assessments (id, case_id, kind, outcome, sealed_details, "
            "category, recorded_by) SELECT $1, $2, $3, $4, decode($5, 'hex'), $6, trm_ctx_user() "
            "WHERE EXISTS (SELECT 1 FROM cases WHERE id = $2 AND owner_agency_id = "
            "trm_ctx_agency()) RETURNING *) "
            "SELECT " ASSESSMENT_JSON " FROM a");
TRM_DB_STMT(stmt_assessment_list, 1,
            "SELECT coalesce(jsonb_agg(" ASSESSMENT_JSON " || jsonb_build_object('sealed', "
            "encode(sealed_details, 'hex')) ORDER BY recorded_at, id), '[]') "
            "FROM assessments WHERE case_id = $1");
/* clang-format on */

enum trm_db_status trm_assessment_insert(struct trm_db_conn *c, const char *id, const char *case_id,
                                         const char *kind, const char *outcome,
                                         const char *sealed_hex, const char *category, json_t **out)
{
    const char *p[] = {id, case_id, kind, outcome, sealed_hex, category};
    return trm_db_json_cell(c, &stmt_assessment_insert, p, out);
}

enum trm_db_status trm_assessment_list(struct trm_db_conn *c, const char *case_id, json_t **out)
{
    const char *p[] = {case_id};
    return trm_db_json_cell(c, &stmt_assessment_list, p, out);
}
