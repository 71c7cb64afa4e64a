/* Console sessions and sign-in codes (see session_store.h). */
#include "trm/session_store.h"

#include <stdio.h>
#include <string.h>

/* clang-format off */
TRM_DB_STMT(stmt_session_open, 6,
            "SELECT to_char(trm_session_open($1, $2, $3, decode($4, 'hex'), $5::integer, "
            "$6::integer) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
TRM_DB_STMT(stmt_session_close, 1, "SELECT trm_session_close($1)");
TRM_DB_STMT(stmt_signin_issue, 5,
            "INSERT INTO api_tokens (id, user_id, selector, verifier_hash, expires_at, kind) "
            "SELECT $1, u.id, $3, decode($4, 'hex'), "
            "  date_trunc('second', now()) + make_interval(mins => $5::int), 'signin' "
            "FROM users u JOIN agencies a ON a.id = u.agency_id "
            "WHERE u.id = $2 AND NOT u.disabled AND a.active "
            "RETURNING to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
/* clang-format on */

struct open_args {
    const char *const *p;
    char *expires_at;
};

static enum trm_db_status open_one(struct trm_db_conn *c, void *arg)
{
    struct open_args *a = arg;
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_session_open, a->p, &s);
    if (s == TRM_DB_OK && (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)))
        s = TRM_DB_REFUSED;
    if (s == TRM_DB_OK)
        trm_strlcpy(a->expires_at, PQgetvalue(r, 0, 0), 32);
    PQclear(r);
    return s;
}

enum trm_db_status trm_session_store_open(struct trm_db_pool *pool, const char *parent_id,
                                          const char *id, const char *selector,
                                          const uint8_t hash[TRM_TOKEN_HASH_BYTES], unsigned idle_s,
                                          unsigned max_s, char expires_at[32])
{
    char h[2 * TRM_TOKEN_HASH_BYTES + 1], idle[16], max[16];
    trm_hex_encode(hash, TRM_TOKEN_HASH_BYTES, h);
    snprintf(idle, sizeof idle, "%u", idle_s);
    snprintf(max, sizeof max, "%u", max_s);
    const char *p[] = {parent_id, id, selector, h, idle, max};
    struct open_args a = {p, expires_at};
    /* One statement, a whole operation (a SECURITY DEFINER function): no transaction. */
    return trm_db_run(pool, open_one, &a);
}

enum trm_db_status trm_session_store_close(struct trm_db_conn *c, const char *id)
{
    const char *p[] = {id};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_session_close, p, &s);
    if (s == TRM_DB_OK && PQgetvalue(r, 0, 0)[0] != 't')
        s = TRM_DB_NOT_FOUND;
    PQclear(r);
    return s;
}

enum trm_db_status trm_signin_store_issue(struct trm_db_conn *c, const char *id,
                                          const char *user_id, const char *selector,
                                          const uint8_t hash[TRM_TOKEN_HASH_BYTES],
                                          unsigned minutes, char expires_at[32])
{
    char h[2 * TRM_TOKEN_HASH_BYTES + 1], mins[16];
    trm_hex_encode(hash, TRM_TOKEN_HASH_BYTES, h);
    snprintf(mins, sizeof mins, "%u", minutes);
    const char *p[] = {id, user_id, selector, h, mins};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_signin_issue, p, &s);
    if (s == TRM_DB_OK && PQntuples(r) == 0)
        s = TRM_DB_NOT_FOUND;
    if (s == TRM_DB_OK)
        trm_strlcpy(expires_at, PQgetvalue(r, 0, 0), 32);
    PQclear(r);
    return s;
}
