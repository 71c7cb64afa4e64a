/* Who may do what: the authorization matrix over every endpoint, token failures (missing,
 * malformed, wrong, revoked, expired, disabled user), remembered tokens re-checked by the
 * database, rate limiting of failed authentication, row-level security without context,
 * and no token in a database dump. */
#include "check_run.h"
#include "harness.h"
#include "matrix.h"

#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct trmd srv;
static char admin[128];
static char agency_a[37], agency_b[37], agency_io[37];
static const char *const roles[] = {"caseworker", "coordinator", "auditor", "admin"};
static char tokens[4][128], users[4][37];

static void setup(void)
{
    h_trmd_start(&srv, NULL);
    h_admin(admin, "SE");
    h_agency(&srv, admin, "SE", "ngo", agency_a);
    h_agency(&srv, admin, "PH", "ngo", agency_b);
    h_agency(&srv, admin, "SE", "international_org", agency_io);
    for (int i = 0; i < 4; i++)
        h_user(&srv, admin, agency_a, roles[i], false, users[i], tokens[i]);
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

/* The placeholders of a directory row (matrix.h): {A}, {B}, {U}, {T}, {S}, {N}. */
struct places {
    const char *user_b, *token_id, *sop_id;
};

static void expand(const char *in, char *out, size_t cap, const struct places *at)
{
    static unsigned serial;
    char unique[32];
    snprintf(unique, sizeof unique, "%d-%u", (int)getpid(), ++serial);
    size_t o = 0;
    for (const char *p = in; *p && o + 40 < cap; p++) {
        const char *sub = NULL;
        if (p[0] == '{' && p[1] && p[2] == '}')
            sub = p[1] == 'A'   ? agency_a
                  : p[1] == 'B' ? agency_b
                  : p[1] == 'U' ? at->user_b
                  : p[1] == 'T' ? at->token_id
                  : p[1] == 'S' ? at->sop_id
                  : p[1] == 'N' ? unique
                                : NULL;
        if (sub) {
            o += (size_t)snprintf(out + o, cap - o, "%s", sub);
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

/* A row's body: its text with the placeholders, or "@FILE" read from the source tree. */
static char *body_of(const char *body, const struct places *at)
{
    char *out = NULL;
    if (body && body[0] == '@') {
        char path[512];
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s", TRM_SOURCE_DIR, body + 1);
        FILE *f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_ne(getdelim(&out, &len, '\0', f), -1);
        fclose(f);
    } else if (body) {
        out = malloc(1024);
        expand(body, out, 1024, at);
    }
    return out;
}

static const char *const callers[] = {"caseworker", "coordinator",  "auditor",
                                      "admin",      "other agency", "anonymous"};

/* Every directory row of the matrix (tests/integration/matrix.c), as every role of agency A
 * and as nobody. */
START_TEST(authorization_matrix)
{
    char user_b[37], token_b[128], token_id[37] = "", sop_id[37] = "";
    h_user(&srv, admin, agency_b, "caseworker", false, user_b, token_b);
    struct h_resp r;
    h_api(&srv, admin, "GET", "/v1/sops", NULL, NULL, &r);
    h_expect(&r, 200, "sops");
    snprintf(sop_id, sizeof sop_id, "%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(r.json, "items"), 0), "id")));
    h_resp_free(&r);
    struct places at = {user_b, token_id, sop_id};
    for (const struct matrix_row *row = matrix_directory; row->method; row++) {
        for (int c = 0; c < M_CALLERS; c++) {
            if (row->expect[c] == 0 || c == M_OTHER)
                continue;
            char path[256], what[300];
            expand(row->path, path, sizeof path, &at);
            char *body = body_of(row->body, &at);
            h_api(&srv, c == M_ANONYMOUS ? NULL : tokens[c], row->method, path, body, NULL, &r);
            free(body);
            snprintf(what, sizeof what, "%s %s as %s", row->method, row->path, callers[c]);
            h_expect(&r, row->expect[c], what);
            if (r.status == 403)
                h_assert_problem(&r, 403, "forbidden");
            if (r.status == 401 && row->expect[M_CASEWORKER] != 0)
                h_assert_problem(&r, 401, "unauthenticated");
            if (strstr(row->path, "/tokens") && r.status == 201)
                snprintf(token_id, sizeof token_id, "%s", h_str(&r, "id"));
            h_resp_free(&r);
        }
    }
}
END_TEST

START_TEST(me_says_who_and_where)
{
    struct h_resp r;
    h_api(&srv, tokens[0], "GET", "/v1/me", NULL, NULL, &r);
    h_expect(&r, 200, "me");
    ck_assert_str_eq(h_str(&r, "user_id"), users[0]);
    ck_assert_str_eq(h_str(&r, "agency_id"), agency_a);
    ck_assert_str_eq(h_str(&r, "role"), "caseworker");
    ck_assert_str_eq(h_str(&r, "country"), "SE");
    h_resp_free(&r);
}
END_TEST

START_TEST(bad_tokens_are_401)
{
    char user[37], tok[128], path[128];
    h_user(&srv, admin, agency_a, "caseworker", false, user, tok);
    struct h_resp r;
    char www[128];
    h_api(&srv, NULL, "GET", "/v1/me", NULL, NULL, &r);
    h_assert_problem(&r, 401, "unauthenticated");
    ck_assert_ptr_nonnull(h_header(&r, "WWW-Authenticate", www, sizeof www));
    ck_assert_int_eq(strncmp(www, "Bearer", 6), 0);
    h_resp_free(&r);

    char wrong[128];
    snprintf(wrong, sizeof wrong, "%s", tok);
    wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'A' ? 'B' : 'A';
    const char *bad[] = {
        "trm_",      "Basic abc",
        "trm_short", wrong,
        "",          "trm_AAAAAAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h_api(&srv, bad[i], "GET", "/v1/me", NULL, NULL, &r);
        h_assert_problem(&r, 401, "unauthenticated");
        h_resp_free(&r);
    }
    const char *basic[] = {"Authorization: Basic dXNlcjpwYXNz", NULL};
    h_http(&srv, "GET", "/v1/me", basic, NULL, &r);
    h_assert_problem(&r, 401, "unauthenticated");
    h_resp_free(&r);
    /* Truncated token. */
    char truncated[128];
    snprintf(truncated, sizeof truncated, "%.40s", tok);
    h_api(&srv, truncated, "GET", "/v1/me", NULL, NULL, &r);
    h_assert_problem(&r, 401, "unauthenticated");
    h_resp_free(&r);

    /* Disabled user: 401; enabled again: 200. */
    snprintf(path, sizeof path, "/v1/users/%s", user);
    h_api(&srv, admin, "PATCH", path, "{\"disabled\": true}", NULL, &r);
    h_expect(&r, 200, "disable");
    h_resp_free(&r);
    h_api(&srv, tok, "GET", "/v1/me", NULL, NULL, &r);
    h_assert_problem(&r, 401, "unauthenticated");
    h_resp_free(&r);
    h_api(&srv, admin, "PATCH", path, "{\"disabled\": false}", NULL, &r);
    h_resp_free(&r);
    h_api(&srv, tok, "GET", "/v1/me", NULL, NULL, &r);
    h_expect(&r, 200, "enabled again");
    h_resp_free(&r);
}
END_TEST

/* Issues another token to a user (body: the request, e.g. {"expires_days": 7}); writes the
 * token and its id. */
static void issue_token(const char *user, const char *body, char tok[128], char id[37])
{
    char path[128];
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/users/%s/tokens", user);
    h_api(&srv, admin, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "another token");
    snprintf(tok, 128, "%s", h_str(&r, "token"));
    snprintf(id, 37, "%s", h_str(&r, "id"));
    if (strstr(body, "expires_days"))
        ck_assert_ptr_nonnull(h_str(&r, "expires_at"));
    h_resp_free(&r);
}

static void revoke_token(const char *id)
{
    char path[128];
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/tokens/%s", id);
    h_api(&srv, admin, "DELETE", path, NULL, NULL, &r);
    h_expect(&r, 204, "revoke");
    h_resp_free(&r);
}

START_TEST(revoked_and_expired_tokens_are_401)
{
    char user[37], tok[128], path[128];
    h_user(&srv, admin, agency_a, "caseworker", false, user, tok);
    struct h_resp r;
    char second[128], second_id[37];
    issue_token(user, "{\"expires_days\": 7}", second, second_id);
    h_api(&srv, second, "GET", "/v1/me", NULL, NULL, &r);
    h_expect(&r, 200, "second token works");
    h_resp_free(&r);
    revoke_token(second_id);
    h_api(&srv, second, "GET", "/v1/me", NULL, NULL, &r);
    h_assert_problem(&r, 401, "unauthenticated");
    h_resp_free(&r);
    /* The other token of the same user still works. */
    h_api(&srv, tok, "GET", "/v1/me", NULL, NULL, &r);
    h_expect(&r, 200, "first token");
    h_resp_free(&r);
    /* Expire it in the database. */
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {user};
    PGresult *q = PQexecParams(pg,
                               "UPDATE api_tokens SET expires_at = now() - interval '1 second' "
                               "WHERE user_id = $1",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_str_eq(PQcmdTuples(q), "2");
    PQclear(q);
    PQfinish(pg);
    h_api(&srv, tok, "GET", "/v1/me", NULL, NULL, &r);
    h_assert_problem(&r, 401, "unauthenticated");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/tokens/%s", "00000000-0000-4000-8000-000000000000");
    h_api(&srv, admin, "DELETE", path, NULL, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
}
END_TEST

/* trmd remembers a verified token for a minute (auth_cache_s), but the database re-checks it
 * with every request's first statements: a change made anywhere (another trmd, the
 * database itself) takes effect on the very next request, writes included. */
static void as_owner(const char *sql, const char *param)
{
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {param};
    PGresult *q = PQexecParams(pg, sql, 1, NULL, p, NULL, NULL, 0);
    ck_assert_str_eq(PQcmdTuples(q), "1");
    PQclear(q);
    PQfinish(pg);
}

START_TEST(remembered_tokens_follow_the_database)
{
    static const char minimal[] =
        "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
        "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
        "\"identified_month\": \"2026-10\"}";
    struct trmd other; /* a second trmd on the same database, with its own memory */
    const char *env[] = {"TRM_TRUSTED_PROXY=127.0.0.1", "TRM_AUTH_FAILURE_LIMIT=5",
                         "TRM_AUTH_FAILURE_WINDOW_S=60", NULL};
    h_trmd_start(&other, env);
    /* Addresses of this test's own (earlier tests failed from 127.0.0.1 on purpose). */
    char own[64];
    snprintf(own, sizeof own, "X-Forwarded-For: 10.6.%d.%d", getpid() % 250, getpid() / 250 % 250);
    const char *mine[] = {own, NULL};
    char worker[37], worker_tok[128], auditor[37], auditor_tok[128];
    h_user(&srv, admin, agency_a, "caseworker", false, worker, worker_tok);
    h_user(&srv, admin, agency_a, "auditor", false, auditor, auditor_tok);
    struct h_resp r;
    /* Both remembered by the other trmd. */
    h_api(&other, worker_tok, "GET", "/v1/cases?limit=1", NULL, mine, &r);
    h_expect(&r, 200, "caseworker lists");
    h_resp_free(&r);
    h_api(&other, auditor_tok, "POST", "/v1/cases", minimal, mine, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);

    /* Roles swapped in the database: the remembered roles no longer count. */
    as_owner("UPDATE users SET role = 'auditor' WHERE id = $1", worker);
    as_owner("UPDATE users SET role = 'caseworker' WHERE id = $1", auditor);
    long cases = h_count("SELECT count(*) FROM cases WHERE owner_agency_id = $1", agency_a);
    h_api(&other, worker_tok, "POST", "/v1/cases", minimal, mine, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM cases WHERE owner_agency_id = $1", agency_a),
                     cases);
    /* The remembered auditor's 403 is not the answer: it is served again as a caseworker,
     * and creates exactly one case. */
    h_api(&other, auditor_tok, "POST", "/v1/cases", minimal, mine, &r);
    h_expect(&r, 201, "former auditor creates");
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM cases WHERE owner_agency_id = $1", agency_a),
                     cases + 1);
    h_api(&other, auditor_tok, "GET", "/v1/me", NULL, mine, &r);
    h_expect(&r, 200, "me");
    ck_assert_str_eq(h_str(&r, "role"), "caseworker");
    h_resp_free(&r);

    /* Revoked through the first trmd: the other refuses the next write and writes nothing. */
    char second[128], second_id[37];
    issue_token(auditor, "{}", second, second_id);
    h_api(&other, second, "POST", "/v1/cases", minimal, mine, &r);
    h_expect(&r, 201, "second token creates");
    h_resp_free(&r);
    revoke_token(second_id);
    cases = h_count("SELECT count(*) FROM cases WHERE owner_agency_id = $1", agency_a);
    h_api(&other, second, "POST", "/v1/cases", minimal, mine, &r);
    h_assert_problem(&r, 401, "unauthenticated");
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM cases WHERE owner_agency_id = $1", agency_a),
                     cases);

    /* An inactive agency, a renamed user: refused, then served with the new name. */
    as_owner("UPDATE agencies SET active = false WHERE id = $1", agency_a);
    h_api(&other, auditor_tok, "GET", "/v1/me", NULL, mine, &r);
    h_assert_problem(&r, 401, "unauthenticated");
    h_resp_free(&r);
    as_owner("UPDATE agencies SET active = true WHERE id = $1", agency_a);
    as_owner("UPDATE users SET display_name = 'Renamed' WHERE id = $1", auditor);
    h_api(&other, auditor_tok, "GET", "/v1/me", NULL, mine, &r);
    h_expect(&r, 200, "me after rename");
    ck_assert_str_eq(h_str(&r, "display_name"), "Renamed");
    h_resp_free(&r);

    /* A client address over its failure limit is refused even with a remembered token. */
    char xff[64];
    snprintf(xff, sizeof xff, "X-Forwarded-For: 10.7.%d.%d", getpid() % 250, getpid() / 250 % 250);
    const char *from[] = {xff, NULL};
    h_api(&other, auditor_tok, "GET", "/v1/me", NULL, from, &r);
    h_expect(&r, 200, "before failures");
    h_resp_free(&r);
    for (int i = 0; i < 6; i++) {
        h_api(&other, "trm_nonsense", "GET", "/v1/me", NULL, from, &r);
        h_resp_free(&r);
    }
    h_api(&other, auditor_tok, "GET", "/v1/me", NULL, from, &r);
    h_assert_problem(&r, 429, "rate_limited");
    h_resp_free(&r);
    h_api(&other, auditor_tok, "GET", "/v1/me", NULL, mine, &r);
    h_expect(&r, 200, "from elsewhere");
    h_resp_free(&r);
    ck_assert_int_eq(h_trmd_stop(&other), 0);
}
END_TEST

/* PATCH /v1/agencies/{id}: an inactive agency's users cannot authenticate; an agency of a
 * peer instance is that instance's to change. */
START_TEST(admins_deactivate_agencies)
{
    char agency[37], user[37], tok[128], path[128], peer[64], args[512], out[256];
    h_agency(&srv, admin, "SE", "ngo", agency);
    h_user(&srv, admin, agency, "caseworker", false, user, tok);
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/agencies/%s", agency);
    h_api(&srv, admin, "PATCH", path, "{\"active\": false}", NULL, &r);
    h_expect(&r, 200, "deactivate");
    ck_assert(json_is_false(json_object_get(r.json, "active")));
    h_resp_free(&r);
    h_api(&srv, tok, "GET", "/v1/me", NULL, NULL, &r);
    h_assert_problem(&r, 401, "unauthenticated");
    h_resp_free(&r);
    h_api(&srv, admin, "PATCH", path, "{\"active\": true}", NULL, &r);
    h_expect(&r, 200, "activate");
    h_resp_free(&r);
    h_api(&srv, tok, "GET", "/v1/me", NULL, NULL, &r);
    h_expect(&r, 200, "active again");
    h_resp_free(&r);
    h_api(&srv, admin, "PATCH", path, "{\"active\": \"no\", \"name\": \"x\"}", NULL, &r);
    h_assert_problem(&r, 400, "validation_failed");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "errors")), 2);
    h_resp_free(&r);
    h_api(&srv, admin, "PATCH", "/v1/agencies/00000000-0000-4000-8000-000000000000",
          "{\"active\": false}", NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    /* An agency a peer instance listed (stored as the owner would from its directory). */
    snprintf(peer, sizeof peer, "peer-%d.example", (int)getpid());
    snprintf(args, sizeof args,
             "peer add --id %s --country PH --url https://%s --signing-key %064d --box-key %064d "
             "--inactive",
             peer, peer, 3, 4);
    ck_assert_int_eq(h_trmctl(args, out, sizeof out), 0);
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {peer};
    PGresult *q = PQexecParams(pg,
                               "INSERT INTO agencies (id, name, country, kind, instance_id) "
                               "VALUES (gen_random_uuid(), 'Peer NGO ' || $1, 'PH', 'ngo', $1) "
                               "RETURNING id",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(q), PGRES_TUPLES_OK);
    snprintf(path, sizeof path, "/v1/agencies/%s", PQgetvalue(q, 0, 0));
    PQclear(q);
    PQfinish(pg);
    h_api(&srv, admin, "PATCH", path, "{\"active\": false}", NULL, &r);
    h_assert_problem(&r, 409, "conflict");
    h_resp_free(&r);
}
END_TEST

START_TEST(failed_authentication_is_rate_limited)
{
    /* A trmd that believes X-Forwarded-For from 127.0.0.1, so this test has its own client
     * address and limit; without the memory of verified tokens (every request looks its
     * token up: remembered_tokens_follow_the_database covers the memory). */
    struct trmd t;
    const char *env[] = {"TRM_TRUSTED_PROXY=127.0.0.1", "TRM_AUTH_FAILURE_LIMIT=5",
                         "TRM_AUTH_FAILURE_WINDOW_S=60", "TRM_AUTH_CACHE_S=0", NULL};
    char xff[64], other[64];
    snprintf(xff, sizeof xff, "X-Forwarded-For: 10.9.%d.%d", getpid() % 250, getpid() / 250 % 250);
    snprintf(other, sizeof other, "X-Forwarded-For: 10.8.%d.%d", getpid() % 250,
             getpid() / 250 % 250);
    h_trmd_start(&t, env);
    const char *from[] = {xff, NULL}, *from_other[] = {other, NULL};
    struct h_resp r;
    for (int i = 0; i < 5; i++) {
        h_api(&t, "trm_nonsense", "GET", "/v1/me", NULL, from, &r);
        h_assert_problem(&r, 401, "unauthenticated");
        h_resp_free(&r);
    }
    h_api(&t, "trm_nonsense", "GET", "/v1/me", NULL, from, &r);
    h_assert_problem(&r, 429, "rate_limited");
    char retry[32];
    ck_assert_ptr_nonnull(h_header(&r, "Retry-After", retry, sizeof retry));
    ck_assert_int_ge(atoi(retry), 1);
    ck_assert_int_le(atoi(retry), 60);
    h_resp_free(&r);
    /* Even a valid token is refused from that address for now... */
    h_api(&t, tokens[0], "GET", "/v1/me", NULL, from, &r);
    h_assert_problem(&r, 429, "rate_limited");
    h_resp_free(&r);
    /* ...but not from another one. */
    h_api(&t, tokens[0], "GET", "/v1/me", NULL, from_other, &r);
    h_expect(&r, 200, "other address");
    h_resp_free(&r);
    ck_assert_int_eq(h_trmd_stop(&t), 0);
}
END_TEST

START_TEST(row_level_security_without_context_shows_nothing)
{
    PGconn *app = h_pg("TRM_TEST_APP_URL");
    /* Record a read as user 0 of agency A, in a transaction with their context. */
    char sql[1024];
    snprintf(
        sql, sizeof sql,
        "BEGIN; SELECT set_config('trm.user_id', '%s', true), "
        "set_config('trm.agency_id', '%s', true), set_config('trm.country', 'SE', true), "
        "set_config('trm.role', 'caseworker', true); "
        "INSERT INTO access_log (user_id, agency_id, country, case_id, categories, purpose, "
        "request_id) VALUES ('%s', '%s', 'SE', gen_random_uuid(), '{identity}', 'test', 'r1'); "
        "COMMIT",
        users[0], agency_a, users[0], agency_a);
    PGresult *r = PQexec(app, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(app));
    PQclear(r);
    /* No context: no rows. */
    r = PQexec(app, "SELECT count(*) FROM access_log");
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    /* Another agency's caseworker: no rows. A same-country auditor: rows. */
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT set_config('trm.agency_id', '%s', true), "
             "set_config('trm.country', 'PH', true), set_config('trm.role', 'caseworker', true)",
             agency_b);
    PQclear(PQexec(app, sql));
    r = PQexec(app, "SELECT count(*) FROM access_log");
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    PQclear(PQexec(app, "ROLLBACK"));
    PQclear(PQexec(app, "BEGIN; SELECT set_config('trm.country', 'SE', true), "
                        "set_config('trm.role', 'auditor', true)"));
    r = PQexec(app, "SELECT count(*) > 0 FROM access_log");
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    PQclear(PQexec(app, "ROLLBACK"));
    /* A user cannot record someone else's read, and nobody can change the log. */
    r = PQexec(app, "INSERT INTO access_log (user_id, agency_id, country, case_id, categories, "
                    "purpose, request_id) VALUES (gen_random_uuid(), gen_random_uuid(), 'SE', "
                    "gen_random_uuid(), '{}', 'x', 'x')");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    PGconn *owner = h_pg("TRM_TEST_OWNER_URL");
    r = PQexec(owner, "ALTER TABLE access_log NO FORCE ROW LEVEL SECURITY");
    PQclear(r);
    PQclear(PQexec(owner, "BEGIN"));
    r = PQexec(owner, "DELETE FROM access_log");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    PQclear(PQexec(owner, "ROLLBACK"));
    PQclear(PQexec(owner, "BEGIN"));
    r = PQexec(owner, "TRUNCATE access_log");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    PQclear(PQexec(owner, "ROLLBACK"));
    PQclear(PQexec(owner, "ALTER TABLE access_log FORCE ROW LEVEL SECURITY"));
    PQfinish(owner);
    PQfinish(app);
}
END_TEST

START_TEST(database_dump_has_no_token)
{
    char user[37], tok[128], cmd[2048], dump[512];
    h_user(&srv, admin, agency_a, "caseworker", false, user, tok);
    h_tmp_path(dump, sizeof dump, "dump.sql");
    snprintf(cmd, sizeof cmd, "'%s/pg_dump' '%s' > '%s'", h_env("TRM_TEST_PGBIN"),
             h_env("TRM_TEST_SUPER_URL"), dump);
    ck_assert_int_eq(h_sh(cmd), 0);
    FILE *f = fopen(dump, "r");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    text[fread(text, 1, (size_t)n, f)] = '\0';
    fclose(f);
    ck_assert_ptr_null(strstr(text, tok));
    ck_assert_ptr_null(strstr(text, tok + 21)); /* the verifier part */
    /* The selector alone is stored (it finds the row); it is not a credential. */
    char selector[17];
    snprintf(selector, sizeof selector, "%.16s", tok + 4);
    ck_assert_ptr_nonnull(strstr(text, selector));
    free(text);
    unlink(dump);
}
END_TEST

START_TEST(validation_lists_every_field)
{
    struct h_resp r;
    h_api(&srv, admin, "POST", "/v1/agencies",
          "{\"name\": \"\", \"country\": \"se\", \"kind\": \"bank\", \"colour\": 1}", NULL, &r);
    h_assert_problem(&r, 400, "validation_failed");
    json_t *errors = json_object_get(r.json, "errors");
    ck_assert_int_eq(json_array_size(errors), 4);
    h_resp_free(&r);
    h_api(&srv, admin, "POST", "/v1/agencies", "{\"name\": \"x\", \"name\": \"y\"}", NULL, &r);
    h_assert_problem(&r, 400, "malformed_json");
    h_resp_free(&r);
    const char *text[] = {"Content-Type: text/plain", NULL};
    char auth[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", admin);
    const char *hdr[] = {auth, text[0], NULL};
    h_http(&srv, "POST", "/v1/agencies", hdr, "{}", &r);
    h_assert_problem(&r, 415, "unsupported_media_type");
    h_resp_free(&r);
    h_api(&srv, admin, "POST", "/v1/agencies",
          "{\"name\": \"Unknown land NGO\", \"country\": \"QQ\", \"kind\": \"ngo\"}", NULL, &r);
    h_assert_problem(&r, 400, "validation_failed");
    h_resp_free(&r);
    h_api(&srv, admin, "GET", "/v1/agencies?limit=0", NULL, NULL, &r);
    h_assert_problem(&r, 400, "invalid_parameter");
    h_resp_free(&r);
    h_api(&srv, admin, "GET", "/v1/agencies?cursor=AAAA", NULL, NULL, &r);
    h_assert_problem(&r, 400, "invalid_parameter");
    h_resp_free(&r);
    h_api(&srv, admin, "GET", "/v1/agencies/not-a-uuid", NULL, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
}
END_TEST

START_TEST(agency_list_pages_with_cursor)
{
    char seen[64][37];
    size_t n_seen = 0;
    char path[1024] = "/v1/agencies?limit=2";
    for (int page = 0; page < 200; page++) {
        struct h_resp r;
        h_api(&srv, tokens[0], "GET", path, NULL, NULL, &r);
        h_expect(&r, 200, "page");
        json_t *items = json_object_get(r.json, "items");
        ck_assert_int_le(json_array_size(items), 2);
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it)
        {
            const char *id = json_string_value(json_object_get(it, "id"));
            for (size_t k = 0; k < n_seen; k++)
                ck_assert_str_ne(seen[k], id);
            if (n_seen < 64)
                snprintf(seen[n_seen++], 37, "%s", id);
        }
        const char *next = h_str(&r, "next_cursor");
        if (next == NULL) {
            h_resp_free(&r);
            break;
        }
        snprintf(path, sizeof path, "/v1/agencies?limit=2&cursor=%s", next);
        h_resp_free(&r);
    }
    ck_assert_int_ge(n_seen, 3);
}
END_TEST

START_TEST(idempotent_agency_creation)
{
    char key[80], body[200], key_hdr[120];
    snprintf(key, sizeof key, "idem-%d", getpid());
    snprintf(key_hdr, sizeof key_hdr, "Idempotency-Key: %s", key);
    snprintf(body, sizeof body, "{\"name\": \"Idem %d\", \"country\": \"SE\", \"kind\": \"ngo\"}",
             getpid());
    const char *hdr[] = {key_hdr, NULL};
    struct h_resp a, b, c;
    h_api(&srv, admin, "POST", "/v1/agencies", body, hdr, &a);
    h_expect(&a, 201, "first");
    h_api(&srv, admin, "POST", "/v1/agencies", body, hdr, &b);
    h_expect(&b, 201, "replay");
    ck_assert_str_eq(h_str(&a, "id"), h_str(&b, "id"));
    h_api(&srv, admin, "POST", "/v1/agencies",
          "{\"name\": \"Other\", \"country\": \"SE\", \"kind\": \"ngo\"}", hdr, &c);
    h_assert_problem(&c, 422, "idempotency_mismatch");
    h_resp_free(&a);
    h_resp_free(&b);
    h_resp_free(&c);
    /* Without a key, the same name is a conflict. */
    h_api(&srv, admin, "POST", "/v1/agencies", body, NULL, &a);
    h_assert_problem(&a, 409, "conflict");
    h_resp_free(&a);
}
END_TEST

START_TEST(trmctl_errors_are_one_line)
{
    char out[512];
    ck_assert_int_ne(h_trmctl("agency add --name X --country SE --kind bank", out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "trmctl: agency add: unknown kind"));
    ck_assert_ptr_null(strchr(out, '\n'));
    ck_assert_int_ne(h_trmctl("user add --agency nope --role admin --name X", out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "trmctl: "));
    ck_assert_int_ne(
        h_trmctl("token revoke 00000000-0000-4000-8000-000000000000 ", out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "not found"));
    char *all = malloc(1 << 20);
    ck_assert_int_eq(h_trmctl("agency list", all, 1 << 20), 0);
    ck_assert_ptr_nonnull(strstr(all, agency_a));
    free(all);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("access_control");
    TCase *tc = tcase_create("access");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, authorization_matrix);
    tcase_add_test(tc, me_says_who_and_where);
    tcase_add_test(tc, bad_tokens_are_401);
    tcase_add_test(tc, revoked_and_expired_tokens_are_401);
    tcase_add_test(tc, admins_deactivate_agencies);
    tcase_add_test(tc, failed_authentication_is_rate_limited);
    tcase_add_test(tc, remembered_tokens_follow_the_database);
    tcase_add_test(tc, row_level_security_without_context_shows_nothing);
    tcase_add_test(tc, database_dump_has_no_token);
    tcase_add_test(tc, validation_lists_every_field);
    tcase_add_test(tc, agency_list_pages_with_cursor);
    tcase_add_test(tc, idempotent_agency_creation);
    tcase_add_test(tc, trmctl_errors_are_one_line);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
