/* GET /v1/access-log: reads across cases, as each role may see them (coordinators their
 * agency's cases, auditors their country, cross-border auditors all), filtered, in pages, and
 * exported as CSV and NDJSON; nothing personal in it. POST /v1/cases/{id}/subject-access: the
 * bundle of everything about the person, documents and their content included, and nothing of
 * another case, logged; a large document's content streams through trmd in bounded memory. */
#include "check_run.h"
#include "harness.h"

#include "trm/util.h"

#include <sodium.h>
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

/* Document content (a fixed phrase: tests/sentinels.txt has "Docu Sentinel"). */
static const char doc_text[] = "Docu Sentinel subject access copy\n";
static const char other_text[] = "Docu Sentinel of another case\n";

/* Uploads len bytes to case_id as worker A's (kind and type given; name as sent in
 * Trm-File-Name): the document's id. */
static void upload(const struct trmd *t, const char *case_id, const char *kind, const char *type,
                   const char *name, const void *content, size_t len, char did[37])
{
    char path[200], ct[96], fn[300];
    snprintf(path, sizeof path, "/v1/cases/%s/documents?kind=%s", case_id, kind);
    snprintf(ct, sizeof ct, "Content-Type: %s", type);
    snprintf(fn, sizeof fn, "Trm-File-Name: %s", name);
    const char *headers[] = {ct, fn, NULL};
    struct h_resp r;
    h_api_bytes(t, worker_a, "POST", path, content, len, headers, &r);
    h_expect(&r, 201, "upload");
    snprintf(did, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

/* A document's content in a bundle, decoded (malloc'd; *len bytes), or NULL. */
static uint8_t *content_of(json_t *doc, size_t *len)
{
    const char *b64 = json_string_value(json_object_get(doc, "content"));
    if (b64 == NULL)
        return NULL;
    size_t cap = strlen(b64) / 4 * 3 + 3;
    uint8_t *out = malloc(cap);
    if (out && sodium_base642bin(out, cap, b64, strlen(b64), NULL, len, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static long access_entries(const char *case_id, const char *categories)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM access_log WHERE case_id = $1::uuid AND purpose = "
             "'subject_access' AND categories = '%s'",
             categories);
    return h_count(sql, case_id);
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
    /* Documents: a text (an identity paper by default) and a PNG of two chunks and some
     * (health) on the person's case, one on the other case. */
    char text_id[37], png_id[37], other_doc[37], name[128];
    snprintf(name, sizeof name, "%s18.txt", mine);
    upload(&srv, id, "consent_form", "text/plain", name, doc_text, sizeof doc_text - 1, text_id);
    size_t png_len = 2 * 256 * 1024 + 777;
    uint8_t *png = malloc(png_len);
    randombytes_buf(png, png_len);
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    snprintf(name, sizeof name, "%s19%%20%%3Cb%%3Escan.png", mine);
    upload(&srv, id, "medical", "image/png", name, png, png_len, png_id);
    snprintf(name, sizeof name, "%s18.txt", other);
    upload(&srv, other_id, "consent_form", "text/plain", name, other_text, sizeof other_text - 1,
           other_doc);
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
    /* The documents, oldest first, with their names and their content, decoded as sent;
     * nothing of the other case's. */
    json_t *docs = json_object_get(b, "documents");
    ck_assert_int_eq(json_array_size(docs), 2);
    ck_assert_ptr_null(strstr(r.body, other_doc));
    json_t *text_doc = json_array_get(docs, 0), *png_doc = json_array_get(docs, 1);
    ck_assert_str_eq(json_string_value(json_object_get(text_doc, "id")), text_id);
    ck_assert_str_eq(json_string_value(json_object_get(png_doc, "id")), png_id);
    snprintf(name, sizeof name, "%s18.txt", mine);
    ck_assert_str_eq(json_string_value(json_object_get(text_doc, "file_name")), name);
    ck_assert_str_eq(json_string_value(json_object_get(text_doc, "category")), "identity");
    ck_assert_str_eq(json_string_value(json_object_get(png_doc, "category")), "health");
    ck_assert_str_eq(json_string_value(json_object_get(png_doc, "media_type")), "image/png");
    ck_assert_int_eq(json_integer_value(json_object_get(png_doc, "size")), (json_int_t)png_len);
    size_t len = 0;
    uint8_t *got = content_of(text_doc, &len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, sizeof doc_text - 1);
    ck_assert_mem_eq(got, doc_text, len);
    free(got);
    got = content_of(png_doc, &len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(len, png_len);
    ck_assert_msg(memcmp(got, png, len) == 0, "the PNG's bytes differ");
    free(got);
    ck_assert_ptr_null(json_object_get(png_doc, "sealed_key"));
    ck_assert_ptr_null(json_object_get(png_doc, "chunks"));
    char length[32];
    ck_assert_ptr_nonnull(h_header(&r, "Content-Length", length, sizeof length));
    ck_assert_uint_eq(strtoull(length, NULL, 10), r.body_len);
    h_resp_free(&r);
    /* Each content read is logged with its category, as GET .../content logs it. */
    ck_assert_int_eq(access_entries(id, "{identity}"), 1);
    ck_assert_int_eq(access_entries(id, "{health}"), 1);

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
    /* The documents listed, named in Swedish, escaped, without their content. */
    ck_assert_ptr_nonnull(strstr(r.body, "<h2>Dokument</h2>"));
    ck_assert_ptr_nonnull(strstr(r.body, "Samtyckesblankett (consent_form)"));
    ck_assert_ptr_nonnull(strstr(r.body, "Medicinskt intyg (medical)"));
    ck_assert_ptr_nonnull(strstr(r.body, "Hälsa (health)"));
    snprintf(name, sizeof name, "%s19 &lt;b&gt;scan.png", mine);
    ck_assert_ptr_nonnull(strstr(r.body, name));
    ck_assert_ptr_null(strstr(r.body, "<b>"));
    ck_assert_ptr_null(strstr(r.body, "Docu"));
    ck_assert_ptr_null(strstr(r.body, "RG9jdSBTZW50aW5lbC")); /* "Docu Sentinel" in base64 */
    h_resp_free(&r);
    /* The page read no content. */
    ck_assert_int_eq(access_entries(id, "{identity}"), 1);
    ck_assert_int_eq(access_entries(id, "{health}"), 1);
    free(png);

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

/* An erased case's bundle has no documents (they went with the key), and reads none. */
START_TEST(subject_access_erased_case)
{
    char id[37], did[37], path[128], name[64];
    create_and_read(worker_a, id);
    snprintf(name, sizeof name, "Gone%d.txt", getpid());
    upload(&srv, id, "consent_form", "text/plain", name, doc_text, sizeof doc_text - 1, did);
    snprintf(path, sizeof path, "/v1/cases/%s/personal-data", id);
    struct h_resp r;
    h_api(&srv, coord_a, "DELETE", path, "{\"reason\": \"requested_by_person\"}", NULL, &r);
    ck_assert_msg(r.status == 200 || r.status == 204, "erase: %ld %s", r.status, r.body);
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/subject-access", id);
    post(coord_a, path, "{\"reason\": \"requested_by_person\"}", NULL, &r);
    h_expect(&r, 200, "erased bundle");
    ck_assert(json_is_array(json_object_get(r.json, "documents")));
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "documents")), 0);
    ck_assert_ptr_null(strstr(r.body, name));
    h_resp_free(&r);
    ck_assert_int_eq(access_entries(id, "{identity}"), 0);
}
END_TEST

/* VmHWM of a process, in kB (its peak resident set since it started). */
static long peak_kb(pid_t pid)
{
    char file[64], line[256];
    snprintf(file, sizeof file, "/proc/%d/status", (int)pid);
    FILE *f = fopen(file, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

/* A PDF's bytes as curl sends them: its magic, then a pattern. */
static size_t pdf_gen(void *cls, unsigned long long off, char *buf, size_t n)
{
    (void)cls;
    static const char head[] = "%PDF-1.7\n";
    for (size_t i = 0; i < n; i++) {
        unsigned long long at = off + i;
        buf[i] = at < sizeof head - 1 ? head[at] : (char)('a' + at % 19);
    }
    return n;
}

/* A 30 MiB document in the bundle: its content comes back whole (its SHA-256 is the one
 * stored), while a trmd started afresh for the export keeps its peak resident memory far
 * below the document's size: the answer is streamed. */
START_TEST(subject_access_streams_large_document)
{
    const unsigned long long len = 30ULL * 1024 * 1024;
    /* Under AddressSanitizer (scripts/test) freed memory is kept aside in a quarantine of up
     * to 256 MiB before it is used again, so the resident set counts every chunk ever read:
     * without it, it counts what trmd holds, which is what is measured. */
    static char asan[512];
    const char *given = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%squarantine_size_mb=0", given ? given : "",
             given && *given ? ":" : "");
    const char *env[] = {"TRM_DOCUMENT_MAX_BYTES=40000000", "TRM_CASE_DOCUMENTS_MAX_BYTES=40000000",
                         asan, NULL};
    struct trmd big;
    h_trmd_start(&big, env);
    char id[37], path[200];
    create_and_read(worker_a, id);
    snprintf(path, sizeof path, "/v1/cases/%s/documents?kind=court", id);
    const char *headers[] = {"Content-Type: application/pdf", "Trm-File-Name: large.pdf", NULL};
    struct h_resp r;
    ck_assert(h_api_stream(&big, worker_a, "POST", path, len, pdf_gen, NULL, headers, &r));
    h_expect(&r, 201, "30 MiB upload");
    char sha[65];
    snprintf(sha, sizeof sha, "%s", h_str(&r, "sha256"));
    h_resp_free(&r);
    h_trmd_stop(&big);

    h_trmd_start(&big, env);
    long before = peak_kb(big.pid);
    snprintf(path, sizeof path, "/v1/cases/%s/subject-access", id);
    double t0 = trm_now_ms();
    h_api(&big, coord_a, "POST", path, "{\"reason\": \"requested_by_person\"}", NULL, &r);
    double ms = trm_now_ms() - t0;
    long peak = peak_kb(big.pid);
    h_expect(&r, 200, "bundle with a large document");
    json_t *doc = json_array_get(json_object_get(r.json, "documents"), 0);
    size_t got_len = 0;
    uint8_t *got = content_of(doc, &got_len);
    ck_assert_ptr_nonnull(got);
    ck_assert_uint_eq(got_len, len);
    uint8_t d[32];
    char hex[65];
    crypto_hash_sha256(d, got, got_len);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    ck_assert_str_eq(hex, sha);
    free(got);
    fprintf(stderr,
            "subject access: 30 MiB document, %zu bytes answered; trmd VmHWM %ld kB before, "
            "%ld kB after; %.0f ms\n",
            r.body_len, before, peak, ms);
    h_resp_free(&r);
    ck_assert_msg(peak > 0 && peak - before < 16 * 1024, "trmd's peak grew by %ld kB",
                  peak - before);
    ck_assert_int_eq(access_entries(id, "{exploitation_details}"), 1);
    h_trmd_stop(&big);
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("access_log");
    TCase *tc = tcase_create("access_log");
    tcase_set_timeout(tc, 240);
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, scope_per_role);
    tcase_add_test(tc, filters_pages_and_exports);
    tcase_add_test(tc, subject_access_bundle);
    tcase_add_test(tc, subject_access_erased_case);
    tcase_add_test(tc, subject_access_streams_large_document);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
