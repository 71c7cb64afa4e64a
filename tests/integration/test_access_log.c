/* GET /v1/access-log: reads across cases, as each role may see them (coordinators their
 * agency's cases, auditors their country, cross-border auditors all), filtered, in pages, and
 * exported as CSV and NDJSON; nothing personal in it. POST /v1/cases/{id}/subject-access: the
 * bundle of everything about the person, and nothing of another case, logged. */
#include "check_run.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct trmd srv;
static char admin[128], admin_ph[128], agency_a[37], agency_b[37], agency_ph[37], agency_io[37];
static char worker_a[128], worker_a_id[37], coord_a[128], worker_b[128], coord_b[128];
static char auditor_se[128], auditor_ph[128], auditor_x[128];
static char case_a[37], case_b[37], sentinel[32];

static void create_and_read(const char *token, char id[37])
{
    char body[1024], path[96];
    snprintf(body, sizeof body,
             "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-10\", \"person\": {\"identity\": {\"full_name\": "
             "\"%s\"}, \"contact\": {\"phone\": \"+46 %s\"}}}",
             sentinel, sentinel);
    struct h_resp r;
    h_api(&srv, token, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create");
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    for (int i = 0; i < 3; i++) {
        h_api(&srv, token, "GET", path, NULL, NULL, &r);
        h_expect(&r, 200, "read");
        h_resp_free(&r);
    }
}

static void setup(void)
{
    char ignored[37];
    h_trmd_start(&srv, NULL);
    h_admin(admin, "SE");
    h_admin(admin_ph, "PH");
    h_agency(&srv, admin, "SE", "social_services", agency_a);
    h_agency(&srv, admin, "SE", "ngo", agency_b);
    h_agency(&srv, admin_ph, "PH", "ngo", agency_ph);
    h_agency(&srv, admin, "SE", "international_org", agency_io);
    h_user(&srv, admin, agency_a, "caseworker", false, worker_a_id, worker_a);
    h_user(&srv, admin, agency_a, "coordinator", false, ignored, coord_a);
    h_user(&srv, admin, agency_b, "caseworker", false, ignored, worker_b);
    h_user(&srv, admin, agency_b, "coordinator", false, ignored, coord_b);
    h_user(&srv, admin, agency_a, "auditor", false, ignored, auditor_se);
    h_user(&srv, admin_ph, agency_ph, "auditor", false, ignored, auditor_ph);
    h_user(&srv, admin, agency_io, "auditor", true, ignored, auditor_x);
    snprintf(sentinel, sizeof sentinel, "Qw%dAccessLog", getpid());
    create_and_read(worker_a, case_a);
    create_and_read(worker_b, case_b);
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

/* The items of GET path as token (200 expected). */
static json_t *items(const char *token, const char *path)
{
    struct h_resp r;
    h_api(&srv, token, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, path);
    ck_assert_ptr_null(strstr(r.body, sentinel));
    json_t *it = json_incref(json_object_get(r.json, "items"));
    h_resp_free(&r);
    return it;
}

static size_t count_case(json_t *list, const char *case_id)
{
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(list, i, e) n +=
        strcmp(json_string_value(json_object_get(e, "case_id")), case_id) == 0;
    return n;
}

START_TEST(scope_per_role)
{
    char path[256];
    /* A coordinator: their agency's cases only, every one of them. */
    json_t *l = items(coord_a, "/v1/access-log?limit=100");
    ck_assert_int_eq(count_case(l, case_a), 3);
    ck_assert_int_eq(json_array_size(l), 3);
    json_decref(l);
    snprintf(path, sizeof path, "/v1/access-log?case_id=%s", case_b);
    l = items(coord_a, path);
    ck_assert_int_eq(json_array_size(l), 0);
    json_decref(l);
    l = items(coord_b, "/v1/access-log?limit=100");
    ck_assert_int_eq(count_case(l, case_b), 3);
    ck_assert_int_eq(json_array_size(l), 3);
    json_decref(l);
    /* Auditors: their country's (both SE cases), not another country's; cross-border: all. */
    for (int c = 0; c < 2; c++) {
        snprintf(path, sizeof path, "/v1/access-log?case_id=%s", c ? case_b : case_a);
        l = items(auditor_se, path);
        ck_assert_int_eq(json_array_size(l), 3);
        json_decref(l);
        l = items(auditor_x, path);
        ck_assert_int_eq(json_array_size(l), 3);
        json_decref(l);
        l = items(auditor_ph, path);
        ck_assert_int_eq(json_array_size(l), 0);
        json_decref(l);
    }
    /* Caseworkers and admins: not at all. */
    struct h_resp r;
    h_api(&srv, worker_a, "GET", "/v1/access-log", NULL, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    h_api(&srv, admin, "GET", "/v1/access-log", NULL, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
}
END_TEST

START_TEST(filters_pages_and_exports)
{
    char path[1024];
    /* By agency, user, purpose and period. */
    snprintf(path, sizeof path, "/v1/access-log?agency_id=%s&user_id=%s&purpose=case_view",
             agency_a, worker_a_id);
    json_t *l = items(auditor_se, path);
    ck_assert_int_eq(json_array_size(l), 3);
    json_t *e = json_array_get(l, 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "purpose")), "case_view");
    ck_assert_str_eq(json_string_value(json_object_get(e, "user_id")), worker_a_id);
    ck_assert_str_eq(json_string_value(json_object_get(e, "country")), "SE");
    ck_assert(json_is_array(json_object_get(e, "categories")));
    json_decref(l);
    snprintf(path, sizeof path, "/v1/access-log?agency_id=%s&purpose=case_update", agency_a);
    l = items(auditor_se, path);
    ck_assert_int_eq(json_array_size(l), 0);
    json_decref(l);
    snprintf(path, sizeof path, "/v1/access-log?agency_id=%s&from=2000-01-01&to=2001-01-01",
             agency_a);
    l = items(auditor_se, path);
    ck_assert_int_eq(json_array_size(l), 0);
    json_decref(l);
    snprintf(path, sizeof path, "/v1/access-log?agency_id=%s&from=2000-01-01", agency_a);
    l = items(auditor_se, path);
    ck_assert_int_eq(json_array_size(l), 3);
    json_decref(l);

    /* Pages of one, oldest first, each entry once. */
    struct h_resp r;
    char next[512] = "";
    long last = 0;
    int seen = 0;
    do {
        snprintf(path, sizeof path, "/v1/access-log?case_id=%s&limit=1%s%s", case_a,
                 next[0] ? "&cursor=" : "", next);
        h_api(&srv, coord_a, "GET", path, NULL, NULL, &r);
        h_expect(&r, 200, "page");
        json_t *it = json_object_get(r.json, "items");
        ck_assert_int_le(json_array_size(it), 1);
        if (json_array_size(it) == 1) {
            long seq = (long)json_integer_value(json_object_get(json_array_get(it, 0), "seq"));
            ck_assert_int_gt(seq, last);
            last = seq;
            seen++;
        }
        const char *c = json_string_value(json_object_get(r.json, "next_cursor"));
        snprintf(next, sizeof next, "%s", c ? c : "");
        h_resp_free(&r);
    } while (next[0] && seen < 10);
    ck_assert_int_eq(seen, 3);

    /* Exports: CSV (a header, a line an entry) and NDJSON (an object a line). */
    const char *csv[] = {"Accept: text/csv", NULL};
    snprintf(path, sizeof path, "/v1/access-log?case_id=%s", case_a);
    h_api(&srv, auditor_x, "GET", path, NULL, csv, &r);
    h_expect(&r, 200, "csv");
    char type[80];
    ck_assert_ptr_nonnull(h_header(&r, "Content-Type", type, sizeof type));
    ck_assert_ptr_nonnull(strstr(type, "text/csv"));
    ck_assert_int_eq(
        strncmp(r.body, "seq,at,user_id,agency_id,country,case_id,categories,purpose,", 60), 0);
    int lines = 0;
    for (const char *p = r.body; (p = strstr(p, "\r\n")) != NULL; p += 2)
        lines++;
    ck_assert_int_eq(lines, 4);
    ck_assert_ptr_nonnull(strstr(r.body, "\"case_view\""));
    ck_assert_ptr_null(strstr(r.body, sentinel));
    h_resp_free(&r);
    const char *nd[] = {"Accept: application/x-ndjson", NULL};
    h_api(&srv, coord_a, "GET", path, NULL, nd, &r);
    h_expect(&r, 200, "ndjson");
    lines = 0;
    for (char *line = r.body, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        *nl = '\0';
        json_t *j = json_loads(line, 0, NULL);
        ck_assert_msg(json_is_object(j), "not JSON: %s", line);
        ck_assert_str_eq(json_string_value(json_object_get(j, "case_id")), case_a);
        json_decref(j);
        lines++;
    }
    ck_assert_int_eq(lines, 3);
    h_resp_free(&r);
    /* The coordinator's export holds only their agency's cases too. */
    snprintf(path, sizeof path, "/v1/access-log?case_id=%s", case_b);
    h_api(&srv, coord_a, "GET", path, NULL, nd, &r);
    h_expect(&r, 200, "ndjson of another agency's case");
    ck_assert_uint_eq(r.body_len, 0);
    h_resp_free(&r);

    /* Wrong filters: 400. */
    static const char *const bad[] = {"case_id=nope",        "agency_id=1",    "user_id=x",
                                      "purpose=Case%20View", "from=yesterday", "limit=0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(path, sizeof path, "/v1/access-log?%s", bad[i]);
        h_api(&srv, auditor_se, "GET", path, NULL, NULL, &r);
        h_assert_problem(&r, 400, "invalid_parameter");
        h_resp_free(&r);
    }
}
END_TEST

/* POST path as token with body and extra headers; the answer in r. */
static void post(const char *token, const char *path, const char *body, const char *const *hdr,
                 struct h_resp *r)
{
    h_api(&srv, token, "POST", path, body, hdr, r);
}

static void post_ok(const char *token, const char *path, const char *body, char id_out[37])
{
    struct h_resp r;
    post(token, path, body, NULL, &r);
    ck_assert_msg(r.status == 200 || r.status == 201, "%s: %ld %s", path, r.status, r.body);
    if (id_out)
        snprintf(id_out, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

/* A case of agency A whose every personal value carries tag (with a number), and records of
 * every kind with sealed parts. */
static void person_case(const char *tag, char id[37])
{
    char body[4096], path[128];
    snprintf(body, sizeof body,
             "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"24-26\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-09\", \"identified_region\": \"SE110\", "
             "\"person\": {\"identity\": {\"full_name\": \"%s01\", \"aliases\": [\"%s02 "
             "<script>alert(1)</script>\"], \"date_of_birth\": \"1990-04-05\", \"documents\": "
             "[{\"type\": \"passport\", \"number\": \"%s03\", \"country\": \"PH\"}]}, "
             "\"contact\": {\"phone\": \"%s04\", \"address\": \"%s05\", \"current_location\": "
             "\"%s06\"}, \"health\": {\"notes\": \"%s07\", \"vulnerabilities\": [\"%s08\"]}, "
             "\"narrative\": {\"statement\": \"%s09 & 'quoted' \\\"text\\\"\"}, "
             "\"exploitation_details\": {\"recruitment\": \"%s10\", \"means_of_control\": "
             "[\"%s11\"], \"places\": [\"%s12\"], \"dates\": [\"2026-05\"]}}}",
             tag, tag, tag, tag, tag, tag, tag, tag, tag, tag, tag, tag);
    struct h_resp r;
    h_api(&srv, worker_a, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "person case");
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/assessments", id);
    snprintf(body, sizeof body,
             "{\"kind\": \"risk\", \"outcome\": \"high\", \"details\": \"%s13\"}", tag);
    post_ok(worker_a, path, body, NULL);
    snprintf(path, sizeof path, "/v1/cases/%s/screenings", id);
    snprintf(body, sizeof body,
             "{\"observed\": [\"dr_nature_of_job\", \"dr_wages\"], \"note\": \"%s14\"}", tag);
    post_ok(worker_a, path, body, NULL);
    snprintf(path, sizeof path, "/v1/cases/%s/guardians", id);
    snprintf(body, sizeof body,
             "{\"name\": \"%s15\", \"appointed_by\": \"%s16\", \"appointed_on\": "
             "\"2026-10-01\"}",
             tag, tag);
    post_ok(worker_a, path, body, NULL);
    snprintf(path, sizeof path, "/v1/cases/%s/events", id);
    snprintf(body, sizeof body, "{\"kind\": \"note\", \"note\": \"%s17\"}", tag);
    post_ok(worker_a, path, body, NULL);
    snprintf(path, sizeof path, "/v1/cases/%s/consents", id);
    post_ok(worker_a, path, "{\"kind\": \"assistance\", \"given_at\": \"2026-10-02\"}", NULL);
}

/* The subject-access bundle holds every value of the person and nothing of another case; the
 * printable page escapes them and speaks the person's language; the export is logged. */
START_TEST(subject_access_bundle)
{
    char mine[40], other[40], id[37], other_id[37], path[256], body[1024], cid[37], rid[37];
    snprintf(mine, sizeof mine, "Mine%dX", getpid());
    snprintf(other, sizeof other, "Other%dY", getpid());
    person_case(mine, id);
    person_case(other, other_id);
    /* Handed over to B with a consent; B reads the identity. */
    snprintf(path, sizeof path, "/v1/cases/%s/consents", id);
    snprintf(body, sizeof body,
             "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\", \"categories\": "
             "[\"identity\"], \"recipients\": {\"agency_ids\": [\"%s\"]}}",
             agency_b);
    post_ok(worker_a, path, body, cid);
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", id);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"referral\", \"purpose\": \"accommodation\", "
             "\"categories\": [\"identity\"], \"handling_code\": \"H2\", \"legal_basis\": "
             "\"consent\", \"consent_id\": \"%s\"}",
             agency_b, cid);
    post_ok(worker_a, path, body, rid);
    snprintf(path, sizeof path, "/v1/referrals/%s/accept", rid);
    post_ok(worker_b, path, NULL, NULL);
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    struct h_resp r;
    h_api(&srv, worker_b, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the recipient reads");
    h_resp_free(&r);

    /* Only the owning agency's coordinator, with a reason. */
    snprintf(path, sizeof path, "/v1/cases/%s/subject-access", id);
    static const char reason[] = "{\"reason\": \"requested_by_person\", \"language\": \"sv\"}";
    post(coord_b, path, reason, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    post(worker_a, path, reason, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    post(auditor_se, path, reason, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    static const char *const bad[] = {"{}", "{\"reason\": \"curiosity\"}",
                                      "{\"reason\": \"other\", \"language\": \"de\"}"};
    for (size_t i = 0; i < 3; i++) {
        post(coord_a, path, bad[i], NULL, &r);
        h_assert_problem(&r, 400, "validation_failed");
        h_resp_free(&r);
    }
    long before = h_count("SELECT count(*) FROM access_log WHERE case_id = $1::uuid AND "
                          "purpose = 'subject_access'",
                          id);
    ck_assert_int_eq(before, 0);

    post(coord_a, path, reason, NULL, &r);
    h_expect(&r, 200, "bundle");
    for (int i = 1; i <= 17; i++) {
        char s[48];
        snprintf(s, sizeof s, "%s%02d", mine, i);
        ck_assert_msg(strstr(r.body, s) != NULL, "the bundle misses %s", s);
    }
    ck_assert_msg(strstr(r.body, other) == NULL, "the bundle holds another case's value");
    ck_assert_ptr_null(strstr(r.body, other_id));
    json_t *b = r.json;
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "case"), "id")), id);
    ck_assert_int_eq(json_array_size(json_object_get(b, "assessments")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(b, "screenings")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(b, "guardians")), 1);
    ck_assert_int_eq(json_array_size(json_object_get(b, "consents")), 2);
    /* The handover log: the offer to B and its acceptance, with dates. */
    char *handovers = json_dumps(json_object_get(b, "handovers"), 0);
    ck_assert_ptr_nonnull(strstr(handovers, agency_b));
    ck_assert_int_ge(json_array_size(json_object_get(b, "handovers")), 2);
    free(handovers);
    /* The access log: B's read, and this export itself. */
    char *log = json_dumps(json_object_get(b, "access_log"), 0);
    ck_assert_ptr_nonnull(strstr(log, agency_b));
    ck_assert_ptr_nonnull(strstr(log, "\"subject_access\""));
    free(log);
    h_resp_free(&r);

    /* The printable page: Swedish labels, the set's Swedish indicator names, every value
     * escaped, nothing that runs. */
    const char *html[] = {"Accept: text/html", NULL};
    post(coord_a, path, reason, html, &r);
    h_expect(&r, 200, "page");
    char type[96];
    ck_assert_ptr_nonnull(h_header(&r, "Content-Type", type, sizeof type));
    ck_assert_ptr_nonnull(strstr(type, "text/html"));
    ck_assert_ptr_nonnull(h_header(&r, "Content-Security-Policy", type, sizeof type));
    ck_assert_ptr_nonnull(strstr(r.body, "<html lang=\"sv\">"));
    ck_assert_ptr_nonnull(strstr(r.body, "Personuppgifter"));
    ck_assert_ptr_nonnull(strstr(r.body, "Identitet"));
    ck_assert_ptr_nonnull(strstr(r.body, "Vilseledd om arbetets art"));
    ck_assert_ptr_null(strstr(r.body, "<script>"));
    ck_assert_ptr_nonnull(strstr(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    ck_assert_ptr_nonnull(strstr(r.body, "&amp; &#39;quoted&#39; &quot;text&quot;"));
    for (int i = 1; i <= 17; i++) {
        char s[48];
        snprintf(s, sizeof s, "%s%02d", mine, i);
        ck_assert_msg(strstr(r.body, s) != NULL, "the page misses %s", s);
    }
    ck_assert_ptr_null(strstr(r.body, other));
    h_resp_free(&r);

    /* Both exports are in the access log, visible to auditors, and on the timeline. */
    snprintf(path, sizeof path, "/v1/access-log?case_id=%s&purpose=subject_access", id);
    json_t *l = items(auditor_se, path);
    ck_assert_int_ge(json_array_size(l), 2);
    json_decref(l);
    snprintf(path, sizeof path, "/v1/cases/%s/events?limit=100", id);
    h_api(&srv, coord_a, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "timeline");
    ck_assert_ptr_nonnull(strstr(r.body, "\"subject_access\""));
    h_resp_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("access_log");
    TCase *tc = tcase_create("access_log");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, scope_per_role);
    tcase_add_test(tc, filters_pages_and_exports);
    tcase_add_test(tc, subject_access_bundle);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
