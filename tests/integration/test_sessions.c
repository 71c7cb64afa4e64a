/* The web console's serving and sessions: its files at / and /assets/<build>/ with the cache
 * and security headers they need; sign-in exchanging a token or a one-time code for a session
 * in an HttpOnly, SameSite=Strict cookie; the CSRF proof every change through a session
 * needs; sign-out, revocation of the parent token and the idle timeout ending a session. */
#include "check_run.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct trmd srv;
static char admin[128], agency[37], worker_id[37], worker[128], web_dir[512], build[16];

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void setup(void)
{
    char cmd[1200];
    h_tmp_path(web_dir, sizeof web_dir, "web");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/js/screens'", web_dir, web_dir);
    ck_assert_int_eq(h_sh(cmd), 0);
    write_file(web_dir, "index.html",
               "<!doctype html><html><head><link rel=\"stylesheet\" "
               "href=\"/assets/@BUILD@/app.css\"><script type=\"module\" "
               "src=\"/assets/@BUILD@/js/app.js\"></script></head><body></body></html>\n");
    write_file(web_dir, "app.css", "body { margin: 0; }\n");
    write_file(web_dir, "js/app.js", "import './screens/one.js';\n");
    write_file(web_dir, "js/screens/one.js", "export const one = 1;\n");
    write_file(web_dir, ".hidden.js", "secret\n");
    write_file(web_dir, "notes.c", "int x;\n");
    char env_web[600];
    snprintf(env_web, sizeof env_web, "TRM_WEB_DIR=%s", web_dir);
    const char *env[] = {env_web, "TRM_SESSION_IDLE_S=5", "TRM_AUTH_CACHE_S=0",
                         "TRM_TRUSTED_PROXY=127.0.0.1", NULL};
    h_trmd_start(&srv, env);
    h_admin(admin, "SE");
    h_agency(&srv, admin, "SE", "social_services", agency);
    h_user(&srv, admin, agency, "caseworker", false, worker_id, worker);
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

static void header(const struct h_resp *r, const char *name, char *out, size_t cap)
{
    ck_assert_msg(h_header(r, name, out, cap) != NULL, "no %s header", name);
}

START_TEST(console_files_and_headers)
{
    struct h_resp r;
    char v[512];
    h_http(&srv, "GET", "/", NULL, NULL, &r);
    h_expect(&r, 200, "index");
    header(&r, "Content-Type", v, sizeof v);
    ck_assert_ptr_nonnull(strstr(v, "text/html"));
    header(&r, "Cache-Control", v, sizeof v);
    ck_assert_str_eq(v, "no-cache");
    header(&r, "Content-Security-Policy", v, sizeof v);
    ck_assert_ptr_nonnull(strstr(v, "default-src 'self'"));
    ck_assert_ptr_nonnull(strstr(v, "script-src 'self';"));
    ck_assert_ptr_nonnull(strstr(v, "frame-ancestors 'none'"));
    ck_assert_ptr_null(strstr(v, "unsafe"));
    header(&r, "Referrer-Policy", v, sizeof v);
    ck_assert_str_eq(v, "no-referrer");
    header(&r, "X-Content-Type-Options", v, sizeof v);
    ck_assert_str_eq(v, "nosniff");
    ck_assert_ptr_null(strstr(r.body, "@BUILD@"));
    const char *at = strstr(r.body, "/assets/");
    ck_assert_ptr_nonnull(at);
    snprintf(build, sizeof build, "%.12s", at + 8);
    char etag[64];
    header(&r, "ETag", etag, sizeof etag);
    h_resp_free(&r);
    /* Revalidated: unchanged, 304. */
    char inm[100];
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    const char *h1[] = {inm, NULL};
    h_http(&srv, "GET", "/", h1, NULL, &r);
    ck_assert_int_eq(r.status, 304);
    h_resp_free(&r);
    /* Assets: cached for good, under the build id only. */
    char path[200];
    snprintf(path, sizeof path, "/assets/%s/js/screens/one.js", build);
    h_http(&srv, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "an asset");
    header(&r, "Cache-Control", v, sizeof v);
    ck_assert_str_eq(v, "public, max-age=31536000, immutable");
    header(&r, "Content-Type", v, sizeof v);
    ck_assert_ptr_nonnull(strstr(v, "text/javascript"));
    h_resp_free(&r);
    const char *missing[] = {"../index.html", ".hidden.js",    "notes.c",
                             "index.html",    "js/nothing.js", "app.css/"};
    for (size_t i = 0; i <= sizeof missing / sizeof missing[0]; i++) {
        if (i == sizeof missing / sizeof missing[0])
            snprintf(path, sizeof path, "/assets/000000000000/app.css");
        else
            snprintf(path, sizeof path, "/assets/%s/%s", build, missing[i]);
        h_http(&srv, "GET", path, NULL, NULL, &r);
        ck_assert_msg(r.status == 404, "%s: %ld", path, r.status);
        h_resp_free(&r);
    }
    /* API answers are never cached, and carry the same security headers. */
    h_api(&srv, worker, "GET", "/v1/me", NULL, NULL, &r);
    h_expect(&r, 200, "me");
    header(&r, "Cache-Control", v, sizeof v);
    ck_assert_str_eq(v, "no-store");
    header(&r, "Content-Security-Policy", v, sizeof v);
    h_resp_free(&r);
}
END_TEST

struct session {
    char cookie[320]; /* "Cookie: trm_session=..." */
    char csrf[64];
};

/* Signs in with a token or code; writes the cookie header to send and the CSRF proof. */
static long sign_in(const char *token, const char *const *extra, struct session *s,
                    char *set_cookie, size_t cap)
{
    char body[256];
    snprintf(body, sizeof body, "{\"token\": \"%s\"}", token);
    const char *headers[6] = {"Content-Type: application/json"};
    for (size_t i = 0; extra && extra[i] && i < 4; i++)
        headers[i + 1] = extra[i];
    struct h_resp r;
    h_http(&srv, "POST", "/v1/sessions", headers, body, &r);
    long status = r.status;
    if (status == 201) {
        char v[300];
        ck_assert_ptr_nonnull(h_header(&r, "Set-Cookie", v, sizeof v));
        if (set_cookie)
            snprintf(set_cookie, cap, "%s", v);
        size_t n = strcspn(v, ";");
        v[n] = '\0';
        snprintf(s->cookie, sizeof s->cookie, "Cookie: %s", v);
        snprintf(s->csrf, sizeof s->csrf, "%s", h_str(&r, "csrf_token"));
        ck_assert_str_eq(h_str(&r, "user_id"), worker_id);
    }
    h_resp_free(&r);
    return status;
}

/* A request with the session cookie (and the CSRF proof when csrf is true). */
static long with_session(const struct session *s, const char *method, const char *path,
                         const char *body, bool csrf, struct h_resp *keep)
{
    char proof[100];
    snprintf(proof, sizeof proof, "X-CSRF-Token: %s", s->csrf);
    const char *headers[] = {s->cookie, "Content-Type: application/json", csrf ? proof : NULL,
                             NULL};
    struct h_resp r;
    h_http(&srv, method, path, headers, body, &r);
    long status = r.status;
    if (keep)
        *keep = r;
    else
        h_resp_free(&r);
    return status;
}

static const char *case_body =
    "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
    "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
    "\"identified_month\": \"2026-10\"}";

START_TEST(session_cookie_and_csrf)
{
    struct session s;
    char set_cookie[300];
    ck_assert_int_eq(sign_in(worker, NULL, &s, set_cookie, sizeof set_cookie), 201);
    ck_assert_ptr_nonnull(strstr(set_cookie, "HttpOnly"));
    ck_assert_ptr_nonnull(strstr(set_cookie, "SameSite=Strict"));
    ck_assert_ptr_nonnull(strstr(set_cookie, "Path=/"));
    ck_assert_ptr_null(strstr(set_cookie, "Secure")); /* plain HTTP */
    /* Over TLS (the trusted proxy says so), the cookie is Secure. */
    struct session tls;
    const char *proxied[] = {"X-Forwarded-Proto: https", NULL};
    ck_assert_int_eq(sign_in(worker, proxied, &tls, set_cookie, sizeof set_cookie), 201);
    ck_assert_ptr_nonnull(strstr(set_cookie, "; Secure"));

    struct h_resp r;
    ck_assert_int_eq(with_session(&s, "GET", "/v1/me", NULL, false, &r), 200);
    ck_assert_str_eq(h_str(&r, "user_id"), worker_id);
    h_resp_free(&r);
    ck_assert_int_eq(with_session(&s, "GET", "/v1/sessions/current", NULL, false, &r), 200);
    ck_assert_str_eq(h_str(&r, "csrf_token"), s.csrf);
    h_resp_free(&r);
    /* A change without the proof, or with another session's, is refused; nothing is made. */
    long before = h_count("SELECT count(*) FROM cases WHERE created_by = $1", worker_id);
    ck_assert_int_eq(with_session(&s, "POST", "/v1/cases", case_body, false, &r), 403);
    h_assert_problem(&r, 403, "csrf_failed");
    h_resp_free(&r);
    struct session crossed = s;
    snprintf(crossed.csrf, sizeof crossed.csrf, "%s", tls.csrf);
    ck_assert_int_eq(with_session(&crossed, "POST", "/v1/cases", case_body, true, NULL), 403);
    ck_assert_int_eq(h_count("SELECT count(*) FROM cases WHERE created_by = $1", worker_id),
                     before);
    ck_assert_int_eq(with_session(&s, "POST", "/v1/cases", case_body, true, NULL), 201);
    /* A bearer token needs no proof (it is not sent by the browser on its own). */
    h_api(&srv, worker, "POST", "/v1/cases", case_body, NULL, &r);
    h_expect(&r, 201, "bearer create");
    h_resp_free(&r);
    /* A cookie carries a session, not an API token. */
    struct session forged = s;
    snprintf(forged.cookie, sizeof forged.cookie, "Cookie: trm_session=%s", worker);
    ck_assert_int_eq(with_session(&forged, "GET", "/v1/me", NULL, false, NULL), 401);
    /* Sign-out: needs the proof, ends the session server-side, clears the cookie. */
    ck_assert_int_eq(with_session(&s, "DELETE", "/v1/sessions/current", NULL, false, NULL), 403);
    ck_assert_int_eq(with_session(&s, "DELETE", "/v1/sessions/current", NULL, true, &r), 204);
    char v[300];
    ck_assert_ptr_nonnull(h_header(&r, "Set-Cookie", v, sizeof v));
    ck_assert_ptr_nonnull(strstr(v, "Max-Age=0"));
    h_resp_free(&r);
    ck_assert_int_eq(with_session(&s, "GET", "/v1/me", NULL, false, &r), 401);
    ck_assert_ptr_nonnull(h_header(&r, "Set-Cookie", v, sizeof v));
    h_resp_free(&r);
    ck_assert_int_eq(with_session(&tls, "GET", "/v1/me", NULL, false, NULL), 200);
    /* Bad tokens are refused, and no session is made of a session. */
    struct session none;
    ck_assert_int_eq(sign_in("trm_AAAAAAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                             NULL, &none, NULL, 0),
                     401);
    char session_token[128];
    snprintf(session_token, sizeof session_token, "%s", strchr(tls.cookie, '=') + 1);
    ck_assert_int_eq(sign_in(session_token, NULL, &none, NULL, 0), 401);
}
END_TEST

/* What the console's screens asked of the API: a user's tokens for the admin (never a
 * secret), one category of a case opened (and logged) at a time, and the newest signed
 * checkpoint with the log's verification. */
START_TEST(console_api_additions)
{
    struct h_resp r;
    char path[700], cursor[400];
    struct session s;
    ck_assert_int_eq(sign_in(worker, NULL, &s, NULL, 0), 201); /* a second token: a session */
    snprintf(path, sizeof path, "/v1/users/%s/tokens?limit=1", worker_id);
    h_api(&srv, admin, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "tokens");
    json_t *items = json_object_get(r.json, "items");
    ck_assert_int_eq(json_array_size(items), 1);
    json_t *t = json_array_get(items, 0);
    ck_assert_ptr_nonnull(json_object_get(t, "kind"));
    ck_assert_ptr_nonnull(json_object_get(t, "usable"));
    ck_assert_ptr_null(json_object_get(t, "token"));
    ck_assert_ptr_null(strstr(r.body, worker + strlen(worker) - 20)); /* no verifier */
    ck_assert_ptr_null(strstr(r.body, "selector"));
    const char *next = h_str(&r, "next_cursor");
    ck_assert_ptr_nonnull(next);
    snprintf(cursor, sizeof cursor, "%s", next);
    char first[40];
    snprintf(first, sizeof first, "%s", json_string_value(json_object_get(t, "id")));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/users/%s/tokens?limit=100&cursor=%s", worker_id, cursor);
    h_api(&srv, admin, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "tokens, page 2");
    ck_assert_ptr_null(strstr(r.body, first));
    ck_assert_ptr_nonnull(strstr(r.body, "\"api\""));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/users/%s/tokens", worker_id);
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    h_api(&srv, admin, "GET", "/v1/users/00000000-0000-4000-8000-000000000000/tokens", NULL, NULL,
          &r);
    ck_assert_int_eq(r.status, 404);
    h_resp_free(&r);

    const char *body =
        "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
        "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
        "\"identified_month\": \"2026-10\", \"person\": {\"identity\": "
        "{\"full_name\": \"Console Sentinel\"}, \"contact\": {\"phone\": \"+46 1\"}}}";
    h_api(&srv, worker, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "case");
    char case_id[40];
    snprintf(case_id, sizeof case_id, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s?categories=identity", case_id);
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "one category");
    json_t *person = json_object_get(r.json, "person");
    ck_assert_ptr_nonnull(json_object_get(person, "identity"));
    ck_assert_ptr_null(json_object_get(person, "contact"));
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM access_log WHERE case_id = $1 "
                             "AND categories = '{identity}'",
                             case_id),
                     1);
    const char *bad[] = {"bogus", "identity,identity", "", "identity,,contact"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "/v1/cases/%s?categories=%s", case_id, bad[i]);
        h_api(&srv, worker, "GET", path, NULL, NULL, &r);
        h_assert_problem(&r, 400, "invalid_parameter");
        h_resp_free(&r);
    }

    char auditor_id[37], auditor[128];
    h_user(&srv, admin, agency, "auditor", false, auditor_id, auditor);
    h_api(&srv, auditor, "GET", "/v1/handovers/verify", NULL, NULL, &r);
    h_expect(&r, 200, "verify");
    ck_assert_ptr_nonnull(json_object_get(r.json, "last_checkpoint"));
    h_resp_free(&r);
}
END_TEST

/* Revoking the token a session was opened with ends the session; so does time unused. */
START_TEST(session_ends_with_its_token_and_when_idle)
{
    char user[37], token[128], path[128];
    h_user(&srv, admin, agency, "caseworker", false, user, token);
    struct session s;
    char saved[37];
    snprintf(saved, sizeof saved, "%s", worker_id);
    snprintf(worker_id, sizeof worker_id, "%s", user);
    ck_assert_int_eq(sign_in(token, NULL, &s, NULL, 0), 201);
    ck_assert_int_eq(with_session(&s, "GET", "/v1/me", NULL, false, NULL), 200);
    char token_id[40];
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {user};
    PGresult *q = PQexecParams(pg, "SELECT id FROM api_tokens WHERE user_id = $1 AND kind = 'api'",
                               1, NULL, p, NULL, NULL, 0);
    snprintf(token_id, sizeof token_id, "%s", PQgetvalue(q, 0, 0));
    PQclear(q);
    PQfinish(pg);
    snprintf(path, sizeof path, "/v1/tokens/%s", token_id);
    struct h_resp r;
    h_api(&srv, admin, "DELETE", path, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 204);
    h_resp_free(&r);
    ck_assert_int_eq(with_session(&s, "GET", "/v1/me", NULL, false, NULL), 401);
    /* Idle: a new session, unused for longer than session_idle_s (5 s here). */
    snprintf(worker_id, sizeof worker_id, "%s", saved);
    ck_assert_int_eq(sign_in(worker, NULL, &s, NULL, 0), 201);
    ck_assert_int_eq(with_session(&s, "GET", "/v1/me", NULL, false, NULL), 200);
    sleep(7);
    ck_assert_int_eq(with_session(&s, "GET", "/v1/me", NULL, false, NULL), 401);
    /* And its absolute end (made to have passed). */
    ck_assert_int_eq(sign_in(worker, NULL, &s, NULL, 0), 201);
    ck_assert_int_ge(h_count("WITH u AS (UPDATE api_tokens SET expires_at = now() - interval "
                             "'1 second' WHERE kind = 'session' AND user_id = $1 AND revoked_at "
                             "IS NULL RETURNING 1) SELECT count(*) FROM u",
                             worker_id),
                     1); /* this one and earlier tests' sessions of this user */
    ck_assert_int_eq(with_session(&s, "GET", "/v1/me", NULL, false, NULL), 401);
}
END_TEST

/* The one rule of a usable token is inlined where every request re-checks it: a SQL function
 * the planner cannot inline (one with a subquery) is planned again on every call. */
START_TEST(token_rule_is_inlined)
{
    PGconn *pg = h_pg("TRM_TEST_APP_URL");
    PGresult *q = PQexec(pg, "EXPLAIN (VERBOSE, COSTS OFF) SELECT t.id FROM api_tokens t "
                             "LEFT JOIN api_tokens p ON p.id = t.parent_id "
                             "WHERE trm_token_usable(t, p)");
    ck_assert_int_eq(PQresultStatus(q), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(q); i++)
        ck_assert_msg(strstr(PQgetvalue(q, i, 0), "trm_token_usable") == NULL, "not inlined: %s",
                      PQgetvalue(q, i, 0));
    PQclear(q);
    PQfinish(pg);
}
END_TEST

/* A one-time sign-in link from trmctl: opens one session, never serves a request itself. */
START_TEST(signin_link_opens_one_session)
{
    char args[200], out[512];
    snprintf(args, sizeof args, "signin-link --user %s --url http://example.test/", worker_id);
    ck_assert_int_eq(h_trmctl(args, out, sizeof out), 0);
    const char *code = strstr(out, "#/signin/");
    ck_assert_ptr_nonnull(code);
    ck_assert_ptr_nonnull(strstr(out, "http://example.test/#/signin/trm_"));
    char token[128];
    snprintf(token, sizeof token, "%.*s", (int)strcspn(code + 9, "\n "), code + 9);
    struct h_resp r;
    h_api(&srv, token, "GET", "/v1/me", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 401);
    h_resp_free(&r);
    struct session s;
    ck_assert_int_eq(sign_in(token, NULL, &s, NULL, 0), 201);
    ck_assert_int_eq(with_session(&s, "GET", "/v1/me", NULL, false, NULL), 200);
    struct session again;
    ck_assert_int_eq(sign_in(token, NULL, &again, NULL, 0), 401);
    /* The operator issued it: the admin log says so, without the code. */
    ck_assert_int_ge(h_count("SELECT count(*) FROM admin_log WHERE action = 'token_issue' AND "
                             "actor = 'trmctl' AND fields = '{signin}'",
                             NULL),
                     1);
    snprintf(args, sizeof args, "signin-link --user %s --minutes 0", worker_id);
    ck_assert_int_ne(h_trmctl(args, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "--minutes"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sessions");
    TCase *tc = tcase_create("sessions");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, console_files_and_headers);
    tcase_add_test(tc, session_cookie_and_csrf);
    tcase_add_test(tc, session_ends_with_its_token_and_when_idle);
    tcase_add_test(tc, signin_link_opens_one_session);
    tcase_add_test(tc, token_rule_is_inlined);
    tcase_add_test(tc, console_api_additions);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
