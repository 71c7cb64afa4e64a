/* Reading results by column name (see db.h): a store's row struct and the columns that fill
 * it, found once per result; and the three ways a store runs a statement. */
#include "trm/db.h"
#include "trm/log.h"
#include "trm/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COLS 40

/* Where each column of cols is in r; false (logged) when one is missing: the statement and
 * its store disagree. */
static bool locate(const PGresult *r, const struct trm_db_col *cols, int *idx)
{
    for (int i = 0; cols[i].name; i++) {
        idx[i] = i < MAX_COLS ? PQfnumber(r, cols[i].name) : -1;
        if (idx[i] < 0) {
            trm_log(TRM_LOG_ERROR, "db_column_missing", "no column %s in the result", cols[i].name);
            return false;
        }
    }
    return true;
}

static bool put(const PGresult *r, int row, int col, const struct trm_db_col *c, char *out)
{
    void *dst = out + c->offset;
    const char *v = PQgetvalue(r, row, col);
    if (PQgetisnull(r, row, col) && c->kind != TRM_DB_TEXT && c->kind != TRM_DB_STR) {
        memset(dst, 0, c->size);
        return true;
    }
    switch (c->kind) {
    case TRM_DB_TEXT:
        trm_strlcpy(dst, v, c->size);
        return true;
    case TRM_DB_STR:
        *(const char **)dst = v;
        return true;
    case TRM_DB_BOOL:
        *(bool *)dst = v[0] == 't';
        return true;
    case TRM_DB_INT:
        *(int *)dst = atoi(v);
        return true;
    case TRM_DB_UINT:
        *(unsigned *)dst = (unsigned)strtoul(v, NULL, 10);
        return true;
    case TRM_DB_LONG:
        *(long *)dst = atol(v);
        return true;
    case TRM_DB_LLONG:
        *(long long *)dst = atoll(v);
        return true;
    case TRM_DB_HEX:
        return trm_hex_decode(v, dst, c->size);
    }
    return false;
}

static bool read_row(const PGresult *r, int row, const struct trm_db_col *cols, const int *idx,
                     void *out)
{
    for (int i = 0; cols[i].name; i++) {
        if (!put(r, row, idx[i], &cols[i], out)) {
            trm_log(TRM_LOG_ERROR, "db_value_malformed", "column %s", cols[i].name);
            return false;
        }
    }
    return true;
}

bool trm_db_row(const PGresult *r, int row, const struct trm_db_col *cols, void *out)
{
    int idx[MAX_COLS];
    return locate(r, cols, idx) && read_row(r, row, cols, idx, out);
}

enum trm_db_status trm_db_one(const PGresult *r, const struct trm_db_col *cols, void *out)
{
    if (PQntuples(r) == 0)
        return TRM_DB_NOT_FOUND;
    return trm_db_row(r, 0, cols, out) ? TRM_DB_OK : TRM_DB_ERROR;
}

enum trm_db_status trm_db_rows(const PGresult *r, const struct trm_db_col *cols, void *out,
                               size_t elem, unsigned cap, unsigned *n)
{
    int idx[MAX_COLS];
    *n = 0;
    if (PQntuples(r) == 0)
        return TRM_DB_OK;
    if (!locate(r, cols, idx))
        return TRM_DB_ERROR;
    for (int i = 0; i < PQntuples(r) && *n < cap; i++) {
        if (!read_row(r, i, cols, idx, (char *)out + (size_t)*n * elem))
            return TRM_DB_ERROR;
        (*n)++;
    }
    return TRM_DB_OK;
}

enum trm_db_status trm_db_do(struct trm_db_conn *conn, struct trm_db_stmt *stmt,
                             const char *const *params)
{
    enum trm_db_status st;
    PQclear(trm_db_exec(conn, stmt, params, &st));
    return st;
}

enum trm_db_status trm_db_get(struct trm_db_conn *conn, struct trm_db_stmt *stmt,
                              const char *const *params, const struct trm_db_col *cols, void *out)
{
    enum trm_db_status st;
    PGresult *r = trm_db_exec(conn, stmt, params, &st);
    if (st == TRM_DB_OK)
        st = trm_db_one(r, cols, out);
    PQclear(r);
    return st;
}

enum trm_db_status trm_db_list(struct trm_db_conn *conn, struct trm_db_stmt *stmt,
                               const char *const *params, const struct trm_db_col *cols, void *out,
                               size_t elem, unsigned cap, unsigned *n)
{
    enum trm_db_status st;
    PGresult *r = trm_db_exec(conn, stmt, params, &st);
    *n = 0;
    if (st == TRM_DB_OK)
        st = trm_db_rows(r, cols, out, elem, cap, n);
    PQclear(r);
    return st;
}
