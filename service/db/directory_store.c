/* The directory store: agencies, users, API tokens and failed-authentication counters. */
#include "trm/directory_store.h"
#include "trm/util.h"
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* labour_inspection, the kind's old word, is still accepted (older clients, peer instances'
 * directories): the database stores it as labour_inspectorate (migration 0027). */
const char *const trm_agency_kinds[] = {
    "police",          "prosecution",         "migration_authority",
    "social_services", "labour_inspectorate", "ngo",
    "embassy",         "international_org",   "national_coordinator",
    "other",           "labour_inspection",   NULL};
const char *trm_agency_kind_canonical(const char *kind)
{
    return kind && strcmp(kind, "labour_inspection") == 0 ? "labour_inspectorate" : kind;
}

const char *const trm_user_roles[] = {"caseworker", "coordinator", "auditor", "admin", NULL};

/* clang-format off */
#define AGENCY_COLS                                                                         \
    "id, name, country, kind, active, demo, coalesce(instance_id, '') AS instance_id"
#define USER_COLS "id, agency_id, display_name, role, cross_border, disabled, demo"

TRM_DB_STMT(stmt_agency_insert, 6,
            "INSERT INTO agencies (id, name, country, kind, active, demo) "
            "SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM countries WHERE code = $3)");
TRM_DB_STMT(stmt_agency_get, 1, "SELECT " AGENCY_COLS " FROM agencies WHERE id = $1");
TRM_DB_STMT(stmt_agency_list, 6,
            "SELECT " AGENCY_COLS " FROM agencies "
            "WHERE ($1::text IS NULL OR country = $1) AND ($2::text IS NULL OR kind = $2) "
            "AND ($3::text IS NULL OR (country, name, id) > ($3, $4, $5::uuid)) "
            "ORDER BY country, name, id LIMIT $6");
TRM_DB_STMT(stmt_agency_set_active, 2,
            "WITH u AS (UPDATE agencies SET active = $2 WHERE id = $1 AND instance_id IS NULL "
            "RETURNING id) "
            "SELECT (SELECT count(*) FROM u) AS changed, "
            "(SELECT count(*) FROM agencies WHERE id = $1) AS found");
TRM_DB_STMT(stmt_user_insert, 7,
            "INSERT INTO users (id, agency_id, display_name, role, cross_border, disabled, demo) "
            "SELECT $1, $2, $3, $4, $5, $6, $7 "
            "WHERE EXISTS (SELECT 1 FROM agencies WHERE id = $2)");
TRM_DB_STMT(stmt_user_get, 1, "SELECT " USER_COLS " FROM users WHERE id = $1");
TRM_DB_STMT(stmt_user_list, 3,
            "SELECT " USER_COLS " FROM users "
            "WHERE ($1::uuid IS NULL OR agency_id = $1) AND ($2::uuid IS NULL OR id > $2) "
            "ORDER BY id LIMIT $3");
TRM_DB_STMT(stmt_user_disable, 2, "UPDATE users SET disabled = $2 WHERE id = $1");
TRM_DB_STMT(stmt_token_insert, 5,
            "INSERT INTO api_tokens (id, user_id, selector, verifier_hash, expires_at) "
            "SELECT $1, $2, $3, decode($4, 'hex'), "
            "  CASE WHEN $5::int > 0 "
            "  THEN date_trunc('second', now()) + make_interval(days => $5::int) END "
            "WHERE EXISTS (SELECT 1 FROM users WHERE id = $2) "
            "RETURNING coalesce(" TRM_SQL_TIME("expires_at") ", '')");
/* Never the selector or the verifier's hash: what an admin needs to tell tokens apart. */
TRM_DB_STMT(stmt_token_list, 4,
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE id = $1) THEN "
            "coalesce((SELECT jsonb_agg(j ORDER BY o DESC, i DESC) FROM ("
            "  SELECT t.created_at AS o, t.id AS i, jsonb_build_object("
            "    'id', t.id, 'kind', t.kind, 'created_at', " TRM_SQL_TIME_US("t.created_at") ", "
            "    'expires_at', " TRM_SQL_TIME_US("t.expires_at") ", "
            "    'last_used_at', " TRM_SQL_TIME_US("t.last_used_at") ", "
            "    'revoked_at', " TRM_SQL_TIME_US("t.revoked_at") ", "
            "    'issued_via', t.issued_via, 'usable', trm_token_usable(t, p)) AS j "
            "  FROM api_tokens t LEFT JOIN api_tokens p ON p.id = t.parent_id "
            "  WHERE t.user_id = $1 "
            "  AND ($2::timestamptz IS NULL OR (t.created_at, t.id) < ($2::timestamptz, $3::uuid)) "
            "  ORDER BY t.created_at DESC, t.id DESC LIMIT $4) s), '[]') END");
TRM_DB_STMT(stmt_token_revoke, 1,
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1");
TRM_DB_STMT(stmt_token_lookup, 3,
            "SELECT t.id AS token_id, encode(t.verifier_hash, 'hex') AS hash, "
            "  trm_token_usable(t, p) AND NOT u.disabled AND a.active AS usable, "
            "  t.last_used_at IS NULL OR t.last_used_at < now() - "
            "    make_interval(secs => least(60, coalesce(t.idle_s, 120) / 2)) "
            "    AS stale_last_used, t.kind AS token_kind, "
            "  u.id AS user_id, u.agency_id AS user_agency_id, u.display_name, u.role, "
            "  u.cross_border, u.disabled, u.demo AS user_demo, a.id AS agency_id, "
            "  a.name AS agency_name, "
            "  a.country AS agency_country, a.kind AS agency_kind, a.active AS agency_active, "
            "  a.demo AS agency_demo, f.failures, f.retry "
            "FROM (SELECT coalesce(max(failures), 0) AS failures, "
            "        coalesce(max(ceil(extract(epoch FROM window_start - now()) + $3::int)), 0) "
            "        AS retry "
            "      FROM auth_failures WHERE client = $2 "
            "        AND window_start > now() - make_interval(secs => $3::int)) f "
            "LEFT JOIN api_tokens t ON t.selector = $1 "
            "LEFT JOIN api_tokens p ON p.id = t.parent_id "
            "LEFT JOIN users u ON u.id = t.user_id "
            "LEFT JOIN agencies a ON a.id = u.agency_id");
TRM_DB_STMT(stmt_auth_holds, TRM_AUTH_FACTS,
            "SELECT trm_auth_holds($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)");
TRM_DB_STMT(stmt_auth_failure, 2,
            "INSERT INTO auth_failures AS f (client, window_start, failures) "
            "VALUES ($1, now(), 1) ON CONFLICT (client) DO UPDATE SET "
            "  failures = CASE WHEN f.window_start > now() - make_interval(secs => $2::int) "
            "                  THEN f.failures + 1 ELSE 1 END, "
            "  window_start = CASE WHEN f.window_start > now() - make_interval(secs => $2::int) "
            "                  THEN f.window_start ELSE now() END "
            "RETURNING failures, "
            "  ceil(extract(epoch FROM window_start - now()) + $2::int) AS retry");
TRM_DB_STMT(stmt_token_touch, 1, "UPDATE api_tokens SET last_used_at = now() WHERE id = $1");
TRM_DB_STMT(stmt_cleanup, 1,
            "WITH a AS (DELETE FROM auth_failures "
            "           WHERE window_start < now() - make_interval(secs => $1::int)) "
            "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'");
TRM_DB_STMT(stmt_admin_exists, 0,
            "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND NOT disabled)");
/* clang-format on */

#define A(kind, member) TRM_DB_FIELD(kind, struct trm_agency, member)
static const struct trm_db_col agency_cols[] = {
    A(TRM_DB_TEXT, id),     A(TRM_DB_TEXT, name), A(TRM_DB_TEXT, country),     A(TRM_DB_TEXT, kind),
    A(TRM_DB_BOOL, active), A(TRM_DB_BOOL, demo), A(TRM_DB_TEXT, instance_id), {0},
};
#undef A

#define U(kind, member) TRM_DB_FIELD(kind, struct trm_user, member)
static const struct trm_db_col user_cols[] = {
    U(TRM_DB_TEXT, id),           U(TRM_DB_TEXT, agency_id),
    U(TRM_DB_TEXT, display_name), U(TRM_DB_TEXT, role),
    U(TRM_DB_BOOL, cross_border), U(TRM_DB_BOOL, disabled),
    U(TRM_DB_BOOL, demo),         {0},
};
#undef U

/* What authentication reads of a token, its user and agency, and the client's failures. */
#define TOKEN_COL(kind, member, column) TRM_DB_COL(kind, struct trm_token_row, member, column)
static const struct trm_db_col token_cols[] = {
    TOKEN_COL(TRM_DB_TEXT, token_id, "token_id"),
    TOKEN_COL(TRM_DB_HEX, hash, "hash"),
    TOKEN_COL(TRM_DB_BOOL, usable, "usable"),
    TOKEN_COL(TRM_DB_BOOL, stale_last_used, "stale_last_used"),
    TOKEN_COL(TRM_DB_TEXT, user.id, "user_id"),
    TOKEN_COL(TRM_DB_TEXT, user.agency_id, "user_agency_id"),
    TOKEN_COL(TRM_DB_TEXT, user.display_name, "display_name"),
    TOKEN_COL(TRM_DB_TEXT, user.role, "role"),
    TOKEN_COL(TRM_DB_BOOL, user.cross_border, "cross_border"),
    TOKEN_COL(TRM_DB_BOOL, user.disabled, "disabled"),
    TOKEN_COL(TRM_DB_BOOL, user.demo, "user_demo"),
    TOKEN_COL(TRM_DB_TEXT, agency.id, "agency_id"),
    TOKEN_COL(TRM_DB_TEXT, agency.name, "agency_name"),
    TOKEN_COL(TRM_DB_TEXT, agency.country, "agency_country"),
    TOKEN_COL(TRM_DB_TEXT, agency.kind, "agency_kind"),
    TOKEN_COL(TRM_DB_BOOL, agency.active, "agency_active"),
    TOKEN_COL(TRM_DB_BOOL, agency.demo, "agency_demo"),
    TOKEN_COL(TRM_DB_TEXT, kind, "token_kind"),
    {0},
};

/* Runs a statement that must change exactly one row. */
static enum trm_db_status exec_one(struct trm_db_conn *c, struct trm_db_stmt *st,
                                   const char *const *params)
{
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, st, params, &s);
    if (s == TRM_DB_OK && strcmp(PQcmdTuples(r), "1") != 0)
        s = TRM_DB_NOT_FOUND;
    PQclear(r);
    return s;
}

enum trm_db_status trm_directory_agency_insert(struct trm_db_conn *c, const struct trm_agency *a)
{
    const char *p[] = {
        a->id, a->name, a->country, a->kind, a->active ? "t" : "f", a->demo ? "t" : "f"};
    return exec_one(c, &stmt_agency_insert, p);
}

enum trm_db_status trm_directory_agency_get(struct trm_db_conn *c, const char *id,
                                            struct trm_agency *out)
{
    const char *p[] = {id};
    return trm_db_get(c, &stmt_agency_get, p, agency_cols, out);
}

enum trm_db_status trm_directory_agency_list(struct trm_db_conn *c, const char *country,
                                             const char *kind, const char *after_country,
                                             const char *after_name, const char *after_id,
                                             struct trm_agency *out, unsigned cap, unsigned *n)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%u", cap);
    const char *p[] = {country, kind, after_country, after_name, after_id, limit};
    return trm_db_list(c, &stmt_agency_list, p, agency_cols, out, sizeof *out, cap, n);
}

enum trm_db_status trm_directory_agency_set_active(struct trm_db_conn *c, const char *id,
                                                   bool active)
{
    const char *p[] = {id, active ? "t" : "f"};
    struct counts {
        long changed, found;
    } k = {0};
    static const struct trm_db_col cols[] = {
        TRM_DB_FIELD(TRM_DB_LONG, struct counts, changed),
        TRM_DB_FIELD(TRM_DB_LONG, struct counts, found),
        {0},
    };
    enum trm_db_status s = trm_db_get(c, &stmt_agency_set_active, p, cols, &k);
    if (s == TRM_DB_NOT_FOUND) /* the counts are one row, always */
        return TRM_DB_ERROR;
    if (s == TRM_DB_OK && k.changed == 0)
        s = k.found == 0 ? TRM_DB_NOT_FOUND : TRM_DB_CONFLICT;
    return s;
}

enum trm_db_status trm_directory_user_insert(struct trm_db_conn *c, const struct trm_user *u)
{
    const char *p[] = {u->id,
                       u->agency_id,
                       u->display_name,
                       u->role,
                       u->cross_border ? "t" : "f",
                       u->disabled ? "t" : "f",
                       u->demo ? "t" : "f"};
    return exec_one(c, &stmt_user_insert, p);
}

enum trm_db_status trm_directory_user_get(struct trm_db_conn *c, const char *id,
                                          struct trm_user *out)
{
    const char *p[] = {id};
    return trm_db_get(c, &stmt_user_get, p, user_cols, out);
}

enum trm_db_status trm_directory_user_list(struct trm_db_conn *c, const char *agency_id,
                                           const char *after_id, struct trm_user *out, unsigned cap,
                                           unsigned *n)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%u", cap);
    const char *p[] = {agency_id, after_id, limit};
    return trm_db_list(c, &stmt_user_list, p, user_cols, out, sizeof *out, cap, n);
}

enum trm_db_status trm_directory_user_set_disabled(struct trm_db_conn *c, const char *id,
                                                   bool disabled)
{
    const char *p[] = {id, disabled ? "t" : "f"};
    return exec_one(c, &stmt_user_disable, p);
}

enum trm_db_status trm_directory_token_insert(struct trm_db_conn *c, const char *id,
                                              const char *user_id, const char *selector,
                                              const uint8_t hash[TRM_TOKEN_HASH_BYTES],
                                              long expires_days, char expires_at[32])
{
    char hex[2 * TRM_TOKEN_HASH_BYTES + 1], days[24];
    trm_hex_encode(hash, TRM_TOKEN_HASH_BYTES, hex);
    snprintf(days, sizeof days, "%ld", expires_days);
    const char *p[] = {id, user_id, selector, hex, days};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_token_insert, p, &s);
    if (s == TRM_DB_OK && PQntuples(r) == 0)
        s = TRM_DB_NOT_FOUND;
    if (s == TRM_DB_OK)
        trm_strlcpy(expires_at, PQgetvalue(r, 0, 0), 32);
    PQclear(r);
    return s;
}

enum trm_db_status trm_directory_token_revoke(struct trm_db_conn *c, const char *id)
{
    const char *p[] = {id};
    return exec_one(c, &stmt_token_revoke, p);
}

struct lookup_args {
    const char *selector, *client;
    unsigned window_s;
    struct trm_token_row *out;
};

static enum trm_db_status lookup(struct trm_db_conn *c, void *arg)
{
    struct lookup_args *a = arg;
    char window[16];
    snprintf(window, sizeof window, "%u", a->window_s);
    const char *p[] = {a->selector, a->client, window};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_token_lookup, p, &s);
    static const struct trm_db_col client_cols[] = {
        TOKEN_COL(TRM_DB_UINT, client_failures, "failures"),
        TOKEN_COL(TRM_DB_UINT, retry_after_s, "retry"),
        {0},
    };
    struct trm_token_row *o = a->out;
    memset(o, 0, sizeof *o);
    /* One row always (the client's failures); the token's columns are NULL without one. */
    if (s == TRM_DB_OK && trm_db_one(r, client_cols, o) == TRM_DB_OK)
        o->found = trm_db_row(r, 0, token_cols, o) && o->token_id[0] != '\0';
    PQclear(r);
    return s;
}

enum trm_db_status trm_directory_token_lookup(struct trm_db_pool *pool, const char *selector,
                                              const char *client, unsigned window_s,
                                              struct trm_token_row *out)
{
    struct lookup_args a = {selector, client, window_s, out};
    return trm_db_run(pool, lookup, &a);
}

void trm_directory_auth_guard(const char *const *facts)
{
    trm_db_guard_set(&stmt_auth_holds, facts);
}

struct failure_args {
    const char *client;
    unsigned window_s, failures, retry;
};

static enum trm_db_status failure(struct trm_db_conn *c, void *arg)
{
    struct failure_args *a = arg;
    char window[16];
    snprintf(window, sizeof window, "%u", a->window_s);
    const char *p[] = {a->client, window};
    static const struct trm_db_col cols[] = {
        TRM_DB_FIELD(TRM_DB_UINT, struct failure_args, failures),
        TRM_DB_FIELD(TRM_DB_UINT, struct failure_args, retry),
        {0},
    };
    enum trm_db_status s = trm_db_get(c, &stmt_auth_failure, p, cols, a);
    return s == TRM_DB_NOT_FOUND ? TRM_DB_ERROR : s;
}

enum trm_db_status trm_directory_auth_failure(struct trm_db_pool *pool, const char *client,
                                              unsigned window_s, unsigned *failures,
                                              unsigned *retry_after_s)
{
    struct failure_args a = {client, window_s, 0, 0};
    enum trm_db_status s = trm_db_run(pool, failure, &a);
    *failures = a.failures;
    *retry_after_s = a.retry;
    return s;
}

static enum trm_db_status touch(struct trm_db_conn *c, void *arg)
{
    const char *p[] = {arg};
    return exec_one(c, &stmt_token_touch, p);
}

enum trm_db_status trm_directory_token_list(struct trm_db_conn *c, const char *user_id,
                                            const char *after_created, const char *after_id,
                                            unsigned limit, json_t **out)
{
    char n[16];
    snprintf(n, sizeof n, "%u", limit);
    const char *p[] = {user_id, after_created, after_id, n};
    return trm_db_json_cell(c, &stmt_token_list, p, out);
}

enum trm_db_status trm_directory_token_touch(struct trm_db_pool *pool, const char *token_id)
{
    return trm_db_run(pool, touch, (void *)token_id);
}

enum trm_db_status trm_directory_admin_exists(struct trm_db_conn *c, bool *exists)
{
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_admin_exists, NULL, &s);
    *exists = s == TRM_DB_OK && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return s;
}

static enum trm_db_status cleanup(struct trm_db_conn *c, void *arg)
{
    char window[16];
    snprintf(window, sizeof window, "%u", *(unsigned *)arg);
    const char *p[] = {window};
    return trm_db_do(c, &stmt_cleanup, p);
}

enum trm_db_status trm_directory_cleanup(struct trm_db_pool *pool, unsigned window_s)
{
    return trm_db_run(pool, cleanup, &window_s);
}
