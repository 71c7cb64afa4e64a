/* The directory store: agencies, users, API tokens and failed-authentication counters. */
#include "trm/directory.h"
#include "trm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const trm_agency_kinds[] = {
    "police", "prosecution", "migration_authority", "social_services",      "labour_inspection",
    "ngo",    "embassy",     "international_org",   "national_coordinator", "other",
    NULL};
const char *const trm_user_roles[] = {"caseworker", "coordinator", "auditor", "admin", NULL};

#define AGENCY_COLS "id, name, country, kind, active, demo, coalesce(instance_id, '')"
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
            "SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM agencies WHERE id = $1)");
TRM_DB_STMT(
    stmt_user_insert, 7,
    "INSERT INTO users (id, agency_id, display_name, role, cross_border, disabled, demo) "
    "SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM agencies WHERE id = $2)");
TRM_DB_STMT(stmt_user_get, 1, "SELECT " USER_COLS " FROM users WHERE id = $1");
TRM_DB_STMT(stmt_user_list, 3,
            "SELECT " USER_COLS " FROM users "
            "WHERE ($1::uuid IS NULL OR agency_id = $1) AND ($2::uuid IS NULL OR id > $2) "
            "ORDER BY id LIMIT $3");
TRM_DB_STMT(stmt_user_disable, 2, "UPDATE users SET disabled = $2 WHERE id = $1");
TRM_DB_STMT(
    stmt_token_insert, 5,
    "INSERT INTO api_tokens (id, user_id, selector, verifier_hash, expires_at) "
    "SELECT $1, $2, $3, decode($4, 'hex'), "
    "  CASE WHEN $5::int > 0 THEN date_trunc('second', now()) + make_interval(days => $5::int) END "
    "WHERE EXISTS (SELECT 1 FROM users WHERE id = $2) "
    "RETURNING coalesce(to_char(expires_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')");
#define TOKEN_TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
/* Never the selector or the verifier's hash: what an admin needs to tell tokens apart. */
/* clang-format off */
TRM_DB_STMT(stmt_token_list, 4,
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE id = $1) THEN "
            "coalesce((SELECT jsonb_agg(j ORDER BY o DESC, i DESC) FROM ("
            "  SELECT t.created_at AS o, t.id AS i, jsonb_build_object("
            "    'id', t.id, 'kind', t.kind, 'created_at', " TOKEN_TS("t.created_at") ", "
            "    'expires_at', " TOKEN_TS("t.expires_at") ", "
            "    'last_used_at', " TOKEN_TS("t.last_used_at") ", "
            "    'revoked_at', " TOKEN_TS("t.revoked_at") ", "
            "    'issued_via', t.issued_via, 'usable', trm_token_usable(t)) AS j "
            "  FROM api_tokens t WHERE t.user_id = $1 "
            "  AND ($2::timestamptz IS NULL OR (t.created_at, t.id) < ($2::timestamptz, $3::uuid)) "
            "  ORDER BY t.created_at DESC, t.id DESC LIMIT $4) s), '[]') END");
/* clang-format on */
TRM_DB_STMT(stmt_token_revoke, 1,
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1");
TRM_DB_STMT(
    stmt_token_lookup, 3,
    "SELECT t.id, encode(t.verifier_hash, 'hex'), "
    "  trm_token_usable(t) AND NOT u.disabled AND a.active, "
    "  t.last_used_at IS NULL OR t.last_used_at < now() - "
    "    make_interval(secs => least(60, coalesce(t.idle_s, 120) / 2)), "
    "  u.id, u.agency_id, u.display_name, u.role, u.cross_border, u.disabled, u.demo, "
    "  a.id, a.name, a.country, a.kind, a.active, a.demo, "
    "  f.failures, f.retry, t.kind "
    "FROM (SELECT coalesce(max(failures), 0) AS failures, "
    "        coalesce(max(ceil(extract(epoch FROM window_start - now()) + $3::int)), 0) AS retry "
    "      FROM auth_failures WHERE client = $2 "
    "        AND window_start > now() - make_interval(secs => $3::int)) f "
    "LEFT JOIN api_tokens t ON t.selector = $1 "
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
            "RETURNING failures, ceil(extract(epoch FROM window_start - now()) + $2::int)");
TRM_DB_STMT(stmt_token_touch, 1, "UPDATE api_tokens SET last_used_at = now() WHERE id = $1");
TRM_DB_STMT(stmt_cleanup, 1,
            "WITH a AS (DELETE FROM auth_failures "
            "           WHERE window_start < now() - make_interval(secs => $1::int)) "
            "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'");
TRM_DB_STMT(stmt_admin_exists, 0,
            "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND NOT disabled)");

static bool flag(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col)[0] == 't';
}

static void copy(char *dst, size_t cap, const PGresult *r, int row, int col)
{
    trm_strlcpy(dst, PQgetvalue(r, row, col), cap);
}

static void agency_from_row(struct trm_agency *a, const PGresult *r, int row, int col)
{
    copy(a->id, sizeof a->id, r, row, col);
    copy(a->name, sizeof a->name, r, row, col + 1);
    copy(a->country, sizeof a->country, r, row, col + 2);
    copy(a->kind, sizeof a->kind, r, row, col + 3);
    a->active = flag(r, row, col + 4);
    a->demo = flag(r, row, col + 5);
}

static void user_from_row(struct trm_user *u, const PGresult *r, int row, int col)
{
    copy(u->id, sizeof u->id, r, row, col);
    copy(u->agency_id, sizeof u->agency_id, r, row, col + 1);
    copy(u->display_name, sizeof u->display_name, r, row, col + 2);
    copy(u->role, sizeof u->role, r, row, col + 3);
    u->cross_border = flag(r, row, col + 4);
    u->disabled = flag(r, row, col + 5);
    u->demo = flag(r, row, col + 6);
}

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
    enum trm_db_status s;
    const char *p[] = {id};
    PGresult *r = trm_db_exec(c, &stmt_agency_get, p, &s);
    if (s == TRM_DB_OK && PQntuples(r) == 0)
        s = TRM_DB_NOT_FOUND;
    if (s == TRM_DB_OK) {
        agency_from_row(out, r, 0, 0);
        copy(out->instance_id, sizeof out->instance_id, r, 0, 6);
    }
    PQclear(r);
    return s;
}

enum trm_db_status trm_directory_agency_list(struct trm_db_conn *c, const char *country,
                                             const char *kind, const char *after_country,
                                             const char *after_name, const char *after_id,
                                             struct trm_agency *out, unsigned cap, unsigned *n)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%u", cap);
    const char *p[] = {country, kind, after_country, after_name, after_id, limit};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_agency_list, p, &s);
    *n = 0;
    for (int i = 0; s == TRM_DB_OK && i < PQntuples(r) && *n < cap; i++) {
        agency_from_row(&out[*n], r, i, 0);
        copy(out[(*n)++].instance_id, sizeof out->instance_id, r, i, 6);
    }
    PQclear(r);
    return s;
}

enum trm_db_status trm_directory_agency_set_active(struct trm_db_conn *c, const char *id,
                                                   bool active)
{
    const char *p[] = {id, active ? "t" : "f"};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_agency_set_active, p, &s);
    if (s == TRM_DB_OK && PQgetvalue(r, 0, 0)[0] == '0')
        s = PQgetvalue(r, 0, 1)[0] == '0' ? TRM_DB_NOT_FOUND : TRM_DB_CONFLICT;
    PQclear(r);
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
    enum trm_db_status s;
    const char *p[] = {id};
    PGresult *r = trm_db_exec(c, &stmt_user_get, p, &s);
    if (s == TRM_DB_OK && PQntuples(r) == 0)
        s = TRM_DB_NOT_FOUND;
    if (s == TRM_DB_OK)
        user_from_row(out, r, 0, 0);
    PQclear(r);
    return s;
}

enum trm_db_status trm_directory_user_list(struct trm_db_conn *c, const char *agency_id,
                                           const char *after_id, struct trm_user *out, unsigned cap,
                                           unsigned *n)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%u", cap);
    const char *p[] = {agency_id, after_id, limit};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_user_list, p, &s);
    *n = 0;
    for (int i = 0; s == TRM_DB_OK && i < PQntuples(r) && *n < cap; i++)
        user_from_row(&out[(*n)++], r, i, 0);
    PQclear(r);
    return s;
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
        copy(expires_at, 32, r, 0, 0);
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
    struct trm_token_row *o = a->out;
    memset(o, 0, sizeof *o);
    if (s == TRM_DB_OK && PQntuples(r) == 1) {
        o->client_failures = (unsigned)atoi(PQgetvalue(r, 0, 17));
        o->retry_after_s = (unsigned)atoi(PQgetvalue(r, 0, 18));
        o->found = !PQgetisnull(r, 0, 0);
    }
    if (o->found) {
        copy(o->token_id, sizeof o->token_id, r, 0, 0);
        o->found = trm_hex_decode(PQgetvalue(r, 0, 1), o->hash, sizeof o->hash);
        o->usable = flag(r, 0, 2);
        o->stale_last_used = flag(r, 0, 3);
        user_from_row(&o->user, r, 0, 4);
        agency_from_row(&o->agency, r, 0, 11);
        copy(o->kind, sizeof o->kind, r, 0, 19);
    }
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
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_auth_failure, p, &s);
    if (s == TRM_DB_OK) {
        a->failures = (unsigned)atoi(PQgetvalue(r, 0, 0));
        a->retry = (unsigned)atoi(PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return s;
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
    *exists = s == TRM_DB_OK && flag(r, 0, 0);
    PQclear(r);
    return s;
}

static enum trm_db_status cleanup(struct trm_db_conn *c, void *arg)
{
    char window[16];
    snprintf(window, sizeof window, "%u", *(unsigned *)arg);
    const char *p[] = {window};
    enum trm_db_status s;
    PQclear(trm_db_exec(c, &stmt_cleanup, p, &s));
    return s;
}

enum trm_db_status trm_directory_cleanup(struct trm_db_pool *pool, unsigned window_s)
{
    return trm_db_run(pool, cleanup, &window_s);
}
