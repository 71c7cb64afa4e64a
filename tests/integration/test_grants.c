/* Consent-bound disclosure (issue 16): a pending offer does not outlive its consent (withdrawn
 * or expired, referral or transfer), a transfer hands over only the consented categories
 * under a fresh key, a withdrawal racing an acceptance in another trmd leaves one winner, and
 * every row-level security policy is a plain expression the planner inlines. */
#include "check_run.h"
#include "harness.h"

#include "trm/cases.h"
#include "trm/crypto.h"
#include "trm/keyring.h"
#include "trm/util.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct trmd srv;
static char admin[128], a_agency[37], b_agency[37];
static char a_worker[128], a_coord[128], b_worker[128];
static char sentinel[24];

static void setup(void)
{
    char user[37];
    /* No maintenance round during the tests that need an expired consent to stay
     * unprocessed: they start their own trmd for the round. */
    const char *env[] = {"TRM_MAINTENANCE_INTERVAL_MS=600000", NULL};
    h_trmd_start(&srv, env);
    h_admin(admin, "SE");
    h_agency(&srv, admin, "SE", "social_services", a_agency);
    h_agency(&srv, admin, "SE", "ngo", b_agency);
    h_user(&srv, admin, a_agency, "caseworker", false, user, a_worker);
    h_user(&srv, admin, a_agency, "coordinator", false, user, a_coord);
    h_user(&srv, admin, b_agency, "caseworker", false, user, b_worker);
    snprintf(sentinel, sizeof sentinel, "Gr%dKw", getpid());
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

static void new_case(const struct trmd *t, char id[37])
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
    h_api(t, a_worker, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create case");
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

/* A data-sharing consent for agency b; expires_at may be NULL. */
static void consent(const struct trmd *t, const char *id, const char *categories,
                    const char *expires_at, char cid[37])
{
    char path[128], body[512], exp[64] = "";
    snprintf(path, sizeof path, "/v1/cases/%s/consents", id);
    if (expires_at)
        snprintf(exp, sizeof exp, ", \"expires_at\": \"%s\"", expires_at);
    snprintf(body, sizeof body,
             "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\", \"categories\": [%s], "
             "\"recipients\": {\"agency_ids\": [\"%s\"]}%s}",
             categories, b_agency, exp);
    struct h_resp r;
    h_api(t, a_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "consent");
    snprintf(cid, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static void offer(const struct trmd *t, const char *id, const char *kind, const char *categories,
                  const char *cid, char rid[37])
{
    char path[128], body[1024];
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", id);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"%s\", \"purpose\": \"accommodation\", "
             "\"categories\": [%s], \"handling_code\": \"H2\", \"legal_basis\": \"consent\", "
             "\"consent_id\": \"%s\"}",
             b_agency, kind, categories, cid);
    struct h_resp r;
    h_api(t, a_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "offer");
    snprintf(rid, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static long post(const struct trmd *t, const char *token, const char *path, const char *body,
                 char code[40])
{
    struct h_resp r;
    h_api(t, token, "POST", path, body, NULL, &r);
    long status = r.status;
    if (code)
        snprintf(code, 40, "%s", h_str(&r, "code") ? h_str(&r, "code") : "");
    h_resp_free(&r);
    return status;
}

static long withdraw_consent(const struct trmd *t, const char *id, const char *cid)
{
    char path[200];
    snprintf(path, sizeof path, "/v1/cases/%s/consents/%s/withdraw", id, cid);
    return post(t, a_worker, path, "{\"reason\": \"changed her mind\"}", NULL);
}

static long accept(const struct trmd *t, const char *rid, char code[40])
{
    char path[128];
    snprintf(path, sizeof path, "/v1/referrals/%s/accept", rid);
    return post(t, b_worker, path, NULL, code);
}

/* What b sees of the case: the status of GET /v1/cases/{id}, and whether any personal value
 * of the case reached it there. */
static long b_reads(const struct trmd *t, const char *id, bool *personal)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    struct h_resp r;
    h_api(t, b_worker, "GET", path, NULL, NULL, &r);
    long status = r.status;
    *personal = r.body && strstr(r.body, sentinel) != NULL;
    h_resp_free(&r);
    return status;
}

static long handovers(const char *rid, const char *action, const char *reason)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM handover_log WHERE referral_id = $1 AND action = '%s' "
             "AND reason IS NOT DISTINCT FROM %s",
             action, reason ? reason : "NULL");
    return h_count(sql, rid);
}

/* Withdrawing the consent withdraws the offers resting on it: the acceptance is refused, the
 * log says why, and the recipient reads nothing (a transfer and a referral alike). */
static void withdrawn_consent_ends_offer(const char *kind)
{
    char id[37], cid[37], rid[37], code[40];
    new_case(&srv, id);
    consent(&srv, id, "\"identity\"", NULL, cid);
    offer(&srv, id, kind, "\"identity\"", cid, rid);
    ck_assert_int_eq(withdraw_consent(&srv, id, cid), 200);
    ck_assert_int_eq(accept(&srv, rid, code), 409);
    ck_assert_str_eq(code, "offer_answered");
    bool personal;
    ck_assert_int_eq(b_reads(&srv, id, &personal), 404);
    ck_assert(!personal);
    ck_assert_int_eq(handovers(rid, "withdraw", "'consent_withdrawn'"), 1);
    ck_assert_int_eq(handovers(rid, "accept", NULL), 0);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_grants WHERE referral_id = $1", rid), 0);
    ck_assert_int_eq(h_count("SELECT count(*) FROM referrals WHERE id = $1 AND status = "
                             "'withdrawn' AND end_code = 'consent_withdrawn'",
                             rid),
                     1);
}

START_TEST(pending_transfer_outlives_no_withdrawn_consent)
{
    withdrawn_consent_ends_offer("transfer");
}
END_TEST

START_TEST(pending_referral_outlives_no_withdrawn_consent)
{
    withdrawn_consent_ends_offer("referral");
}
END_TEST

static void utc_in(int seconds, char out[32])
{
    time_t t = time(NULL) + seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* An expired consent: the acceptance re-checks it under a lock (409 consent_withdrawn, no
 * grant, nothing readable) even before any maintenance round; the round then withdraws the
 * offer with the reason consent_expired, and an accepted referral's access ends at expiry. */
START_TEST(expired_consent_ends_offers_and_access)
{
    char id[37], cid[37], rid[37], code[40], soon[32], id2[37], cid2[37], rid2[37];
    utc_in(3, soon);
    new_case(&srv, id);
    consent(&srv, id, "\"identity\"", soon, cid);
    offer(&srv, id, "transfer", "\"identity\"", cid, rid);
    new_case(&srv, id2);
    consent(&srv, id2, "\"identity\"", soon, cid2);
    offer(&srv, id2, "referral", "\"identity\"", cid2, rid2);
    ck_assert_int_eq(accept(&srv, rid2, NULL), 200);
    bool personal;
    ck_assert_int_eq(b_reads(&srv, id2, &personal), 200);
    ck_assert(personal); /* while the consent stands */
    /* Other suites' trmd processes run maintenance rounds: keep this consent from them
     * until the acceptance has been tried (as if no round had run yet). */
    ck_assert_int_eq(h_count("WITH u AS (UPDATE consents SET expiry_processed_at = now() "
                             "WHERE id = $1 RETURNING 1) SELECT count(*) FROM u",
                             cid),
                     1);
    sleep(4);
    ck_assert_int_eq(accept(&srv, rid, code), 409);
    ck_assert_str_eq(code, "consent_withdrawn");
    ck_assert_int_eq(b_reads(&srv, id, &personal), 404);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_grants WHERE referral_id = $1", rid), 0);
    ck_assert_int_eq(handovers(rid, "accept", NULL), 0);
    /* The accepted referral's access ended with the consent, with no job needed. */
    ck_assert_int_eq(b_reads(&srv, id2, &personal), 200);
    ck_assert(!personal);
    /* A maintenance round: the offer is withdrawn and the end of access is logged. */
    ck_assert_int_eq(h_count("WITH u AS (UPDATE consents SET expiry_processed_at = NULL "
                             "WHERE id = $1 RETURNING 1) SELECT count(*) FROM u",
                             cid),
                     1);
    struct trmd m;
    const char *env[] = {"TRM_MAINTENANCE_INTERVAL_MS=100", NULL};
    h_trmd_start(&m, env);
    for (int i = 0; i < 100 && handovers(rid, "withdraw", "'consent_expired'") == 0; i++)
        usleep(100 * 1000);
    h_trmd_stop(&m);
    ck_assert_int_eq(handovers(rid, "withdraw", "'consent_expired'"), 1);
    ck_assert_int_eq(handovers(rid2, "consent_expiry", NULL), 1);
    ck_assert_int_eq(h_count("SELECT count(*) FROM consents WHERE id = $1 AND "
                             "expiry_processed_at IS NOT NULL",
                             cid),
                     1);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_grants WHERE referral_id = $1 AND "
                             "end_reason = 'consent_expired'",
                             rid2),
                     1);
}
END_TEST

static void get(const struct trmd *t, const char *token, const char *path, struct h_resp *r)
{
    h_api(t, token, "GET", path, NULL, NULL, r);
    h_expect(r, 200, path);
}

/* The first item of a list whose member equals value. */
static json_t *item_with(const struct h_resp *r, const char *member, const char *value)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(r->json, "items"), i, it)
    {
        const char *v = json_string_value(json_object_get(it, member));
        if (v && strcmp(v, value) == 0)
            return it;
    }
    return NULL;
}

/* The old key opens the note, the new key does not: the test can fail. */
static void new_key_cannot_open(const char *id, const char *note_id, const char *note_hex,
                                const char *old_kek, const char *old_wrapped)
{
    struct trm_keyring *kr = NULL;
    char err[200], new_kek[64], new_wrapped[200];
    ck_assert_msg(trm_keyring_load(&kr, h_key_file(), err, sizeof err), "%s", err);
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {id};
    PGresult *q = PQexecParams(pg,
                               "SELECT kek_id, encode(wrapped_dek, 'hex'), dek_version FROM "
                               "case_keys WHERE case_id = $1",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQntuples(q), 1);
    snprintf(new_kek, sizeof new_kek, "%s", PQgetvalue(q, 0, 0));
    snprintf(new_wrapped, sizeof new_wrapped, "%s", PQgetvalue(q, 0, 1));
    ck_assert_int_eq(atoi(PQgetvalue(q, 0, 2)), 2);
    PQclear(q);
    PQfinish(pg);
    uint8_t w[TRM_WRAPPED_DEK_BYTES];
    unsigned char *old_dek = trm_dek_alloc(), *new_dek = trm_dek_alloc();
    ck_assert(trm_hex_decode(old_wrapped, w, sizeof w) &&
              trm_dek_unwrap(kr, id, old_kek, w, sizeof w, old_dek));
    ck_assert(trm_hex_decode(new_wrapped, w, sizeof w) &&
              trm_dek_unwrap(kr, id, new_kek, w, sizeof w, new_dek));
    json_t *with_old = trm_open_json(old_dek, id, "notes", note_id, 1, note_hex);
    ck_assert_ptr_nonnull(with_old);
    json_decref(with_old);
    for (unsigned v = 1; v <= 2; v++)
        ck_assert_ptr_null(trm_open_json(new_dek, id, "notes", note_id, v, note_hex));
    trm_dek_free(old_dek);
    trm_dek_free(new_dek);
    trm_keyring_free(kr);
}

/* A transfer of identity only: the new custodian opens the identity, and nothing of the
 * former owner's notes, assessment details or guardian, which went with the old key. */
START_TEST(transfer_hands_over_only_consented)
{
    char id[37], cid[37], rid[37], path[200], body[512];
    new_case(&srv, id);
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s/events", id);
    snprintf(body, sizeof body, "{\"kind\": \"note\", \"note\": \"Note %s\"}", sentinel);
    h_api(&srv, a_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "note");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/assessments", id);
    snprintf(body, sizeof body,
             "{\"kind\": \"risk\", \"outcome\": \"high\", \"details\": \"Risk %s\"}", sentinel);
    h_api(&srv, a_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "assessment");
    ck_assert_str_eq(h_str(&r, "category"), "exploitation_details");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/guardians", id);
    snprintf(body, sizeof body,
             "{\"name\": \"Guardian %s\", \"appointed_by\": \"Court\", \"appointed_on\": "
             "\"2026-10-01\"}",
             sentinel);
    h_api(&srv, a_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "guardian");
    h_resp_free(&r);
    /* What the old key sealed, kept to try the new key on it afterwards. */
    char note_id[40], note_hex[1024], old_kek[64], old_wrapped[200];
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {id};
    PGresult *q = PQexecParams(pg,
                               "SELECT n.note_id, encode(n.sealed, 'hex'), k.kek_id, "
                               "encode(k.wrapped_dek, 'hex') FROM case_notes n JOIN case_keys k "
                               "USING (case_id) WHERE n.case_id = $1",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQntuples(q), 1);
    snprintf(note_id, sizeof note_id, "%s", PQgetvalue(q, 0, 0));
    snprintf(note_hex, sizeof note_hex, "%s", PQgetvalue(q, 0, 1));
    snprintf(old_kek, sizeof old_kek, "%s", PQgetvalue(q, 0, 2));
    snprintf(old_wrapped, sizeof old_wrapped, "%s", PQgetvalue(q, 0, 3));
    PQclear(q);
    PQfinish(pg);

    consent(&srv, id, "\"identity\"", NULL, cid);
    offer(&srv, id, "transfer", "\"identity\"", cid, rid);
    ck_assert_int_eq(accept(&srv, rid, NULL), 200);

    snprintf(path, sizeof path, "/v1/cases/%s", id);
    get(&srv, b_worker, path, &r);
    json_t *person = json_object_get(r.json, "person");
    ck_assert_ptr_nonnull(json_object_get(person, "identity"));
    ck_assert_int_eq(json_object_size(person), 1);
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/events", id);
    get(&srv, b_worker, path, &r);
    ck_assert_ptr_null(strstr(r.body, sentinel));
    json_t *ev = item_with(&r, "note_id", note_id);
    ck_assert_ptr_nonnull(ev);
    ck_assert(json_is_false(json_object_get(ev, "content_visible")));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/assessments", id);
    get(&srv, b_worker, path, &r);
    ck_assert_ptr_null(strstr(r.body, sentinel));
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 1); /* the outcome */
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/guardians", id);
    get(&srv, b_worker, path, &r);
    ck_assert_ptr_null(strstr(r.body, sentinel));
    h_resp_free(&r);
    /* The former owner keeps the summary and timeline, and opens nothing any more. */
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    get(&srv, a_worker, path, &r);
    ck_assert_int_eq(json_object_size(json_object_get(r.json, "person")), 0);
    h_resp_free(&r);
    /* Only identity is left, under a new key that does not open what the old one sealed. */
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_personal WHERE case_id = $1 AND "
                             "category <> 'identity'",
                             id),
                     0);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_notes WHERE case_id = $1", id), 0);
    ck_assert_int_eq(h_count("SELECT count(*) FROM assessments WHERE case_id = $1 AND "
                             "sealed_details IS NOT NULL",
                             id),
                     0);
    ck_assert_int_eq(
        h_count("SELECT count(*) FROM guardians WHERE case_id = $1 AND sealed IS NOT NULL", id), 0);
    new_key_cannot_open(id, note_id, note_hex, old_kek, old_wrapped);
}
END_TEST

/* The new custodian of a transfer of identity and narrative reads the narrative note the
 * former owner wrote, sealed again under its key; and the note's category decides, for a
 * referral too (granted categories open notes, others do not). */
START_TEST(consented_notes_travel)
{
    char id[37], cid[37], rid[37], path[200], body[512];
    new_case(&srv, id);
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s/events", id);
    snprintf(body, sizeof body, "{\"kind\": \"note\", \"note\": \"Story note %s\"}", sentinel);
    h_api(&srv, a_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "narrative note");
    h_resp_free(&r);
    snprintf(body, sizeof body,
             "{\"kind\": \"note\", \"note\": \"Health note %s\", \"category\": \"health\"}",
             sentinel);
    h_api(&srv, a_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "health note");
    h_resp_free(&r);
    consent(&srv, id, "\"identity\", \"narrative\"", NULL, cid);
    offer(&srv, id, "referral", "\"narrative\"", cid, rid);
    ck_assert_int_eq(accept(&srv, rid, NULL), 200);
    get(&srv, b_worker, path, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "Story note"));
    ck_assert_ptr_null(strstr(r.body, "Health note"));
    h_resp_free(&r);
    /* The access log names the category opened. */
    ck_assert_int_eq(h_count("SELECT count(*) FROM access_log WHERE case_id = $1 AND agency_id <> "
                             "(SELECT owner_agency_id FROM cases WHERE id = $1) AND categories = "
                             "'{narrative}'",
                             id),
                     1);
    offer(&srv, id, "transfer", "\"identity\", \"narrative\"", cid, rid);
    ck_assert_int_eq(accept(&srv, rid, NULL), 200);
    get(&srv, b_worker, path, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "Story note"));
    ck_assert_ptr_null(strstr(r.body, "Health note"));
    h_resp_free(&r);
}
END_TEST

/* The referral's note: the recipient opens it once it accepted, not before; its category
 * must be one of the offered ones. */
START_TEST(referral_note_after_acceptance)
{
    char id[37], cid[37], rid[37], path[200], body[1024];
    new_case(&srv, id);
    consent(&srv, id, "\"identity\", \"health\"", NULL, cid);
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", id);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"referral\", \"purpose\": \"medical\", "
             "\"categories\": [\"identity\"], \"handling_code\": \"H2\", \"legal_basis\": "
             "\"consent\", \"consent_id\": \"%s\", \"note\": \"Offer note %s\", "
             "\"note_category\": \"health\"}",
             b_agency, cid, sentinel);
    struct h_resp r;
    h_api(&srv, a_worker, "POST", path, body, NULL, &r);
    h_assert_problem(&r, 409, "conflict"); /* health is not offered */
    ck_assert_ptr_nonnull(strstr(r.body, "\"guard\":\"note\""));
    h_resp_free(&r);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"referral\", \"purpose\": \"medical\", "
             "\"categories\": [\"identity\", \"health\"], \"handling_code\": \"H2\", "
             "\"legal_basis\": \"consent\", \"consent_id\": \"%s\", \"note\": \"Offer note %s\", "
             "\"note_category\": \"health\"}",
             b_agency, cid, sentinel);
    h_api(&srv, a_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "offer with a note");
    snprintf(rid, sizeof rid, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    get(&srv, b_worker, path, &r);
    ck_assert_ptr_null(strstr(r.body, sentinel)); /* not before accepting */
    h_resp_free(&r);
    ck_assert_int_eq(accept(&srv, rid, NULL), 200);
    get(&srv, b_worker, path, &r);
    ck_assert_ptr_nonnull(strstr(r.body, sentinel));
    h_resp_free(&r);
    get(&srv, a_worker, path, &r);
    ck_assert_ptr_nonnull(strstr(r.body, sentinel));
    h_resp_free(&r);
    /* Withdrawn consent: the recipient no longer opens it. */
    ck_assert_int_eq(withdraw_consent(&srv, id, cid), 200);
    get(&srv, b_worker, path, &r);
    ck_assert_ptr_null(strstr(r.body, sentinel));
    h_resp_free(&r);
}
END_TEST

/* A recipient writes notes of any category and reads its own back; the owner reads them;
 * a recipient with no active grant cannot write one. */
START_TEST(recipient_notes)
{
    char id[37], cid[37], rid[37], path[200], body[512];
    new_case(&srv, id);
    consent(&srv, id, "\"identity\"", NULL, cid);
    offer(&srv, id, "referral", "\"identity\"", cid, rid);
    ck_assert_int_eq(accept(&srv, rid, NULL), 200);
    snprintf(path, sizeof path, "/v1/cases/%s/events", id);
    snprintf(body, sizeof body,
             "{\"kind\": \"service_provided\", \"note\": \"Shelter note %s\", \"category\": "
             "\"health\"}",
             sentinel);
    struct h_resp r;
    h_api(&srv, b_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "recipient's note");
    h_resp_free(&r);
    get(&srv, b_worker, path, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "Shelter note"));
    h_resp_free(&r);
    get(&srv, a_worker, path, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "Shelter note"));
    h_resp_free(&r);
    /* The consent is the owner's to withdraw: the recipient finds none, whether or not it holds
     * a grant of the reason's category (without one, the answer was 500). */
    char withdraw[200];
    snprintf(withdraw, sizeof withdraw, "/v1/cases/%s/consents/%s/withdraw", id, cid);
    h_api(&srv, b_worker, "POST", withdraw, "{\"reason\": \"Not ours\"}", NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    h_api(&srv, b_worker, "POST", withdraw,
          "{\"reason\": \"Not ours\", \"reason_category\": \"identity\"}", NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    ck_assert_int_eq(withdraw_consent(&srv, id, cid), 200);
    h_api(&srv, b_worker, "POST", path, body, NULL, &r);
    h_assert_problem(&r, 403, "category_not_granted");
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_notes WHERE case_id = $1", id), 1);
}
END_TEST

/* Free text about the person never sits in clear: an answer's reason is sealed (the leak
 * scan looks for this sentinel in the database dump), a purpose is a code, an erasure reason
 * is a code. */
START_TEST(reasons_are_sealed_or_codes)
{
    char id[37], cid[37], rid[37], path[200], body[512];
    new_case(&srv, id);
    consent(&srv, id, "\"identity\"", NULL, cid);
    offer(&srv, id, "referral", "\"identity\"", cid, rid);
    snprintf(path, sizeof path, "/v1/referrals/%s/decline", rid);
    snprintf(body, sizeof body, "{\"reason\": \"No bed for %s\"}", sentinel);
    ck_assert_int_eq(post(&srv, b_worker, path, body, NULL), 200);
    ck_assert_int_eq(h_count("SELECT count(*) FROM referrals WHERE id = $1 AND "
                             "sealed_answer_reason IS NOT NULL",
                             rid),
                     1);
    offer(&srv, id, "referral", "\"identity\"", cid, rid);
    snprintf(path, sizeof path, "/v1/referrals/%s/withdraw", rid);
    snprintf(body, sizeof body, "{\"reason\": \"Withdrawn for %s\"}", sentinel);
    ck_assert_int_eq(post(&srv, a_worker, path, body, NULL), 200);
    char code[40];
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", id);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"referral\", \"purpose\": \"Shelter for "
             "%s\", \"categories\": [], \"handling_code\": \"H2\", \"legal_basis\": "
             "\"legal_obligation\", \"reason\": \"law\"}",
             b_agency, sentinel);
    ck_assert_int_eq(post(&srv, a_worker, path, body, code), 400);
    ck_assert_str_eq(code, "validation_failed");
    snprintf(path, sizeof path, "/v1/cases/%s/personal-data", id);
    snprintf(body, sizeof body, "{\"reason\": \"She asked, %s\"}", sentinel);
    struct h_resp r;
    h_api(&srv, a_coord, "DELETE", path, body, NULL, &r);
    h_assert_problem(&r, 400, "validation_failed");
    h_resp_free(&r);
    h_api(&srv, a_coord, "DELETE", path, "{\"reason\": \"requested_by_person\"}", NULL, &r);
    h_expect(&r, 200, "erase with a reason code");
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_events WHERE case_id = $1 AND kind = "
                             "'personal_data_erased' AND details ->> 'reason' = "
                             "'requested_by_person'",
                             id),
                     1);
    /* Erasure withdrew nothing here (no open offer), and the sealed reasons went with it. */
    ck_assert_int_eq(h_count("SELECT count(*) FROM referrals WHERE case_id = $1 AND "
                             "sealed_answer_reason IS NOT NULL",
                             id),
                     0);
}
END_TEST

/* Erasing a case withdraws its open offers, with the reason in the log. */
START_TEST(erasure_withdraws_open_offers)
{
    char id[37], cid[37], rid[37], path[200], code[40];
    new_case(&srv, id);
    consent(&srv, id, "\"identity\"", NULL, cid);
    offer(&srv, id, "transfer", "\"identity\"", cid, rid);
    snprintf(path, sizeof path, "/v1/cases/%s/personal-data", id);
    struct h_resp r;
    h_api(&srv, a_coord, "DELETE", path, "{\"reason\": \"court_order\"}", NULL, &r);
    h_expect(&r, 200, "erase");
    h_resp_free(&r);
    ck_assert_int_eq(handovers(rid, "withdraw", "'case_erased'"), 1);
    ck_assert_int_eq(accept(&srv, rid, code), 409);
    ck_assert_str_eq(code, "offer_answered");
}
END_TEST

/* Two trmd processes: one withdraws the consent while the other accepts the offer resting
 * on it. Exactly one order wins each time, and when the withdrawal wins, nothing is
 * readable by the recipient and nothing is granted. */
struct race {
    const struct trmd *t;
    const char *case_id, *consent_id, *referral_id;
    long status;
    char code[40];
};

static void *race_withdraw(void *arg)
{
    struct race *x = arg;
    x->status = withdraw_consent(x->t, x->case_id, x->consent_id);
    return NULL;
}

static void *race_accept(void *arg)
{
    struct race *x = arg;
    x->status = accept(x->t, x->referral_id, x->code);
    return NULL;
}

START_TEST(withdrawal_races_acceptance)
{
    struct trmd other;
    h_trmd_start(&other, NULL);
    int accepted = 0, refused = 0;
    for (int round = 0; round < 12; round++) {
        const char *kind = round % 2 ? "transfer" : "referral";
        char id[37], cid[37], rid[37];
        new_case(&srv, id);
        consent(&srv, id, "\"identity\"", NULL, cid);
        offer(&srv, id, kind, "\"identity\"", cid, rid);
        struct race w = {&srv, id, cid, rid, 0, ""}, a = {&other, id, cid, rid, 0, ""};
        pthread_t tw, ta;
        pthread_create(&tw, NULL, race_withdraw, &w);
        pthread_create(&ta, NULL, race_accept, &a);
        pthread_join(tw, NULL);
        pthread_join(ta, NULL);
        bool personal;
        long seen = b_reads(&srv, id, &personal);
        long grants = h_count("SELECT count(*) FROM case_grants WHERE referral_id = $1", rid);
        if (a.status == 200) {
            accepted++;
            ck_assert_int_eq(handovers(rid, "accept", NULL), 1);
            if (strcmp(kind, "transfer") == 0) {
                /* Custody moved first: the former owner can no longer withdraw. */
                ck_assert_int_eq(w.status, 404);
                ck_assert_int_eq(seen, 200);
                ck_assert(personal);
            } else {
                /* Accepted first, withdrawn after: access ended. */
                ck_assert_int_eq(w.status, 200);
                ck_assert_int_eq(handovers(rid, "consent_withdrawal", NULL), 1);
                ck_assert_int_eq(seen, 200);
                ck_assert(!personal);
            }
        } else {
            refused++;
            ck_assert_int_eq(w.status, 200);
            ck_assert_int_eq(a.status, 409);
            ck_assert(strcmp(a.code, "offer_answered") == 0 ||
                      strcmp(a.code, "consent_withdrawn") == 0);
            ck_assert_int_eq(seen, 404);
            ck_assert(!personal);
            ck_assert_int_eq(grants, 0);
            ck_assert_int_eq(handovers(rid, "accept", NULL), 0);
            ck_assert_int_eq(handovers(rid, "withdraw", "'consent_withdrawn'"), 1);
        }
    }
    printf("grants: withdrawal raced acceptance 12 times: %d accepted first, %d refused\n",
           accepted, refused);
    h_trmd_stop(&other);
}
END_TEST

/* Every policy of the application role is a plain expression: it calls no SECURITY DEFINER
 * function and no function with a SET clause, only inlinable SQL functions and built-ins,
 * and the planner inlines them (no trm_ function is left in a plan). */
START_TEST(policies_are_plain_expressions)
{
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    PGresult *q = PQexec(
        pg, "WITH refs AS ("
            "  SELECT p.polname, c.relname, (regexp_matches(coalesce(p.polqual::text, '') || ' ' "
            "         || coalesce(p.polwithcheck::text, ''), ':funcid (\\d+)', 'g'))[1]::oid AS f "
            "  FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid) "
            "SELECT r.relname || '.' || r.polname || ' calls ' || f.proname FROM refs r "
            "JOIN pg_proc f ON f.oid = r.f JOIN pg_namespace n ON n.oid = f.pronamespace "
            "WHERE f.prosecdef OR f.proconfig IS NOT NULL "
            "   OR (n.nspname <> 'pg_catalog' AND (f.prolang <> (SELECT oid FROM pg_language "
            "       WHERE lanname = 'sql') OR f.provolatile = 'v'))");
    ck_assert_int_eq(PQresultStatus(q), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(q); i++)
        fprintf(stderr, "not a plain policy: %s\n", PQgetvalue(q, i, 0));
    ck_assert_int_eq(PQntuples(q), 0);
    PQclear(q);
    /* Policies exist on every table holding or pointing at personal data. */
    q = PQexec(pg, "SELECT count(DISTINCT c.relname) FROM pg_class c JOIN pg_policy p "
                   "ON p.polrelid = c.oid WHERE c.relname IN ('cases', 'case_keys', "
                   "'case_personal', 'case_notes', 'case_blind_index', 'case_events', "
                   "'assessments', 'guardians', 'consents', 'case_grants', 'referrals', "
                   "'access_log', 'handover_log') AND c.relforcerowsecurity");
    ck_assert_str_eq(PQgetvalue(q, 0, 0), "13");
    PQclear(q);
    /* Every grant check is probed per row, never hashed over all of an agency's grants. */
    q = PQexec(pg, "SELECT c.relname || '.' || p.polname FROM pg_policy p "
                   "JOIN pg_class c ON c.oid = p.polrelid, LATERAL (SELECT "
                   "coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' ' || "
                   "coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '') AS e) x "
                   "WHERE (length(x.e) - length(replace(x.e, 'FROM case_grants', ''))) / 16 <> "
                   "(length(x.e) - length(replace(x.e, 'OFFSET 0', ''))) / 8");
    ck_assert_int_eq(PQresultStatus(q), PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(q); i++)
        fprintf(stderr, "a grant check that may be hashed: %s\n", PQgetvalue(q, i, 0));
    ck_assert_int_eq(PQntuples(q), 0);
    PQclear(q);
    PQfinish(pg);
    /* Inlined: as the application role, with a context, no trm_ function is called. */
    pg = h_pg("TRM_TEST_APP_URL");
    const char *tables[] = {"cases",       "case_keys",        "case_personal",
                            "case_notes",  "case_blind_index", "case_events",
                            "assessments", "guardians",        "consents",
                            "case_grants", "case_tracks"};
    PQclear(PQexec(pg, "BEGIN"));
    PQclear(PQexec(pg, "SELECT set_config('trm.user_id', gen_random_uuid()::text, true), "
                       "set_config('trm.agency_id', gen_random_uuid()::text, true), "
                       "set_config('trm.role', 'caseworker', true), "
                       "set_config('trm.country', 'SE', true)"));
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM %s", tables[i]);
        q = PQexec(pg, sql);
        ck_assert_int_eq(PQresultStatus(q), PGRES_TUPLES_OK);
        for (int row = 0; row < PQntuples(q); row++) {
            ck_assert_msg(strstr(PQgetvalue(q, row, 0), "trm_") == NULL,
                          "%s: a function is called per row: %s", tables[i], PQgetvalue(q, row, 0));
            ck_assert_msg(strstr(PQgetvalue(q, row, 0), "hashed SubPlan") == NULL,
                          "%s: grants hashed: %s", tables[i], PQgetvalue(q, row, 0));
        }
        PQclear(q);
    }
    PQclear(PQexec(pg, "ROLLBACK"));
    PQfinish(pg);
}
END_TEST

/* The application role cannot append to the handover log itself (it could forge entries). */
START_TEST(handover_append_is_not_for_the_application)
{
    PGconn *pg = h_pg("TRM_TEST_APP_URL");
    PGresult *q = PQexec(pg, "SELECT trm_handover_append(r, 'accept') FROM referrals r LIMIT 1");
    ck_assert_int_ne(PQresultStatus(q), PGRES_TUPLES_OK);
    ck_assert_ptr_nonnull(strstr(PQresultErrorField(q, PG_DIAG_SQLSTATE), "42501"));
    PQclear(q);
    q = PQexec(pg, "SELECT trm_handover_add(NULL::referrals, 'accept', NULL, NULL, NULL, NULL, "
                   "NULL, NULL)");
    ck_assert_ptr_nonnull(strstr(PQresultErrorField(q, PG_DIAG_SQLSTATE), "42501"));
    PQclear(q);
    q = PQexec(pg, "INSERT INTO case_grants (case_id, agency_id, owner_agency_id, categories, "
                   "basis) SELECT id, owner_agency_id, owner_agency_id, '{identity}', 'owner' "
                   "FROM cases LIMIT 1");
    ck_assert_ptr_nonnull(strstr(PQresultErrorField(q, PG_DIAG_SQLSTATE), "42501"));
    PQclear(q);
    PQfinish(pg);
}
END_TEST

/* References stay unique and readable, and creations do not wait for each other's commit. */
START_TEST(references_without_a_lock)
{
    /* The reference function is the owner's, called inside trm_case_create. */
    PGconn *owner = h_pg("TRM_TEST_OWNER_URL");
    PQclear(PQexec(owner, "BEGIN"));
    PGresult *q = PQexec(owner, "SELECT trm_case_reference('SE')");
    ck_assert_int_eq(PQresultStatus(q), PGRES_TUPLES_OK);
    char first[40];
    snprintf(first, sizeof first, "%s", PQgetvalue(q, 0, 0));
    PQclear(q);
    /* Another session takes the next number at once, while the first has not committed. */
    PGconn *owner2 = h_pg("TRM_TEST_OWNER_URL");
    PQclear(PQexec(owner2, "SET statement_timeout = '2s'"));
    q = PQexec(owner2, "SELECT trm_case_reference('SE')");
    ck_assert_msg(PQresultStatus(q) == PGRES_TUPLES_OK, "%s", PQerrorMessage(owner2));
    ck_assert_str_ne(PQgetvalue(q, 0, 0), first);
    ck_assert_int_eq(strncmp(PQgetvalue(q, 0, 0), "SE-", 3), 0);
    PQclear(q);
    PQclear(PQexec(owner, "ROLLBACK"));
    PQfinish(owner);
    PQfinish(owner2);
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("grants");
    TCase *tc = tcase_create("grants");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, pending_transfer_outlives_no_withdrawn_consent);
    tcase_add_test(tc, pending_referral_outlives_no_withdrawn_consent);
    tcase_add_test(tc, expired_consent_ends_offers_and_access);
    tcase_add_test(tc, transfer_hands_over_only_consented);
    tcase_add_test(tc, consented_notes_travel);
    tcase_add_test(tc, referral_note_after_acceptance);
    tcase_add_test(tc, recipient_notes);
    tcase_add_test(tc, reasons_are_sealed_or_codes);
    tcase_add_test(tc, erasure_withdraws_open_offers);
    tcase_add_test(tc, withdrawal_races_acceptance);
    tcase_add_test(tc, policies_are_plain_expressions);
    tcase_add_test(tc, handover_append_is_not_for_the_application);
    tcase_add_test(tc, references_without_a_lock);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
