/* Hostile HTTP: a catalogue of bad requests, each with the answer it must get. No request
 * may get a 5xx, crash trmd, or write anything (one stores an SQL-injection string, which
 * must come back verbatim). */
#include "check_run.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct trmd srv;
static char admin[128], agency[37], worker[128];

static void setup(void)
{
    char user[37];
    h_trmd_start(&srv, NULL);
    h_admin(admin, "SE");
    h_agency(&srv, admin, "SE", "ngo", agency);
    h_user(&srv, admin, agency, "caseworker", false, user, worker);
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

struct hostile {
    const char *name;
    const char *method, *path, *content_type, *body; /* body may hold %A (admin token) */
    long expect;                                     /* 0: any 4xx */
};

static char *repeat(const char *unit, size_t times, const char *before, const char *after)
{
    size_t n = strlen(unit);
    char *s = malloc(strlen(before) + n * times + strlen(after) + 1);
    strcpy(s, before);
    char *p = s + strlen(before);
    for (size_t i = 0; i < times; i++, p += n)
        memcpy(p, unit, n);
    strcpy(p, after);
    return s;
}

/* Sends one request (the caseworker's token for cases, else the admin's); returns the
 * status of the answer. */
static long send_one(const char *method, const char *path, const char *ctype, const char *body,
                     size_t body_len, const char *extra)
{
    size_t cap = 4096 + body_len + strlen(path) + (extra ? strlen(extra) : 0);
    char *req = malloc(cap), resp[4096];
    int n =
        snprintf(req, cap,
                 "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%s%s%s"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 method, path, strncmp(path, "/v1/cases", 9) == 0 ? worker : admin,
                 ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "", body_len);
    if (extra) {
        /* Extra header lines go before the blank line. */
        n -= 2;
        n += snprintf(req + n, cap - (size_t)n, "%s\r\n", extra);
    }
    memcpy(req + n, body ? body : "", body_len);
    h_raw(srv.port, req, (size_t)n + body_len, resp, sizeof resp, 5000);
    free(req);
    long status = 0;
    sscanf(resp, "HTTP/1.%*d %ld", &status);
    return status;
}

static long count_rows(void)
{
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    PGresult *r = PQexec(pg, "SELECT (SELECT count(*) FROM agencies) + (SELECT count(*) FROM "
                             "users) + (SELECT count(*) FROM cases) + (SELECT count(*) FROM "
                             "consents) + (SELECT count(*) FROM referrals)");
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
    return n;
}

START_TEST(catalogue)
{
    char *deep = repeat("[", 10000, "{\"name\": ", "");
    char *long_name =
        repeat("x", 300, "{\"name\": \"", "\", \"country\": \"SE\", \"kind\": \"ngo\"}");
    char *many = repeat("\"identity\", ", 200,
                        "{\"kind\": \"data_sharing\", \"given_at\": "
                        "\"2026-01-01\", \"categories\": [",
                        "\"identity\"]}");
    char *long_path = repeat("a", 5000, "/v1/", "");
    char *big_header = repeat("h", 70000, "X-Big: ", "");
    char nul_body[] = "{\"name\": \"a\0b\", \"country\": \"SE\", \"kind\": \"ngo\"}";
    const char *case_path = "/v1/cases/00000000-0000-4000-8000-000000000000";
    const struct hostile cat[] = {
        {"bad json", "POST", "/v1/agencies", "application/json", "{\"name\": ", 400},
        {"trailing garbage", "POST", "/v1/agencies", "application/json", "{} x", 400},
        {"deep nesting", "POST", "/v1/agencies", "application/json", deep, 400},
        {"duplicate keys", "POST", "/v1/agencies", "application/json",
         "{\"name\": \"a\", \"name\": \"b\", \"country\": \"SE\", \"kind\": \"ngo\"}", 400},
        {"invalid utf-8", "POST", "/v1/agencies", "application/json",
         "{\"name\": \"\xff\xfe\", \"country\": \"SE\", \"kind\": \"ngo\"}", 400},
        {"overlong utf-8", "POST", "/v1/agencies", "application/json",
         "{\"name\": \"\xc0\xaf\", \"country\": \"SE\", \"kind\": \"ngo\"}", 400},
        {"escaped nul", "POST", "/v1/agencies", "application/json",
         "{\"name\": \"a\\u0000b\", \"country\": \"SE\", \"kind\": \"ngo\"}", 400},
        {"huge number", "POST", "/v1/users/00000000-0000-4000-8000-000000000000/tokens",
         "application/json", "{\"expires_days\": 99999999999999999999999999}", 400},
        {"negative number", "POST", "/v1/users/00000000-0000-4000-8000-000000000000/tokens",
         "application/json", "{\"expires_days\": -1}", 400},
        {"float for int", "POST", "/v1/users/00000000-0000-4000-8000-000000000000/tokens",
         "application/json", "{\"expires_days\": 1.5}", 400},
        {"wrong type", "POST", "/v1/agencies", "application/json",
         "{\"name\": 7, \"country\": [\"SE\"], \"kind\": null}", 400},
        {"unknown field", "POST", "/v1/agencies", "application/json",
         "{\"name\": \"a\", \"country\": \"SE\", \"kind\": \"ngo\", \"admin\": true}", 400},
        {"array body", "POST", "/v1/agencies", "application/json", "[]", 400},
        {"string body", "POST", "/v1/agencies", "application/json", "\"agency\"", 400},
        {"null body", "POST", "/v1/agencies", "application/json", "null", 400},
        {"empty body", "POST", "/v1/agencies", "application/json", "", 400},
        {"too long string", "POST", "/v1/agencies", "application/json", long_name, 400},
        {"control characters", "POST", "/v1/agencies", "application/json",
         "{\"name\": \"a\\u0007b\", \"country\": \"SE\", \"kind\": \"ngo\"}", 400},
        {"lower-case country", "POST", "/v1/agencies", "application/json",
         "{\"name\": \"a\", \"country\": \"se\", \"kind\": \"ngo\"}", 400},
        {"unknown enum", "POST", "/v1/agencies", "application/json",
         "{\"name\": \"a\", \"country\": \"SE\", \"kind\": \"cartel\"}", 400},
        {"too many items", "POST", "/v1/cases/00000000-0000-4000-8000-000000000000/consents",
         "application/json", many, 400},
        {"text/plain", "POST", "/v1/agencies", "text/plain", "{}", 415},
        {"form", "POST", "/v1/agencies", "application/x-www-form-urlencoded", "name=a", 415},
        {"json look-alike", "POST", "/v1/agencies", "application/jsonx", "{}", 415},
        {"merge patch on POST", "POST", "/v1/agencies", "application/merge-patch+json", "{}", 415},
        {"no content type", "POST", "/v1/agencies", NULL, "{}", 415},
        {"long path", "GET", long_path, NULL, NULL, 0},
        {"traversal", "GET", "/v1/../healthz", NULL, NULL, 404},
        {"encoded traversal", "GET", "/v1/%2e%2e/healthz", NULL, NULL, 404},
        {"encoded slash", "GET", "/v1/agencies%2F", NULL, NULL, 404},
        {"double slash", "GET", "//v1/agencies", NULL, NULL, 404},
        {"encoded nul", "GET", "/v1/agencies/%00", NULL, NULL, 404},
        {"sqli in id", "GET", "/v1/agencies/'%20OR%201=1--", NULL, NULL, 404},
        {"sqli in query", "GET", "/v1/agencies?country=SE'%20OR%20'1'='1", NULL, NULL, 400},
        {"sqli in kind", "GET", "/v1/agencies?kind=ngo;DROP%20TABLE%20cases", NULL, NULL, 400},
        {"bad limit", "GET", "/v1/agencies?limit=1e9", NULL, NULL, 400},
        {"forged cursor", "GET", "/v1/agencies?cursor=eyJ4IjoxfQ", NULL, NULL, 400},
        {"uuid with braces", "GET", "/v1/agencies/{00000000-0000-4000-8000-000000000000}", NULL,
         NULL, 404},
        {"unknown method", "BREW", "/v1/agencies", NULL, NULL, 0},
        {"trace", "TRACE", "/v1/agencies", NULL, NULL, 405},
        {"lower-case method", "get", "/v1/agencies", NULL, NULL, 0},
        {"patch without if-match", "PATCH", case_path, "application/json", "{}", 428},
        {"merge patch without if-match", "PATCH", case_path, "application/merge-patch+json", "{}",
         428},
        {"delete collection", "DELETE", "/v1/agencies", NULL, NULL, 405},
        {"unknown version", "GET", "/v2/agencies", NULL, NULL, 404},
        {"case-varied path", "GET", "/V1/Agencies", NULL, NULL, 404},
        {"trailing slash", "GET", "/v1/agencies/", NULL, NULL, 404},
        {"query flood", "GET", "/v1/agencies?a=1&a=2&a=3&a=4&a=5", NULL, NULL, 200},
        {"transition to nowhere", "POST", "/v1/cases/not-a-case/transitions", "application/json",
         "{\"transition\": \"x\"}", 404},
        {"stats injection", "GET", "/v1/stats/victims?group_by=sex;--", NULL, NULL, 403},
    };
    long before = count_rows();
    for (size_t i = 0; i < sizeof cat / sizeof cat[0]; i++) {
        const struct hostile *h = &cat[i];
        long status = send_one(h->method, h->path, h->content_type, h->body,
                               h->body ? strlen(h->body) : 0, NULL);
        if (h->expect)
            ck_assert_msg(status == h->expect, "%s: expected %ld, got %ld", h->name, h->expect,
                          status);
        else
            ck_assert_msg(status >= 400 && status < 500, "%s: got %ld", h->name, status);
        ck_assert_msg(h_trmd_alive(&srv), "trmd died on %s", h->name);
    }
    /* NUL bytes inside the body, and a header past the memory limit. */
    long st =
        send_one("POST", "/v1/agencies", "application/json", nul_body, sizeof nul_body - 1, NULL);
    ck_assert_int_eq(st, 400);
    st = send_one("GET", "/v1/agencies", NULL, NULL, 0, big_header);
    ck_assert_msg(st >= 400 && st < 500, "big header: %ld", st);
    ck_assert_int_eq(count_rows(), before);
    ck_assert(h_trmd_alive(&srv));
    free(deep);
    free(long_name);
    free(many);
    free(long_path);
    free(big_header);
}
END_TEST

START_TEST(sql_injection_is_stored_verbatim)
{
    char evil[128];
    snprintf(evil, sizeof evil, "Robert'); DROP TABLE cases;-- \\\\ %%s $1 {} %d", (int)getpid());
    char body[256], path[80];
    json_t *j = json_pack("{s:s, s:s, s:s}", "name", evil, "country", "SE", "kind", "ngo");
    char *text = json_dumps(j, 0);
    snprintf(body, sizeof body, "%s", text);
    free(text);
    json_decref(j);
    struct h_resp r;
    h_api(&srv, admin, "POST", "/v1/agencies", body, NULL, &r);
    h_expect(&r, 201, "evil agency");
    ck_assert_str_eq(h_str(&r, "name"), evil);
    snprintf(path, sizeof path, "/v1/agencies/%s", h_str(&r, "id"));
    h_resp_free(&r);
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    ck_assert_str_eq(h_str(&r, "name"), evil);
    h_resp_free(&r);
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    PGresult *q = PQexec(pg, "SELECT count(*) FROM cases");
    ck_assert_int_eq(PQresultStatus(q), PGRES_TUPLES_OK); /* the table is still there */
    PQclear(q);
    PQfinish(pg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("hostile");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, catalogue);
    tcase_add_test(tc, sql_injection_is_stored_verbatim);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
