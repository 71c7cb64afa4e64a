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
#define SOP_COLS                                                                            \
    "id, code, version, coalesce(country, '') AS country, title, "                          \
    TRM_SQL_TIME("loaded_at") " AS loaded_at"
TRM_DB_STMT(stmt_sop_list, 0, "SELECT " SOP_COLS " FROM sops ORDER BY code, version");
TRM_DB_STMT(stmt_sop_get, 1, "SELECT " SOP_COLS ", document FROM sops WHERE id = $1");
TRM_DB_STMT(stmt_sop_same, 3,
            "SELECT document = $3::jsonb FROM sops WHERE code = $1 AND version = $2::integer");
/* clang-format on */

#define SOP_COL(kind, member) TRM_DB_COL(kind, struct trm_sop_row, member, #member)
static const struct trm_db_col sop_cols[] = {
    SOP_COL(TRM_DB_TEXT, id),
    SOP_COL(TRM_DB_TEXT, code),
    SOP_COL(TRM_DB_LONG, version),
    SOP_COL(TRM_DB_TEXT, country),
    SOP_COL(TRM_DB_TEXT, title),
    SOP_COL(TRM_DB_TEXT, loaded_at),
    {0},
};

enum trm_db_status trm_sop_insert(struct trm_db_conn *c, const struct trm_sop_row *row,
                                  json_t *document, const char *loaded_by)
{
    char version[24];
    snprintf(version, sizeof version, "%ld", row->version);
    char *doc = json_dumps(document, JSON_COMPACT);
    const char *p[] = {row->id, row->code, version, row->country, row->title, doc, loaded_by};
    enum trm_db_status s;
    PQclear(trm_db_exec(c, &stmt_sop_insert, p, &s));
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

enum trm_db_status trm_sop_list(struct trm_db_conn *c, struct trm_sop_row *out, unsigned cap,
                                unsigned *n)
{
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_sop_list, NULL, &s);
    *n = 0;
    if (s == TRM_DB_OK)
        s = trm_db_rows(r, sop_cols, out, sizeof *out, cap, n);
    PQclear(r);
    return s;
}

enum trm_db_status trm_sop_get(struct trm_db_conn *c, const char *id, struct trm_sop_row *row,
                               json_t **document)
{
    const char *p[] = {id};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_sop_get, p, &s);
    static const struct trm_db_col document_col[] = {{"document", TRM_DB_STR, 0, sizeof(char *)},
                                                     {0}};
    const char *text = NULL;
    *document = NULL;
    if (s == TRM_DB_OK)
        s = trm_db_one(r, sop_cols, row);
    if (s == TRM_DB_OK && trm_db_one(r, document_col, &text) == TRM_DB_OK)
        *document = json_loads(text, 0, NULL);
    if (s == TRM_DB_OK && *document == NULL)
        s = TRM_DB_ERROR;
    PQclear(r);
    return s;
}
