/* Referrals, transfers and the handover log: the Sweden to Philippines story end to end,
 * every refusal with nothing written, expiry, consent withdrawal ending access, tampering
 * found by verify and by trmctl verify-log, and 100 concurrent handovers. */
#include "check_run.h"
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct trmd srv;
static char admin[128], a_agency[37], b_agency[37], c_agency[37], io_agency[37];
static char a_worker[128], a_coord[128], b_worker[128], c_worker[128], auditor[128];
static char sentinel[24];

static void setup(void)
{
    char user[37];
    const char *env[] = {"TRM_MAINTENANCE_INTERVAL_MS=200", "TRM_CHECKPOINT_EVERY_ENTRIES=5", NULL};
    h_trmd_start(&srv, env);
    h_admin(admin, "SE");
    h_agency(&srv, admin, "SE", "social_services", a_agency);
    h_agency(&srv, admin, "SE", "ngo", b_agency);
    h_agency(&srv, admin, "PH", "ngo", c_agency);
    h_agency(&srv, admin, "SE", "international_org", io_agency);
    h_user(&srv, admin, a_agency, "caseworker", false, user, a_worker);
    h_user(&srv, admin, a_agency, "coordinator", false, user, a_coord);
    h_user(&srv, admin, b_agency, "caseworker", false, user, b_worker);
    h_user(&srv, admin, c_agency, "caseworker", false, user, c_worker);
    h_user(&srv, admin, io_agency, "auditor", true, user, auditor);
    snprintf(sentinel, sizeof sentinel, "Rf%dQz", getpid());
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

static void new_case(char id[37])
{
    char body[2048];
    snprintf(
        body, sizeof body,
        "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
        "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
        "\"identified_month\": \"2026-10\", \"person\": {"
        "\"identity\": {\"full_name\": \"Name %s\"}, \"contact\": {\"address\": \"Addr %s\"}, "
        "\"health\": {\"notes\": \"Health %s\"}, \"narrative\": {\"statement\": \"Story %s\"}}}",
        sentinel, sentinel, sentinel, sentinel);
    struct h_resp r;
    h_api(&srv, a_worker, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create case");
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static void consent(const char *id, const char *categories, const char *recipients, char cid[37])
{
    char path[128], body[512];
    snprintf(path, sizeof path, "/v1/cases/%s/consents", id);
    snprintf(body, sizeof body,
             "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\", \"categories\": [%s], "
             "\"recipients\": %s}",
             categories, recipients);
    struct h_resp r;
    h_api(&srv, a_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "consent");
    snprintf(cid, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static long offer(const char *token, const char *id, const char *to, const char *kind,
                  const char *categories, const char *basis_extra, char rid[37],
                  struct h_resp *keep)
{
    char path[128], body[1024];
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", id);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"%s\", \"purpose\": \"accommodation\", "
             "\"categories\": [%s], \"handling_code\": \"H2\", %s}",
             to, kind, categories, basis_extra);
    struct h_resp r;
    h_api(&srv, token, "POST", path, body, NULL, &r);
    long status = r.status;
    if (rid && status == 201)
        snprintf(rid, 37, "%s", h_str(&r, "id"));
    if (keep)
        *keep = r;
    else
        h_resp_free(&r);
    return status;
}

static long answer(const char *token, const char *rid, const char *action, const char *body)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/referrals/%s/%s", rid, action);
    struct h_resp r;
    h_api(&srv, token, "POST", path, body, NULL, &r);
    long status = r.status;
    h_resp_free(&r);
    return status;
}

static json_t *person_as(const char *token, const char *id, long *status)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    struct h_resp r;
    h_api(&srv, token, "GET", path, NULL, NULL, &r);
    *status = r.status;
    json_t *p = json_incref(json_object_get(r.json, "person"));
    h_resp_free(&r);
    return p;
}

static bool verify_ok(long *entries, long *bad)
{
    struct h_resp r;
    h_api(&srv, auditor, "GET", "/v1/handovers/verify", NULL, NULL, &r);
    h_expect(&r, 200, "verify");
    bool ok = json_is_true(json_object_get(r.json, "ok"));
    if (entries)
        *entries = (long)json_integer_value(json_object_get(r.json, "entries"));
    if (bad)
        *bad = (long)json_integer_value(json_object_get(r.json, "first_bad_seq"));
    h_resp_free(&r);
    return ok;
}

START_TEST(sweden_to_philippines)
{
    char id[37], cid[37], rid[37], tid[37];
    new_case(id);
    /* This case's entries only: other suites append to the shared log meanwhile. */
    const char *entries = "SELECT count(*) FROM handover_log WHERE case_id = $1";
    long before = h_count(entries, id);
    char basis[200];
    /* No consent yet: refused, nothing written. */
    snprintf(basis, sizeof basis, "\"legal_basis\": \"consent\"");
    struct h_resp r;
    ck_assert_int_eq(offer(a_worker, id, b_agency, "referral", "\"identity\"", basis, NULL, &r),
                     409);
    ck_assert_ptr_nonnull(strstr(r.body, "\"guard\":\"consent\""));
    h_resp_free(&r);
    consent(id, "\"identity\", \"contact\", \"health\"",
            "{\"agency_ids\": [\""
            "00000000-0000-4000-8000-000000000000"
            "\"], "
            "\"countries\": [\"PH\"]}",
            cid);
    /* A consent that covers PH but not the Swedish shelter: refused. */
    snprintf(basis, sizeof basis, "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"", cid);
    ck_assert_int_eq(offer(a_worker, id, b_agency, "referral", "\"identity\"", basis, NULL, NULL),
                     409);
    char cid2[37];
    char rec[200];
    snprintf(rec, sizeof rec, "{\"agency_ids\": [\"%s\"], \"countries\": [\"PH\"]}", b_agency);
    consent(id, "\"identity\", \"contact\", \"health\"", rec, cid2);
    snprintf(basis, sizeof basis, "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"", cid2);
    /* Not covering a category: refused. */
    ck_assert_int_eq(
        offer(a_worker, id, b_agency, "referral", "\"identity\", \"narrative\"", basis, NULL, &r),
        409);
    ck_assert_ptr_nonnull(strstr(r.body, "category"));
    h_resp_free(&r);
    ck_assert_int_eq(h_count(entries, id), before);
    ck_assert_int_eq(h_count("SELECT count(*) FROM referrals WHERE case_id = $1", id), 0);

    /* The referral to the Swedish shelter. */
    ck_assert_int_eq(
        offer(a_worker, id, b_agency, "referral", "\"identity\", \"contact\"", basis, rid, &r),
        201);
    ck_assert_str_eq(h_str(&r, "status"), "offered");
    h_resp_free(&r);
    /* The shelter's inbox: a minimal summary, no personal field. */
    h_api(&srv, b_worker, "GET", "/v1/referrals?direction=incoming&status=offered", NULL, NULL, &r);
    h_expect(&r, 200, "inbox");
    ck_assert_ptr_nonnull(strstr(r.body, rid));
    ck_assert_ptr_nonnull(strstr(r.body, "\"age_band\":\"21-23\""));
    ck_assert_ptr_null(strstr(r.body, sentinel));
    h_resp_free(&r);
    long status;
    json_t *p = person_as(b_worker, id, &status);
    ck_assert_int_eq(status, 404); /* not before accepting */
    json_decref(p);
    /* Only the recipient answers: the sender gets 403, a third agency 404. */
    ck_assert_int_eq(answer(a_worker, rid, "accept", NULL), 403);
    ck_assert_int_eq(answer(c_worker, rid, "accept", NULL), 404);
    ck_assert_int_eq(answer(b_worker, rid, "decline", "{\"reason\": \"\"}"), 400);
    ck_assert_int_eq(answer(b_worker, rid, "accept", NULL), 200);
    ck_assert_int_eq(answer(b_worker, rid, "accept", NULL), 409); /* answered once */
    ck_assert_int_eq(answer(b_worker, rid, "decline", "{\"reason\": \"full\"}"), 409);
    p = person_as(b_worker, id, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(json_object_get(p, "identity"));
    ck_assert_ptr_nonnull(json_object_get(p, "contact"));
    ck_assert_ptr_null(json_object_get(p, "health"));
    ck_assert_ptr_null(json_object_get(p, "narrative"));
    json_decref(p);
    /* The sender's coordinator sees that the shelter read it. */
    char path[160];
    snprintf(path, sizeof path, "/v1/cases/%s/access-log", id);
    h_api(&srv, a_coord, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "access log");
    ck_assert_ptr_nonnull(strstr(r.body, b_agency));
    h_resp_free(&r);

    /* The shelter records the services it provided; the owner sees them in the timeline. */
    snprintf(path, sizeof path, "/v1/cases/%s/events", id);
    h_api(&srv, b_worker, "POST", path,
          "{\"kind\": \"service_provided\", \"note\": \"Bed and counselling\"}", NULL, &r);
    h_expect(&r, 201, "service event");
    h_resp_free(&r);
    /* Consents, assessments and guardians stay with the owner. */
    snprintf(path, sizeof path, "/v1/cases/%s/consents", id);
    h_api(&srv, b_worker, "POST", path, "{\"kind\": \"assistance\", \"given_at\": \"2026-10-02\"}",
          NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/assessments", id);
    h_api(&srv, b_worker, "POST", path, "{\"kind\": \"risk\", \"outcome\": \"low\"}", NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    const char *v1[] = {"If-Match: \"1\"", NULL};
    h_api(&srv, b_worker, "PATCH", path, "{\"sex\": \"male\"}", v1, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/events", id);
    h_api(&srv, c_worker, "POST", path, "{\"kind\": \"contact\"}", NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    h_api(&srv, a_worker, "GET", path, NULL, NULL, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "Bed and counselling"));
    ck_assert_ptr_nonnull(strstr(r.body, "referral_accepted"));
    h_resp_free(&r);
    /* The shelter reads its own note, not the owner's (which may say more than it may know). */
    snprintf(path, sizeof path, "/v1/cases/%s/transitions", id);
    const char *first[] = {"If-Match: \"1\"", NULL};
    h_api(&srv, a_worker, "POST", path,
          "{\"transition\": \"open_investigation\", \"note\": \"Owner only note\"}", first, &r);
    h_expect(&r, 200, "owner's step with a note");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/events", id);
    h_api(&srv, b_worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "recipient timeline");
    ck_assert_ptr_nonnull(strstr(r.body, "Bed and counselling"));
    ck_assert_ptr_null(strstr(r.body, "Owner only note"));
    h_resp_free(&r);

    /* The transfer to the Manila NGO: it will own the case with only what was consented. */
    ck_assert_int_eq(
        offer(a_worker, id, c_agency, "transfer", "\"identity\", \"health\"", basis, tid, NULL),
        201);
    ck_assert_int_eq(answer(c_worker, tid, "accept", NULL), 200);
    p = person_as(c_worker, id, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_ptr_nonnull(json_object_get(p, "identity"));
    ck_assert_ptr_nonnull(json_object_get(p, "health"));
    ck_assert_ptr_null(json_object_get(p, "contact"));
    ck_assert_ptr_null(json_object_get(p, "narrative"));
    json_decref(p);
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    h_api(&srv, c_worker, "GET", path, NULL, NULL, &r);
    ck_assert_str_eq(h_str(&r, "owner_agency_id"), c_agency);
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM cases c JOIN sops s ON s.id = c.sop_id "
                             "WHERE c.id = $1 AND s.code = 'trm-ph'",
                             id),
                     1);
    /* A Swedish auditor sees the reads abroad, at the Manila NGO, too. */
    char se_auditor[128], se_user[37];
    h_user(&srv, admin, a_agency, "auditor", false, se_user, se_auditor);
    snprintf(path, sizeof path, "/v1/cases/%s/access-log", id);
    h_api(&srv, se_auditor, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "access log for the sending country's auditor");
    ck_assert_ptr_nonnull(strstr(r.body, c_agency));
    h_resp_free(&r);

    /* The former owner keeps the summary and timeline, not the personal data. */
    p = person_as(a_worker, id, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(json_object_size(p), 0);
    json_decref(p);
    /* The log shows every step. */
    snprintf(path, sizeof path, "/v1/handovers?case_id=%s", id);
    h_api(&srv, auditor, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "handovers");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 4);
    ck_assert_ptr_nonnull(strstr(r.body, "\"to_country\":\"PH\""));
    h_resp_free(&r);
    ck_assert(verify_ok(NULL, NULL));
}
END_TEST

/* Round trips to PostgreSQL per offer and per acceptance within this instance (counted by
 * trmd, logged when it stops): the offer or answer (with BEGIN, the context and the re-check
 * of the remembered token), then the referral read with COMMIT. Connects, each token's first
 * lookup and a maintenance round are the slack. */
START_TEST(two_round_trips_per_offer_and_accept)
{
    enum { N = 8 };
    char ids[N][37], body[N][512], rec[200];
    snprintf(rec, sizeof rec, "{\"agency_ids\": [\"%s\"], \"countries\": [\"PH\"]}", b_agency);
    for (int i = 0; i < N; i++) {
        char cid[37];
        new_case(ids[i]);
        consent(ids[i], "\"identity\", \"contact\"", rec, cid);
        snprintf(
            body[i], sizeof body[i],
            "{\"to_agency_id\": \"%s\", \"kind\": \"referral\", \"purpose\": \"accommodation\", "
            "\"categories\": [\"identity\"], \"handling_code\": \"H2\", "
            "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"}",
            b_agency, cid);
    }
    const char *env[] = {"TRM_MAINTENANCE_INTERVAL_MS=600000", NULL};
    struct trmd quiet;
    h_trmd_start(&quiet, env);
    for (int i = 0; i < N; i++) {
        char path[128], rid[37];
        struct h_resp r;
        snprintf(path, sizeof path, "/v1/cases/%s/referrals", ids[i]);
        h_api(&quiet, a_worker, "POST", path, body[i], NULL, &r);
        h_expect(&r, 201, "offer");
        snprintf(rid, sizeof rid, "%s", h_str(&r, "id"));
        h_resp_free(&r);
        snprintf(path, sizeof path, "/v1/referrals/%s/accept", rid);
        h_api(&quiet, b_worker, "POST", path, NULL, NULL, &r);
        h_expect(&r, 200, "accept");
        h_resp_free(&r);
    }
    long requests = 0, round_trips = 0;
    h_trmd_stop_counts(&quiet, &requests, &round_trips);
    ck_assert_int_ge(requests, 2 * N);
    ck_assert_msg(round_trips <= 2 * requests + 8, "%ld round trips for %ld requests", round_trips,
                  requests);
}
END_TEST

START_TEST(expiry_withdrawal_and_consent_end)
{
    char id[37], cid[37], rid[37], rec[200], basis[200];
    new_case(id);
    snprintf(rec, sizeof rec, "{\"agency_ids\": [\"%s\"]}", b_agency);
    consent(id, "\"identity\"", rec, cid);
    snprintf(basis, sizeof basis, "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"", cid);
    /* Withdrawn by the sender: the recipient can no longer accept. */
    ck_assert_int_eq(offer(a_worker, id, b_agency, "referral", "\"identity\"", basis, rid, NULL),
                     201);
    ck_assert_int_eq(answer(b_worker, rid, "withdraw", NULL), 403);
    ck_assert_int_eq(answer(a_worker, rid, "withdraw", NULL), 200);
    ck_assert_int_eq(answer(b_worker, rid, "accept", NULL), 409);
    /* Past its deadline: refused with nothing written; then trmd marks it expired. */
    ck_assert_int_eq(offer(a_worker, id, b_agency, "referral", "\"identity\"", basis, rid, NULL),
                     201);
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {rid};
    PQclear(PQexecParams(pg,
                         "UPDATE referrals SET expires_at = now() + interval '1 second' "
                         "WHERE id = $1",
                         1, NULL, p, NULL, NULL, 0));
    PQfinish(pg);
    sleep(2);
    long status = answer(b_worker, rid, "accept", NULL);
    ck_assert_int_eq(status, 409);
    for (int i = 0; i < 50 && h_count("SELECT count(*) FROM referrals WHERE id = $1 AND status = "
                                      "'expired'",
                                      rid) == 0;
         i++)
        usleep(100000);
    ck_assert_int_eq(
        h_count("SELECT count(*) FROM handover_log WHERE referral_id = $1 AND action = "
                "'expire'",
                rid),
        1);
    /* Accepted, then the consent is withdrawn: access ends, and the log says so. */
    ck_assert_int_eq(offer(a_worker, id, b_agency, "referral", "\"identity\"", basis, rid, NULL),
                     201);
    ck_assert_int_eq(answer(b_worker, rid, "accept", NULL), 200);
    json_t *person = person_as(b_worker, id, &status);
    ck_assert_ptr_nonnull(json_object_get(person, "identity"));
    json_decref(person);
    char path[200];
    snprintf(path, sizeof path, "/v1/cases/%s/consents/%s/withdraw", id, cid);
    struct h_resp r;
    h_api(&srv, a_worker, "POST", path, "{\"reason\": \"withdrawn by the person\"}", NULL, &r);
    h_expect(&r, 200, "withdraw consent");
    h_resp_free(&r);
    person = person_as(b_worker, id, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(json_object_size(person), 0);
    json_decref(person);
    ck_assert_int_eq(
        h_count("SELECT count(*) FROM handover_log WHERE referral_id = $1 AND action = "
                "'consent_withdrawal'",
                rid),
        1);
    /* Without consent: a vital interest needs a coordinator and a reason, and is flagged. */
    ck_assert_int_eq(offer(a_worker, id, c_agency, "referral", "\"identity\"",
                           "\"legal_basis\": \"vital_interest\", \"reason\": \"danger\"", NULL,
                           NULL),
                     409);
    ck_assert_int_eq(offer(a_coord, id, c_agency, "referral", "\"identity\"",
                           "\"legal_basis\": \"vital_interest\"", NULL, NULL),
                     409);
    ck_assert_int_eq(offer(a_coord, id, c_agency, "referral", "\"identity\"",
                           "\"legal_basis\": \"vital_interest\", \"reason\": \"life at risk\"",
                           NULL, &r),
                     201);
    ck_assert(json_is_true(json_object_get(r.json, "flagged")));
    h_resp_free(&r);
    ck_assert(verify_ok(NULL, NULL));
}
END_TEST

/* The referral as token sees it, its summary's interpreter need (NULL: none), a new ref. */
static json_t *interpreter_as(const char *token, const char *rid)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    struct h_resp r;
    h_api(&srv, token, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "referral");
    json_t *i = json_incref(json_object_get(json_object_get(r.json, "summary"), "interpreter"));
    h_resp_free(&r);
    return i;
}

static long summary_reads(const char *id, const char *agency)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM access_log WHERE case_id = $1 AND purpose = 'offer_summary' "
             "AND categories = '{contact}' AND agency_id = '%s'",
             agency);
    return h_count(sql, id);
}

/* The offer's summary states the interpreter need (docs/documents.md) only when the person
 * consented to share their contact data with the recipient: under a consent covering it,
 * contact offered. Not with a consent that leaves contact out, not without consent, not
 * once the offer is withdrawn or the consent is; each read logged. */
START_TEST(the_summary_states_the_interpreter_need_only_with_consent)
{
    char id[37], cid[37], cid_identity[37], rid[37], rec[200], basis[200], body[2048];
    snprintf(body, sizeof body,
             "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-10\", \"person\": {"
             "\"identity\": {\"full_name\": \"Name %s\"}, \"contact\": {\"address\": \"Addr %s\", "
             "\"communication\": {\"languages\": [\"tl\", \"en\"], \"interpreter_needed\": true, "
             "\"preferred_channel\": \"through_caseworker\", \"safe_times\": \"Noon %s\"}}}}",
             sentinel, sentinel, sentinel);
    struct h_resp r;
    h_api(&srv, a_worker, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create case");
    snprintf(id, sizeof id, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(rec, sizeof rec, "{\"agency_ids\": [\"%s\", \"%s\"]}", b_agency, c_agency);
    consent(id, "\"identity\", \"contact\"", rec, cid);
    consent(id, "\"identity\"", rec, cid_identity);

    /* With the consent, contact offered: the recipient sees it before accepting. */
    snprintf(basis, sizeof basis, "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"", cid);
    ck_assert_int_eq(
        offer(a_worker, id, b_agency, "referral", "\"identity\", \"contact\"", basis, rid, NULL),
        201);
    ck_assert_int_eq(h_count("SELECT count(*) FROM referrals WHERE id = $1 AND sealed_interpreter "
                             "IS NOT NULL AND position(convert_to('\"tl\"', 'UTF8') in "
                             "sealed_interpreter) = 0",
                             rid),
                     1);
    long before = summary_reads(id, b_agency);
    json_t *i = interpreter_as(b_worker, rid);
    ck_assert_ptr_nonnull(i);
    ck_assert(json_is_true(json_object_get(i, "needed")));
    ck_assert_int_eq(json_array_size(json_object_get(i, "languages")), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(i, "languages"), 0)), "tl");
    ck_assert_int_eq(json_object_size(i), 2); /* nothing else of contact */
    json_decref(i);
    ck_assert_int_eq(summary_reads(id, b_agency), before + 1);
    /* Not in the inbox list, and the recipient still cannot read the case. */
    h_api(&srv, b_worker, "GET", "/v1/referrals?direction=incoming", NULL, NULL, &r);
    h_expect(&r, 200, "inbox");
    ck_assert_ptr_null(strstr(r.body, "interpreter"));
    h_resp_free(&r);
    long status;
    json_t *person = person_as(b_worker, id, &status);
    ck_assert_int_eq(status, 404);
    json_decref(person);
    /* The sender sees it too; withdrawn, nobody does. */
    i = interpreter_as(a_worker, rid);
    ck_assert_ptr_nonnull(i);
    json_decref(i);
    ck_assert_int_eq(answer(a_worker, rid, "withdraw", NULL), 200);
    i = interpreter_as(b_worker, rid);
    ck_assert_ptr_null(i);

    /* A consent that leaves contact out: contact cannot be offered, and nothing is said. */
    snprintf(basis, sizeof basis, "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"",
             cid_identity);
    ck_assert_int_eq(
        offer(a_worker, id, b_agency, "referral", "\"identity\", \"contact\"", basis, NULL, NULL),
        409);
    ck_assert_int_eq(offer(a_worker, id, b_agency, "referral", "\"identity\"", basis, rid, NULL),
                     201);
    ck_assert_int_eq(
        h_count("SELECT count(*) FROM referrals WHERE id = $1 AND sealed_interpreter IS NULL", rid),
        1);
    ck_assert_ptr_null(interpreter_as(b_worker, rid));
    ck_assert_int_eq(answer(a_worker, rid, "withdraw", NULL), 200);
    /* The consent covers contact but the offer leaves it out: nothing either. */
    snprintf(basis, sizeof basis, "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"", cid);
    ck_assert_int_eq(offer(a_worker, id, b_agency, "referral", "\"identity\"", basis, rid, NULL),
                     201);
    ck_assert_ptr_null(interpreter_as(b_worker, rid));
    ck_assert_int_eq(answer(a_worker, rid, "withdraw", NULL), 200);
    /* Without consent (a vital interest), even with contact offered: nothing. */
    ck_assert_int_eq(offer(a_coord, id, b_agency, "referral", "\"identity\", \"contact\"",
                           "\"legal_basis\": \"vital_interest\", \"reason\": \"life at risk\"", rid,
                           NULL),
                     201);
    ck_assert_ptr_null(interpreter_as(b_worker, rid));
    ck_assert_int_eq(answer(a_coord, rid, "withdraw", NULL), 200);
    ck_assert_int_eq(summary_reads(id, b_agency), before + 1);

    /* The consent withdrawn while an offer under it is open: no longer said. */
    ck_assert_int_eq(
        offer(a_worker, id, c_agency, "referral", "\"identity\", \"contact\"", basis, rid, NULL),
        201);
    i = interpreter_as(c_worker, rid);
    ck_assert_ptr_nonnull(i);
    json_decref(i);
    char path[200];
    snprintf(path, sizeof path, "/v1/cases/%s/consents/%s/withdraw", id, cid);
    h_api(&srv, a_worker, "POST", path, "{\"reason\": \"withdrawn by the person\"}", NULL, &r);
    h_expect(&r, 200, "withdraw consent");
    h_resp_free(&r);
    ck_assert_ptr_null(interpreter_as(c_worker, rid));
    ck_assert_int_eq(summary_reads(id, c_agency), 1);

    /* A transfer accepted re-keys the case: the extracts sealed under the old key go with
     * it (the new custodian reads the person's contact data itself). */
    consent(id, "\"identity\", \"contact\"", rec, cid);
    snprintf(basis, sizeof basis, "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"", cid);
    ck_assert_int_eq(
        offer(a_worker, id, b_agency, "transfer", "\"identity\", \"contact\"", basis, rid, NULL),
        201);
    ck_assert_int_gt(h_count("SELECT count(*) FROM referrals WHERE case_id = $1 AND "
                             "sealed_interpreter IS NOT NULL",
                             id),
                     0);
    ck_assert_int_eq(answer(b_worker, rid, "accept", NULL), 200);
    ck_assert_int_eq(h_count("SELECT count(*) FROM referrals WHERE case_id = $1 AND "
                             "sealed_interpreter IS NOT NULL",
                             id),
                     0);
    person = person_as(b_worker, id, &status);
    ck_assert_int_eq(status, 200);
    ck_assert(json_is_true(
        json_object_get(json_object_get(json_object_get(person, "contact"), "communication"),
                        "interpreter_needed")));
    json_decref(person);
}
END_TEST

static void owner_exec(const char *sql)
{
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    PGresult *r = PQexec(pg, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
}

/* The export as the caller may see it (query: NULL or "from=...&to=..."), written to file;
 * its lines parsed into *items when items is not NULL. */
static void export_as(const char *token, const char *query, char file[512], json_t **items)
{
    static int n;
    char path[256], name[64];
    snprintf(path, sizeof path, "/v1/handovers/export%s%s", query ? "?" : "", query ? query : "");
    struct h_resp r;
    h_api(&srv, token, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "export");
    snprintf(name, sizeof name, "export-%d.ndjson", n++);
    h_tmp_path(file, 512, name);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    if (items) {
        *items = json_array();
        for (char *line = r.body; line && *line; line = strchr(line, '\n')) {
            line += *line == '\n';
            if (*line == '\0')
                break;
            json_t *j = json_loadb(line, strcspn(line, "\n"), 0, NULL);
            ck_assert_msg(j != NULL, "an export line is not JSON");
            json_array_append_new(*items, j);
        }
    }
    h_resp_free(&r);
}

/* trmctl verify-log on file with this instance's public key; its exit status. */
static int verify_log(const char *file, const char *flags, char *out, size_t cap)
{
    static char pk[80];
    if (pk[0] == '\0') {
        struct h_resp r;
        h_api(&srv, auditor, "GET", "/v1/keys/signing", NULL, NULL, &r);
        snprintf(pk, sizeof pk, "%s", h_str(&r, "public_key"));
        h_resp_free(&r);
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "verify-log '%s' --public-key %s %s", file, pk, flags ? flags : "");
    return h_trmctl(cmd, out, cap);
}

static const char *type_of(json_t *item)
{
    return json_string_value(json_object_get(item, "type"));
}

static long long seq_of(json_t *item)
{
    return json_integer_value(json_object_get(item, "seq"));
}

START_TEST(tampering_is_found)
{
    char id[37], cid[37], rec[200], basis[200];
    new_case(id);
    snprintf(rec, sizeof rec, "{\"agency_ids\": [\"%s\"]}", b_agency);
    consent(id, "\"identity\"", rec, cid);
    snprintf(basis, sizeof basis, "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"", cid);
    ck_assert_int_eq(offer(a_worker, id, b_agency, "referral", "\"identity\"", basis, NULL, NULL),
                     201);
    long entries = 0, bad = 0;
    ck_assert(verify_ok(&entries, NULL));
    ck_assert_int_ge(entries, 1);
    char target[24], sql[1024];
    snprintf(target, sizeof target, "%ld", entries);
    /* The application role cannot change the log at all. */
    PGconn *app = h_pg("TRM_TEST_APP_URL");
    PGresult *q = PQexec(app, "UPDATE handover_log SET handling_code = 'H0'");
    ck_assert_int_eq(PQresultStatus(q), PGRES_FATAL_ERROR);
    PQclear(q);
    q = PQexec(app, "DELETE FROM handover_log");
    ck_assert_int_eq(PQresultStatus(q), PGRES_FATAL_ERROR);
    PQclear(q);
    PQfinish(app);
    /* The owner can, with the triggers off: verify names the entry. Each change is undone. */
    owner_exec("ALTER TABLE handover_log DISABLE TRIGGER handover_log_append_only");
    snprintf(sql, sizeof sql, "UPDATE handover_log SET handling_code = 'H3' WHERE seq = %s - 1",
             target);
    owner_exec(sql);
    ck_assert(!verify_ok(NULL, &bad));
    ck_assert_int_eq(bad, entries - 1);
    /* No checkpoint is signed over the changed entry or after it up to the next checkpoint
     * (an export's ends, the maintenance round's head): that would seal a rewritten log. */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM generate_series(%s - 1, (SELECT coalesce(min(k.seq), h.seq) "
             "FROM handover_head h LEFT JOIN handover_checkpoints k ON k.seq >= %s - 1 "
             "GROUP BY h.seq)) s WHERE trm_handover_seal_basis(s) ->> 'hash' IS NOT NULL",
             target, target);
    ck_assert_int_eq(h_count(sql, NULL), 0);
    snprintf(sql, sizeof sql, "UPDATE handover_log SET handling_code = 'H2' WHERE seq = %s - 1",
             target);
    owner_exec(sql);
    ck_assert(verify_ok(NULL, NULL));
    snprintf(sql, sizeof sql,
             "CREATE TEMP TABLE keep AS SELECT * FROM handover_log WHERE seq = %s - 1; "
             "DELETE FROM handover_log WHERE seq = %s - 1",
             target, target);
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    PQclear(PQexec(pg, sql));
    ck_assert(!verify_ok(NULL, &bad));
    ck_assert_int_eq(bad, entries - 1);
    PQclear(PQexec(pg, "INSERT INTO handover_log SELECT * FROM keep"));
    PQfinish(pg);
    ck_assert(verify_ok(NULL, NULL));
    /* Reorder: swap the contents of two entries. */
    snprintf(sql, sizeof sql,
             "UPDATE handover_log SET seq = -seq WHERE seq IN (%s - 1, %s); "
             "UPDATE handover_log SET seq = CASE WHEN seq = -%s THEN %s - 1 ELSE %s END "
             "WHERE seq < 0",
             target, target, target, target, target);
    owner_exec(sql);
    ck_assert(!verify_ok(NULL, &bad));
    ck_assert_int_eq(bad, entries - 1);
    snprintf(sql, sizeof sql,
             "UPDATE handover_log SET seq = -seq WHERE seq IN (%s - 1, %s); "
             "UPDATE handover_log SET seq = CASE WHEN seq = -%s THEN %s - 1 ELSE %s END "
             "WHERE seq < 0",
             target, target, target, target, target);
    owner_exec(sql);
    owner_exec("ALTER TABLE handover_log ENABLE TRIGGER handover_log_append_only");
    ck_assert(verify_ok(NULL, NULL));

    /* Export and verify offline; an altered export names the entry. */
    char file[512], cmd[1200], out[512];
    export_as(auditor, NULL, file, NULL);
    ck_assert_msg(verify_log(file, NULL, out, sizeof out) == 0, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "ok:"));
    snprintf(cmd, sizeof cmd,
             "sed -i '0,/\"handling_code\":\"H2\"/s//\"handling_code\":\"H1\"/' '%s'", file);
    ck_assert_int_eq(h_sh(cmd), 0);
    ck_assert_int_ne(verify_log(file, NULL, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "entry "));
}
END_TEST

/* An export from the middle of the log starts with the signed checkpoint over the entry
 * before it and ends with one over its last entry (signed on the spot when missing), so it
 * verifies offline on its own; so does the whole log. */
START_TEST(an_export_is_sealed_at_both_ends)
{
    char id[37], cid[37], rid[37], rec[200], basis[200];
    new_case(id);
    snprintf(rec, sizeof rec, "{\"agency_ids\": [\"%s\"]}", b_agency);
    consent(id, "\"identity\"", rec, cid);
    snprintf(basis, sizeof basis, "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"", cid);
    /* Three entries more than a second apart (the range is given to the second). */
    ck_assert_int_eq(offer(a_worker, id, b_agency, "referral", "\"identity\"", basis, rid, NULL),
                     201);
    usleep(1100000);
    ck_assert_int_eq(answer(a_worker, rid, "withdraw", NULL), 200);
    usleep(1100000);
    ck_assert_int_eq(offer(a_worker, id, b_agency, "referral", "\"identity\"", basis, rid, NULL),
                     201);
    char path[160], query[128];
    snprintf(path, sizeof path, "/v1/handovers?case_id=%s", id);
    struct h_resp r;
    h_api(&srv, auditor, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the case's handovers");
    json_t *mine = json_object_get(r.json, "items");
    ck_assert_int_eq(json_array_size(mine), 3);
    long long x = seq_of(json_array_get(mine, 0)), y = seq_of(json_array_get(mine, 1)),
              z = seq_of(json_array_get(mine, 2));
    const char *y_at = json_string_value(json_object_get(json_array_get(mine, 1), "at"));
    const char *z_at = json_string_value(json_object_get(json_array_get(mine, 2), "at"));
    snprintf(query, sizeof query, "from=%.19sZ&to=%.19sZ", y_at, z_at);
    h_resp_free(&r);

    char file[512], out[512];
    json_t *items;
    export_as(auditor, query, file, &items);
    size_t n = json_array_size(items);
    ck_assert_uint_ge(n, 3);
    json_t *top = json_array_get(items, 0), *end = json_array_get(items, n - 1);
    json_t *first = json_array_get(items, 1), *last = json_array_get(items, n - 2);
    ck_assert_str_eq(type_of(top), "checkpoint");
    ck_assert_str_eq(type_of(first), "entry");
    ck_assert_int_eq(seq_of(top), seq_of(first) - 1);
    ck_assert_str_eq(type_of(end), "checkpoint");
    ck_assert_int_eq(seq_of(end), seq_of(last));
    /* Y is in, X and Z are not. */
    ck_assert_int_gt(seq_of(first), x);
    ck_assert_int_le(seq_of(first), y);
    ck_assert_int_ge(seq_of(last), y);
    ck_assert_int_lt(seq_of(last), z);
    json_decref(items);
    ck_assert_msg(verify_log(file, NULL, out, sizeof out) == 0, "%s", out);
    /* The whole log. */
    export_as(auditor, NULL, file, &items);
    n = json_array_size(items);
    ck_assert_str_eq(type_of(json_array_get(items, 0)), "entry");
    ck_assert_int_eq(seq_of(json_array_get(items, 0)), 1);
    ck_assert_str_eq(type_of(json_array_get(items, n - 1)), "checkpoint");
    ck_assert_int_ge(seq_of(json_array_get(items, n - 1)), z);
    json_decref(items);
    ck_assert_msg(verify_log(file, NULL, out, sizeof out) == 0, "%s", out);
    /* A day that does not exist. */
    h_api(&srv, auditor, "GET", "/v1/handovers/export?from=2026-02-30", NULL, NULL, &r);
    h_assert_problem(&r, 400, "invalid_parameter");
    h_resp_free(&r);
}
END_TEST

static bool verify_as(const char *token, long *entries, long *links)
{
    struct h_resp r;
    h_api(&srv, token, "GET", "/v1/handovers/verify", NULL, NULL, &r);
    h_expect(&r, 200, "verify");
    bool ok = json_is_true(json_object_get(r.json, "ok"));
    ck_assert_msg(ok, "%s", r.body);
    *entries = (long)json_integer_value(json_object_get(r.json, "entries"));
    *links = (long)json_integer_value(json_object_get(r.json, "links"));
    h_resp_free(&r);
    return ok;
}

/* Export and verify show each caller what the list shows them: a coordinator of an unrelated
 * agency in another country sees every entry only as a link (seq and hashes), a country's
 * auditor the entries of its country in full; both exports verify offline. */
START_TEST(export_and_verify_keep_to_the_callers_scope)
{
    char id[37], cid[37], rec[200], basis[200], user[37], dk_agency[37], dk_coord[128];
    char se_auditor[128], path[160];
    h_agency(&srv, admin, "DK", "police", dk_agency);
    h_user(&srv, admin, dk_agency, "coordinator", false, user, dk_coord);
    h_user(&srv, admin, a_agency, "auditor", false, user, se_auditor);
    new_case(id);
    snprintf(rec, sizeof rec, "{\"agency_ids\": [\"%s\"]}", b_agency);
    consent(id, "\"identity\"", rec, cid);
    snprintf(basis, sizeof basis, "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"", cid);
    ck_assert_int_eq(offer(a_worker, id, b_agency, "referral", "\"identity\"", basis, NULL, NULL),
                     201);
    /* The list shows the Danish coordinator nothing of it. */
    snprintf(path, sizeof path, "/v1/handovers?case_id=%s", id);
    struct h_resp r;
    h_api(&srv, dk_coord, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "list");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 0);
    h_resp_free(&r);

    /* Neither does the export: links and checkpoints only, and nothing names a case, an
     * agency or a consent. */
    char file[512], out[512];
    json_t *items;
    export_as(dk_coord, NULL, file, &items);
    size_t i;
    json_t *it;
    long links = 0;
    json_array_foreach(items, i, it)
    {
        const char *type = type_of(it);
        ck_assert_msg(strcmp(type, "link") == 0 || strcmp(type, "checkpoint") == 0,
                      "the Danish coordinator's export holds an item of type %s", type);
        if (strcmp(type, "link") == 0) {
            ck_assert_int_eq(json_object_size(it), 4);
            links++;
        }
    }
    json_decref(items);
    ck_assert_int_gt(links, 0);
    const char *secrets[] = {id, cid, a_agency, b_agency};
    for (int k = 0; k < 4; k++) {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "! grep -q '%s' '%s'", secrets[k], file);
        ck_assert_msg(h_sh(cmd) == 0, "the Danish coordinator's export names %s", secrets[k]);
    }
    ck_assert_msg(verify_log(file, NULL, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "(0 verified in full") != NULL, "%s", out);
    long entries = -1, verify_links = 0;
    verify_as(dk_coord, &entries, &verify_links);
    ck_assert_int_eq(entries, 0);
    ck_assert_int_ge(verify_links, links);

    /* The Swedish auditor sees the Swedish entries in full, others as links. */
    export_as(se_auditor, NULL, file, &items);
    bool found = false;
    json_array_foreach(items, i, it)
    {
        if (strcmp(type_of(it), "entry") == 0) {
            const char *from = json_string_value(json_object_get(it, "from_country"));
            const char *to = json_string_value(json_object_get(it, "to_country"));
            ck_assert(strcmp(from, "SE") == 0 || strcmp(to, "SE") == 0);
            const char *c = json_string_value(json_object_get(it, "case_id"));
            found |= strcmp(c, id) == 0;
        }
    }
    json_decref(items);
    ck_assert(found);
    ck_assert_msg(verify_log(file, NULL, out, sizeof out) == 0, "%s", out);
    verify_as(se_auditor, &entries, &verify_links);
    ck_assert_int_gt(entries, 0);
}
END_TEST

/* The list's policy and the chain of export and verify use one predicate, a plain SQL
 * function the planner inlines into the policy (no SECURITY DEFINER, no SET clause). */
START_TEST(the_scope_is_one_inlined_predicate)
{
    ck_assert_int_eq(h_count("SELECT count(*) FROM pg_proc p JOIN pg_language l ON "
                             "l.oid = p.prolang WHERE p.proname = 'trm_handover_in_scope' AND "
                             "l.lanname = 'sql' AND NOT p.prosecdef AND p.proconfig IS NULL "
                             "AND NOT p.proisstrict",
                             NULL),
                     1);
    ck_assert_int_eq(h_count("SELECT count(*) FROM pg_policy WHERE polname = "
                             "'handover_log_audit' AND pg_get_expr(polqual, polrelid) LIKE "
                             "'%trm_handover_in_scope(%'",
                             NULL),
                     1);
    ck_assert_int_eq(h_count("SELECT count(*) FROM pg_proc WHERE proname = "
                             "'trm_handover_chain' AND prosrc LIKE '%trm_handover_in_scope(%'",
                             NULL),
                     1);
    /* Inlined: the plan filters on the context settings, no function call per row. */
    PGconn *app = h_pg("TRM_TEST_APP_URL");
    PQclear(PQexec(app, "BEGIN; SELECT set_config('trm.role', 'auditor', true), "
                        "set_config('trm.country', 'SE', true)"));
    PGresult *r = PQexec(app, "EXPLAIN (VERBOSE, COSTS OFF) SELECT seq FROM handover_log");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    bool settings = false, call = false;
    for (int i = 0; i < PQntuples(r); i++) {
        settings |= strstr(PQgetvalue(r, i, 0), "current_setting") != NULL;
        call |= strstr(PQgetvalue(r, i, 0), "trm_handover_in_scope") != NULL;
    }
    PQclear(r);
    PQclear(PQexec(app, "ROLLBACK"));
    PQfinish(app);
    ck_assert_msg(settings && !call, "the policy's predicate is not inlined");
}
END_TEST

/* Neither the log nor its checkpoints can be emptied, not even by the owner role. */
START_TEST(the_log_and_its_checkpoints_refuse_truncate)
{
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *tables[] = {"handover_log", "handover_checkpoints"};
    for (int i = 0; i < 2; i++) {
        char sql[128];
        PQclear(PQexec(pg, "BEGIN"));
        snprintf(sql, sizeof sql, "TRUNCATE %s", tables[i]);
        PGresult *r = PQexec(pg, sql);
        ck_assert_msg(PQresultStatus(r) == PGRES_FATAL_ERROR, "TRUNCATE %s was allowed", tables[i]);
        ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42501");
        PQclear(r);
        PQclear(PQexec(pg, "ROLLBACK"));
    }
    PQfinish(pg);
}
END_TEST

struct racer {
    char id[37], basis[200];
    long status;
};

static void *race(void *arg)
{
    struct racer *x = arg;
    x->status = offer(a_worker, x->id, b_agency, "referral", "\"identity\"", x->basis, NULL, NULL);
    return NULL;
}

START_TEST(concurrent_handovers_make_one_chain)
{
    enum { N = 100 };
    struct racer *rc = calloc(N, sizeof *rc);
    char rec[200];
    snprintf(rec, sizeof rec, "{\"agency_ids\": [\"%s\"]}", b_agency);
    for (int i = 0; i < N; i++) {
        char cid[37];
        new_case(rc[i].id);
        consent(rc[i].id, "\"identity\"", rec, cid);
        snprintf(rc[i].basis, sizeof rc[i].basis,
                 "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"", cid);
    }
    long before = h_count("SELECT count(*) FROM handover_log", NULL);
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        pthread_create(&th[i], NULL, race, &rc[i]);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(rc[i].status, 201);
    }
    ck_assert_int_ge(h_count("SELECT count(*) FROM handover_log", NULL), before + N);
    ck_assert_int_eq(h_count("SELECT max(seq) - count(*) FROM handover_log", NULL), 0);
    long entries = 0;
    ck_assert(verify_ok(&entries, NULL));
    ck_assert_int_ge(entries, before + N);
    free(rc);
}
END_TEST

struct offer_stream {
    struct racer *rc;
    int n;
    _Atomic int done;
};

static void *offer_all(void *arg)
{
    struct offer_stream *x = arg;
    for (int i = 0; i < x->n; i++)
        race(&x->rc[i]);
    x->done = 1;
    return NULL;
}

/* Offers appended while verify reads the chain: verify sees one snapshot (the head and every
 * entry and checkpoint as of one moment), so a busy log is never reported as cut short. */
START_TEST(verify_under_load_sees_one_snapshot)
{
    enum { N = 40 };
    struct racer *rc = calloc(2 * N, sizeof *rc);
    char rec[200];
    snprintf(rec, sizeof rec, "{\"agency_ids\": [\"%s\"]}", b_agency);
    for (int i = 0; i < 2 * N; i++) {
        char cid[37];
        new_case(rc[i].id);
        consent(rc[i].id, "\"identity\"", rec, cid);
        snprintf(rc[i].basis, sizeof rc[i].basis,
                 "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"", cid);
    }
    struct offer_stream streams[2] = {{rc, N, 0}, {rc + N, N, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, offer_all, &streams[i]);
    int verified = 0, failed = 0;
    long bad = 0;
    while (!streams[0].done || !streams[1].done) {
        if (!verify_ok(NULL, &bad))
            failed++;
        verified++;
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2 * N; i++)
        ck_assert_int_eq(rc[i].status, 201);
    ck_assert_msg(failed == 0, "%d of %d verifications failed under load (first bad seq %ld)",
                  failed, verified, bad);
    ck_assert_int_ge(verified, 5);
    free(rc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("referrals");
    TCase *tc = tcase_create("referrals");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, sweden_to_philippines);
    tcase_add_test(tc, two_round_trips_per_offer_and_accept);
    tcase_add_test(tc, expiry_withdrawal_and_consent_end);
    tcase_add_test(tc, the_summary_states_the_interpreter_need_only_with_consent);
    tcase_add_test(tc, tampering_is_found);
    tcase_add_test(tc, the_log_and_its_checkpoints_refuse_truncate);
    tcase_add_test(tc, an_export_is_sealed_at_both_ends);
    tcase_add_test(tc, export_and_verify_keep_to_the_callers_scope);
    tcase_add_test(tc, the_scope_is_one_inlined_predicate);
    tcase_add_test(tc, concurrent_handovers_make_one_chain);
    tcase_add_test(tc, verify_under_load_sees_one_snapshot);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
