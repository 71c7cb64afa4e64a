/* Case records: create, read, change with concurrency control, list, search, erase;
 * who sees what; gapless references; key rotation under load; and no personal value in
 * the database dump or the log. */
#include "check_run.h"
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct trmd srv;
static char admin[128], agency_a[37], agency_b[37];
static char worker_a[128], coord_a[128], worker_b[128], auditor_a[128];
static char sentinel[24], worker_a_id[37];

static void setup(void)
{
    char user[37];
    h_trmd_start(&srv, NULL);
    h_admin(admin, "SE");
    h_agency(&srv, admin, "SE", "social_services", agency_a);
    h_agency(&srv, admin, "SE", "ngo", agency_b);
    h_user(&srv, admin, agency_a, "caseworker", false, worker_a_id, worker_a);
    h_user(&srv, admin, agency_a, "coordinator", false, user, coord_a);
    h_user(&srv, admin, agency_b, "caseworker", false, user, worker_b);
    h_user(&srv, admin, agency_a, "auditor", false, user, auditor_a);
    snprintf(sentinel, sizeof sentinel, "Zq%dXv", getpid());
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

/* A case body whose personal values all carry the sentinel. */
static void case_body(char *out, size_t cap, const char *name, const char *dob, const char *doc)
{
    snprintf(out, cap,
             "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-10\", \"person\": {"
             "\"identity\": {\"full_name\": \"%s\", \"aliases\": [\"Alias%s\"], "
             "\"date_of_birth\": \"%s\", \"documents\": [{\"type\": \"passport\", "
             "\"number\": \"%s\", \"country\": \"PH\"}]}, "
             "\"contact\": {\"phone\": \"+46 70 %s\", \"address\": \"Shelter street %s\", "
             "\"current_location\": \"Room %s\"}, "
             "\"health\": {\"notes\": \"Notes %s\", \"vulnerabilities\": [\"V%s\"]}, "
             "\"narrative\": {\"statement\": \"Statement %s\"}, "
             "\"exploitation_details\": {\"recruitment\": \"Recruited %s\", "
             "\"means_of_control\": [\"Debt %s\"], \"places\": [\"Factory %s\"], "
             "\"dates\": [\"2026-05\"]}}}",
             name, sentinel, dob, doc, sentinel, sentinel, sentinel, sentinel, sentinel, sentinel,
             sentinel, sentinel, sentinel);
}

static void create(const char *token, const char *name, char id[37], char ref[24])
{
    char body[4096], docnum[64];
    snprintf(docnum, sizeof docnum, "P%s%d", sentinel, rand() % 100000);
    case_body(body, sizeof body, name, "1999-03-17", docnum);
    struct h_resp r;
    h_api(&srv, token, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create case");
    snprintf(id, 37, "%s", h_str(&r, "id"));
    if (ref)
        snprintf(ref, 24, "%s", h_str(&r, "reference"));
    h_resp_free(&r);
}

/* The first problem's pointer of a 400 answer. */
static const char *first_pointer(const struct h_resp *r)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(r->json, "errors"), 0), "pointer"));
}

static void expect_field_problem(struct h_resp *r, const char *pointer, const char *what)
{
    h_assert_problem(r, 400, "validation_failed");
    ck_assert_msg(first_pointer(r) && strcmp(first_pointer(r), pointer) == 0, "%s: %s", what,
                  r->body);
    h_resp_free(r);
}

/* identified_region and economic_sector: checked against config/codes on create and change,
 * kept in clear, shown in the case, removed with null. */
START_TEST(region_and_sector)
{
    static const char base[] =
        "{\"country\": \"%s\", \"sex\": \"female\", \"age_band\": \"21-23\", "
        "\"citizenship\": \"PH\", \"exploitation_forms\": [\"%s\"], "
        "\"identified_month\": \"2026-10\"%s}";
    static const struct {
        const char *country, *form, *extra, *pointer;
    } bad[] = {
        {"SE", "labour", ", \"identified_region\": \"SE999\"", "/identified_region"},
        {"SE", "labour", ", \"identified_region\": \"DK011\"", "/identified_region"},
        {"SE", "labour", ", \"identified_region\": \"SE11\"", "/identified_region"},
        {"SE", "labour", ", \"identified_region\": \"se110\"", "/identified_region"},
        {"TR", "labour", ", \"identified_region\": \"TR100\"", "/identified_region"},
        {"DE", "labour", ", \"identified_region\": \"NO081\"", "/identified_region"},
        {"DE", "labour", ", \"identified_region\": \"DEG04\"", "/identified_region"},
        {"GR", "labour", ", \"identified_region\": \"GR301\"", "/identified_region"},
        {"SE", "labour", ", \"identified_region\": 110", "/identified_region"},
        {"SE", "labour", ", \"economic_sector\": \"V\"", "/economic_sector"},
        {"SE", "labour", ", \"economic_sector\": \"AB\"", "/economic_sector"},
        {"SE", "sexual", ", \"economic_sector\": \"A\"", "/economic_sector"},
    };
    char body[1024], path[128], etag[32];
    struct h_resp r;
    static const char mine[] = "SELECT count(*) FROM cases WHERE owner_agency_id = $1::uuid";
    long before = h_count(mine, agency_a);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body, base, bad[i].country, bad[i].form, bad[i].extra);
        h_api(&srv, worker_a, "POST", "/v1/cases", body, NULL, &r);
        expect_field_problem(&r, bad[i].pointer, bad[i].extra);
    }
    ck_assert_int_eq(h_count(mine, agency_a), before);

    snprintf(body, sizeof body, base, "SE", "labour",
             ", \"identified_region\": \"SE232\", \"economic_sector\": \"A\"");
    h_api(&srv, worker_a, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create with a region and a sector");
    ck_assert_str_eq(h_str(&r, "identified_region"), "SE232");
    ck_assert_str_eq(h_str(&r, "economic_sector"), "A");
    char id[37];
    snprintf(id, sizeof id, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM cases WHERE id = $1::uuid AND "
                             "identified_region = 'SE232' AND economic_sector = 'A'",
                             id),
                     1);
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    h_api(&srv, worker_a, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "read");
    ck_assert_str_eq(h_str(&r, "identified_region"), "SE232");
    h_header(&r, "ETag", etag, sizeof etag);
    h_resp_free(&r);

    /* Every EU and EFTA country's NUTS 2024 level 3 regions are listed (Greece's under GR). */
    static const char *const nuts3[][2] = {{"DE", "DE111"}, {"FR", "FRK26"}, {"PL", "PL911"},
                                           {"NO", "NO081"}, {"CH", "CH040"}, {"GR", "EL301"}};
    for (size_t i = 0; i < sizeof nuts3 / sizeof nuts3[0]; i++) {
        char extra[64];
        snprintf(extra, sizeof extra, ", \"identified_region\": \"%s\"", nuts3[i][1]);
        snprintf(body, sizeof body, base, nuts3[i][0], "sexual", extra);
        h_api(&srv, worker_a, "POST", "/v1/cases", body, NULL, &r);
        h_expect(&r, 201, nuts3[i][1]);
        ck_assert_str_eq(h_str(&r, "identified_region"), nuts3[i][1]);
        h_resp_free(&r);
    }

    /* A change: the region is one of the case's country (SE), the sector stays with labour. */
    char if_match[64];
    snprintf(if_match, sizeof if_match, "If-Match: %s", etag);
    const char *hdr[] = {if_match, NULL};
    static const struct {
        const char *body, *pointer;
    } bad_patch[] = {
        {"{\"identified_region\": \"PH-00\"}", "/identified_region"},
        {"{\"identified_region\": \"SE000\"}", "/identified_region"},
        {"{\"economic_sector\": \"Z\"}", "/economic_sector"},
        {"{\"exploitation_forms\": [\"sexual\"]}", "/economic_sector"},
        {"{\"exploitation_forms\": [\"sexual\"], \"economic_sector\": \"C\"}", "/economic_sector"},
    };
    for (size_t i = 0; i < sizeof bad_patch / sizeof bad_patch[0]; i++) {
        h_api(&srv, worker_a, "PATCH", path, bad_patch[i].body, hdr, &r);
        expect_field_problem(&r, bad_patch[i].pointer, bad_patch[i].body);
    }
    h_api(&srv, worker_a, "PATCH", path,
          "{\"identified_region\": \"SE110\", \"economic_sector\": \"F\"}", hdr, &r);
    h_expect(&r, 200, "change region and sector");
    ck_assert_str_eq(h_str(&r, "identified_region"), "SE110");
    ck_assert_str_eq(h_str(&r, "economic_sector"), "F");
    h_header(&r, "ETag", etag, sizeof etag);
    h_resp_free(&r);
    snprintf(if_match, sizeof if_match, "If-Match: %s", etag);
    h_api(&srv, worker_a, "PATCH", path,
          "{\"exploitation_forms\": [\"sexual\"], \"economic_sector\": null}", hdr, &r);
    h_expect(&r, 200, "sector removed with labour");
    ck_assert(json_is_null(json_object_get(r.json, "economic_sector")));
    ck_assert_str_eq(h_str(&r, "identified_region"), "SE110");
    h_header(&r, "ETag", etag, sizeof etag);
    h_resp_free(&r);
    snprintf(if_match, sizeof if_match, "If-Match: %s", etag);
    h_api(&srv, worker_a, "PATCH", path, "{\"identified_region\": null}", hdr, &r);
    h_expect(&r, 200, "region removed");
    ck_assert(json_is_null(json_object_get(r.json, "identified_region")));
    h_resp_free(&r);

    /* trmctl seed names trm_case_create's first fifteen arguments: region and sector are
     * optional there too. */
    char args[256], out[256];
    long seeded = h_count(mine, agency_a);
    snprintf(args, sizeof args,
             "seed cases --count 2 --agency %s --user %s --country SE --first %d", agency_a,
             worker_a_id, 900000 + getpid() % 90000);
    ck_assert_msg(h_trmctl(args, out, sizeof out) == 0, "%s", out);
    ck_assert_int_eq(h_count(mine, agency_a), seeded + 2);

    /* Agency kind labour_inspectorate; its old word is still accepted, stored as the new. */
    snprintf(body, sizeof body,
             "{\"name\": \"Labour inspectorate %d\", \"country\": \"SE\", "
             "\"kind\": \"labour_inspection\"}",
             (int)getpid());
    h_api(&srv, admin, "POST", "/v1/agencies", body, NULL, &r);
    h_expect(&r, 201, "agency of the old kind word");
    ck_assert_str_eq(h_str(&r, "kind"), "labour_inspectorate");
    h_resp_free(&r);
    h_api(&srv, admin, "GET", "/v1/agencies?country=SE&kind=labour_inspection", NULL, NULL, &r);
    h_expect(&r, 200, "agencies of the old kind word");
    ck_assert_int_ge(json_array_size(json_object_get(r.json, "items")), 1);
    h_resp_free(&r);
}
END_TEST

START_TEST(create_and_read)
{
    char body[4096], name[128];
    snprintf(name, sizeof name, "Åsa  Lindqvist %s", sentinel);
    case_body(body, sizeof body, name, "1999-03-17", "PX1");
    struct h_resp r;
    char buf[256];
    h_api(&srv, worker_a, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create");
    char id[37], location[128];
    snprintf(id, sizeof id, "%s", h_str(&r, "id"));
    snprintf(location, sizeof location, "/v1/cases/%s", id);
    ck_assert_str_eq(h_header(&r, "Location", buf, sizeof buf), location);
    ck_assert_str_eq(h_header(&r, "ETag", buf, sizeof buf), "\"1\"");
    const char *ref = h_str(&r, "reference");
    ck_assert_msg(strlen(ref) == 14 && strncmp(ref, "SE-20", 5) == 0, "reference %s", ref);
    ck_assert_str_eq(h_str(&r, "owner_agency_id"), agency_a);
    h_resp_free(&r);

    long logged = h_count("SELECT count(*) FROM access_log WHERE case_id = $1", id);
    h_api(&srv, worker_a, "GET", location, NULL, NULL, &r);
    h_expect(&r, 200, "read");
    json_t *person = json_object_get(r.json, "person");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(person, "identity"), "full_name")), name);
    ck_assert_int_eq(json_object_size(person), 5);
    ck_assert_str_eq(h_str(&r, "citizenship"), "PH");
    ck_assert_str_eq(
        json_string_value(json_array_get(json_object_get(r.json, "exploitation_forms"), 0)),
        "labour");
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM access_log WHERE case_id = $1", id), logged + 1);
    ck_assert_int_eq(h_count("SELECT count(*) FROM access_log WHERE case_id = $1 AND "
                             "cardinality(categories) = 5 AND purpose = 'case_view'",
                             id),
                     1);

    /* The summary alone opens nothing: no person, no access-log entry. */
    char summary_path[160], etag[32];
    snprintf(summary_path, sizeof summary_path, "%s/summary", location);
    h_api(&srv, worker_a, "GET", summary_path, NULL, NULL, &r);
    h_expect(&r, 200, "summary");
    ck_assert_str_eq(h_str(&r, "id"), id);
    ck_assert_ptr_nonnull(h_str(&r, "reference"));
    ck_assert_ptr_null(json_object_get(r.json, "person"));
    ck_assert_ptr_nonnull(json_object_get(r.json, "tracks"));
    ck_assert_ptr_nonnull(h_header(&r, "ETag", etag, sizeof etag));
    ck_assert_str_eq(etag, "\"1\"");
    ck_assert_ptr_null(strstr(r.body, sentinel));
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM access_log WHERE case_id = $1", id), logged + 1);
    h_api(&srv, worker_b, "GET", summary_path, NULL, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);

    /* Another agency, an auditor and an admin cannot read it. */
    h_api(&srv, worker_b, "GET", location, NULL, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    h_api(&srv, auditor_a, "GET", location, NULL, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    h_api(&srv, admin, "GET", location, NULL, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    h_api(&srv, worker_a, "GET", "/v1/cases/00000000-0000-4000-8000-000000000000", NULL, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
}
END_TEST

/* Round trips to PostgreSQL per request (counted by trmd, logged when it stops): a read, a
 * list and a create with an Idempotency-Key are one pipeline each (BEGIN, context, the
 * re-check of the remembered token, the key, the statement, COMMIT). Before the pipeline they
 * were four or more, then two with the token lookup (five for the keyed create). Connects,
 * the token's first lookup and one maintenance round are the slack. */
START_TEST(one_round_trip_per_read)
{
    char id[37], path[96];
    create(worker_a, "Round trips", id, NULL);
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    const char *env[] = {"TRM_MAINTENANCE_INTERVAL_MS=600000", NULL};
    struct trmd quiet;
    h_trmd_start(&quiet, env);
    struct h_resp r;
    for (int i = 0; i < 30; i++) {
        h_api(&quiet, worker_a, "GET", path, NULL, NULL, &r);
        h_expect(&r, 200, "read");
        h_resp_free(&r);
        h_api(&quiet, worker_a, "GET", "/v1/cases?limit=50", NULL, NULL, &r);
        h_expect(&r, 200, "list");
        h_resp_free(&r);
    }
    for (int i = 0; i < 10; i++) {
        char body[4096], key[96];
        case_body(body, sizeof body, "Keyed Round Trip", "2000-01-01", "RT1");
        snprintf(key, sizeof key, "Idempotency-Key: rt-%d-%d", getpid(), i);
        const char *hdr[] = {key, NULL};
        h_api(&quiet, worker_a, "POST", "/v1/cases", body, hdr, &r);
        h_expect(&r, 201, "keyed create");
        h_resp_free(&r);
    }
    long requests = 0, round_trips = 0;
    h_trmd_stop_counts(&quiet, &requests, &round_trips);
    ck_assert_int_ge(requests, 70);
    ck_assert_msg(round_trips <= requests + 16, "%ld round trips for %ld requests", round_trips,
                  requests);
}
END_TEST

START_TEST(invalid_cases_change_nothing)
{
    long before = h_count("SELECT count(*) FROM cases WHERE owner_agency_id = $1", agency_a);
    static const char *const bad[] = {
        "{}",
        "{\"country\": \"SE\", \"sex\": \"woman\", \"age_band\": \"21-23\", \"citizenship\": "
        "\"PH\", \"exploitation_forms\": [\"labour\"], \"identified_month\": \"2026-10\"}",
        "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", \"citizenship\": "
        "\"PHL\", \"exploitation_forms\": [\"labour\", \"labour\"], \"identified_month\": "
        "\"2026-13\", \"person\": {\"identity\": {\"full_name\": 5, \"colour\": \"x\"}}}",
        "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", \"citizenship\": "
        "\"PH\", \"exploitation_forms\": [], \"identified_month\": \"2026-10\"}",
        "{\"country\": \"XX\", \"sex\": \"female\", \"age_band\": \"21-23\", \"citizenship\": "
        "\"PH\", \"exploitation_forms\": [\"labour\"], \"identified_month\": \"2026-10\"}",
        "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", \"citizenship\": "
        "\"PH\", \"exploitation_forms\": [\"labour\"], \"identified_month\": \"2099-10\"}",
        "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", \"citizenship\": "
        "\"PH\", \"exploitation_forms\": [\"labour\"], \"identified_month\": \"2026-10\", "
        "\"person\": {\"identity\": {\"date_of_birth\": \"1999-02-30\"}}}",
        "[1, 2]",
        "{\"country\": \"SE\"",
    };
    struct h_resp r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h_api(&srv, worker_a, "POST", "/v1/cases", bad[i], NULL, &r);
        ck_assert_msg(r.status == 400, "case %zu: %ld %s", i, r.status, r.body);
        ck_assert_ptr_null(strstr(r.body, "PHL"));
        h_resp_free(&r);
    }
    h_api(&srv, worker_a, "POST", "/v1/cases", bad[2], NULL, &r);
    ck_assert_int_ge(json_array_size(json_object_get(r.json, "errors")), 4);
    h_resp_free(&r);
    /* Too long and too many. */
    char *big = malloc(30000);
    char *filler = malloc(21000);
    memset(filler, 'a', 20500);
    filler[20500] = '\0';
    snprintf(big, 30000,
             "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-10\", \"person\": {\"narrative\": {\"statement\": "
             "\"%s\"}}}",
             filler);
    h_api(&srv, worker_a, "POST", "/v1/cases", big, NULL, &r);
    h_assert_problem(&r, 400, "validation_failed");
    h_resp_free(&r);
    free(big);
    free(filler);
    ck_assert_int_eq(h_count("SELECT count(*) FROM cases WHERE owner_agency_id = $1", agency_a),
                     before);
}
END_TEST

/* Whether an error list has a problem at this pointer. */
static bool has_pointer(json_t *errors, const char *pointer)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "pointer")) ?: "", pointer) == 0)
            return true;
    }
    return false;
}

/* person.contact.communication: languages as BCP 47 tags, refused with a pointer to the
 * tag (never quoting it); sealed like the rest of contact; a merge patch changes it member
 * by member (an array whole, null removes). */
START_TEST(communication_is_checked_and_sealed)
{
    char body[2048], id[37], path[128];
    const char *bad[][2] = {
        {"\"languages\": [\"tl\", \"Tagalog\"]", "/person/contact/communication/languages/1"},
        {"\"languages\": [\"en-us\"]", "/person/contact/communication/languages/0"},
        {"\"languages\": [\"tl\", \"tl\"]", "/person/contact/communication/languages/1"},
        {"\"languages\": \"tl\"", "/person/contact/communication/languages"},
        {"\"interpreter_needed\": \"yes\"", "/person/contact/communication/interpreter_needed"},
        {"\"preferred_channel\": \"pigeon\"", "/person/contact/communication/preferred_channel"},
        {"\"safe_times\": \"\"", "/person/contact/communication/safe_times"},
        {"\"dialect\": \"Bisaya\"", "/person/contact/communication/dialect"},
    };
    long before = h_count("SELECT count(*) FROM cases WHERE owner_agency_id = $1", agency_a);
    struct h_resp r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(body, sizeof body,
                 "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
                 "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
                 "\"identified_month\": \"2026-10\", \"person\": {\"contact\": "
                 "{\"communication\": {%s}}}}",
                 bad[i][0]);
        h_api(&srv, worker_a, "POST", "/v1/cases", body, NULL, &r);
        h_assert_problem(&r, 400, "validation_failed");
        ck_assert_msg(has_pointer(json_object_get(r.json, "errors"), bad[i][1]), "%s: %s",
                      bad[i][0], r.body);
        ck_assert_ptr_null(strstr(r.body, "Tagalog"));
        ck_assert_ptr_null(strstr(r.body, "Bisaya"));
        h_resp_free(&r);
    }
    ck_assert_int_eq(h_count("SELECT count(*) FROM cases WHERE owner_agency_id = $1", agency_a),
                     before);

    snprintf(body, sizeof body,
             "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-10\", \"person\": {\"contact\": "
             "{\"phone\": \"+46 70 %s\", \"communication\": {\"languages\": [\"fil\", \"en\", "
             "\"es-419\"], \"interpreter_needed\": true, \"preferred_channel\": "
             "\"through_caseworker\", \"safe_times\": \"Mornings %s\"}}}}",
             sentinel, sentinel);
    h_api(&srv, worker_a, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create with communication");
    snprintf(id, sizeof id, "%s", h_str(&r, "id"));
    json_t *comm = json_object_get(json_object_get(json_object_get(r.json, "person"), "contact"),
                                   "communication");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(comm, "languages"), 2)),
                     "es-419");
    h_resp_free(&r);
    /* Sealed, as a field of contact: no plaintext of it in the row. */
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_personal WHERE case_id = $1 AND "
                             "category = 'contact' AND field = 'communication' AND "
                             "position(convert_to('through_caseworker', 'UTF8') in sealed) = 0",
                             id),
                     1);
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    const char *v1[] = {"If-Match: \"1\"", NULL};
    h_api(&srv, worker_a, "PATCH", path,
          "{\"person\": {\"contact\": {\"communication\": {\"languages\": [\"pt-br\"]}}}}", v1, &r);
    h_assert_problem(&r, 400, "validation_failed");
    ck_assert(has_pointer(json_object_get(r.json, "errors"),
                          "/person/contact/communication/languages/0"));
    h_resp_free(&r);
    h_api(&srv, worker_a, "PATCH", path,
          "{\"person\": {\"contact\": {\"communication\": {\"languages\": [\"pt-BR\"], "
          "\"interpreter_needed\": false, \"safe_times\": null}}}}",
          v1, &r);
    h_expect(&r, 200, "patch communication");
    comm = json_object_get(json_object_get(json_object_get(r.json, "person"), "contact"),
                           "communication");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(comm, "languages"), 0)),
                     "pt-BR");
    ck_assert(json_is_false(json_object_get(comm, "interpreter_needed")));
    ck_assert_ptr_null(json_object_get(comm, "safe_times"));
    ck_assert_str_eq(json_string_value(json_object_get(comm, "preferred_channel")),
                     "through_caseworker");
    ck_assert_int_eq(json_array_size(json_object_get(comm, "languages")), 1);
    h_resp_free(&r);
}
END_TEST

START_TEST(patch_with_if_match)
{
    char id[37], path[128], name[64];
    snprintf(name, sizeof name, "Maria Santos %s", sentinel);
    create(worker_a, name, id, NULL);
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    struct h_resp r;
    char buf[64];
    const char *patch = "{\"age_band\": \"24-26\", \"person\": {\"contact\": {\"phone\": null, "
                        "\"current_location\": \"Moved\"}}}";
    h_api(&srv, worker_a, "PATCH", path, patch, NULL, &r);
    h_assert_problem(&r, 428, "precondition_required");
    h_resp_free(&r);
    const char *stale[] = {"If-Match: \"7\"", NULL};
    h_api(&srv, worker_a, "PATCH", path, patch, stale, &r);
    h_assert_problem(&r, 412, "precondition_failed");
    h_resp_free(&r);
    const char *good[] = {"If-Match: \"1\"", NULL};
    h_api(&srv, worker_a, "PATCH", path, patch, good, &r);
    h_expect(&r, 200, "patch");
    ck_assert_str_eq(h_header(&r, "ETag", buf, sizeof buf), "\"2\"");
    ck_assert_str_eq(h_str(&r, "age_band"), "24-26");
    json_t *contact = json_object_get(json_object_get(r.json, "person"), "contact");
    ck_assert_ptr_null(json_object_get(contact, "phone"));
    ck_assert_str_eq(json_string_value(json_object_get(contact, "current_location")), "Moved");
    h_resp_free(&r);
    /* The same If-Match again is now stale. */
    h_api(&srv, worker_a, "PATCH", path, patch, good, &r);
    h_assert_problem(&r, 412, "precondition_failed");
    h_resp_free(&r);
    /* The read shows the change; the timeline names the fields, never their values. */
    h_api(&srv, worker_a, "GET", path, NULL, NULL, &r);
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_object_get(r.json, "person"), "contact"), "current_location")),
        "Moved");
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_events WHERE case_id = $1 AND kind = "
                             "'fields_changed' AND details::text LIKE '%contact.phone%' AND "
                             "details::text NOT LIKE '%Moved%'",
                             id),
                     1);
    /* Other agencies cannot change it; invalid patches are refused. */
    const char *v2[] = {"If-Match: \"2\"", NULL};
    h_api(&srv, worker_b, "PATCH", path, "{\"sex\": \"male\"}", v2, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    h_api(&srv, worker_a, "PATCH", path, "{\"country\": \"PH\"}", v2, &r);
    h_assert_problem(&r, 400, "validation_failed");
    h_resp_free(&r);
    h_api(&srv, worker_a, "PATCH", path, "{\"person\": {\"identity\": {\"full_name\": \"\"}}}", v2,
          &r);
    h_assert_problem(&r, 400, "validation_failed");
    h_resp_free(&r);
}
END_TEST

START_TEST(list_pages_newest_first)
{
    char ids[5][37];
    for (int i = 0; i < 5; i++)
        create(coord_a, "Page Person", ids[i], NULL);
    char path[1024];
    /* One of them erased: its summary has the time of erasure. */
    snprintf(path, sizeof path, "/v1/cases/%s/personal-data", ids[2]);
    struct h_resp erased;
    h_api(&srv, coord_a, "DELETE", path, "{\"reason\": \"retention\"}", NULL, &erased);
    h_expect(&erased, 200, "erase");
    h_resp_free(&erased);
    snprintf(path, sizeof path, "/v1/cases?limit=2&agency_id=%s", agency_a);
    int seen = 0, found = 0;
    char last_created[64] = "9999";
    for (int page = 0; page < 500; page++) {
        struct h_resp r;
        h_api(&srv, worker_a, "GET", path, NULL, NULL, &r);
        h_expect(&r, 200, "list");
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(r.json, "items"), i, it)
        {
            const char *created = json_string_value(json_object_get(it, "created_at"));
            ck_assert_int_le(strcmp(created, last_created), 0);
            snprintf(last_created, sizeof last_created, "%s", created);
            ck_assert_ptr_null(json_object_get(it, "person"));
            for (int k = 0; k < 5; k++) {
                if (strcmp(ids[k], json_string_value(json_object_get(it, "id"))) != 0)
                    continue;
                found++;
                /* A list item, which the database writes, is the summary trmd writes. */
                char one[128];
                snprintf(one, sizeof one, "/v1/cases/%s/summary", ids[k]);
                struct h_resp s1;
                h_api(&srv, worker_a, "GET", one, NULL, NULL, &s1);
                h_expect(&s1, 200, "summary");
                char *a = json_dumps(it, JSON_SORT_KEYS), *b = json_dumps(s1.json, JSON_SORT_KEYS);
                ck_assert_msg(json_equal(it, s1.json), "list item %s\nsummary   %s", a, b);
                free(a);
                free(b);
                h_resp_free(&s1);
            }
            seen++;
        }
        const char *next = h_str(&r, "next_cursor");
        if (next == NULL) {
            h_resp_free(&r);
            break;
        }
        snprintf(path, sizeof path, "/v1/cases?limit=2&agency_id=%s&cursor=%s", agency_a, next);
        h_resp_free(&r);
    }
    ck_assert_int_eq(found, 5);
    ck_assert_int_ge(seen, 5);
    /* Another agency sees none of them. */
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases?agency_id=%s", agency_a);
    h_api(&srv, worker_b, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "other agency list");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 0);
    h_resp_free(&r);
    h_api(&srv, worker_a, "GET", "/v1/cases?from=2026-99-01", NULL, NULL, &r);
    h_assert_problem(&r, 400, "invalid_parameter");
    h_resp_free(&r);
}
END_TEST

START_TEST(search_by_blind_index)
{
    char id[37], name[128], body[512];
    snprintf(name, sizeof name, "Joy  DELA Cruz %s", sentinel);
    create(worker_a, name, id, NULL);
    struct h_resp r;
    snprintf(body, sizeof body, "{\"full_name\": \"joy dela   cruz %s\", \"birth_year\": 1999}",
             sentinel);
    h_api(&srv, worker_a, "POST", "/v1/cases/search", body, NULL, &r);
    h_expect(&r, 200, "search");
    json_t *items = json_object_get(r.json, "items");
    bool found = false;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, "id")), id) == 0) {
            found = true;
            ck_assert_int_eq(json_integer_value(json_object_get(it, "matched_indexes")), 2);
            ck_assert_ptr_null(json_object_get(it, "person"));
        }
    }
    ck_assert(found);
    h_resp_free(&r);
    /* Out of scope: the other agency does not find it. */
    h_api(&srv, worker_b, "POST", "/v1/cases/search", body, NULL, &r);
    h_expect(&r, 200, "search b");
    json_array_foreach(json_object_get(r.json, "items"), i, it)
        ck_assert_str_ne(json_string_value(json_object_get(it, "id")), id);
    h_resp_free(&r);
    h_api(&srv, worker_a, "POST", "/v1/cases/search", "{}", NULL, &r);
    h_assert_problem(&r, 400, "validation_failed");
    h_resp_free(&r);
    h_api(&srv, worker_a, "POST", "/v1/cases/search", "{\"birth_year\": 1999}", NULL, &r);
    h_assert_problem(&r, 400, "validation_failed");
    h_resp_free(&r);
}
END_TEST

START_TEST(erase_personal_data)
{
    char id[37], path[160], name[64];
    snprintf(name, sizeof name, "Erase Me %s", sentinel);
    create(worker_a, name, id, NULL);
    snprintf(path, sizeof path, "/v1/cases/%s/personal-data", id);
    struct h_resp r;
    h_api(&srv, worker_a, "DELETE", path, "{\"reason\": \"requested_by_person\"}", NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    h_api(&srv, coord_a, "DELETE", path, "{}", NULL, &r);
    h_assert_problem(&r, 400, "validation_failed");
    h_resp_free(&r);
    h_api(&srv, coord_a, "DELETE", path, "{\"reason\": \"requested_by_person\"}", NULL, &r);
    h_expect(&r, 200, "erase");
    ck_assert_ptr_nonnull(h_str(&r, "personal_data_erased_at"));
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_keys WHERE case_id = $1", id), 0);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_personal WHERE case_id = $1", id), 0);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_blind_index WHERE case_id = $1", id), 0);
    ck_assert_int_eq(h_count("SELECT count(*) FROM cases WHERE id = $1", id), 1);
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    h_api(&srv, worker_a, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "read erased");
    ck_assert_int_eq(json_object_size(json_object_get(r.json, "person")), 0);
    char match[48];
    snprintf(match, sizeof match, "If-Match: \"%lld\"",
             (long long)json_integer_value(json_object_get(r.json, "version")));
    h_resp_free(&r);
    /* Nothing personal can be written any more (its own code), the statistics can. */
    const char *hdr[] = {match, NULL};
    h_api(&srv, worker_a, "PATCH", path,
          "{\"person\": {\"contact\": {\"phone\": \"+46 70 000 00 00\"}}}", hdr, &r);
    h_assert_problem(&r, 409, "case_erased");
    h_resp_free(&r);
    h_api(&srv, worker_a, "PATCH", path, "{\"sex\": \"unknown\"}", hdr, &r);
    h_expect(&r, 200, "change an erased case's statistics");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/personal-data", id);
    h_api(&srv, coord_a, "DELETE", path, "{\"reason\": \"other\"}", NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
}
END_TEST

START_TEST(idempotent_creation)
{
    char body[4096], key[96];
    case_body(body, sizeof body, "Idem Person", "2000-01-01", "IDEM1");
    snprintf(key, sizeof key, "Idempotency-Key: case-%d", getpid());
    const char *hdr[] = {key, NULL};
    struct h_resp a, b, c;
    h_api(&srv, worker_a, "POST", "/v1/cases", body, hdr, &a);
    h_expect(&a, 201, "first");
    h_api(&srv, worker_a, "POST", "/v1/cases", body, hdr, &b);
    h_expect(&b, 201, "replay");
    ck_assert_str_eq(h_str(&a, "id"), h_str(&b, "id"));
    ck_assert_str_eq(h_str(&a, "reference"), h_str(&b, "reference"));
    ck_assert_int_eq(h_count("SELECT count(*) FROM cases WHERE id = $1", h_str(&a, "id")), 1);
    case_body(body, sizeof body, "Other Person", "2000-01-01", "IDEM1");
    h_api(&srv, worker_a, "POST", "/v1/cases", body, hdr, &c);
    h_assert_problem(&c, 422, "idempotency_mismatch");
    h_resp_free(&a);
    h_resp_free(&b);
    h_resp_free(&c);
}
END_TEST

struct creator {
    int n;
    int ok;
    const char *key; /* an Idempotency-Key header line, or NULL */
    char id[37];     /* the id the last 201 named */
};

static void *create_same_key(void *arg)
{
    struct creator *c = arg;
    char body[4096];
    case_body(body, sizeof body, "Same Key Person", "2002-03-04", "SAMEKEY");
    const char *hdr[] = {c->key, NULL};
    struct h_resp r;
    h_api(&srv, worker_a, "POST", "/v1/cases", body, hdr, &r);
    c->ok += r.status == 201;
    if (r.status == 201)
        snprintf(c->id, sizeof c->id, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    return NULL;
}

/* Six clients send the same key at once: one case, the same answer for all. */
START_TEST(idempotent_creation_concurrent)
{
    char key[96];
    snprintf(key, sizeof key, "Idempotency-Key: same-%d", getpid());
    pthread_t th[6];
    struct creator cr[6];
    for (int i = 0; i < 6; i++) {
        cr[i] = (struct creator){.key = key};
        pthread_create(&th[i], NULL, create_same_key, &cr[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(cr[i].ok, 1);
        ck_assert_str_eq(cr[i].id, cr[0].id);
    }
    ck_assert_int_eq(
        h_count("SELECT count(*) FROM idempotency_keys WHERE resource_id = $1", cr[0].id), 1);
    ck_assert_int_eq(h_count("SELECT count(*) FROM cases WHERE id = $1", cr[0].id), 1);
}
END_TEST

static void *create_many(void *arg)
{
    struct creator *c = arg;
    char body[4096];
    case_body(body, sizeof body, "Concurrent Person", "2001-02-03", "CONC");
    for (int i = 0; i < c->n; i++) {
        struct h_resp r;
        h_api(&srv, worker_a, "POST", "/v1/cases", body, NULL, &r);
        c->ok += r.status == 201;
        h_resp_free(&r);
    }
    return NULL;
}

START_TEST(unique_references_and_rotation_under_load)
{
    pthread_t th[6];
    struct creator cr[6];
    for (int i = 0; i < 6; i++) {
        cr[i] = (struct creator){.n = 8};
        pthread_create(&th[i], NULL, create_many, &cr[i]);
    }
    char out[512];
    ck_assert_int_eq(h_trmctl("keys rotate", out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "re-wrapped"));
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(cr[i].ok, 8);
    }
    /* References of each country and year never repeat (they may have gaps: a number taken
     * by a creation that rolled back is not reused) and stay within 1..N plus the gaps. */
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    PGresult *q = PQexec(pg, "SELECT min(split_part(reference, '-', 3)::int) >= 1, "
                             "count(DISTINCT reference) = count(*) FROM cases "
                             "GROUP BY country, split_part(reference, '-', 2)");
    for (int i = 0; i < PQntuples(q); i++) {
        ck_assert_str_eq(PQgetvalue(q, i, 0), "t");
        ck_assert_str_eq(PQgetvalue(q, i, 1), "t");
    }
    PQclear(q);
    PQfinish(pg);
    /* Finish the rotation (keys wrapped meanwhile) and read every case of agency A. */
    ck_assert_int_eq(h_trmctl("keys rotate --resume", out, sizeof out), 0);
    ck_assert_int_eq(h_trmctl("keys status", out, sizeof out), 0);
    /* Every KEK but the current one wraps nothing any more. */
    char *save = NULL;
    strtok_r(out, "\n", &save); /* the header */
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        ck_assert_msg(strstr(line, "\tcurrent") || strstr(line, "\t0\t"), "%s", line);
    char path[1200] = "/v1/cases?limit=100";
    int read = 0;
    for (int page = 0; page < 100; page++) {
        struct h_resp r;
        h_api(&srv, worker_a, "GET", path, NULL, NULL, &r);
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(r.json, "items"), i, it)
        {
            char one[128];
            struct h_resp c;
            snprintf(one, sizeof one, "/v1/cases/%s", json_string_value(json_object_get(it, "id")));
            h_api(&srv, worker_a, "GET", one, NULL, NULL, &c);
            h_expect(&c, 200, "read after rotation");
            h_resp_free(&c);
            read++;
        }
        const char *next = h_str(&r, "next_cursor");
        if (next == NULL) {
            h_resp_free(&r);
            break;
        }
        snprintf(path, sizeof path, "/v1/cases?limit=100&cursor=%s", next);
        h_resp_free(&r);
    }
    ck_assert_int_ge(read, 48);
}
END_TEST

START_TEST(row_level_security_on_cases)
{
    char id[37];
    create(worker_a, "RLS Person", id, NULL);
    PGconn *app = h_pg("TRM_TEST_APP_URL");
    static const char *const tables[] = {"cases", "case_keys", "case_personal", "case_blind_index",
                                         "case_events"};
    for (size_t i = 0; i < 5; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
        PGresult *r = PQexec(app, sql);
        ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(app));
        ck_assert_msg(strcmp(PQgetvalue(r, 0, 0), "0") == 0, "%s visible without context",
                      tables[i]);
        PQclear(r);
    }
    char sql[512];
    snprintf(sql, sizeof sql,
             "BEGIN; SELECT set_config('trm.agency_id', '%s', true), "
             "set_config('trm.role', 'caseworker', true), set_config('trm.country', 'SE', true)",
             agency_b);
    PQclear(PQexec(app, sql));
    const char *p[] = {id};
    PGresult *r =
        PQexecParams(app, "SELECT count(*) FROM cases WHERE id = $1", 1, NULL, p, NULL, NULL, 0);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    r = PQexecParams(app, "UPDATE cases SET sex = 'male' WHERE id = $1", 1, NULL, p, NULL, NULL, 0);
    ck_assert_str_eq(PQcmdTuples(r), "0");
    PQclear(r);
    PQclear(PQexec(app, "ROLLBACK"));
    PQfinish(app);
}
END_TEST

START_TEST(retention_erases_closed_cases)
{
    char id[37];
    create(worker_a, "Retention Person", id, NULL);
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {id};
    PQclear(PQexecParams(pg,
                         "UPDATE cases SET closed_at = now() - interval '400 days' "
                         "WHERE id = $1",
                         1, NULL, p, NULL, NULL, 0));
    PQfinish(pg);
    char out[256];
    ck_assert_int_eq(h_trmctl("retention run --days 365", out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "erased the personal data of"));
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_keys WHERE case_id = $1", id), 0);
    ck_assert_int_eq(h_count("SELECT count(*) FROM cases WHERE id = $1 AND "
                             "personal_data_erased_at IS NOT NULL",
                             id),
                     1);
}
END_TEST

START_TEST(no_plaintext_in_dump_or_log)
{
    char id[37];
    create(worker_a, "Dump Scan Person", id, NULL);
    char cmd[2048], dump[512];
    h_tmp_path(dump, sizeof dump, "cases-dump.sql");
    snprintf(cmd, sizeof cmd, "'%s/pg_dump' '%s' > '%s'", h_env("TRM_TEST_PGBIN"),
             h_env("TRM_TEST_SUPER_URL"), dump);
    ck_assert_int_eq(h_sh(cmd), 0);
    snprintf(cmd, sizeof cmd, "grep -c '%s' '%s'", sentinel, dump);
    ck_assert_msg(h_sh(cmd) == 1, "a sentinel value is in the database dump");
    snprintf(cmd, sizeof cmd, "grep -c '%s' '%s'", sentinel, srv.log_path);
    ck_assert_msg(h_sh(cmd) == 1, "a sentinel value is in trmd's log");
    unlink(dump);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cases");
    TCase *tc = tcase_create("cases");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, create_and_read);
    tcase_add_test(tc, one_round_trip_per_read);
    tcase_add_test(tc, invalid_cases_change_nothing);
    tcase_add_test(tc, communication_is_checked_and_sealed);
    tcase_add_test(tc, patch_with_if_match);
    tcase_add_test(tc, region_and_sector);
    tcase_add_test(tc, list_pages_newest_first);
    tcase_add_test(tc, search_by_blind_index);
    tcase_add_test(tc, erase_personal_data);
    tcase_add_test(tc, idempotent_creation);
    tcase_add_test(tc, idempotent_creation_concurrent);
    tcase_add_test(tc, unique_references_and_rotation_under_load);
    tcase_add_test(tc, row_level_security_on_cases);
    tcase_add_test(tc, retention_erases_closed_cases);
    tcase_add_test(tc, no_plaintext_in_dump_or_log);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
