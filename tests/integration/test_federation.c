/* Federation between two instances on loopback, each with its own database and key file:
 * Sweden (se.trm) transfers a case to an NGO in Manila (ph.trm). The NGO sees the offer,
 * accepts it and owns a local case holding exactly the consented categories; Sweden keeps
 * the summary and timeline; both handover logs verify offline, with the counterpart's
 * signatures, and cross-reference the packages. Then the faults: a peer that is down for a
 * while, a duplicate delivery, and altered, foreign-signed, misdirected, expired and
 * replayed packages, each refused with nothing stored. */
#include "check_run.h"
#include "harness.h"

#include "trm/federation.h"
#include "trm/keyring.h"
#include "trm/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct inst {
    const char *name, *id, *country, *owner_env, *app_env;
    char key_file[512];
    char env[8][700];
    const char *envp[9];
    struct trmd srv;
    char sign_hex[65], box_hex[65];
    char admin[128], agency[37], worker[128], auditor[128];
};

static struct inst se = {.name = "se",
                         .id = "se.trm",
                         .country = "SE",
                         .owner_env = "TRM_TEST_FED_SE_OWNER_URL",
                         .app_env = "TRM_TEST_FED_SE_APP_URL"};
static struct inst ph = {.name = "ph",
                         .id = "ph.trm",
                         .country = "PH",
                         .owner_env = "TRM_TEST_FED_PH_OWNER_URL",
                         .app_env = "TRM_TEST_FED_PH_APP_URL"};
static char sentinel[32];

static void ctl(struct inst *in, const char *args, char *out, size_t cap)
{
    int rc = h_trmctl_with(in->owner_env, in->key_file, args, out, cap);
    ck_assert_msg(rc == 0, "trmctl %s (%s): %s", args, in->name, out);
}

/* The value after "name " in trmctl instance output. */
static void line_value(const char *text, const char *name, char *out, size_t cap)
{
    const char *p = strstr(text, name);
    ck_assert_msg(p != NULL, "%s missing in: %s", name, text);
    p += strlen(name) + 1;
    size_t n = strcspn(p, "\n");
    ck_assert(n < cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

static void instance_up(struct inst *in)
{
    char out[4096], args[1200];
    snprintf(in->key_file, sizeof in->key_file, "%s/fed-%s.key", h_env("TRM_TEST_TMPDIR"),
             in->name);
    if (access(in->key_file, R_OK) != 0) {
        snprintf(args, sizeof args, "keys init '%s'", in->key_file);
        ctl(in, args, out, sizeof out);
    }
    snprintf(args, sizeof args, "instance init --id %s --country %s", in->id, in->country);
    ctl(in, args, out, sizeof out);
    line_value(out, "signing_key", in->sign_hex, sizeof in->sign_hex);
    line_value(out, "box_key", in->box_hex, sizeof in->box_hex);
    snprintf(in->env[0], sizeof in->env[0], "TRM_DATABASE_URL=%s", h_env(in->app_env));
    snprintf(in->env[1], sizeof in->env[1], "TRM_KEY_FILE=%s", in->key_file);
    const char *fixed[] = {"TRM_FEDERATION_INTERVAL_MS=100", "TRM_FEDERATION_RETRY_MAX_S=1",
                           "TRM_FEDERATION_DIRECTORY_REFRESH_S=1", "TRM_FEDERATION_TIMEOUT_S=2"};
    for (int i = 0; i < 4; i++)
        snprintf(in->env[2 + i], sizeof in->env[2 + i], "%s", fixed[i]);
    for (int i = 0; i < 6; i++)
        in->envp[i] = in->env[i];
    in->envp[6] = NULL;
    h_trmd_start(&in->srv, in->envp);
}

static void register_peer(struct inst *at, struct inst *peer)
{
    char out[1024], args[1200];
    snprintf(args, sizeof args,
             "peer add --id %s --country %s --url http://127.0.0.1:%u --signing-key %s "
             "--box-key %s",
             peer->id, peer->country, peer->srv.port, peer->sign_hex, peer->box_hex);
    ctl(at, args, out, sizeof out);
}

static void people(struct inst *in)
{
    char out[256], args[512], agency[64], user[64];
    snprintf(args, sizeof args, "agency add --name 'fed admins %d' --country %s --kind other",
             (int)getpid(), in->country);
    ctl(in, args, agency, sizeof agency);
    snprintf(args, sizeof args, "user add --agency %s --role admin --name 'Fed admin'", agency);
    ctl(in, args, user, sizeof user);
    snprintf(args, sizeof args, "token issue --user %s --expires-days 1", user);
    ctl(in, args, in->admin, sizeof in->admin);
    h_agency(&in->srv, in->admin, in->country,
             strcmp(in->country, "SE") ? "ngo" : "social_services", in->agency);
    h_user(&in->srv, in->admin, in->agency, "caseworker", false, out, in->worker);
    h_user(&in->srv, in->admin, in->agency, "auditor", false, out, in->auditor);
}

static void setup(void)
{
    snprintf(sentinel, sizeof sentinel, "Fedq%dW", (int)getpid());
    instance_up(&ph);
    instance_up(&se);
    register_peer(&se, &ph);
    register_peer(&ph, &se);
    people(&se);
    people(&ph);
}

static void teardown(void)
{
    h_trmd_stop(&se.srv);
    h_trmd_stop(&ph.srv);
}

/* The first cell of a query on an instance's database, as text ("" for no row or NULL). */
static void cell(struct inst *in, const char *sql, const char *param, char *out, size_t cap)
{
    PGconn *pg = h_pg(in->owner_env);
    const char *p[] = {param};
    PGresult *r = PQexecParams(pg, sql, param ? 1 : 0, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
    snprintf(out, cap, "%s", PQntuples(r) && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(pg);
}

static long count(struct inst *in, const char *sql, const char *param)
{
    return h_count_in(in->owner_env, sql, param);
}

/* GET path as token until the member at pointer-like key path equals want (10 s at most). */
static json_t *wait_for(struct inst *in, const char *token, const char *path,
                        bool (*done)(json_t *, const void *), const void *arg, const char *what)
{
    for (int i = 0; i < 200; i++) {
        struct h_resp r;
        h_api(&in->srv, token, "GET", path, NULL, NULL, &r);
        if (r.status == 200 && done(r.json, arg)) {
            json_t *j = json_incref(r.json);
            h_resp_free(&r);
            return j;
        }
        h_resp_free(&r);
        usleep(50000);
    }
    ck_abort_msg("timed out waiting for %s", what);
    return NULL;
}

static json_t *find_item(json_t *list, const char *id)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(list, "items"), i, it)
    {
        if (strcmp(json_string_value(json_object_get(it, "id")), id) == 0)
            return it;
    }
    return NULL;
}

static bool has_item(json_t *list, const void *id)
{
    return find_item(list, id) != NULL;
}

static bool delivered(json_t *ref, const void *arg)
{
    (void)arg;
    const char *s = json_string_value(json_object_get(json_object_get(ref, "delivery"), "status"));
    return s && strcmp(s, "delivered") == 0;
}

static bool status_is(json_t *ref, const void *want)
{
    const char *s = json_string_value(json_object_get(ref, "status"));
    return s && strcmp(s, want) == 0;
}

/* A Swedish case with personal data in four categories and a consent to share identity and
 * health with the Philippines. */
static void swedish_case(char id[37], char consent_id[37])
{
    char body[2048], path[128];
    snprintf(body, sizeof body,
             "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-10\", \"person\": {"
             "\"identity\": {\"full_name\": \"Name %s\", \"date_of_birth\": \"1999-03-17\"}, "
             "\"contact\": {\"address\": \"Addr %s\"}, \"health\": {\"notes\": \"Health %s\"}, "
             "\"narrative\": {\"statement\": \"Story %s\"}}}",
             sentinel, sentinel, sentinel, sentinel);
    struct h_resp r;
    h_api(&se.srv, se.worker, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create case");
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/consents", id);
    h_api(&se.srv, se.worker, "POST", path,
          "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\", \"categories\": "
          "[\"identity\", \"health\"], \"recipients\": {\"countries\": [\"PH\"]}}",
          NULL, &r);
    h_expect(&r, 201, "consent");
    snprintf(consent_id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static void offer(const char *case_id, const char *consent_id, const char *kind, char rid[37])
{
    char path[128], body[1024];
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", case_id);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"%s\", \"purpose\": \"return_reception\", "
             "\"categories\": [\"identity\", \"health\"], \"handling_code\": \"H2\", "
             "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"}",
             ph.agency, kind, consent_id);
    struct h_resp r;
    h_api(&se.srv, se.worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "offer to the Philippines");
    ck_assert_str_eq(h_str(&r, "peer_instance"), "ph.trm");
    snprintf(rid, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

/* A text document uploaded at SE by its caseworker; writes its id. */
static void se_document(const char *case_id, const char *query, const char *name,
                        const char *content, char did[37])
{
    char path[200], fn[200];
    const char *headers[] = {"Content-Type: text/plain", fn, NULL};
    snprintf(fn, sizeof fn, "Trm-File-Name: %s", name);
    snprintf(path, sizeof path, "/v1/cases/%s/documents?%s", case_id, query);
    struct h_resp r;
    h_api_bytes(&se.srv, se.worker, "POST", path, content, strlen(content), headers, &r);
    h_expect(&r, 201, "upload a document at SE");
    snprintf(did, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static void wait_for_directory(void)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/agencies?country=PH&limit=100");
    json_t *list = wait_for(&se, se.worker, path, has_item, ph.agency, "the PH directory at SE");
    ck_assert_str_eq(json_string_value(json_object_get(find_item(list, ph.agency), "instance_id")),
                     "ph.trm");
    json_decref(list);
}

/* Exports an instance's handover log and verifies it offline with its own key and the
 * peer's; returns how many peer signatures were checked. */
static long verify_log(struct inst *in, struct inst *peer)
{
    struct h_resp r;
    h_api(&in->srv, in->auditor, "GET", "/v1/handovers/export", NULL, NULL, &r);
    h_expect(&r, 200, "export");
    char file[512], args[1400], out[1024];
    h_tmp_path(file, sizeof file, in->name);
    FILE *f = fopen(file, "w");
    ck_assert(f != NULL);
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    h_resp_free(&r);
    snprintf(args, sizeof args, "verify-log '%s' --public-key %s --peer-key %s=%s", file,
             in->sign_hex, peer->id, peer->sign_hex);
    ctl(in, args, out, sizeof out);
    long checked = 0, unchecked = -1;
    const char *p = strstr(out, "; ");
    ck_assert_msg(p && sscanf(p, "; %ld peer signatures verified, %ld", &checked, &unchecked) == 2,
                  "%s", out);
    ck_assert_int_eq(unchecked, 0);
    return checked;
}

START_TEST(transfer_from_sweden_to_manila)
{
    char case_id[37], consent_id[37], rid[37], path[160], a[200], b[200];
    wait_for_directory();
    swedish_case(case_id, consent_id);
    offer(case_id, consent_id, "transfer", rid);

    /* The NGO's inbox shows the offer with its minimal summary, no case yet. */
    json_t *in = wait_for(&ph, ph.worker, "/v1/referrals?direction=incoming", has_item, rid,
                          "the offer at PH");
    json_decref(in);
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    json_t *ref = wait_for(&ph, ph.worker, path, status_is, "offered", "offer visible");
    ck_assert(json_is_null(json_object_get(ref, "case_id")));
    ck_assert_str_eq(json_string_value(json_object_get(ref, "from_country")), "SE");
    ck_assert_str_eq(json_string_value(json_object_get(ref, "kind")), "transfer");
    json_decref(ref);
    json_decref(wait_for(&se, se.worker, path, delivered, NULL, "the receipt at SE"));

    /* Accepting makes a local case of exactly the consented categories. */
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/referrals/%s/accept", rid);
    h_api(&ph.srv, ph.worker, "POST", path, NULL, NULL, &r);
    h_expect(&r, 200, "accept at PH");
    char local[37];
    snprintf(local, sizeof local, "%s", h_str(&r, "case_id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s", local);
    h_api(&ph.srv, ph.worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the local case at PH");
    json_t *person = json_object_get(r.json, "person");
    snprintf(a, sizeof a, "Name %s", sentinel);
    snprintf(b, sizeof b, "Health %s", sentinel);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(person, "identity"), "full_name")), a);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(person, "health"), "notes")),
                     b);
    ck_assert_int_eq(json_object_size(person), 2);
    ck_assert_str_eq(h_str(&r, "country"), "PH");
    ck_assert_str_ne(h_str(&r, "sop_id"), "");
    h_resp_free(&r);
    ck_assert_int_eq(count(&ph, "SELECT count(*) FROM case_keys WHERE case_id = $1", local), 1);

    /* Sweden: transferred out, keeps the summary and the timeline, not the personal data. */
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    json_decref(wait_for(&se, se.worker, path, status_is, "accepted", "the answer at SE"));
    snprintf(path, sizeof path, "/v1/cases/%s", case_id);
    h_api(&se.srv, se.worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the Swedish case");
    ck_assert(json_is_string(json_object_get(r.json, "personal_data_erased_at")));
    ck_assert_int_eq(json_object_size(json_object_get(r.json, "person")), 0);
    h_resp_free(&r);
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM case_events WHERE case_id = $1 "
                           "AND kind = 'transferred_out'",
                           case_id),
                     1);
    ck_assert_int_eq(count(&se, "SELECT count(*) FROM case_personal WHERE case_id = $1", case_id),
                     0);

    /* Both logs cross-reference the packages: the offer SE sent is the offer PH logged, the
     * answer PH sent is the acceptance SE logged. */
    const char *sent = "SELECT encode(package_hash, 'hex') FROM handover_log WHERE referral_id = "
                       "$1 AND action = 'send' ORDER BY seq LIMIT 1";
    cell(&se, sent, rid, a, sizeof a);
    cell(&ph,
         "SELECT encode(package_hash, 'hex') FROM handover_log WHERE referral_id = $1 AND "
         "action = 'offer'",
         rid, b, sizeof b);
    ck_assert_str_eq(a, b);
    ck_assert_int_eq(strlen(a), 64);
    cell(&ph, sent, rid, a, sizeof a);
    for (int i = 0; i < 100 && b[0] != '\0'; i++) {
        cell(&se,
             "SELECT encode(package_hash, 'hex') FROM handover_log WHERE referral_id = $1 "
             "AND action = 'accept'",
             rid, b, sizeof b);
        if (strcmp(a, b) != 0)
            usleep(50000);
    }
    ck_assert_str_eq(a, b);
    /* Receipts of both packages come back to their senders (PH's may still be on its way). */
    for (int i = 0; i < 100 && count(&ph,
                                     "SELECT count(*) FROM handover_log WHERE referral_id = $1 "
                                     "AND action = 'receipt'",
                                     rid) < 1;
         i++)
        usleep(50000);
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM handover_log WHERE referral_id = $1 "
                           "AND action = 'receipt'",
                           rid),
                     1);
    ck_assert_int_ge(verify_log(&se, &ph), 2);
    ck_assert_int_ge(verify_log(&ph, &se), 2);
    /* Online too, with the registered peers' keys. */
    h_api(&se.srv, se.auditor, "GET", "/v1/handovers/verify", NULL, NULL, &r);
    h_expect(&r, 200, "verify at SE");
    ck_assert(json_is_true(json_object_get(r.json, "ok")));
    ck_assert_int_ge(json_integer_value(json_object_get(r.json, "peer_signatures")), 2);
    h_resp_free(&r);

    /* Nothing personal is readable in either outbox or inbox. */
    snprintf(a, sizeof a, "%%%s%%", sentinel);
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM federation_packages WHERE package::text "
                           "LIKE $1",
                           a),
                     0);
    ck_assert_int_eq(count(&ph,
                           "SELECT count(*) FROM federation_packages WHERE package::text "
                           "LIKE $1",
                           a),
                     0);
}
END_TEST

/* A fresh Swedish case with its consent, offered to Manila (kind), waiting there. */
static void offered_at_ph(const char *kind, char case_id[37], char consent_id[37], char rid[37])
{
    char path[160];
    wait_for_directory();
    swedish_case(case_id, consent_id);
    offer(case_id, consent_id, kind, rid);
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    json_decref(wait_for(&ph, ph.worker, path, status_is, "offered", "the offer at PH"));
}

/* Manila accepts; writes the local case it created. */
static void accept_at_ph(const char *rid, char local[37])
{
    char path[160];
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/referrals/%s/accept", rid);
    h_api(&ph.srv, ph.worker, "POST", path, NULL, NULL, &r);
    h_expect(&r, 200, "accept at PH");
    snprintf(local, 37, "%s", h_str(&r, "case_id"));
    h_resp_free(&r);
}

START_TEST(decline_and_withdrawal_travel_back)
{
    char case_id[37], consent_id[37], declined[37], withdrawn[37], path[160];
    offered_at_ph("referral", case_id, consent_id, declined);
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/referrals/%s/decline", declined);
    h_api(&ph.srv, ph.worker, "POST", path, "{\"reason\": \"no capacity\"}", NULL, &r);
    h_expect(&r, 200, "decline at PH");
    ck_assert(json_is_null(json_object_get(r.json, "case_id"))); /* no local case */
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/referrals/%s", declined);
    json_decref(wait_for(&se, se.worker, path, status_is, "declined", "the decline at SE"));
    /* The Swedish case keeps its data after a declined referral. */
    ck_assert_int_gt(count(&se, "SELECT count(*) FROM case_personal WHERE case_id = $1", case_id),
                     0);

    /* The consent allows another offer; Sweden withdraws it before it is answered. */
    offer(case_id, consent_id, "referral", withdrawn);
    snprintf(path, sizeof path, "/v1/referrals/%s", withdrawn);
    json_decref(wait_for(&ph, ph.worker, path, status_is, "offered", "second offer at PH"));
    snprintf(path, sizeof path, "/v1/referrals/%s/withdraw", withdrawn);
    h_api(&se.srv, se.worker, "POST", path, NULL, NULL, &r);
    h_expect(&r, 200, "withdraw at SE");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/referrals/%s", withdrawn);
    json_decref(wait_for(&ph, ph.worker, path, status_is, "withdrawn", "the withdrawal at PH"));
    /* Too late to accept at PH: nothing is created. */
    snprintf(path, sizeof path, "/v1/referrals/%s/accept", withdrawn);
    h_api(&ph.srv, ph.worker, "POST", path, NULL, NULL, &r);
    h_assert_problem(&r, 409, "offer_answered");
    h_resp_free(&r);
    ck_assert_int_eq(
        count(&ph, "SELECT count(*) FROM referrals WHERE id = $1 AND case_id IS NULL", withdrawn),
        1);
}
END_TEST

static char *resign(json_t *orig, const struct trm_keyring *kr, const char *name,
                    const char *value);
static int ctl_rc(struct inst *in, const char *key_file, const char *args, char *out, size_t cap);
static void expect_in(const char *out, const char *want);
static struct trm_keyring *load_keys(const char *path);
static void post_inbox_to(struct inst *in, const char *body, long status, const char *code);

/* A package PH signs claiming to come from one of Sweden's own agencies: refused at SE. */
static void forged_consent_withdrawal_is_refused(const char *rid, const char *case_id)
{
    char text[8192];
    cell(&ph,
         "SELECT package::text FROM federation_packages WHERE referral_id = $1 AND "
         "direction = 'out' AND type = 'answer'",
         rid, text, sizeof text);
    struct trm_keyring *manila = load_keys(ph.key_file);
    static const char *const changes[][2] = {
        {"action", "consent_withdrawal"},
        {"package_id", "6f1c2a8e-2222-4a2b-9c3d-0123456789ab"},
        {"sender_agency_id", NULL},    /* Sweden's */
        {"recipient_agency_id", NULL}, /* Manila's */
    };
    char *s = strdup(text);
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        const char *v = changes[i][1] ? changes[i][1] : i == 2 ? se.agency : ph.agency;
        json_t *doc = json_loads(s, 0, NULL);
        free(s);
        s = resign(doc, manila, changes[i][0], v);
        json_decref(doc);
    }
    trm_keyring_free(manila);
    const char *personal = "SELECT count(*) FROM case_personal WHERE case_id = $1";
    long before = count(&se, personal, case_id);
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct h_resp r;
    h_http(&se.srv, "POST", "/v1/federation/inbox", headers, s, &r);
    h_assert_problem(&r, 409, "package_refused");
    h_resp_free(&r);
    free(s);
    ck_assert_int_eq(count(&se, personal, case_id), before);
}

/* Sweden refers the person to Manila (not a transfer: Sweden keeps the case) under her
 * consent; Manila accepts and holds its copy. She withdraws the consent in Sweden: Manila is
 * told in a signed package and deletes what it received; both logs record it. */
START_TEST(consent_withdrawal_travels)
{
    char case_id[37], consent_id[37], rid[37], path[200], local[37], doc[37], name[64];
    wait_for_directory();
    swedish_case(case_id, consent_id);
    /* An identity document travels with the referral, and goes with the consent. */
    snprintf(name, sizeof name, "%s-id.txt", sentinel);
    se_document(case_id, "kind=identity_document", name, "Docu Sentinel with the consent\n", doc);
    offer(case_id, consent_id, "referral", rid);
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    json_decref(wait_for(&ph, ph.worker, path, status_is, "offered", "the offer at PH"));
    accept_at_ph(rid, local);
    struct h_resp r;
    const char *personal = "SELECT count(*) FROM case_personal WHERE case_id = $1";
    const char *documents = "SELECT count(*) FROM documents WHERE case_id = $1";
    ck_assert_int_gt(count(&ph, personal, local), 0);
    ck_assert_int_eq(count(&ph, documents, local), 1);
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    json_decref(wait_for(&se, se.worker, path, status_is, "accepted", "the acceptance at SE"));

    forged_consent_withdrawal_is_refused(rid, case_id);

    snprintf(path, sizeof path, "/v1/cases/%s/consents/%s/withdraw", case_id, consent_id);
    h_api(&se.srv, se.worker, "POST", path, "{\"reason\": \"she asked\"}", NULL, &r);
    h_expect(&r, 200, "withdraw the consent at SE");
    h_resp_free(&r);
    for (int i = 0; i < 200 && count(&ph, personal, local) > 0; i++)
        usleep(50000);
    ck_assert_int_eq(count(&ph, personal, local), 0);
    ck_assert_int_eq(count(&ph, documents, local), 0);
    ck_assert_int_eq(count(&ph, "SELECT count(*) FROM case_keys WHERE case_id = $1", local), 0);
    /* A referral leaves Sweden's document where it was. */
    ck_assert_int_eq(count(&se, "SELECT count(*) FROM documents WHERE id = $1", doc), 1);
    ck_assert_int_eq(count(&ph,
                           "SELECT count(*) FROM cases WHERE id = $1 AND "
                           "personal_data_erased_at IS NOT NULL",
                           local),
                     1);
    ck_assert_int_eq(count(&ph,
                           "SELECT count(*) FROM case_events WHERE case_id = $1 AND "
                           "kind = 'consent_withdrawn'",
                           local),
                     1);
    ck_assert_int_eq(count(&ph,
                           "SELECT count(*) FROM handover_log WHERE referral_id = $1 AND "
                           "action = 'consent_withdrawal' AND peer_signature IS NOT NULL",
                           rid),
                     1);
    /* The referral stays accepted there: the service goes on, without the shared data. */
    ck_assert_int_eq(
        count(&ph, "SELECT count(*) FROM referrals WHERE id = $1 AND status = 'accepted'", rid), 1);
    snprintf(path, sizeof path, "/v1/cases/%s", local);
    h_api(&ph.srv, ph.worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the local case at PH");
    ck_assert_int_eq(json_object_size(json_object_get(r.json, "person")), 0);
    h_resp_free(&r);
    /* Sweden: its own entry, the package delivered with PH's receipt; both logs verify. */
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM handover_log WHERE referral_id = $1 AND "
                           "action = 'consent_withdrawal'",
                           rid),
                     1);
    for (int i = 0; i < 100 && count(&se,
                                     "SELECT count(*) FROM handover_log WHERE referral_id = $1 "
                                     "AND action = 'receipt'",
                                     rid) < 2;
         i++)
        usleep(50000);
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM federation_packages WHERE referral_id = $1 AND "
                           "direction = 'out' AND status = 'delivered'",
                           rid),
                     2);
    ck_assert_int_ge(verify_log(&se, &ph), 2);
    ck_assert_int_ge(verify_log(&ph, &se), 2);
}
END_TEST

/* The offer's withdrawal and its acceptance cross in flight: PH accepts while it cannot
 * reach SE, and SE withdraws meanwhile. The withdrawal wins on both sides: PH deletes what it
 * received, SE refuses the late acceptance, and both end withdrawn. */
START_TEST(crossed_withdrawal_wins)
{
    char case_id[37], consent_id[37], rid[37], path[200], local[37];
    offered_at_ph("transfer", case_id, consent_id, rid);
    unsigned real_port = se.srv.port;
    se.srv.port = 9; /* PH's answers go nowhere for now */
    register_peer(&ph, &se);
    se.srv.port = real_port;
    accept_at_ph(rid, local);
    struct h_resp r;
    const char *personal = "SELECT count(*) FROM case_personal WHERE case_id = $1";
    ck_assert_int_gt(count(&ph, personal, local), 0);

    snprintf(path, sizeof path, "/v1/referrals/%s/withdraw", rid);
    h_api(&se.srv, se.worker, "POST", path, NULL, NULL, &r);
    h_expect(&r, 200, "withdraw at SE");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    json_decref(wait_for(&ph, ph.worker, path, status_is, "withdrawn", "the withdrawal at PH"));
    ck_assert_int_eq(count(&ph, personal, local), 0);
    ck_assert_int_eq(count(&ph,
                           "SELECT count(*) FROM case_events WHERE case_id = $1 AND "
                           "kind = 'referral_withdrawn'",
                           local),
                     1);

    register_peer(&ph, &se); /* SE reachable again: the late acceptance is refused there */
    const char *rejected = "SELECT count(*) FROM federation_packages WHERE referral_id = $1 "
                           "AND direction = 'out' AND type = 'answer' AND status = 'rejected'";
    for (int i = 0; i < 200 && count(&ph, rejected, rid) < 1; i++)
        usleep(50000);
    ck_assert_int_eq(count(&ph, rejected, rid), 1);
    ck_assert_int_eq(
        count(&se, "SELECT count(*) FROM referrals WHERE id = $1 AND status = 'withdrawn'", rid),
        1);
    /* Sweden keeps the case: no transfer happened. */
    ck_assert_int_gt(count(&se, personal, case_id), 0);
    ck_assert_int_eq(
        count(&se, "SELECT count(*) FROM cases WHERE id = $1 AND transferred_out_at IS NULL",
              case_id),
        1);
    ck_assert_int_ge(verify_log(&se, &ph), 1);
    ck_assert_int_ge(verify_log(&ph, &se), 1);
}
END_TEST

/* The rows a refused package must not touch at PH. */
/* A consent withdrawn while its offer waits at the peer: the withdrawal travels, the peer
 * marks the offer withdrawn and drops its sealed payload; SE logs why. */
START_TEST(consent_withdrawal_withdraws_the_offer_at_the_peer)
{
    char case_id[37], consent_id[37], rid[37], path[200];
    offered_at_ph("referral", case_id, consent_id, rid);
    const char *payload = "SELECT count(*) FROM federation_packages WHERE referral_id = $1 AND "
                          "direction = 'in' AND type = 'offer' AND package -> 'payload' <> "
                          "'null'::jsonb";
    ck_assert_int_eq(count(&ph, payload, rid), 1);
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s/consents/%s/withdraw", case_id, consent_id);
    h_api(&se.srv, se.worker, "POST", path, "{\"reason\": \"she asked\"}", NULL, &r);
    h_expect(&r, 200, "withdraw the consent at SE");
    h_resp_free(&r);
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM handover_log WHERE referral_id = $1 AND "
                           "action = 'withdraw' AND reason = 'consent_withdrawn'",
                           rid),
                     1);
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    json_decref(wait_for(&ph, ph.worker, path, status_is, "withdrawn", "the withdrawal at PH"));
    ck_assert_int_eq(count(&ph, payload, rid), 0);
    snprintf(path, sizeof path, "/v1/referrals/%s/accept", rid);
    h_api(&ph.srv, ph.worker, "POST", path, NULL, NULL, &r);
    h_assert_problem(&r, 409, "offer_answered");
    h_resp_free(&r);
    ck_assert_int_eq(
        count(&ph, "SELECT count(*) FROM referrals WHERE id = $1 AND case_id IS NULL", rid), 1);
}
END_TEST

/* The offer's note travels inside the sealed payload and opens at PH once accepted; the
 * sender's access log names only the categories offered; a decline's reason travels sealed
 * to the sender. Nothing of either is readable in the packages. */
START_TEST(note_and_reason_travel_sealed)
{
    char case_id[37], consent_id[37], rid[37], path[200], body[1024], local[37];
    wait_for_directory();
    swedish_case(case_id, consent_id);
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", case_id);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"referral\", \"purpose\": \"medical\", "
             "\"categories\": [\"health\"], \"handling_code\": \"H2\", \"legal_basis\": "
             "\"consent\", \"consent_id\": \"%s\", \"note\": \"Travel note %s\"}",
             ph.agency, consent_id, sentinel);
    struct h_resp r;
    h_api(&se.srv, se.worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "offer with a note");
    snprintf(rid, sizeof rid, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM access_log WHERE case_id = $1 AND purpose = "
                           "'federation_offer' AND categories = '{health}'",
                           case_id),
                     1);
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    json_t *ref = wait_for(&ph, ph.worker, path, status_is, "offered", "the offer at PH");
    ck_assert_ptr_null(json_object_get(ref, "note"));
    json_decref(ref);
    accept_at_ph(rid, local);
    h_api(&ph.srv, ph.worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the referral at PH");
    char want[96];
    snprintf(want, sizeof want, "Travel note %s", sentinel);
    ck_assert_str_eq(h_str(&r, "note"), want);
    h_resp_free(&r);

    json_decref(wait_for(&se, se.worker, path, status_is, "accepted", "the acceptance at SE"));
    char second[37];
    offer(case_id, consent_id, "referral", second);
    snprintf(path, sizeof path, "/v1/referrals/%s", second);
    json_decref(wait_for(&ph, ph.worker, path, status_is, "offered", "the second offer"));
    snprintf(path, sizeof path, "/v1/referrals/%s/decline", second);
    snprintf(body, sizeof body, "{\"reason\": \"No bed for %s\"}", sentinel);
    h_api(&ph.srv, ph.worker, "POST", path, body, NULL, &r);
    h_expect(&r, 200, "decline with a reason");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/referrals/%s", second);
    json_decref(wait_for(&se, se.worker, path, status_is, "declined", "the decline at SE"));
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM federation_packages WHERE referral_id = $1 AND "
                           "direction = 'in' AND type = 'answer' AND package -> 'payload' <> "
                           "'null'::jsonb",
                           second),
                     1);
    snprintf(want, sizeof want, "%%%s%%", sentinel);
    ck_assert_int_eq(
        count(&se, "SELECT count(*) FROM federation_packages WHERE package::text LIKE $1", want),
        0);
    ck_assert_int_eq(
        count(&ph, "SELECT count(*) FROM federation_packages WHERE package::text LIKE $1", want),
        0);

    /* An acceptance that does not reply to the offer's package is refused, and the offer
     * stays open. */
    char third[37], text[8192];
    offer(case_id, consent_id, "referral", third);
    cell(&ph,
         "SELECT package::text FROM federation_packages WHERE referral_id = $1 AND "
         "direction = 'out' AND type = 'answer'",
         second, text, sizeof text);
    struct trm_keyring *manila = load_keys(ph.key_file);
    static const char *const changes[][2] = {
        {"action", "accept"},
        {"package_id", "6f1c2a8e-3333-4a2b-9c3d-0123456789ab"},
        {"in_reply_to", "6f1c2a8e-4444-4a2b-9c3d-0123456789ab"},
        {"referral_id", NULL},
    };
    char *forged = strdup(text);
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        json_t *doc = json_loads(forged, 0, NULL);
        free(forged);
        json_object_set_new(doc, "payload", json_null());
        forged = resign(doc, manila, changes[i][0], changes[i][1] ? changes[i][1] : third);
        json_decref(doc);
    }
    trm_keyring_free(manila);
    post_inbox_to(&se, forged, 409, "package_refused");
    free(forged);
    ck_assert_int_eq(
        count(&se, "SELECT count(*) FROM referrals WHERE id = $1 AND status = 'offered'", third),
        1);
}
END_TEST

/* The interpreter need crosses with the offer (docs/documents.md): Manila sees it before
 * accepting when the consent covers contact and contact is offered (opened from the
 * package, the read logged at PH against the Swedish case id); not otherwise. */
START_TEST(interpreter_need_crosses_with_consent)
{
    char case_id[37], consent_id[37], rid[37], other[37], path[200], body[1536];
    wait_for_directory();
    snprintf(body, sizeof body,
             "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-10\", \"person\": {"
             "\"identity\": {\"full_name\": \"Name %s\"}, \"contact\": {\"address\": \"Addr %s\", "
             "\"communication\": {\"languages\": [\"ceb\", \"fil\"], \"interpreter_needed\": "
             "true, \"safe_times\": \"Evenings %s\"}}}}",
             sentinel, sentinel, sentinel);
    struct h_resp r;
    h_api(&se.srv, se.worker, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create case");
    snprintf(case_id, sizeof case_id, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/consents", case_id);
    h_api(&se.srv, se.worker, "POST", path,
          "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\", \"categories\": "
          "[\"identity\", \"contact\"], \"recipients\": {\"countries\": [\"PH\"]}}",
          NULL, &r);
    h_expect(&r, 201, "consent");
    snprintf(consent_id, sizeof consent_id, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    const char *cats[] = {"\"identity\", \"contact\"", "\"identity\""};
    char *ids[] = {rid, other};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/v1/cases/%s/referrals", case_id);
        snprintf(body, sizeof body,
                 "{\"to_agency_id\": \"%s\", \"kind\": \"referral\", \"purpose\": "
                 "\"return_reception\", \"categories\": [%s], \"handling_code\": \"H2\", "
                 "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"}",
                 ph.agency, cats[i], consent_id);
        h_api(&se.srv, se.worker, "POST", path, body, NULL, &r);
        h_expect(&r, 201, "offer to the Philippines");
        snprintf(ids[i], 37, "%s", h_str(&r, "id"));
        h_resp_free(&r);
        if (i == 0) { /* the second offer waits for the first to be answered */
            snprintf(path, sizeof path, "/v1/referrals/%s", rid);
            json_t *ref = wait_for(&ph, ph.worker, path, status_is, "offered", "the offer at PH");
            json_t *in = json_object_get(json_object_get(ref, "summary"), "interpreter");
            ck_assert_ptr_nonnull(in);
            ck_assert(json_is_true(json_object_get(in, "needed")));
            ck_assert_str_eq(json_string_value(json_array_get(json_object_get(in, "languages"), 0)),
                             "ceb");
            ck_assert_int_eq(json_object_size(in), 2);
            json_decref(ref);
            ck_assert_int_ge(count(&ph,
                                   "SELECT count(*) FROM access_log WHERE case_id = $1 AND "
                                   "purpose = 'offer_summary' AND categories = '{contact}'",
                                   case_id),
                             1);
            /* The sender sees what it offered, too. */
            h_api(&se.srv, se.worker, "GET", path, NULL, NULL, &r);
            h_expect(&r, 200, "the offer at SE");
            ck_assert_ptr_nonnull(
                json_object_get(json_object_get(r.json, "summary"), "interpreter"));
            h_resp_free(&r);
            snprintf(path, sizeof path, "/v1/referrals/%s/decline", rid);
            h_api(&ph.srv, ph.worker, "POST", path, NULL, NULL, &r);
            h_expect(&r, 200, "decline at PH");
            h_resp_free(&r);
            snprintf(path, sizeof path, "/v1/referrals/%s", rid);
            json_t *gone = wait_for(&se, se.worker, path, status_is, "declined", "the decline");
            json_decref(gone);
            h_api(&ph.srv, ph.worker, "GET", path, NULL, NULL, &r);
            ck_assert_ptr_null(json_object_get(json_object_get(r.json, "summary"), "interpreter"));
            h_resp_free(&r);
        }
    }
    /* Contact not offered: nothing said, nothing logged. */
    long reads = count(&ph,
                       "SELECT count(*) FROM access_log WHERE case_id = $1 AND purpose = "
                       "'offer_summary'",
                       case_id);
    snprintf(path, sizeof path, "/v1/referrals/%s", other);
    json_t *ref = wait_for(&ph, ph.worker, path, status_is, "offered", "the second offer at PH");
    ck_assert_ptr_null(json_object_get(json_object_get(ref, "summary"), "interpreter"));
    json_decref(ref);
    ck_assert_int_eq(count(&ph,
                           "SELECT count(*) FROM access_log WHERE case_id = $1 AND purpose = "
                           "'offer_summary'",
                           case_id),
                     reads);
}
END_TEST

/* A peer's agency in our country: PH lists an agency in Sweden; SE does not take it, so it
 * can never satisfy a consent naming Sweden. */
START_TEST(peer_agencies_stay_in_their_country)
{
    char fake[37], path[200];
    wait_for_directory();
    h_agency(&ph.srv, ph.admin, "SE", "police", fake);
    /* Two refreshes later (one a second) SE lists PH's other agencies, not this one. */
    sleep(3);
    snprintf(path, sizeof path, "/v1/agencies?country=SE&limit=100");
    struct h_resp r;
    h_api(&se.srv, se.worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "SE directory");
    ck_assert_ptr_null(strstr(r.body, fake));
    h_resp_free(&r);
    ck_assert_int_eq(count(&se, "SELECT count(*) FROM agencies WHERE id = $1", fake), 0);
    wait_for_directory(); /* the PH agency is still there */
}
END_TEST

/* Demo agencies stay on their instance (local_only) and are never the real one: SE's demo
 * "Demo Manila reintegration NGO" (a stand-in in PH) does not hide PH's agency of that name,
 * and PH never sees SE's demo agencies. */
START_TEST(demo_agencies_are_local_only)
{
    char out[4096], real[37], stand_in[37] = "", path[200];
    wait_for_directory();
    ctl(&se, "demo --country PH", out, sizeof out);
    struct h_resp r;
    h_api(&ph.srv, ph.admin, "POST", "/v1/agencies",
          "{\"name\": \"Demo Manila reintegration NGO\", \"country\": \"PH\", \"kind\": \"ngo\"}",
          NULL, &r);
    h_expect(&r, 201, "PH's agency of the demo name");
    snprintf(real, sizeof real, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    register_peer(&se, &ph); /* again: fetch its directory now */
    snprintf(path, sizeof path, "/v1/agencies?country=PH&limit=100");
    json_t *list = wait_for(&se, se.worker, path, has_item, real, "PH's agency at SE");
    size_t i;
    json_t *it;
    int named = 0;
    json_array_foreach(json_object_get(list, "items"), i, it)
    {
        const char *name = json_string_value(json_object_get(it, "name"));
        if (strcmp(name, "Demo Manila reintegration NGO") != 0)
            continue;
        named++;
        bool peers = strcmp(json_string_value(json_object_get(it, "id")), real) == 0;
        ck_assert(json_is_boolean(json_object_get(it, "local_only")));
        ck_assert_int_eq(json_is_true(json_object_get(it, "local_only")), !peers);
        ck_assert_int_eq(json_is_null(json_object_get(it, "instance_id")), !peers);
        if (!peers)
            snprintf(stand_in, sizeof stand_in, "%s", json_string_value(json_object_get(it, "id")));
    }
    json_decref(list);
    ck_assert_int_eq(named, 2);
    /* Two refreshes later (one a second) PH still has none of SE's demo agencies. */
    register_peer(&ph, &se);
    sleep(2);
    ck_assert_int_eq(count(&ph, "SELECT count(*) FROM agencies WHERE id = $1", stand_in), 0);
    ck_assert_int_eq(count(&ph,
                           "SELECT count(*) FROM agencies WHERE name LIKE 'Demo %' AND "
                           "instance_id IS NOT NULL",
                           NULL),
                     0);
}
END_TEST

static void post_inbox_to(struct inst *in, const char *body, long status, const char *code)
{
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct h_resp r;
    h_http(&in->srv, "POST", "/v1/federation/inbox", headers, body, &r);
    h_assert_problem(&r, status, code);
    h_resp_free(&r);
}

static long ph_rows(void)
{
    return count(&ph,
                 "SELECT (SELECT count(*) FROM referrals) + (SELECT count(*) FROM "
                 "federation_packages) + (SELECT count(*) FROM handover_log) + (SELECT count(*) "
                 "FROM agencies)",
                 NULL);
}

static void post_inbox(const char *body, long status, const char *code, struct h_resp *keep)
{
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct h_resp r;
    h_http(&ph.srv, "POST", "/v1/federation/inbox", headers, body, &r);
    if (code)
        h_assert_problem(&r, status, code);
    else
        h_expect(&r, status, "inbox");
    if (keep)
        *keep = r;
    else
        h_resp_free(&r);
}

/* A package like orig, with one header field changed, signed with kr. */
static char *resign(json_t *orig, const struct trm_keyring *kr, const char *name, const char *value)
{
    struct trm_fed_package p;
    char why[160];
    ck_assert_msg(trm_fed_package_parse(orig, &p, why, sizeof why), "%s", why);
    struct trm_fed_header h = p.h;
    for (int i = 0; i < TRM_FED__NFIELDS; i++)
        if (strcmp(trm_fed_field_names[i], name) == 0)
            h.v[i] = value;
    uint8_t hash[TRM_FED_HASH_BYTES];
    json_t *wire = trm_fed_package_build(kr, &h, p.payload, p.payload_len, hash);
    char *text = json_dumps(wire, JSON_COMPACT);
    json_decref(wire);
    trm_fed_package_free(&p);
    return text;
}

static struct trm_keyring *load_keys(const char *path)
{
    struct trm_keyring *kr = NULL;
    char err[256];
    ck_assert_msg(trm_keyring_load(&kr, path, err, sizeof err), "%s", err);
    return kr;
}

/* Stops a trmd this (forked) test process did not start, so cannot wait for. */
static void stop_sibling(struct trmd *t)
{
    kill(t->pid, SIGTERM);
    for (int i = 0; i < 200 && h_trmd_alive(t); i++)
        usleep(50000);
    ck_assert(!h_trmd_alive(t));
    t->pid = 0;
}

START_TEST(faults_lose_nothing_and_store_nothing_bad)
{
    char case_id[37], consent_id[37], rid[37], path[160], text[8192], args[600], out[1024];
    wait_for_directory();
    swedish_case(case_id, consent_id);

    /* The peer is down: the offer is acknowledged, queued, retried, delivered later, once. */
    stop_sibling(&ph.srv);
    offer(case_id, consent_id, "referral", rid);
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    for (int i = 0; i < 100 && count(&se,
                                     "SELECT coalesce(max(attempts), 0) FROM "
                                     "federation_packages WHERE referral_id = $1",
                                     rid) < 2;
         i++)
        usleep(50000);
    ck_assert_int_ge(count(&se,
                           "SELECT max(attempts) FROM federation_packages WHERE "
                           "referral_id = $1 AND status = 'pending'",
                           rid),
                     2);
    /* Its directory cannot be fetched either: asked again after 1, 2, 4, ... seconds (at
     * most federation_retry_max_s, 1 s here), not on every 100 ms worker round. */
    const char *failures_sql =
        "SELECT directory_failures FROM federation_peers WHERE instance_id = $1";
    for (int i = 0; i < 200 && count(&se, failures_sql, "ph.trm") < 2; i++)
        usleep(50000);
    long failures = count(&se, failures_sql, "ph.trm");
    ck_assert_int_ge(failures, 2);
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM federation_peers WHERE instance_id = $1 "
                           "AND directory_retry_at > now() - interval '1 second'",
                           "ph.trm"),
                     1);
    usleep(1500000); /* 15 worker rounds: at most 2 more attempts with the backoff */
    ck_assert_int_le(count(&se, failures_sql, "ph.trm"), failures + 3);
    h_trmd_start(&ph.srv, ph.envp);
    register_peer(&se, &ph);                                 /* it came back on another port */
    ck_assert_int_eq(count(&se, failures_sql, "ph.trm"), 0); /* registering starts over */
    json_decref(wait_for(&se, se.worker, path, delivered, NULL, "delivery after the outage"));
    ck_assert_int_eq(count(&ph, "SELECT count(*) FROM referrals WHERE id = $1", rid), 1);
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM handover_log WHERE referral_id = $1 "
                           "AND action = 'receipt'",
                           rid),
                     1);

    /* A directory answer must verify with the peer's registered key, for this request:
     * with PH registered under another signing key, SE refuses PH's directory and backs off;
     * registered right again, it takes it. */
    char right[65];
    const char *fetched_sql = "SELECT count(*) FROM federation_peers WHERE instance_id = $1 "
                              "AND directory_fetched_at IS NOT NULL";
    snprintf(right, sizeof right, "%s", ph.sign_hex);
    snprintf(ph.sign_hex, sizeof ph.sign_hex, "%s", se.sign_hex);
    register_peer(&se, &ph);
    for (int i = 0; i < 100 && count(&se, failures_sql, "ph.trm") < 1; i++)
        usleep(50000);
    ck_assert_int_ge(count(&se, failures_sql, "ph.trm"), 1);
    /* A fetch already under way when the key changed may still have saved the directory it
     * verified under the old key: forget it, and let one more attempt fail. */
    ck_assert_int_eq(count(&se,
                           "WITH u AS (UPDATE federation_peers SET directory_fetched_at = NULL "
                           "WHERE instance_id = $1 RETURNING 1) SELECT count(*) FROM u",
                           "ph.trm"),
                     1);
    long failed = count(&se, failures_sql, "ph.trm");
    for (int i = 0; i < 100 && count(&se, failures_sql, "ph.trm") <= failed; i++)
        usleep(50000);
    ck_assert_int_gt(count(&se, failures_sql, "ph.trm"), failed);
    ck_assert_int_eq(count(&se, fetched_sql, "ph.trm"), 0);
    /* trmctl peer check and the worker's log say it in the same words. */
    const char *wrong_key = "signature does not match the signing key registered for ph.trm";
    ck_assert_int_ne(ctl_rc(&se, NULL, "peer check ph.trm", out, sizeof out), 0);
    expect_in(out, wrong_key);
    /* The worker logs after its commit: wait for the line. */
    const char *logged = "directory of ph.trm not refreshed: signature does not match the "
                         "signing key registered for ph.trm";
    char *log = h_trmd_log(&se.srv);
    for (int i = 0; i < 200 && strstr(log, logged) == NULL; i++) {
        free(log);
        usleep(50000);
        log = h_trmd_log(&se.srv);
    }
    ck_assert_msg(strstr(log, logged) != NULL, "the worker did not log: %s", logged);
    free(log);
    snprintf(ph.sign_hex, sizeof ph.sign_hex, "%s", right);
    register_peer(&se, &ph);
    for (int i = 0; i < 100 && count(&se, fetched_sql, "ph.trm") < 1; i++)
        usleep(50000);
    ck_assert_int_eq(count(&se, fetched_sql, "ph.trm"), 1);
    ck_assert_int_eq(count(&se, failures_sql, "ph.trm"), 0);

    /* The same package again: the same receipt, nothing new. */
    cell(&se, "SELECT package::text FROM federation_packages WHERE referral_id = $1", rid, text,
         sizeof text);
    long before = ph_rows();
    struct h_resp r;
    post_inbox(text, 200, NULL, &r);
    char first_sig[200];
    cell(&ph, "SELECT receipt ->> 'signature' FROM federation_packages WHERE referral_id = $1", rid,
         first_sig, sizeof first_sig);
    ck_assert_str_eq(h_str(&r, "signature"), first_sig);
    h_resp_free(&r);
    ck_assert_int_eq(ph_rows(), before);

    json_t *orig = json_loads(text, 0, NULL);
    /* Altered in transit. */
    json_t *altered = json_deep_copy(orig);
    json_object_set_new(json_object_get(altered, "header"), "purpose", json_string("other"));
    char *s = json_dumps(altered, JSON_COMPACT);
    post_inbox(s, 400, "bad_signature", NULL);
    free(s);
    json_decref(altered);

    /* Signed by a key that is not the registered one, as se.trm and as a stranger. */
    char stranger_keys[512];
    h_tmp_path(stranger_keys, sizeof stranger_keys, "stranger.key");
    snprintf(args, sizeof args, "keys init '%s'", stranger_keys);
    ctl(&se, args, out, sizeof out);
    struct trm_keyring *stranger = load_keys(stranger_keys);
    s = resign(orig, stranger, "purpose", "legal");
    post_inbox(s, 400, "bad_signature", NULL);
    free(s);
    s = resign(orig, stranger, "sender_instance", "xx.trm");
    post_inbox(s, 403, "unknown_peer", NULL);
    free(s);
    trm_keyring_free(stranger);

    /* Signed by Sweden, but addressed elsewhere, expired, or reusing a package id. */
    struct trm_keyring *sweden = load_keys(se.key_file);
    s = resign(orig, sweden, "recipient_instance", "other.trm");
    post_inbox(s, 421, "misdirected", NULL);
    free(s);
    s = resign(orig, sweden, "expires_at", "2026-01-01T00:00:00Z");
    post_inbox(s, 410, "package_expired", NULL);
    free(s);
    s = resign(orig, sweden, "expires_at", "2099-01-01T00:00:00Z"); /* open for decades */
    post_inbox(s, 400, "invalid_package", NULL);
    free(s);
    s = resign(orig, sweden, "purpose", "legal");
    post_inbox(s, 409, "package_replayed", NULL);
    free(s);
    /* A purpose is a code: free text in the header (where it is readable) is refused. */
    s = resign(orig, sweden, "purpose", "Maria needs a shelter");
    post_inbox(s, 400, "invalid_package", NULL);
    free(s);
    trm_keyring_free(sweden);
    post_inbox("{\"version\": 1}", 400, "invalid_package", NULL);
    post_inbox("not json", 400, "malformed_json", NULL);
    ck_assert_int_eq(ph_rows(), before);
    json_decref(orig);

    /* The directory answers only a registered peer's signed request. */
    h_http(&ph.srv, "GET", "/v1/federation/agencies", NULL, NULL, &r);
    h_assert_problem(&r, 401, "peer_unauthenticated");
    h_resp_free(&r);
    h_http(&ph.srv, "GET", "/v1/federation/identity", NULL, NULL, &r);
    h_expect(&r, 200, "identity");
    ck_assert_str_eq(h_str(&r, "instance_id"), "ph.trm");
    ck_assert_str_eq(h_str(&r, "box_key"), ph.box_hex);
    h_resp_free(&r);
    h_trmd_stop(&ph.srv); /* the one this test started */
}
END_TEST

/* trmctl at an instance: its exit code, its output (stdout and stderr) in out. */
static int ctl_rc(struct inst *in, const char *key_file, const char *args, char *out, size_t cap)
{
    return h_trmctl_with(in->owner_env, key_file ? key_file : in->key_file, args, out, cap);
}

static void expect_in(const char *out, const char *want)
{
    ck_assert_msg(strstr(out, want) != NULL, "wanted \"%s\" in: %.1500s", want, out);
}

/* A loopback port nobody listens on (bound, then closed). */
static unsigned closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* An extra peer registered at SE (url as given, PH's keys), for one check; inactive after. */
static void extra_peer(const char *id, const char *url, bool active)
{
    char args[1200], out[512];
    snprintf(args, sizeof args,
             "peer add --id %s --country PH --url %s --signing-key %s --box-key %s%s", id, url,
             ph.sign_hex, ph.box_hex, active ? "" : " --inactive");
    ctl(&se, args, out, sizeof out);
}

/* trmctl peer check: connected, or what is wrong, in the sentence the worker logs too; peer
 * add names the argument it refuses. */
START_TEST(peer_check_says_what_is_wrong)
{
    char out[2048], args[1200], want[600], url[200];
    wait_for_directory();
    ck_assert_int_eq(ctl_rc(&se, NULL, "peer check ph.trm", out, sizeof out), 0);
    snprintf(want, sizeof want,
             "connected: ph.trm at http://127.0.0.1:%u answered with its "
             "directory (",
             ph.srv.port);
    expect_in(out, want);
    ck_assert_int_eq(ctl_rc(&ph, NULL, "peer check se.trm", out, sizeof out), 0);
    expect_in(out, "connected: se.trm at");

    /* Not registered there (or with another key): the request is signed with a key PH does
     * not know for se.trm. */
    char stranger[512];
    h_tmp_path(stranger, sizeof stranger, "check-stranger.key");
    snprintf(args, sizeof args, "keys init '%s'", stranger);
    ctl(&se, args, out, sizeof out);
    ck_assert_int_ne(ctl_rc(&se, stranger, "peer check ph.trm", out, sizeof out), 0);
    expect_in(out, "ph.trm answered 401 peer_unauthenticated: this instance (se.trm) is not "
                   "registered there, or with another signing key");

    /* A URL that reaches no trm federation endpoint, and a closed port. */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/nothing", ph.srv.port);
    extra_peer("wrong-url.trm", url, true);
    ck_assert_int_ne(ctl_rc(&se, NULL, "peer check wrong-url.trm", out, sizeof out), 0);
    snprintf(want, sizeof want,
             "wrong-url.trm answered 404 not_found at %s/v1/federation/agencies: "
             "no trm federation endpoint there (check the URL registered for wrong-url.trm)",
             url);
    expect_in(out, want);
    extra_peer("wrong-url.trm", url, false);
    snprintf(url, sizeof url, "http://127.0.0.1:%u", closed_port());
    extra_peer("closed.trm", url, true);
    ck_assert_int_ne(ctl_rc(&se, NULL, "peer check closed.trm", out, sizeof out), 0);
    snprintf(want, sizeof want, "connection refused at %s/v1/federation/agencies", url);
    expect_in(out, want);
    extra_peer("closed.trm", url, false);
    ck_assert_int_ne(ctl_rc(&se, NULL, "peer check nobody.trm", out, sizeof out), 0);
    expect_in(out, "no peer nobody.trm is registered here");

    /* peer add names what it refuses. */
    static const char *const bad[][2] = {
        {"--url 127.0.0.1:8092", "--url must start with http:// or https://"},
        {"--url http://127.0.0.1:8092/", "--url must not end with /"},
        {"--url http://127.0.0.1:8092 --signing-key 0123", "--signing-key must be 64 hex digits, "
                                                           "not 4"},
        {"--url http://127.0.0.1:8092 --country XX", "names a country this database does not know"},
        {"--url http://127.0.0.1:8092 --country ph", "--country must be a country code"},
        {"--url http://127.0.0.1:8092 --countries PH/GU", "--countries must be country codes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* trmctl takes a flag's first value: the changed one comes before the defaults. */
        snprintf(args, sizeof args,
                 "peer add --id bad.trm %s --country PH --url http://127.0.0.1:1 --signing-key %s "
                 "--box-key %s",
                 bad[i][0], ph.sign_hex, ph.box_hex);
        ck_assert_int_ne(ctl_rc(&se, NULL, args, out, sizeof out), 0);
        expect_in(out, bad[i][1]);
    }
    ck_assert_int_ne(ctl_rc(&se, NULL, "peer add --id bad.trm --country PH", out, sizeof out), 0);
    expect_in(out, "peer add: --url is missing");
    ck_assert_int_eq(
        count(&se, "SELECT count(*) FROM federation_peers WHERE instance_id = $1", "bad.trm"), 0);
}
END_TEST

static const char *json_path_str(json_t *j, const char *a, const char *b)
{
    json_t *v = json_object_get(j, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

/* A case transferred out ends its tracks at the sender: transferred_out, no deadline, never
 * overdue there; its summary names the peer and the case it became there (id and reference),
 * and the referrals on both sides name the other side's case. */
START_TEST(transfer_out_ends_the_case_here)
{
    char case_id[37], consent_id[37], rid[37], local[37], path[200], ph_ref[32], se_ref[32];
    wait_for_directory();
    /* Both sides have read that the other reads version-2 packages. */
    const char *v2 = "SELECT count(*) FROM federation_peers WHERE instance_id = $1 AND "
                     "package_version >= 2";
    for (int i = 0; i < 100 && (count(&se, v2, "ph.trm") == 0 || count(&ph, v2, "se.trm") == 0);
         i++)
        usleep(50000);
    ck_assert_int_eq(count(&se, v2, "ph.trm") + count(&ph, v2, "se.trm"), 2);
    swedish_case(case_id, consent_id);
    cell(&se, "SELECT reference FROM cases WHERE id = $1", case_id, se_ref, sizeof se_ref);
    /* Past its deadline: listed as overdue. */
    PGconn *pg = h_pg(se.owner_env);
    const char *p[] = {case_id};
    PGresult *q = PQexecParams(pg,
                               "UPDATE case_tracks SET due_at = now() - interval '1 day' "
                               "WHERE case_id = $1 AND track = 'main'",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(q) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
    PQclear(q);
    PQfinish(pg);
    const char *overdue = "/v1/cases?overdue=true&limit=100";
    json_decref(wait_for(&se, se.worker, overdue, has_item, case_id, "the overdue case"));

    offer(case_id, consent_id, "transfer", rid);
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    json_t *ref = wait_for(&ph, ph.worker, path, status_is, "offered", "the offer at PH");
    ck_assert_str_eq(json_path_str(ref, "remote_case_reference", NULL), se_ref);
    json_decref(ref);
    accept_at_ph(rid, local);
    snprintf(path, sizeof path, "/v1/cases/%s", local);
    struct h_resp r;
    h_api(&ph.srv, ph.worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the local case at PH");
    snprintf(ph_ref, sizeof ph_ref, "%s", h_str(&r, "reference"));
    ck_assert(json_is_null(json_object_get(r.json, "transferred_out")));
    h_resp_free(&r);

    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    ref = wait_for(&se, se.worker, path, status_is, "accepted", "the acceptance at SE");
    ck_assert_str_eq(json_path_str(ref, "remote_case_id", NULL), local);
    ck_assert_str_eq(json_path_str(ref, "remote_case_reference", NULL), ph_ref);
    json_decref(ref);

    /* Not overdue any more: no deadline on any track, every track transferred_out. */
    h_api(&se.srv, se.worker, "GET", overdue, NULL, NULL, &r);
    h_expect(&r, 200, "overdue cases at SE");
    ck_assert_ptr_null(find_item(r.json, case_id));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s", case_id);
    h_api(&se.srv, se.worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the Swedish case");
    ck_assert_str_eq(h_str(&r, "state"), "transferred_out");
    ck_assert(json_is_null(json_object_get(r.json, "due_at")));
    json_t *tracks = json_object_get(r.json, "tracks"), *t;
    const char *name;
    json_object_foreach(tracks, name, t)
    {
        ck_assert_str_eq(json_string_value(json_object_get(t, "state")), "transferred_out");
        ck_assert_str_eq(json_string_value(json_object_get(t, "phase")), "closed");
        ck_assert(json_is_null(json_object_get(t, "due_at")));
    }
    ck_assert_int_ge(json_object_size(tracks), 2);
    ck_assert_str_eq(json_path_str(r.json, "transferred_out", "instance"), "ph.trm");
    ck_assert_str_eq(json_path_str(r.json, "transferred_out", "remote_case_id"), local);
    ck_assert_str_eq(json_path_str(r.json, "transferred_out", "remote_reference"), ph_ref);
    ck_assert_ptr_nonnull(json_path_str(r.json, "transferred_out", "at"));
    ck_assert_int_eq(json_object_size(json_object_get(r.json, "transferred_out")), 4);
    /* The list's item (the database writes it) is this summary, member for member. */
    struct h_resp list;
    h_api(&se.srv, se.worker, "GET", "/v1/cases?limit=100", NULL, NULL, &list);
    h_expect(&list, 200, "cases at SE");
    json_t *item = find_item(list.json, case_id);
    ck_assert_ptr_nonnull(item);
    json_object_del(r.json, "person");
    ck_assert(json_equal(item, r.json));
    h_resp_free(&list);
    h_resp_free(&r);
    /* No step leaves transferred_out. */
    snprintf(path, sizeof path, "/v1/cases/%s/transitions", case_id);
    h_api(&se.srv, se.worker, "GET", path, NULL, NULL, &r);
    if (r.status == 200)
        ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 0);
    h_resp_free(&r);
}
END_TEST

/* PH's inbox status for a version-3 offer Sweden signs like the one of rid (another package
 * id) whose payload carries one document of category, its listed digest that of digest_of. */
static long forged_document(const char *rid, const char *package_id, const char *category,
                            const char *digest_of)
{
    static char text[1024 * 1024]; /* the package of a 300 KiB document */
    cell(&se,
         "SELECT package::text FROM federation_packages WHERE referral_id = $1 AND "
         "direction = 'out' AND type = 'offer'",
         rid, text, sizeof text);
    json_t *orig = json_loads(text, 0, NULL);
    struct trm_fed_package p;
    char why[160], sha[65], b64[128];
    ck_assert_msg(trm_fed_package_parse(orig, &p, why, sizeof why), "%s", why);
    ck_assert_int_eq(p.h.version, 3);
    struct trm_fed_header h = p.h;
    h.v[TRM_FED_PACKAGE_ID] = package_id;
    const char *content = "Docu Sentinel forged\n";
    uint8_t digest[32], box[TRM_FED_KEY_BYTES];
    crypto_hash_sha256(digest, (const uint8_t *)digest_of, strlen(digest_of));
    trm_hex_encode(digest, sizeof digest, sha);
    sodium_bin2base64(b64, sizeof b64, (const uint8_t *)content, strlen(content),
                      sodium_base64_VARIANT_ORIGINAL);
    json_t *payload =
        json_pack("{s:s, s:{}, s:[{s:s, s:s, s:s, s:s, s:s, s:s}]}", "package_id", package_id,
                  "person", "documents", "kind", "other", "category", category, "media_type",
                  "text/plain", "file_name", "forged.txt", "sha256", sha, "content", b64);
    char *plain = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    struct trm_keyring *sweden = load_keys(se.key_file);
    ck_assert(trm_hex_decode(ph.box_hex, box, sizeof box));
    uint8_t *sealed = NULL, hash[TRM_FED_HASH_BYTES];
    size_t len = 0;
    ck_assert(trm_fed_seal(sweden, box, plain, strlen(plain), &sealed, &len));
    json_t *wire = trm_fed_package_build(sweden, &h, sealed, len, hash);
    char *body = json_dumps(wire, JSON_COMPACT);
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct h_resp r;
    h_http(&ph.srv, "POST", "/v1/federation/inbox", headers, body, &r);
    long status = r.status;
    if (status == 400)
        h_assert_problem(&r, 400, "invalid_package");
    h_resp_free(&r);
    free(body);
    json_decref(wire);
    free(sealed);
    free(plain);
    trm_keyring_free(sweden);
    trm_fed_package_free(&p);
    json_decref(orig);
    return status;
}

/* How much a trmd's peak may grow while a document travels: AddressSanitizer keeps freed
 * memory in quarantine, and shadows it, so its builds get more room. */
#ifdef __SANITIZE_ADDRESS__
#define PEAK_GROWTH_MAX_KB (64 * 1024)
#else
#define PEAK_GROWTH_MAX_KB (16 * 1024)
#endif

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

/* Documents travel with a transfer when their category is offered under the consent: the
 * identity document arrives in Manila's case and reads back byte for byte; the narrative one
 * (not consented, not offered) never leaves Sweden. Sweden logs the handover of the content
 * (the categories sent), and erases its copies only once Manila holds them (the transfer). */
START_TEST(documents_travel_when_consented)
{
    char case_id[37], consent_id[37], rid[37], local[37], path[200], kept[37], gone[37];
    char name[64], stays[128];
    wait_for_directory();
    const char *v3 = "SELECT count(*) FROM federation_peers WHERE instance_id = $1 AND "
                     "package_version = 3";
    for (int i = 0; i < 100 && count(&se, v3, "ph.trm") == 0; i++)
        usleep(50000);
    ck_assert_int_eq(count(&se, v3, "ph.trm"), 1);
    swedish_case(case_id, consent_id);
    snprintf(name, sizeof name, "%s-passport.txt", sentinel);
    /* 300 KiB: two chunks at each end. */
    size_t big = 300 * 1024;
    char *travels = malloc(big + 1);
    ck_assert_ptr_nonnull(travels);
    int head = snprintf(travels, big, "Docu Sentinel passport of %s\n", sentinel);
    for (size_t i = (size_t)head; i < big; i++)
        travels[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
    travels[big] = '\0';
    snprintf(stays, sizeof stays, "Docu Sentinel story of %s, stays in Sweden\n", sentinel);
    se_document(case_id, "kind=identity_document", name, travels, gone);
    se_document(case_id, "kind=other&category=narrative", name, stays, kept);
    long ph_documents =
        count(&ph, "SELECT count(*) FROM documents WHERE $1::text IS NOT NULL", "x");

    long se_before = peak_kb(se.srv.pid), ph_before = peak_kb(ph.srv.pid);
    offer(case_id, consent_id, "transfer", rid);
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM access_log WHERE case_id = $1 AND purpose = "
                           "'federation_documents' AND categories = '{identity}'",
                           case_id),
                     1);
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    json_decref(wait_for(&ph, ph.worker, path, status_is, "offered", "the offer at PH"));
    /* Until Manila accepts, Sweden holds both documents. */
    ck_assert_int_eq(count(&se, "SELECT count(*) FROM documents WHERE case_id = $1", case_id), 2);
    accept_at_ph(rid, local);

    /* Manila's case has the identity document, sealed under its own keys. */
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s/documents", local);
    h_api(&ph.srv, ph.worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the documents at PH");
    json_t *items = json_object_get(r.json, "items");
    ck_assert_int_eq(json_array_size(items), 1);
    json_t *d = json_array_get(items, 0);
    char did[37];
    snprintf(did, sizeof did, "%s", json_string_value(json_object_get(d, "id")));
    ck_assert_str_ne(did, gone);
    ck_assert_str_eq(json_string_value(json_object_get(d, "category")), "identity");
    ck_assert_str_eq(json_string_value(json_object_get(d, "kind")), "identity_document");
    ck_assert_str_eq(json_string_value(json_object_get(d, "file_name")), name);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "size")), (json_int_t)strlen(travels));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s/content", local, did);
    h_api(&ph.srv, ph.worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the document's content at PH");
    ck_assert_uint_eq(r.body_len, strlen(travels));
    ck_assert(memcmp(r.body, travels, strlen(travels)) == 0);
    h_resp_free(&r);
    /* The narrative document is nowhere in Manila's database: one new document only, and
     * no stored byte of it (nor of the other) is in the clear. */
    ck_assert_int_eq(count(&ph, "SELECT count(*) FROM documents WHERE $1::text IS NOT NULL", "x"),
                     ph_documents + 1);
    ck_assert_int_eq(count(&ph, "SELECT count(*) FROM documents WHERE id = $1", kept), 0);
    ck_assert_int_eq(count(&ph,
                           "SELECT count(*) FROM document_chunks WHERE position(convert_to("
                           "'Docu Sentinel', 'UTF8') IN sealed) > 0 AND $1::text IS NOT NULL",
                           "x"),
                     0);

    /* Sweden learns of the acceptance: the transfer out erases its documents with the key. */
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    json_decref(wait_for(&se, se.worker, path, status_is, "accepted", "the acceptance at SE"));
    ck_assert_int_eq(count(&se, "SELECT count(*) FROM documents WHERE case_id = $1", case_id), 0);
    ck_assert_int_eq(count(&ph, "SELECT count(*) FROM document_chunks WHERE document_id = $1", did),
                     2);
    free(travels);
    /* Each side held the package whole for a moment: its peak grows by a few MiB at most. */
    long se_kb = peak_kb(se.srv.pid), ph_kb = peak_kb(ph.srv.pid);
    fprintf(stderr,
            "federation: a 300 KiB document travelled; trmd VmHWM SE %ld -> %ld kB, "
            "PH %ld -> %ld kB\n",
            se_before, se_kb, ph_before, ph_kb);
    ck_assert(se_before > 0 && ph_before > 0);
    ck_assert_int_lt(se_kb - se_before, PEAK_GROWTH_MAX_KB);
    ck_assert_int_lt(ph_kb - ph_before, PEAK_GROWTH_MAX_KB);

    /* PH's inbox takes documents of the offered categories only, whose content is what the
     * listed digest says; a forged offer otherwise is refused and nothing of it is stored. */
    const char *content = "Docu Sentinel forged\n";
    const char *stored = "SELECT count(*) FROM federation_packages WHERE package_id = $1::uuid";
    const char *narrative = "6f1c2a8e-4444-4a2b-9c3d-0123456789ab";
    const char *digest = "6f1c2a8e-5555-4a2b-9c3d-0123456789ab";
    const char *control = "6f1c2a8e-6666-4a2b-9c3d-0123456789ab";
    ck_assert_int_eq(forged_document(rid, narrative, "narrative", content), 400);
    ck_assert_int_eq(count(&ph, stored, narrative), 0);
    ck_assert_int_eq(forged_document(rid, digest, "identity", "other content"), 400);
    ck_assert_int_eq(count(&ph, stored, digest), 0);
    /* The same with an offered category and the right digest gets past those checks (the
     * referral is answered already, so it is refused later, not as invalid). */
    ck_assert_int_ne(forged_document(rid, control, "identity", content), 400);
}
END_TEST

/* An offer whose documents do not fit a package is refused, with nothing queued nor logged;
 * a peer on an older trm (its directory reads version 2) gets the offer without documents. */
START_TEST(documents_that_cannot_travel_stay)
{
    char case_id[37], consent_id[37], rid[37], local[37], path[200], did[37], name[64];
    wait_for_directory();
    swedish_case(case_id, consent_id);
    snprintf(name, sizeof name, "%s-big.txt", sentinel);
    size_t big = TRM_FED_DOCUMENTS_MAX + 1;
    char *text = malloc(big + 1);
    ck_assert_ptr_nonnull(text);
    memset(text, 'a', big);
    text[big] = '\0';
    se_document(case_id, "kind=identity_document", name, text, did);
    free(text);
    struct h_resp r;
    char body[1024];
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", case_id);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"transfer\", \"purpose\": "
             "\"return_reception\", \"categories\": [\"identity\", \"health\"], "
             "\"handling_code\": \"H2\", \"legal_basis\": \"consent\", \"consent_id\": \"%s\"}",
             ph.agency, consent_id);
    h_api(&se.srv, se.worker, "POST", path, body, NULL, &r);
    h_expect(&r, 409, "an offer whose documents do not fit");
    ck_assert_str_eq(h_str(&r, "code"), "conflict");
    ck_assert_ptr_nonnull(strstr(h_str(&r, "detail"), "too large"));
    h_resp_free(&r);
    ck_assert_int_eq(count(&se, "SELECT count(*) FROM referrals WHERE case_id = $1", case_id), 0);
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM access_log WHERE case_id = $1 AND purpose IN "
                           "('federation_documents', 'federation_offer')",
                           case_id),
                     0);

    /* To a peer that reads version 2 only, the offer goes without the document. */
    PGconn *pg = h_pg(se.owner_env);
    PGresult *q = PQexec(pg, "UPDATE federation_peers SET package_version = 2 WHERE "
                             "instance_id = 'ph.trm'");
    ck_assert_msg(PQresultStatus(q) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
    PQclear(q);
    offer(case_id, consent_id, "referral", rid);
    q = PQexec(pg, "UPDATE federation_peers SET package_version = 3 WHERE instance_id = 'ph.trm'");
    ck_assert_msg(PQresultStatus(q) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
    PQclear(q);
    PQfinish(pg);
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM federation_packages WHERE referral_id = $1 AND "
                           "(package ->> 'version')::int = 2",
                           rid),
                     1);
    snprintf(path, sizeof path, "/v1/referrals/%s", rid);
    json_decref(wait_for(&ph, ph.worker, path, status_is, "offered", "the offer at PH"));
    accept_at_ph(rid, local);
    ck_assert_int_gt(count(&ph, "SELECT count(*) FROM case_personal WHERE case_id = $1", local), 0);
    ck_assert_int_eq(count(&ph, "SELECT count(*) FROM documents WHERE case_id = $1", local), 0);
    ck_assert_int_eq(count(&se,
                           "SELECT count(*) FROM access_log WHERE case_id = $1 AND purpose = "
                           "'federation_documents'",
                           case_id),
                     0);
}
END_TEST

/* Not federation, but this file owns its databases: the shared one's tests expect every
 * country's references to have started at 1. */
START_TEST(references_grow_past_six_digits)
{
    char ref[64], want[64], body[512];
    int year = 0;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    year = tm.tm_year + 1900;
    /* The year's sequence of IS, made as a first creation makes it, then moved on. */
    snprintf(body, sizeof body,
             "SELECT trm_case_reference('IS'); SELECT setval('case_ref_is_%d', 999999)", year);
    PGconn *pg = h_pg(ph.owner_env);
    PGresult *q = PQexec(pg, body);
    ck_assert_msg(PQresultStatus(q) == PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
    PQclear(q);
    PQfinish(pg);
    for (int i = 0; i < 2; i++) {
        struct h_resp r;
        h_api(&ph.srv, ph.worker, "POST", "/v1/cases",
              "{\"country\": \"IS\", \"sex\": \"male\", \"age_band\": \"30-38\", "
              "\"citizenship\": \"unknown\", \"exploitation_forms\": [\"labour\"], "
              "\"identified_month\": \"2026-10\"}",
              NULL, &r);
        h_expect(&r, 201, "a case past the millionth");
        snprintf(ref, sizeof ref, "%s", h_str(&r, "reference"));
        h_resp_free(&r);
        snprintf(want, sizeof want, "IS-%d-%d", year, 1000000 + i);
        ck_assert_str_eq(ref, want);
    }
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("federation");
    TCase *tc = tcase_create("federation");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, transfer_from_sweden_to_manila);
    tcase_add_test(tc, decline_and_withdrawal_travel_back);
    tcase_add_test(tc, consent_withdrawal_withdraws_the_offer_at_the_peer);
    tcase_add_test(tc, note_and_reason_travel_sealed);
    tcase_add_test(tc, interpreter_need_crosses_with_consent);
    tcase_add_test(tc, peer_agencies_stay_in_their_country);
    tcase_add_test(tc, demo_agencies_are_local_only);
    tcase_add_test(tc, consent_withdrawal_travels);
    tcase_add_test(tc, crossed_withdrawal_wins);
    tcase_add_test(tc, peer_check_says_what_is_wrong);
    tcase_add_test(tc, transfer_out_ends_the_case_here);
    tcase_add_test(tc, documents_travel_when_consented);
    tcase_add_test(tc, documents_that_cannot_travel_stay);
    tcase_add_test(tc, references_grow_past_six_digits);
    tcase_add_test(tc, faults_lose_nothing_and_store_nothing_bad); /* last: it restarts PH */
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
