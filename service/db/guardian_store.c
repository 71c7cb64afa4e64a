/* The guardian store (see guardian_store.h): a child's guardians, who they are sealed. */
#include "trm/guardian_store.h"
#include "sql.h"

/* clang-format off */
#define GUARDIAN_JSON                                                                       \
    "jsonb_build_object('id', id, 'appointed_on', appointed_on, 'category', category, "     \
    "'recorded_by', recorded_by, 'recorded_at', " TRM_SQL_TIME("recorded_at") ")"
TRM_DB_STMT(stmt_guardian_insert, 5,
            "WITH g AS (INSERT INTO guardians (id, case_id, appointed_on, sealed, category, "
            "recorded_by) SELECT $1, $2, $3::date, decode($4, 'hex'), $5, trm_ctx_user() "
            "WHERE EXISTS (SELECT 1 FROM cases WHERE id = $2 AND owner_agency_id = "
            "trm_ctx_agency()) RETURNING *) "
            "SELECT " GUARDIAN_JSON " FROM g");
TRM_DB_STMT(stmt_guardian_list, 1,
            "SELECT coalesce(jsonb_agg(" GUARDIAN_JSON " || jsonb_build_object('sealed', "
            "encode(sealed, 'hex')) ORDER BY recorded_at, id), '[]') "
            "FROM guardians WHERE case_id = $1");
/* clang-format on */

enum trm_db_status trm_guardian_insert(struct trm_db_conn *c, const char *id, const char *case_id,
                                       const char *appointed_on, const char *sealed_hex,
                                       const char *category, json_t **out)
{
    const char *p[] = {id, case_id, appointed_on, sealed_hex, category};
    return trm_db_json_cell(c, &stmt_guardian_insert, p, out);
}

enum trm_db_status trm_guardian_list(struct trm_db_conn *c, const char *case_id, json_t **out)
{
    const char *p[] = {case_id};
    return trm_db_json_cell(c, &stmt_guardian_list, p, out);
}
