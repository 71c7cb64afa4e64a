/* Who acts as whom: every token records its issuer; a read of personal data made with a
 * token an admin issued for someone else is marked in the access log (remembered tokens
 * too); every admin action, through the API or trmctl, is in the append-only admin log with
 * no personal value; auditors read it for their country (cross-border auditors: all), list
 * it in pages and export it as NDJSON or CSV. */
#include "check_run.h"
#include "harness.h"

#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct trmd srv;
static char admin_se[128], admin_ph[128], admin_se_id[37], admin_ph_id[37];
static char agency_se[37], agency_ph[37], agency_io[37];
static char worker[37], worker_tok[128], coord_tok[128];
static char auditor_se[128], auditor_ph[128], auditor_x[128];

static void user_id_of(const char *token, char out[37])
{
    struct h_resp r;
    h_api(&srv, token, "GET", "/v1/me", NULL, NULL, &r);
    h_expect(&r, 200, "me");
    snprintf(out, 37, "%s", h_str(&r, "user_id"));
    h_resp_free(&r);
}

static void setup(void)
{
    char ignored[37];
    h_trmd_start(&srv, NULL);
    h_admin(admin_se, "SE");
    h_admin(admin_ph, "PH");
    user_id_of(admin_se, admin_se_id);
    user_id_of(admin_ph, admin_ph_id);
    h_agency(&srv, admin_se, "SE", "ngo", agency_se);
    h_agency(&srv, admin_ph, "PH", "ngo", agency_ph);
    h_agency(&srv, admin_se, "SE", "international_org", agency_io);
    h_user(&srv, admin_se, agency_se, "caseworker", false, worker, worker_tok);
    h_user(&srv, admin_se, agency_se, "coordinator", false, ignored, coord_tok);
    h_user(&srv, admin_se, agency_se, "auditor", false, ignored, auditor_se);
    h_user(&srv, admin_ph, agency_ph, "auditor", false, ignored, auditor_ph);
    h_user(&srv, admin_se, agency_io, "auditor", true, ignored, auditor_x);
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

/* The first cell of a query as the owner role (params may be NULL), into out; false for no
 * row. */
static bool owner_cell(const char *sql, const char *p1, const char *p2, char *out, size_t cap)
{
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {p1, p2};
    PGresult *r = PQexecParams(pg, sql, p2 ? 2 : p1 ? 1 : 0, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
    bool found = PQntuples(r) > 0;
    snprintf(out, cap, "%s", found ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(pg);
    return found;
}

/* The stored id of a token (found by its selector, which is not secret). */
static void token_id_of(const char *token, char id[37])
{
    char selector[17];
    snprintf(selector, sizeof selector, "%.16s", token + 4);
    ck_assert(owner_cell("SELECT id FROM api_tokens WHERE selector = $1", selector, NULL, id, 37));
}

static void trmctl_token(const char *user, char token[128])
{
    char args[256];
    snprintf(args, sizeof args, "token issue --user %s --expires-days 1", user);
    ck_assert_int_eq(h_trmctl(args, token, 128), 0);
}

static void api_token(const char *admin, const char *user, char token[128], char id[37])
{
    char path[128];
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/users/%s/tokens", user);
    h_api(&srv, admin, "POST", path, "{\"expires_days\": 1}", NULL, &r);
    h_expect(&r, 201, "issue token");
    snprintf(token, 128, "%s", h_str(&r, "token"));
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

START_TEST(tokens_record_their_issuer)
{
    char tok[128], id[37], via[16], by[40];
    api_token(admin_se, worker, tok, id);
    ck_assert(owner_cell("SELECT issued_via FROM api_tokens WHERE id = $1", id, NULL, via, 16));
    ck_assert_str_eq(via, "api");
    owner_cell("SELECT issued_by FROM api_tokens WHERE id = $1", id, NULL, by, sizeof by);
    ck_assert_str_eq(by, admin_se_id);
    /* The admin's own token came from trmctl (the operator): no issuing user. */
    token_id_of(admin_se, id);
    owner_cell("SELECT issued_via || '/' || coalesce(issued_by::text, '-') FROM api_tokens "
               "WHERE id = $1",
               id, NULL, via, sizeof via);
    ck_assert_str_eq(via, "trmctl/-");

    /* The issuer is the database's to fill: not the application role's without an acting
     * admin, not a caseworker's, and never changed afterwards, even by the owner. */
    PGconn *app = h_pg("TRM_TEST_APP_URL");
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO api_tokens (id, user_id, selector, verifier_hash, issued_via) "
             "VALUES (gen_random_uuid(), '%s', 'AAAAAAAAAAAAAAAA', '\\x%064d', 'trmctl')",
             worker, 0);
    PGresult *r = PQexec(app, sql);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    char with_ctx[1200];
    snprintf(with_ctx, sizeof with_ctx,
             "BEGIN; SELECT set_config('trm.user_id', '%s', true); %s; COMMIT", worker, sql);
    r = PQexec(app, with_ctx);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    PQclear(PQexec(app, "ROLLBACK"));
    PQfinish(app);
    PGconn *owner = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {id, admin_ph_id};
    r = PQexecParams(owner,
                     "UPDATE api_tokens SET issued_via = 'api', issued_by = $2 WHERE id = $1", 2,
                     NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    PQfinish(owner);
}
END_TEST

/* A case of the SE agency with personal data (a sentinel name), created by the worker. */
static void new_case(char id[37])
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-10\", \"person\": {\"identity\": {\"full_name\": "
             "\"Zq%dXv\"}}}",
             (int)getpid());
    struct h_resp r;
    h_api(&srv, worker_tok, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create case");
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

/* Reads the case's personal data with token on t; checks the access-log entry it made:
 * the token's id, and marked or not. */
static void read_and_check(const struct trmd *t, const char *case_id, const char *token,
                           const char *expect_mark)
{
    char path[128], before[24], after[24], tok_id[37], got[64], want[64];
    owner_cell("SELECT count(*) FROM access_log WHERE case_id = $1", case_id, NULL, before,
               sizeof before);
    snprintf(path, sizeof path, "/v1/cases/%s", case_id);
    struct h_resp r;
    h_api(t, token, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "read case");
    h_resp_free(&r);
    owner_cell("SELECT count(*) FROM access_log WHERE case_id = $1", case_id, NULL, after,
               sizeof after);
    ck_assert_int_eq(atol(after), atol(before) + 1);
    token_id_of(token, tok_id);
    owner_cell("SELECT token_id || ' ' || coalesce(token_issued_by_other::text, 'null') "
               "FROM access_log WHERE case_id = $1 ORDER BY id DESC LIMIT 1",
               case_id, NULL, got, sizeof got);
    snprintf(want, sizeof want, "%s %s", tok_id, expect_mark);
    ck_assert_str_eq(got, want);
}

/* The documented rule: a token an admin issued through the API for another user marks the
 * reads made with it; a token the operator issued with trmctl does not (the operator holds
 * the owner role and the key file). */
START_TEST(reads_with_a_token_issued_by_an_admin_are_marked)
{
    struct trmd fresh; /* looks every token up: no memory of verified tokens */
    const char *env[] = {"TRM_AUTH_CACHE_S=0", NULL};
    h_trmd_start(&fresh, env);
    char case_id[37], ctl_tok[128];
    new_case(case_id);
    read_and_check(&fresh, case_id, worker_tok, "true");
    trmctl_token(worker, ctl_tok);
    read_and_check(&fresh, case_id, ctl_tok, "false");

    /* Auditors see the mark in the case's access log. */
    char path[128];
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s/access-log", case_id);
    h_api(&srv, auditor_se, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "access log");
    json_t *items = json_object_get(r.json, "items");
    size_t n = json_array_size(items);
    ck_assert_int_ge(n, 2);
    ck_assert(json_is_true(json_object_get(json_array_get(items, n - 2), "token_issued_by_other")));
    ck_assert(
        json_is_false(json_object_get(json_array_get(items, n - 1), "token_issued_by_other")));
    ck_assert_ptr_nonnull(
        json_string_value(json_object_get(json_array_get(items, n - 1), "token_id")));
    h_resp_free(&r);
    ck_assert_int_eq(h_trmd_stop(&fresh), 0);
}
END_TEST

/* trmd remembers verified tokens: two tokens of the same user, used in turn on the same trmd,
 * keep their own marks. */
START_TEST(remembered_tokens_are_marked_the_same)
{
    struct trmd remembering;
    const char *env[] = {"TRM_AUTH_CACHE_S=300", NULL};
    h_trmd_start(&remembering, env);
    char case_id[37], ctl_tok[128], api_tok[128], api_id[37];
    new_case(case_id);
    trmctl_token(worker, ctl_tok);
    api_token(admin_se, worker, api_tok, api_id);
    for (int round = 0; round < 3; round++) {
        read_and_check(&remembering, case_id, api_tok, "true");
        read_and_check(&remembering, case_id, ctl_tok, "false");
    }
    ck_assert_int_eq(h_trmd_stop(&remembering), 0);
}
END_TEST

/* The admin-log entries of one object: "actor action fields" lines, oldest first. */
static void entries_of(const char *object_id, char *out, size_t cap)
{
    owner_cell("SELECT coalesce(string_agg(actor || ' ' || coalesce(actor_user_id::text, '-') || "
               "' ' || action || ' ' || array_to_string(fields, ','), E'\\n' ORDER BY seq), '') "
               "FROM admin_log WHERE object_id = $1",
               object_id, NULL, out, cap);
}

static void expect_entries(const char *object_id, const char *expected)
{
    char got[1024];
    entries_of(object_id, got, sizeof got);
    ck_assert_str_eq(got, expected);
}

/* Nothing of these values in any admin-log entry. */
static void expect_absent(const char *value)
{
    char n[24];
    owner_cell("SELECT count(*) FROM admin_log WHERE strpos(admin_log::text, $1) > 0", value, NULL,
               n, sizeof n);
    ck_assert_msg(strcmp(n, "0") == 0, "admin log holds a value it must not");
}

START_TEST(every_admin_action_is_logged_without_personal_values)
{
    char body[512], path[128], want[512], agency[37], user[37], tok[128], tok_id[37];
    char name[64], agency_name[64];
    struct h_resp r;
    snprintf(agency_name, sizeof agency_name, "Adminlog shelter %d", (int)getpid());
    snprintf(body, sizeof body, "{\"name\": \"%s\", \"country\": \"SE\", \"kind\": \"ngo\"}",
             agency_name);
    h_api(&srv, admin_se, "POST", "/v1/agencies", body, NULL, &r);
    h_expect(&r, 201, "agency");
    snprintf(agency, sizeof agency, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(name, sizeof name, "Adminlog Name %d", (int)getpid());
    snprintf(body, sizeof body,
             "{\"agency_id\": \"%s\", \"role\": \"caseworker\", \"display_name\": \"%s\"}", agency,
             name);
    h_api(&srv, admin_se, "POST", "/v1/users", body, NULL, &r);
    h_expect(&r, 201, "user");
    snprintf(user, sizeof user, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/users/%s", user);
    h_api(&srv, admin_se, "PATCH", path, "{\"disabled\": true}", NULL, &r);
    h_expect(&r, 200, "disable user");
    h_resp_free(&r);
    h_api(&srv, admin_se, "PATCH", path, "{\"disabled\": false}", NULL, &r);
    h_resp_free(&r);
    api_token(admin_se, user, tok, tok_id);
    snprintf(path, sizeof path, "/v1/tokens/%s", tok_id);
    h_api(&srv, admin_se, "DELETE", path, NULL, NULL, &r);
    h_expect(&r, 204, "revoke");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/agencies/%s", agency);
    h_api(&srv, admin_se, "PATCH", path, "{\"active\": false}", NULL, &r);
    h_expect(&r, 200, "deactivate agency");
    ck_assert(json_is_false(json_object_get(r.json, "active")));
    h_resp_free(&r);

    snprintf(want, sizeof want,
             "user %s agency_create name,country,kind\nuser %s agency_update active", admin_se_id,
             admin_se_id);
    expect_entries(agency, want);
    snprintf(want, sizeof want,
             "user %s user_create agency_id,role,display_name\n"
             "user %s user_update disabled\nuser %s user_update disabled",
             admin_se_id, admin_se_id, admin_se_id);
    expect_entries(user, want);
    snprintf(want, sizeof want, "user %s token_issue expires_days\nuser %s token_revoke ",
             admin_se_id, admin_se_id);
    expect_entries(tok_id, want);
    /* Details are codes: the user's role, the token's user, the agency's new state. */
    char details[256];
    owner_cell("SELECT details->>'role' FROM admin_log WHERE object_id = $1", user, NULL, details,
               sizeof details);
    ck_assert_str_eq(details, "caseworker");
    owner_cell("SELECT details->>'user_id' FROM admin_log WHERE object_id = $1", tok_id, NULL,
               details, sizeof details);
    ck_assert_str_eq(details, user);

    /* A SOP through the API. */
    char *doc = NULL, code[40];
    size_t len = 0;
    FILE *f = fopen(TRM_SOURCE_DIR "/config/sops/trm-eu.json", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ne(getdelim(&doc, &len, '\0', f), -1);
    fclose(f);
    snprintf(code, sizeof code, "\"code\": \"adminlog-%d\"", (int)getpid());
    char *at = strstr(doc, "\"code\": \"trm-eu\"");
    ck_assert_ptr_nonnull(at);
    size_t old = strlen("\"code\": \"trm-eu\"");
    char *sop = malloc(strlen(doc) + 64);
    snprintf(sop, strlen(doc) + 64, "%.*s%s%s", (int)(at - doc), doc, code, at + old);
    h_api(&srv, admin_se, "POST", "/v1/sops", sop, NULL, &r);
    h_expect(&r, 201, "sop");
    char sop_id[37];
    snprintf(sop_id, sizeof sop_id, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(want, sizeof want, "user %s sop_load document", admin_se_id);
    expect_entries(sop_id, want);

    /* The same through trmctl: the operator acts. */
    char out[256], args[1024], ctl_agency[37], ctl_user[37], ctl_tok[128], ctl_tok_id[37];
    snprintf(args, sizeof args, "agency add --name 'Adminlog ctl %d' --country PH --kind ngo",
             (int)getpid());
    ck_assert_int_eq(h_trmctl(args, ctl_agency, sizeof ctl_agency), 0);
    snprintf(args, sizeof args, "user add --agency %s --role coordinator --name '%s'", ctl_agency,
             name);
    ck_assert_int_eq(h_trmctl(args, ctl_user, sizeof ctl_user), 0);
    trmctl_token(ctl_user, ctl_tok);
    token_id_of(ctl_tok, ctl_tok_id);
    snprintf(args, sizeof args, "token revoke %s", ctl_tok_id);
    ck_assert_int_eq(h_trmctl(args, out, sizeof out), 0);
    expect_entries(ctl_agency, "trmctl - agency_create name,country,kind");
    expect_entries(ctl_user, "trmctl - user_create agency_id,role,display_name");
    expect_entries(ctl_tok_id, "trmctl - token_issue expires_days\ntrmctl - token_revoke ");
    char sop_path[512];
    h_tmp_path(sop_path, sizeof sop_path, "adminlog-sop.json");
    snprintf(code, sizeof code, "\"code\": \"adminlog-ctl-%d\"", (int)getpid());
    f = fopen(sop_path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%.*s%s%s", (int)(at - doc), doc, code, at + old);
    fclose(f);
    snprintf(args, sizeof args, "sop load '%s'", sop_path);
    ck_assert_int_eq(h_trmctl(args, out, sizeof out), 0);
    unlink(sop_path);
    char ctl_sop[37];
    snprintf(code, sizeof code, "adminlog-ctl-%d", (int)getpid());
    ck_assert(owner_cell("SELECT id FROM sops WHERE code = $1", code, NULL, ctl_sop, 37));
    expect_entries(ctl_sop, "trmctl - sop_load document");
    char peer[64];
    snprintf(peer, sizeof peer, "adminlog-%d.example", (int)getpid());
    snprintf(args, sizeof args,
             "peer add --id %s --country PH --url https://%s --signing-key %064d --box-key %064d "
             "--inactive",
             peer, peer, 1, 2);
    ck_assert_int_eq(h_trmctl(args, out, sizeof out), 0);
    expect_entries(peer, "trmctl - peer_add country,url,signing_key,box_key,active");

    /* No name, no token, no URL, no key: ids, codes and field names only. */
    expect_absent(name);
    expect_absent(agency_name);
    expect_absent("Adminlog ctl");
    expect_absent(tok);
    expect_absent(tok + 21);
    expect_absent(ctl_tok + 21);
    expect_absent("https://");
    char key[65];
    snprintf(key, sizeof key, "%064d", 2);
    expect_absent(key);
    free(sop);
    free(doc);
}
END_TEST

static void expect_refused(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_FATAL_ERROR, "not refused: %s", sql);
    PQclear(r);
}

START_TEST(the_admin_log_is_append_only)
{
    char agency[37];
    h_agency(&srv, admin_se, "SE", "ngo", agency); /* at least one entry */
    PGconn *owner = h_pg("TRM_TEST_OWNER_URL");
    expect_refused(owner, "UPDATE admin_log SET action = 'user_create'");
    expect_refused(owner, "DELETE FROM admin_log");
    expect_refused(owner, "TRUNCATE admin_log");
    PQfinish(owner);
    PGconn *app = h_pg("TRM_TEST_APP_URL");
    expect_refused(app, "UPDATE admin_log SET action = 'user_create'");
    expect_refused(app, "DELETE FROM admin_log");
    expect_refused(app, "TRUNCATE admin_log");
    /* The application role writes only its acting admin's own entries. */
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT trm_admin_log_add('agency_update', '%s', '{active}', 'r1')",
             agency);
    expect_refused(app, sql);
    char as_worker[1024];
    snprintf(as_worker, sizeof as_worker,
             "BEGIN; SELECT set_config('trm.user_id', '%s', true), "
             "set_config('trm.agency_id', '%s', true), set_config('trm.country', 'SE', true), "
             "set_config('trm.role', 'caseworker', true); %s; COMMIT",
             worker, agency_se, sql);
    expect_refused(app, as_worker);
    PQclear(PQexec(app, "ROLLBACK"));
    PQfinish(app);
}
END_TEST

/* The entries of object_id a token sees in GET /v1/admin-log (filtered by actor). */
static size_t visible(const char *token, const char *actor, const char *object_id)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/admin-log?actor_user_id=%s&limit=100", actor);
    size_t n = 0;
    for (int page = 0; page < 100; page++) {
        struct h_resp r;
        h_api(&srv, token, "GET", path, NULL, NULL, &r);
        h_expect(&r, 200, "admin log");
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(r.json, "items"), i, e)
        {
            ck_assert_str_eq(json_string_value(json_object_get(e, "actor_user_id")), actor);
            if (strcmp(json_string_value(json_object_get(e, "object_id")), object_id) == 0)
                n++;
        }
        const char *next = h_str(&r, "next_cursor");
        if (next)
            snprintf(path, sizeof path, "/v1/admin-log?actor_user_id=%s&limit=100&cursor=%s", actor,
                     next);
        h_resp_free(&r);
        if (next == NULL)
            break;
    }
    return n;
}

START_TEST(auditors_read_their_country_and_cross_border_auditors_all)
{
    char se[37], ph[37], se_for_ph[37];
    h_agency(&srv, admin_se, "SE", "ngo", se);
    h_agency(&srv, admin_ph, "PH", "ngo", ph);
    h_agency(&srv, admin_se, "PH", "ngo", se_for_ph); /* a Swedish admin acts on PH */
    ck_assert_int_eq(visible(auditor_se, admin_se_id, se), 1);
    ck_assert_int_eq(visible(auditor_se, admin_ph_id, ph), 0);
    ck_assert_int_eq(visible(auditor_se, admin_se_id, se_for_ph), 1);
    ck_assert_int_eq(visible(auditor_ph, admin_se_id, se), 0);
    ck_assert_int_eq(visible(auditor_ph, admin_ph_id, ph), 1);
    ck_assert_int_eq(visible(auditor_ph, admin_se_id, se_for_ph), 1);
    ck_assert_int_eq(visible(auditor_x, admin_se_id, se), 1);
    ck_assert_int_eq(visible(auditor_x, admin_ph_id, ph), 1);
    /* Everyone else: 403, for the list and the export. */
    const char *others[] = {worker_tok, coord_tok, admin_se};
    for (size_t i = 0; i < 3; i++) {
        struct h_resp r;
        h_api(&srv, others[i], "GET", "/v1/admin-log", NULL, NULL, &r);
        h_assert_problem(&r, 403, "forbidden");
        h_resp_free(&r);
        h_api(&srv, others[i], "GET", "/v1/admin-log/export", NULL, NULL, &r);
        h_assert_problem(&r, 403, "forbidden");
        h_resp_free(&r);
    }
}
END_TEST

START_TEST(the_admin_log_pages_filters_and_exports)
{
    char a[37], b[37], path[512];
    h_agency(&srv, admin_ph, "PH", "ngo", a);
    h_agency(&srv, admin_ph, "PH", "ngo", b);
    struct h_resp r;
    /* One entry a page, in order, with a signed cursor. */
    snprintf(path, sizeof path, "/v1/admin-log?actor_user_id=%s&action=agency_create&limit=1",
             admin_ph_id);
    json_int_t last = 0;
    size_t pages = 0;
    for (; pages < 50; pages++) {
        h_api(&srv, auditor_ph, "GET", path, NULL, NULL, &r);
        h_expect(&r, 200, "page");
        json_t *items = json_object_get(r.json, "items");
        ck_assert_int_le(json_array_size(items), 1);
        if (json_array_size(items) == 1) {
            json_t *e = json_array_get(items, 0);
            ck_assert_int_gt(json_integer_value(json_object_get(e, "seq")), last);
            last = json_integer_value(json_object_get(e, "seq"));
            ck_assert_str_eq(json_string_value(json_object_get(e, "action")), "agency_create");
            ck_assert_str_eq(json_string_value(json_object_get(e, "actor")), "user");
            ck_assert_str_eq(json_string_value(json_object_get(e, "actor_country")), "PH");
            ck_assert_ptr_nonnull(json_string_value(json_object_get(e, "at")));
        }
        const char *next = h_str(&r, "next_cursor");
        if (next == NULL) {
            h_resp_free(&r);
            break;
        }
        snprintf(path, sizeof path,
                 "/v1/admin-log?actor_user_id=%s&action=agency_create&limit=1&cursor=%s",
                 admin_ph_id, next);
        h_resp_free(&r);
    }
    ck_assert_int_ge(pages, 2);
    /* A time window in the future is empty; bad parameters are 400. */
    h_api(&srv, auditor_ph, "GET", "/v1/admin-log?from=2999-01-01", NULL, NULL, &r);
    h_expect(&r, 200, "future");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 0);
    h_resp_free(&r);
    h_api(&srv, auditor_ph, "GET", "/v1/admin-log?from=2020-01-01T00:00:00Z&to=2999-12-31", NULL,
          NULL, &r);
    h_expect(&r, 200, "window");
    ck_assert_int_ge(json_array_size(json_object_get(r.json, "items")), 2);
    h_resp_free(&r);
    const char *bad[] = {"/v1/admin-log?action=drop_table", "/v1/admin-log?actor_user_id=me",
                         "/v1/admin-log?from=2026-02-30",   "/v1/admin-log?to=yesterday",
                         "/v1/admin-log?cursor=AAAA",       "/v1/admin-log/export?from=2026-13-01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h_api(&srv, auditor_ph, "GET", bad[i], NULL, NULL, &r);
        h_assert_problem(&r, 400, "invalid_parameter");
        h_resp_free(&r);
    }

    /* Export: NDJSON by default, CSV on request; both name the two agencies. */
    char ct[128];
    snprintf(path, sizeof path, "/v1/admin-log/export?actor_user_id=%s", admin_ph_id);
    h_api(&srv, auditor_ph, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "ndjson");
    ck_assert_str_eq(h_header(&r, "Content-Type", ct, sizeof ct), "application/x-ndjson");
    ck_assert_ptr_nonnull(strstr(r.body, a));
    ck_assert_ptr_nonnull(strstr(r.body, b));
    for (char *line = r.body; *line;) {
        char *end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        json_t *e = json_loadb(line, (size_t)(end - line), 0, NULL);
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(json_string_value(json_object_get(e, "actor_user_id")), admin_ph_id);
        json_decref(e);
        line = end + 1;
    }
    h_resp_free(&r);
    const char *csv[] = {"Accept: text/csv", NULL};
    h_api(&srv, auditor_ph, "GET", path, NULL, csv, &r);
    h_expect(&r, 200, "csv");
    ck_assert_int_eq(strncmp(h_header(&r, "Content-Type", ct, sizeof ct), "text/csv", 8), 0);
    ck_assert_int_eq(strncmp(r.body, "seq,at,actor,actor_user_id,", 27), 0);
    ck_assert_ptr_nonnull(strstr(r.body, a));
    ck_assert_ptr_nonnull(strstr(r.body, "\"agency_create\""));
    ck_assert_ptr_nonnull(strstr(r.body, "\"name country kind\""));
    h_resp_free(&r);
    /* The Swedish auditor's export holds none of the Philippine admin's actions on PH. */
    h_api(&srv, auditor_se, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "ndjson se");
    ck_assert_ptr_null(strstr(r.body, a));
    h_resp_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("admin_log");
    TCase *tc = tcase_create("admin_log");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, tokens_record_their_issuer);
    tcase_add_test(tc, reads_with_a_token_issued_by_an_admin_are_marked);
    tcase_add_test(tc, remembered_tokens_are_marked_the_same);
    tcase_add_test(tc, every_admin_action_is_logged_without_personal_values);
    tcase_add_test(tc, the_admin_log_is_append_only);
    tcase_add_test(tc, auditors_read_their_country_and_cross_border_auditors_all);
    tcase_add_test(tc, the_admin_log_pages_filters_and_exports);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
