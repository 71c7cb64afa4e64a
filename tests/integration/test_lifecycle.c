/* The SOP engine end to end: a full lifecycle with proceedings in parallel, each guard
 * blocking until met, a child's return, country-specific deadlines, concurrent steps on one
 * case, consents, the timeline, overdue cases and SOP loading over HTTP. */
#define _XOPEN_SOURCE 700 /* strptime */
#include "check_run.h"
#include "harness.h"
#include "matrix.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct trmd srv;
static char admin[128], agency[37], worker[128], coord[128], worker_id[37];

static void setup(void)
{
    char user[37];
    h_trmd_start(&srv, NULL);
    h_admin(admin, "SE");
    h_agency(&srv, admin, "SE", "social_services", agency);
    h_user(&srv, admin, agency, "caseworker", false, worker_id, worker);
    h_user(&srv, admin, agency, "coordinator", false, user, coord);
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

static void new_case(const char *country, const char *age_band, char id[37])
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"country\": \"%s\", \"sex\": \"female\", \"age_band\": \"%s\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-10\", \"person\": {\"identity\": {\"full_name\": "
             "\"Lifecycle Person\"}}}",
             country, age_band);
    struct h_resp r;
    h_api(&srv, worker, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create case");
    snprintf(id, 37, "%s", h_str(&r, "id"));
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "state")), "presumed");
    ck_assert_ptr_nonnull(h_str(&r, "sop_id"));
    h_resp_free(&r);
}

static long version_of(const char *id)
{
    char path[128];
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "read case");
    long v = (long)json_integer_value(json_object_get(r.json, "version"));
    h_resp_free(&r);
    return v;
}

/* Takes a step; returns the status, and the response in out when given. */
static long step(const char *token, const char *id, const char *transition, const char *extra,
                 struct h_resp *out)
{
    char path[128], body[1024], match[48];
    snprintf(path, sizeof path, "/v1/cases/%s/transitions", id);
    snprintf(body, sizeof body, "{\"transition\": \"%s\"%s%s}", transition, extra ? ", " : "",
             extra ? extra : "");
    snprintf(match, sizeof match, "If-Match: \"%ld\"", version_of(id));
    const char *hdr[] = {match, NULL};
    struct h_resp r;
    h_api(&srv, token, "POST", path, body, hdr, &r);
    long status = r.status;
    if (out)
        *out = r;
    else
        h_resp_free(&r);
    return status;
}

static void record(const char *id, const char *what, const char *body)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/cases/%s/%s", id, what);
    struct h_resp r;
    h_api(&srv, worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, what);
    h_resp_free(&r);
}

static bool unmet_has(const struct h_resp *r, const char *guard)
{
    size_t i;
    json_t *u;
    json_array_foreach(json_object_get(r->json, "unmet"), i, u)
    {
        if (strcmp(json_string_value(json_object_get(u, "guard")), guard) == 0)
            return true;
    }
    return false;
}

static const char *main_state(const struct h_resp *r)
{
    return json_string_value(json_object_get(r->json, "state"));
}

START_TEST(full_lifecycle_with_parallel_proceedings)
{
    char id[37], path[160];
    new_case("SE", "24-26", id);
    struct h_resp r;
    /* The options say what is missing, in words. */
    snprintf(path, sizeof path, "/v1/cases/%s/transitions", id);
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "options");
    bool seen = false;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r.json, "items"), i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, "name")), "start_reflection") == 0) {
            seen = true;
            ck_assert(json_is_false(json_object_get(it, "allowed")));
            ck_assert_int_eq(json_array_size(json_object_get(it, "unmet")), 2);
        }
    }
    ck_assert(seen);
    h_resp_free(&r);

    ck_assert_int_eq(step(worker, id, "start_reflection", NULL, &r), 409);
    h_assert_problem(&r, 409, "conflict");
    ck_assert(unmet_has(&r, "consent") && unmet_has(&r, "assessment"));
    h_resp_free(&r);
    record(id, "consents", "{\"kind\": \"assistance\", \"given_at\": \"2026-10-02\"}");
    ck_assert_int_eq(step(worker, id, "start_reflection", NULL, &r), 409);
    ck_assert(!unmet_has(&r, "consent") && unmet_has(&r, "assessment"));
    h_resp_free(&r);
    record(id, "assessments",
           "{\"kind\": \"risk\", \"outcome\": \"high\", \"details\": \"Sentinel risk detail\"}");
    ck_assert_int_eq(step(worker, id, "start_reflection", "\"note\": \"Moved to shelter\"", &r),
                     200);
    ck_assert_str_eq(main_state(&r), "reflection");
    ck_assert_ptr_nonnull(h_str(&r, "due_at"));
    h_resp_free(&r);

    /* Proceedings run in parallel and never gate assistance. */
    ck_assert_int_eq(step(worker, id, "open_investigation", NULL, NULL), 200);

    /* The reflection period: a caseworker waits; a coordinator may override with a reason. */
    ck_assert_int_eq(step(worker, id, "identify", NULL, &r), 409);
    ck_assert(unmet_has(&r, "min_time_in_state"));
    h_resp_free(&r);
    ck_assert_int_eq(step(coord, id, "identify", NULL, NULL), 409);
    ck_assert_int_eq(
        step(coord, id, "identify", "\"override_reason\": \"formal identification complete\"", &r),
        200);
    ck_assert_str_eq(main_state(&r), "identified");
    h_resp_free(&r);

    ck_assert_int_eq(step(worker, id, "start_assistance", NULL, NULL), 409);
    record(id, "assessments", "{\"kind\": \"needs\", \"outcome\": \"urgent\"}");
    ck_assert_int_eq(step(worker, id, "start_assistance", NULL, NULL), 200);
    ck_assert_int_eq(step(worker, id, "prepare_return", NULL, &r), 409);
    ck_assert(unmet_has(&r, "consent") && unmet_has(&r, "assessment"));
    h_resp_free(&r);
    record(id, "consents", "{\"kind\": \"return\", \"given_at\": \"2026-11-01\"}");
    record(id, "assessments", "{\"kind\": \"return_risk\", \"outcome\": \"low\"}");
    ck_assert_int_eq(step(worker, id, "prepare_return", NULL, NULL), 200);
    ck_assert_int_eq(step(worker, id, "return", NULL, NULL), 200);
    ck_assert_int_eq(step(worker, id, "start_reintegration", NULL, NULL), 200);
    ck_assert_int_eq(step(worker, id, "prosecute", NULL, NULL), 409); /* no consent yet */
    record(id, "consents", "{\"kind\": \"proceedings\", \"given_at\": \"2026-11-02\"}");
    ck_assert_int_eq(step(worker, id, "prosecute", NULL, NULL), 200);
    ck_assert_int_eq(step(worker, id, "close", NULL, NULL), 409); /* coordinators close */
    ck_assert_int_eq(step(coord, id, "close", NULL, &r), 200);
    ck_assert_str_eq(main_state(&r), "closed");
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(json_object_get(r.json, "tracks"), "proceedings"), "state")),
        "prosecution");
    h_resp_free(&r);
    ck_assert_int_eq(step(worker, id, "conclude_proceedings", NULL, NULL), 200);

    /* The timeline, five events a page: every step, names not values; the note opens for
     * the reader. */
    int transitions = 0, pages = 0;
    bool note_seen = false;
    char events[600];
    snprintf(events, sizeof events, "/v1/cases/%s/events?limit=5", id);
    for (; pages < 50; pages++) {
        h_api(&srv, worker, "GET", events, NULL, NULL, &r);
        h_expect(&r, 200, "events");
        ck_assert_int_le(json_array_size(json_object_get(r.json, "items")), 5);
        json_array_foreach(json_object_get(r.json, "items"), i, it)
        {
            if (strcmp(json_string_value(json_object_get(it, "kind")), "transition") == 0)
                transitions++;
            json_t *note = json_object_get(it, "note");
            if (note && json_is_object(note))
                note_seen = note_seen || strcmp(json_string_value(json_object_get(note, "note")),
                                                "Moved to shelter") == 0;
        }
        ck_assert_ptr_null(strstr(r.body, "sealed"));
        const char *next = h_str(&r, "next_cursor");
        bool more = next != NULL;
        if (more)
            snprintf(events, sizeof events, "/v1/cases/%s/events?limit=5&cursor=%s", id, next);
        h_resp_free(&r);
        if (!more)
            break;
    }
    ck_assert_int_eq(transitions, 10);
    ck_assert_int_ge(pages, 3);
    ck_assert(note_seen);
    snprintf(path, sizeof path, "/v1/cases/%s/assessments", id);
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "Sentinel risk detail"));
    h_resp_free(&r);
}
END_TEST

/* Round trips to PostgreSQL per guarded step (counted by trmd, logged when it stops): the
 * facts read under the row lock (with BEGIN, the context and the re-check of the remembered
 * token), then the step with the new summary and COMMIT. Connects, each token's first
 * lookup and a maintenance round are the slack. */
START_TEST(two_round_trips_per_step)
{
    enum { N = 12 };
    char ids[N][37], match[N][48];
    for (int i = 0; i < N; i++) {
        new_case("SE", "24-26", ids[i]);
        record(ids[i], "consents", "{\"kind\": \"assistance\", \"given_at\": \"2026-10-02\"}");
        record(ids[i], "assessments", "{\"kind\": \"risk\", \"outcome\": \"high\"}");
        snprintf(match[i], sizeof match[i], "If-Match: \"%ld\"", version_of(ids[i]));
    }
    const char *env[] = {"TRM_MAINTENANCE_INTERVAL_MS=600000", NULL};
    struct trmd quiet;
    h_trmd_start(&quiet, env);
    for (int i = 0; i < N; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/cases/%s/transitions", ids[i]);
        const char *hdr[] = {match[i], NULL};
        struct h_resp r;
        h_api(&quiet, worker, "POST", path, "{\"transition\": \"start_reflection\"}", hdr, &r);
        h_expect(&r, 200, "guarded step");
        h_resp_free(&r);
    }
    long requests = 0, round_trips = 0;
    h_trmd_stop_counts(&quiet, &requests, &round_trips);
    ck_assert_int_ge(requests, N);
    ck_assert_msg(round_trips <= 2 * requests + 8, "%ld round trips for %ld requests", round_trips,
                  requests);
}
END_TEST

START_TEST(child_return_needs_best_interests)
{
    char id[37];
    new_case("SE", "9-17", id);
    struct h_resp r;
    record(id, "consents", "{\"kind\": \"assistance\", \"given_at\": \"2026-10-02\"}");
    record(id, "assessments", "{\"kind\": \"risk\", \"outcome\": \"medium\"}");
    ck_assert_int_eq(step(worker, id, "start_reflection", NULL, &r), 409);
    ck_assert(unmet_has(&r, "guardian_if_child"));
    h_resp_free(&r);
    record(id, "guardians",
           "{\"name\": \"Guardian Name\", \"appointed_by\": \"District court\", "
           "\"appointed_on\": \"2026-10-03\"}");
    ck_assert_int_eq(step(worker, id, "start_reflection", NULL, NULL), 200);
    ck_assert_int_eq(step(coord, id, "identify", "\"override_reason\": \"identified\"", NULL), 200);
    record(id, "assessments", "{\"kind\": \"needs\", \"outcome\": \"urgent\"}");
    ck_assert_int_eq(step(worker, id, "start_assistance", NULL, NULL), 200);
    record(id, "consents", "{\"kind\": \"return\", \"given_at\": \"2026-11-01\"}");
    record(id, "assessments", "{\"kind\": \"return_risk\", \"outcome\": \"low\"}");
    ck_assert_int_eq(step(worker, id, "prepare_return", NULL, &r), 409);
    ck_assert(unmet_has(&r, "best_interests_if_child"));
    h_resp_free(&r);
    record(id, "assessments",
           "{\"kind\": \"best_interests\", \"outcome\": \"return_not_in_best_interests\"}");
    ck_assert_int_eq(step(worker, id, "prepare_return", NULL, NULL), 409);
    record(id, "assessments",
           "{\"kind\": \"best_interests\", \"outcome\": \"return_in_best_interests\"}");
    ck_assert_int_eq(step(worker, id, "prepare_return", NULL, NULL), 200);
    ck_assert_int_eq(step(worker, id, "return", NULL, NULL), 200);
}
END_TEST

static time_t parse_time(const char *s)
{
    struct tm tm = {0};
    ck_assert_ptr_nonnull(strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm));
    return timegm(&tm);
}

static time_t reflection_due(const char *country)
{
    char id[37];
    new_case(country, "30-38", id);
    record(id, "consents", "{\"kind\": \"assistance\", \"given_at\": \"2026-10-02\"}");
    record(id, "assessments", "{\"kind\": \"risk\", \"outcome\": \"low\"}");
    struct h_resp r;
    ck_assert_int_eq(step(worker, id, "start_reflection", NULL, &r), 200);
    time_t due = parse_time(json_string_value(
        json_object_get(json_object_get(json_object_get(r.json, "tracks"), "main"), "due_at")));
    h_resp_free(&r);
    return due;
}

START_TEST(country_sops_set_their_own_deadlines)
{
    time_t now = time(NULL);
    time_t se = reflection_due("SE"), ca = reflection_due("CA");
    ck_assert_int_ge(se - now, 30 * 86400 - 120);
    ck_assert_int_le(se - now, 30 * 86400 + 120);
    ck_assert_int_ge(ca - now, 180 * 86400 - 120);
    ck_assert_int_le(ca - now, 180 * 86400 + 120);
}
END_TEST

struct racer {
    const char *id;
    long version;
    long status;
};

static void *race(void *arg)
{
    struct racer *x = arg;
    char path[128], match[48];
    snprintf(path, sizeof path, "/v1/cases/%s/transitions", x->id);
    snprintf(match, sizeof match, "If-Match: \"%ld\"", x->version);
    const char *hdr[] = {match, NULL};
    struct h_resp r;
    h_api(&srv, coord, "POST", path, "{\"transition\": \"not_identified\"}", hdr, &r);
    x->status = r.status;
    h_resp_free(&r);
    return NULL;
}

START_TEST(concurrent_steps_one_wins)
{
    char id[37];
    new_case("SE", "30-38", id);
    long v = version_of(id);
    pthread_t th[50];
    struct racer rc[50];
    for (int i = 0; i < 50; i++) {
        rc[i] = (struct racer){id, v, 0};
        pthread_create(&th[i], NULL, race, &rc[i]);
    }
    int won = 0, lost = 0;
    for (int i = 0; i < 50; i++) {
        pthread_join(th[i], NULL);
        won += rc[i].status == 200;
        lost += rc[i].status == 409 || rc[i].status == 412;
    }
    ck_assert_int_eq(won, 1);
    ck_assert_int_eq(lost, 49);
    char path[160];
    snprintf(path, sizeof path, "/v1/cases/%s/events", id);
    struct h_resp r;
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    int n = 0;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r.json, "items"), i, it) n +=
        strcmp(json_string_value(json_object_get(it, "kind")), "transition") == 0;
    ck_assert_int_eq(n, 1);
    h_resp_free(&r);
}
END_TEST

START_TEST(consents_are_checked_and_withdrawn)
{
    char id[37], path[200];
    new_case("SE", "30-38", id);
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s/consents", id);
    static const char *const bad[] = {
        "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\"}",
        "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\", \"categories\": "
        "[\"identity\"]}",
        "{\"kind\": \"assistance\", \"given_at\": \"2099-01-01\"}",
        "{\"kind\": \"assistance\", \"given_at\": \"yesterday\"}",
        "{\"kind\": \"assistance\", \"given_at\": \"2026-10-02\", \"expires_at\": \"2026-10-01\"}",
        "{\"kind\": \"telepathy\", \"given_at\": \"2026-10-02\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h_api(&srv, worker, "POST", path, bad[i], NULL, &r);
        ck_assert_msg(r.status == 400, "case %zu: %ld", i, r.status);
        h_resp_free(&r);
    }
    h_api(&srv, worker, "POST", path,
          "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02T10:00:00Z\", \"categories\": "
          "[\"identity\", \"contact\"], \"recipients\": {\"countries\": [\"PH\"]}}",
          NULL, &r);
    h_expect(&r, 201, "data sharing consent");
    char cid[37];
    snprintf(cid, sizeof cid, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    h_api(&srv, worker, "POST", path, "{\"kind\": \"assistance\", \"given_at\": \"2026-10-02\"}",
          NULL, &r);
    char assist[37];
    snprintf(assist, sizeof assist, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    record(id, "assessments", "{\"kind\": \"risk\", \"outcome\": \"low\"}");
    /* Withdrawn, the assistance consent no longer satisfies the guard. */
    snprintf(path, sizeof path, "/v1/cases/%s/consents/%s/withdraw", id, assist);
    h_api(&srv, worker, "POST", path, "{\"reason\": \"changed her mind\"}", NULL, &r);
    h_expect(&r, 200, "withdraw");
    ck_assert_ptr_nonnull(h_str(&r, "withdrawn_at"));
    h_resp_free(&r);
    h_api(&srv, worker, "POST", path, "{\"reason\": \"again\"}", NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    ck_assert_int_eq(step(worker, id, "start_reflection", NULL, &r), 409);
    ck_assert(unmet_has(&r, "consent"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/consents", id);
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 2);
    h_resp_free(&r);
}
END_TEST

START_TEST(overdue_cases_are_listed)
{
    char id[37];
    new_case("SE", "30-38", id);
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {id};
    PQclear(PQexecParams(pg,
                         "UPDATE case_tracks SET due_at = now() - interval '1 hour' "
                         "WHERE case_id = $1 AND track = 'main'",
                         1, NULL, p, NULL, NULL, 0));
    PQfinish(pg);
    struct h_resp r;
    h_api(&srv, worker, "GET", "/v1/cases?overdue=true&limit=100", NULL, NULL, &r);
    h_expect(&r, 200, "overdue");
    ck_assert_ptr_nonnull(strstr(r.body, id));
    h_resp_free(&r);
    h_api(&srv, worker, "GET", "/v1/cases?state=reflection&limit=100", NULL, NULL, &r);
    ck_assert_ptr_null(strstr(r.body, id));
    h_resp_free(&r);
    h_api(&srv, worker, "GET", "/v1/cases?overdue=maybe", NULL, NULL, &r);
    h_assert_problem(&r, 400, "invalid_parameter");
    h_resp_free(&r);
}
END_TEST

START_TEST(sops_over_http)
{
    struct h_resp r;
    h_api(&srv, worker, "GET", "/v1/sops", NULL, NULL, &r);
    h_expect(&r, 200, "sops");
    ck_assert_int_ge(json_array_size(json_object_get(r.json, "items")), 4);
    char path[80];
    snprintf(path, sizeof path, "/v1/sops/%s",
             json_string_value(
                 json_object_get(json_array_get(json_object_get(r.json, "items"), 0), "id")));
    h_resp_free(&r);
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "sop");
    ck_assert(json_is_object(json_object_get(r.json, "document")));
    h_resp_free(&r);
    const char *broken = "{\"code\": \"broken\", \"version\": 1, \"country\": null, \"title\": "
                         "\"x\", \"tracks\": [{\"name\": \"main\", \"initial\": \"a\", \"states\": "
                         "[{\"name\": \"a\", \"phase\": \"identification\"}]}], "
                         "\"transitions\": [{\"name\": \"go\", \"track\": \"main\", \"from\": "
                         "[\"a\"], \"to\": \"b\", \"roles\": [\"wizard\"]}]}";
    h_api(&srv, worker, "POST", "/v1/sops", broken, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    h_api(&srv, admin, "POST", "/v1/sops", broken, NULL, &r);
    h_assert_problem(&r, 400, "validation_failed");
    ck_assert_int_ge(json_array_size(json_object_get(r.json, "errors")), 3);
    h_resp_free(&r);
    char *doc = NULL;
    FILE *f = fopen(TRM_SOURCE_DIR "/config/sops/trm-eu.json", "r");
    size_t len = 0;
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ne(getdelim(&doc, &len, '\0', f), -1);
    fclose(f);
    h_api(&srv, admin, "POST", "/v1/sops", doc, NULL, &r);
    h_assert_problem(&r, 409, "conflict"); /* that version exists already */
    h_resp_free(&r);
    free(doc);
}
END_TEST

static json_t *screen(const char *token, const char *id, const char *body, long expect)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/cases/%s/screenings", id);
    struct h_resp r;
    h_api(&srv, token, "POST", path, body, NULL, &r);
    h_expect(&r, expect, "screening");
    json_t *j = json_incref(r.json);
    h_resp_free(&r);
    return j;
}

/* Identification indicators through the SOP: formal identification is blocked without a
 * screening and after a negative one, a coordinator's override is recorded, and after a
 * positive screening the guard is met. Invalid screenings change nothing. */
START_TEST(screening_guard)
{
    char id[37], path[160];
    struct h_resp r;
    new_case("SE", "21-23", id);
    record(id, "consents", "{\"kind\": \"assistance\", \"given_at\": \"2026-10-02\"}");
    record(id, "assessments", "{\"kind\": \"risk\", \"outcome\": \"high\"}");
    ck_assert_int_eq(step(worker, id, "start_reflection", NULL, NULL), 200);
    ck_assert_int_eq(step(worker, id, "identify", NULL, &r), 409);
    ck_assert(unmet_has(&r, "screening"));
    h_resp_free(&r);
    /* Refused: nothing is written. */
    json_t *p = screen(worker, id, "{\"observed\": [\"dr_wages\", \"dr_made_up\"]}", 400);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(p, "errors"), 0), "pointer")),
                     "/observed/1");
    json_decref(p);
    p = screen(worker, id, "{\"indicator_set\": \"no-such-set\", \"observed\": []}", 400);
    json_decref(p);
    p = screen(worker, id, "{\"observed\": [\"dr_wages\"], \"category\": \"secrets\"}", 400);
    json_decref(p);
    snprintf(path, sizeof path, "/v1/cases/%s/screenings", id);
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "screenings");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 0);
    h_resp_free(&r);
    /* A negative screening: still blocked, now for that reason. */
    p = screen(worker, id, "{\"observed\": [\"dr_nature_of_job\", \"dr_wages\"]}", 201);
    ck_assert_str_eq(json_string_value(json_object_get(p, "indicator_set")),
                     "ilo-ec-2009-adults-labour");
    ck_assert(json_is_false(json_object_get(json_object_get(p, "result"), "presumed_victim")));
    json_decref(p);
    ck_assert_int_eq(step(coord, id, "identify", NULL, &r), 409);
    ck_assert(unmet_has(&r, "screening"));
    h_resp_free(&r);
    /* A positive one, with a sealed note: the guard is met (the time in state is not). */
    p = screen(worker, id,
               "{\"observed\": [\"dr_nature_of_job\", \"dr_wages\", \"ex_excessive_hours\", "
               "\"ex_low_salary\", \"cd_documents\", \"cd_debt_bondage\"], \"note\": "
               "\"Screening note Halvorsen-Quist\"}",
               201);
    ck_assert(json_is_true(json_object_get(json_object_get(p, "result"), "presumed_victim")));
    json_decref(p);
    ck_assert_int_eq(step(worker, id, "identify", NULL, &r), 409);
    ck_assert(!unmet_has(&r, "screening"));
    ck_assert(unmet_has(&r, "min_time_in_state"));
    h_resp_free(&r);
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "screenings");
    json_t *items = json_object_get(r.json, "items");
    ck_assert_int_eq(json_array_size(items), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "note")),
                     "Screening note Halvorsen-Quist");
    ck_assert(json_is_null(json_object_get(json_array_get(items, 1), "note")));
    h_resp_free(&r);
    ck_assert_int_ge(h_count("SELECT count(*) FROM access_log WHERE case_id = $1::uuid AND "
                             "'exploitation_details' = ANY (categories)",
                             id),
                     1);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_notes WHERE case_id = $1::uuid", id), 1);

    /* Another case, negative: a coordinator overrides with a reason, and it is recorded. */
    char id2[37];
    new_case("SE", "21-23", id2);
    record(id2, "consents", "{\"kind\": \"assistance\", \"given_at\": \"2026-10-02\"}");
    record(id2, "assessments", "{\"kind\": \"risk\", \"outcome\": \"high\"}");
    ck_assert_int_eq(step(worker, id2, "start_reflection", NULL, NULL), 200);
    p = screen(worker, id2, "{\"observed\": [\"ex_excessive_hours\"]}", 201);
    json_decref(p);
    ck_assert_int_eq(
        step(coord, id2, "identify", "\"override_reason\": \"identified by the police\"", NULL),
        200);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_events WHERE case_id = $1::uuid AND "
                             "kind = 'transition' AND details -> 'overridden' ? 'screening'",
                             id2),
                     1);
}
END_TEST

/* The places of a case row (matrix.h): the case, a consent, a referral, the other agency, a
 * service, a plan, the other agency's notification of the offer; the version If-Match names
 * (0: the case's). */
struct places {
    char case_id[37], consent_id[37], referral_id[37], document_id[37], service_id[37];
    char plan_id[37], notification_id[37];
    const char *other_agency;
    long version;
};

static void expand(const char *in, char *out, size_t cap, const struct places *at)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 40 < cap; p++) {
        const char *sub = NULL;
        if (p[0] == '{' && p[1] && p[2] == '}')
            sub = p[1] == 'C'   ? at->case_id
                  : p[1] == 'K' ? at->consent_id
                  : p[1] == 'R' ? at->referral_id
                  : p[1] == 'O' ? at->other_agency
                  : p[1] == 'D' ? at->document_id
                  : p[1] == 'V' ? at->service_id
                  : p[1] == 'P' ? at->plan_id
                  : p[1] == 'M' ? at->notification_id
                  : p[1] == 'W' ? worker_id
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

/* Posts body (with placeholders) to path as the case's caseworker; writes the new id. */
static void made(const char *path, const char *body, const struct places *at, char id[37])
{
    char p[256], b[1024];
    struct h_resp r;
    expand(path, p, sizeof p, at);
    expand(body, b, sizeof b, at);
    h_api(&srv, worker, "POST", p, b, NULL, &r);
    h_expect(&r, 201, p);
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

/* A case of A with a data-sharing consent covering the other agency (and, with offer, an
 * open offer of it to that agency). */
static void case_to_share(struct places *at, bool offer)
{
    new_case("SE", "30-38", at->case_id);
    made("/v1/cases/{C}/consents",
         "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\", \"categories\": "
         "[\"identity\"], \"recipients\": {\"agency_ids\": [\"{O}\"]}}",
         at, at->consent_id);
    if (offer)
        made("/v1/cases/{C}/referrals",
             "{\"to_agency_id\": \"{O}\", \"kind\": \"referral\", \"purpose\": "
             "\"accommodation\", \"categories\": [\"identity\"], \"legal_basis\": "
             "\"consent\", \"handling_code\": \"H2\", \"consent_id\": \"{K}\"}",
             at, at->referral_id);
}

/* A document of the case (a medical text of the caseworker's). */
static void document_of(struct places *at)
{
    char path[160];
    const char *hdr[] = {"Content-Type: text/plain", "Trm-File-Name: matrix.txt", NULL};
    snprintf(path, sizeof path, "/v1/cases/%s/documents?kind=medical", at->case_id);
    struct h_resp r;
    h_api_bytes(&srv, worker, "POST", path, "Matrix text", 11, hdr, &r);
    h_expect(&r, 201, "document");
    snprintf(at->document_id, sizeof at->document_id, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static void fresh(enum matrix_fresh what, const struct places *shared, struct places *at)
{
    *at = *shared;
    if (what == M_FRESH_DOCUMENT)
        document_of(at);
    if (what == M_FRESH_CASE || what == M_FRESH_OFFER)
        case_to_share(at, what == M_FRESH_OFFER);
    else if (what == M_FRESH_CONSENT)
        made("/v1/cases/{C}/consents", "{\"kind\": \"assistance\", \"given_at\": \"2026-10-02\"}",
             at, at->consent_id);
    else if (what == M_FRESH_SERVICE)
        made("/v1/cases/{C}/services", "{\"type\": \"medical\", \"status\": \"planned\"}", at,
             at->service_id);
    else if (what == M_FRESH_PLAN)
        made("/v1/cases/{C}/plans",
             "{\"goals\": [{\"goal\": \"Safe housing\"}], \"review_on\": \"2026-12-01\"}", at,
             at->plan_id);
    at->version = what == M_FRESH_SERVICE || what == M_FRESH_PLAN ? 1 : 0;
}

/* The other agency's notification of the test's offer (written with the offer). */
static void offer_notification(const char *token, struct places *at)
{
    struct h_resp r;
    h_api(&srv, token, "GET", "/v1/notifications?kind=offer_received&limit=100", NULL, NULL, &r);
    h_expect(&r, 200, "the other agency's notifications");
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(r.json, "items"), i, n)
    {
        const char *rid = json_string_value(json_object_get(n, "referral_id"));
        if (rid && strcmp(rid, at->referral_id) == 0)
            snprintf(at->notification_id, sizeof at->notification_id, "%s",
                     json_string_value(json_object_get(n, "id")));
    }
    h_resp_free(&r);
    ck_assert_msg(at->notification_id[0], "the other agency was not told of the offer");
}

/* Who may do what on a case owned by agency A: its caseworker and coordinator, an auditor
 * and an admin of A, and a caseworker of another agency (who must not learn it exists, and
 * is the recipient of A's offers): every case row of the matrix (tests/integration/matrix.c). */
START_TEST(case_authorization_matrix)
{
    char user[37], auditor[128], other_agency[37], other[128];
    h_user(&srv, admin, agency, "auditor", false, user, auditor);
    h_agency(&srv, admin, "SE", "ngo", other_agency);
    h_user(&srv, admin, other_agency, "caseworker", false, user, other);
    struct places shared = {.other_agency = other_agency};
    case_to_share(&shared, true);
    document_of(&shared);
    offer_notification(other, &shared);
    const char *who[] = {worker, coord, auditor, admin, other, NULL};
    static const char *const callers[] = {"caseworker", "coordinator",  "auditor",
                                          "admin",      "other agency", "anonymous"};
    for (const struct matrix_row *row = matrix_cases; row->method; row++) {
        for (int k = 0; k < M_CALLERS; k++) {
            if (row->expect[k] == 0)
                continue;
            struct places at;
            char path[200], body[1024], match[48], what[300];
            fresh(row->fresh, &shared, &at);
            expand(row->path, path, sizeof path, &at);
            if (row->body)
                expand(row->body, body, sizeof body, &at);
            snprintf(match, sizeof match, "If-Match: \"%ld\"",
                     at.version ? at.version : version_of(at.case_id));
            char type[64];
            snprintf(type, sizeof type, "Content-Type: %s", row->upload_type);
            const char *hdr[] = {match, NULL};
            const char *upload_hdr[] = {type, "Trm-File-Name: matrix.txt", NULL};
            struct h_resp r;
            if (row->upload_type)
                h_api_bytes(&srv, who[k], row->method, path, body, strlen(body), upload_hdr, &r);
            else
                h_api(&srv, who[k], row->method, path, row->body ? body : NULL, hdr, &r);
            snprintf(what, sizeof what, "%s %s as %s", row->method, row->path, callers[k]);
            h_expect(&r, row->expect[k], what);
            if (r.status == 403)
                h_assert_problem(&r, 403, "forbidden");
            h_resp_free(&r);
        }
    }
    /* Lists and search: the other agency gets 200 with nothing of A's. */
    struct h_resp r;
    h_api(&srv, other, "GET", "/v1/cases?limit=100", NULL, NULL, &r);
    h_expect(&r, 200, "list as other agency");
    ck_assert_ptr_null(strstr(r.body, shared.case_id));
    h_resp_free(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *tc = tcase_create("lifecycle");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, full_lifecycle_with_parallel_proceedings);
    tcase_add_test(tc, two_round_trips_per_step);
    tcase_add_test(tc, child_return_needs_best_interests);
    tcase_add_test(tc, country_sops_set_their_own_deadlines);
    tcase_add_test(tc, concurrent_steps_one_wins);
    tcase_add_test(tc, consents_are_checked_and_withdrawn);
    tcase_add_test(tc, overdue_cases_are_listed);
    tcase_add_test(tc, sops_over_http);
    tcase_add_test(tc, screening_guard);
    tcase_add_test(tc, case_authorization_matrix);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
