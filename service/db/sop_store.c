/* The SOP store (see sop_store.h): SOP versions as loaded, never changed. */
#include "trm/sop_store.h"
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
TRM_DB_STMT(stmt_sop_insert, 7,
            "INSERT INTO sops (id, code, version, country, title, document, loaded_by) "
            "VALUES ($1, $2, $3, nullif($4, ''), $5, $6::jsonb, $7)");
#define SOP_JSON                                                                            \
    "jsonb_build_object('id', id, 'code', code, 'version', version, 'country', country, "   \
    "'title', title, 'loaded_at', " TRM_SQL_TIME("loaded_at") ")"
TRM_DB_STMT(stmt_sop_list, 0,
            "SELECT coalesce(jsonb_agg(" SOP_JSON " ORDER BY code, version), '[]') FROM sops");
TRM_DB_STMT(stmt_sop_get, 2,
            "SELECT " SOP_JSON " || CASE WHEN $2::boolean "
            "THEN jsonb_build_object('document', document) ELSE '{}' END FROM sops WHERE id = $1");
TRM_DB_STMT(stmt_sop_same, 3,
            "SELECT document = $3::jsonb FROM sops WHERE code = $1 AND version = $2::integer");
/* clang-format on */

enum trm_db_status trm_sop_insert(struct trm_db_conn *c, const struct trm_sop_row *row,
                                  json_t *document, const char *loaded_by)
{
    char version[24];
    snprintf(version, sizeof version, "%ld", row->version);
    char *doc = json_dumps(document, JSON_COMPACT);
    const char *p[] = {row->id, row->code, version, row->country, row->title, doc, loaded_by};
    enum trm_db_status s = trm_db_do(c, &stmt_sop_insert, p);
    free(doc);
    return s;
}

enum trm_db_status trm_sop_existing(struct trm_db_conn *c, const char *code, long version,
                                    json_t *document, bool *exists, bool *same)
{
    char v[24];
    snprintf(v, sizeof v, "%ld", version);
    char *doc = json_dumps(document, JSON_COMPACT);
    const char *p[] = {code, v, doc};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_sop_same, p, &s);
    *exists = s == TRM_DB_OK && PQntuples(r) == 1;
    *same = *exists && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    free(doc);
    return s;
}

enum trm_db_status trm_sop_list(struct trm_db_conn *c, json_t **out)
{
    return trm_db_json_cell(c, &stmt_sop_list, NULL, out);
}

enum trm_db_status trm_sop_get(struct trm_db_conn *c, const char *id, bool with_document,
                               json_t **out)
{
    const char *p[] = {id, with_document ? "t" : "f"};
    return trm_db_json_cell(c, &stmt_sop_get, p, out);
}
