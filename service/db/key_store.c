/* The wrapped data keys of cases (see key_store.h): read to seal or open a case's values,
 * rotated and retired by trmctl; and retention. */
#include "trm/key_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
TRM_DB_STMT(stmt_keys_batch, 2,
            "SELECT case_id, kek_id, encode(wrapped_dek, 'hex') AS wrapped FROM case_keys "
            "WHERE kek_id <> $1 ORDER BY case_id LIMIT $2 FOR UPDATE SKIP LOCKED");
TRM_DB_STMT(stmt_keys_store, 3,
            "UPDATE case_keys SET kek_id = $2, wrapped_dek = decode($3, 'hex') WHERE case_id = $1");
TRM_DB_STMT(stmt_keys_remaining, 1, "SELECT count(*) FROM case_keys WHERE kek_id <> $1");
TRM_DB_STMT(stmt_keys_usage, 0,
            "SELECT kek_id, sum(n) AS data_keys, "
            "coalesce(to_char(max(retired_at), 'YYYY-MM-DD'), '') AS retired_on FROM ("
            "SELECT kek_id, count(*) AS n, NULL::timestamptz AS retired_at FROM case_keys "
            "GROUP BY kek_id UNION ALL SELECT kek_id, 0, retired_at FROM retired_keks) k "
            "GROUP BY kek_id ORDER BY kek_id");
TRM_DB_STMT(stmt_keys_retire, 1, "SELECT trm_kek_retire($1)");
TRM_DB_STMT(stmt_retention, 1, "SELECT trm_case_erase_retention($1::integer)");
/* The case's wrapped key, whether its personal data is erased, and whether the caller holds
 * an active grant of the category ($2; NULL: of any category). */
TRM_DB_STMT(stmt_case_key, 2,
            "SELECT k.kek_id, k.dek_version, encode(k.wrapped_dek, 'hex') AS wrapped, "
            "c.personal_data_erased_at IS NOT NULL AS erased, EXISTS (SELECT 1 FROM case_grants g "
            "WHERE g.case_id = c.id AND g.agency_id = trm_ctx_agency() AND g.ended_at IS NULL "
            "AND (g.expires_at IS NULL OR g.expires_at > now()) AND cardinality(g.categories) > 0 "
            "AND ($2::text IS NULL OR $2 = ANY (g.categories))) AS held "
            "FROM cases c LEFT JOIN case_keys k ON k.case_id = c.id WHERE c.id = $1");
/* clang-format on */

static const struct trm_db_col wrapped_cols[] = {
    TRM_DB_FIELD(TRM_DB_TEXT, struct trm_wrapped_key, case_id),
    TRM_DB_FIELD(TRM_DB_TEXT, struct trm_wrapped_key, kek_id),
    TRM_DB_FIELD(TRM_DB_HEX, struct trm_wrapped_key, wrapped),
    {0},
};

enum trm_db_status trm_keys_take_batch(struct trm_db_conn *c, const char *kek_id,
                                       struct trm_wrapped_key *out, unsigned cap, unsigned *n)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%u", cap);
    const char *p[] = {kek_id, limit};
    return trm_db_list(c, &stmt_keys_batch, p, wrapped_cols, out, sizeof *out, cap, n);
}

enum trm_db_status trm_keys_store(struct trm_db_conn *c, const struct trm_wrapped_key *k)
{
    char hex[2 * TRM_WRAPPED_DEK_BYTES + 1];
    trm_hex_encode(k->wrapped, sizeof k->wrapped, hex);
    const char *p[] = {k->case_id, k->kek_id, hex};
    return trm_db_do(c, &stmt_keys_store, p);
}

/* The first cell of a one-row result as a number. */
static enum trm_db_status count_of(struct trm_db_conn *c, struct trm_db_stmt *stmt,
                                   const char *const *p, long *n)
{
    enum trm_db_status st;
    PGresult *r = trm_db_exec(c, stmt, p, &st);
    *n = st == TRM_DB_OK && PQntuples(r) == 1 ? atol(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return st;
}

enum trm_db_status trm_keys_remaining(struct trm_db_conn *c, const char *kek_id, long *n)
{
    const char *p[] = {kek_id};
    return count_of(c, &stmt_keys_remaining, p, n);
}

enum trm_db_status trm_keys_retire(struct trm_db_conn *c, const char *kek_id, long *still_wrapped)
{
    const char *p[] = {kek_id};
    return count_of(c, &stmt_keys_retire, p, still_wrapped);
}

enum trm_db_status trm_keys_usage(struct trm_db_conn *c, struct trm_kek_use **out, size_t *n)
{
    enum trm_db_status st;
    PGresult *r = trm_db_exec(c, &stmt_keys_usage, NULL, &st);
    static const struct trm_db_col cols[] = {
        TRM_DB_FIELD(TRM_DB_TEXT, struct trm_kek_use, kek_id),
        TRM_DB_FIELD(TRM_DB_LONG, struct trm_kek_use, data_keys),
        TRM_DB_FIELD(TRM_DB_TEXT, struct trm_kek_use, retired_on),
        {0},
    };
    unsigned rows = st == TRM_DB_OK ? (unsigned)PQntuples(r) : 0, got = 0;
    *n = 0;
    *out = calloc(rows + 1, sizeof **out);
    if (*out == NULL)
        st = TRM_DB_ERROR;
    if (st == TRM_DB_OK)
        st = trm_db_rows(r, cols, *out, sizeof **out, rows, &got);
    *n = got;
    PQclear(r);
    return st;
}

enum trm_db_status trm_retention_erase(struct trm_db_conn *c, long days, long *erased)
{
    char d[24];
    snprintf(d, sizeof d, "%ld", days);
    const char *p[] = {d};
    enum trm_db_status st;
    PGresult *r = trm_db_exec(c, &stmt_retention, p, &st);
    *erased = st == TRM_DB_OK ? atol(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return st;
}

/* What the statement says of a case's key, before it is one access. */
struct key_row {
    struct trm_case_key key;
    bool held, erased;
};

static const struct trm_db_col key_cols[] = {
    TRM_DB_COL(TRM_DB_TEXT, struct key_row, key.kek_id, "kek_id"),
    TRM_DB_COL(TRM_DB_UINT, struct key_row, key.dek_version, "dek_version"),
    TRM_DB_COL(TRM_DB_HEX, struct key_row, key.wrapped, "wrapped"),
    TRM_DB_FIELD(TRM_DB_BOOL, struct key_row, erased),
    TRM_DB_FIELD(TRM_DB_BOOL, struct key_row, held),
    {0},
};

enum trm_db_status trm_case_key_get(struct trm_db_conn *c, const char *case_id,
                                    const char *category, struct trm_case_key *out)
{
    const char *p[] = {case_id, category};
    struct key_row row = {0};
    enum trm_db_status s = trm_db_get(c, &stmt_case_key, p, key_cols, &row);
    memset(out, 0, sizeof *out);
    /* A grant of a case without a key (erased) holds nothing to seal with. */
    if (row.held && row.key.kek_id[0] != '\0')
        *out = row.key;
    out->access = row.held && row.key.kek_id[0] ? TRM_KEY_HELD
                  : row.erased                  ? TRM_KEY_ERASED
                                                : TRM_KEY_NOT_HELD;
    return s;
}
