/* Webhooks against a real HTTP receiver inside this test (libmicrohttpd): every delivery's
 * signature checks (computed here apart from trmd's code, with libsodium's HMAC), nothing
 * personal is in any body (the case's values are sentinels; the bodies also go to the leak
 * scan), deliveries are retried while the receiver is down and while it answers 500, and an
 * event whose delivery trmd was killed in the middle of (SIGKILL) arrives again with the same
 * id and body, so a receiver that dedupes by id gets every event once; without a crash, no
 * event is posted twice, even to a receiver slower than a claim's lease; an event a receiver
 * keeps refusing holds up none of the others. The admin API never shows the secret, and
 * refuses what it must. */
#include "check_run.h"
#include "harness.h"

#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trm/webhook.h"

#define MAX_SEEN 512
#define WAIT_S 90 /* a bound on waits that end much sooner: never a timing assertion */

/* ------------------------------------------------------------------------------------ */
/* The receiver */

/* RX_HOLD: the first delivery is held (not answered) until the test lets go; RX_SLOW: every
 * delivery is answered 200 after SLOW_MS; RX_POISON: event rx.poison is answered 500, the
 * others 200. */
enum rx_mode { RX_OK, RX_500, RX_HOLD, RX_SLOW, RX_POISON };

#define SLOW_MS 1500

struct seen {
    char id[64], ts[32], sig[96], agency[40];
    char *body;
    unsigned status; /* what the receiver answered (0: held, trmd never had an answer) */
    bool signed_ok;  /* the signature checks with the agency's secret */
};

struct receiver {
    struct MHD_Daemon *d;
    unsigned port;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum rx_mode mode;
    bool holding, release;
    char held[64];   /* the id of the delivery held */
    char poison[64]; /* RX_POISON: the event refused */
    struct seen seen[MAX_SEEN];
    size_t n;
    /* Secrets by path: /a for agency A, /b for agency B. */
    char secret_a[80], secret_b[80];
};

static struct receiver rx = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

struct upload {
    char *data;
    size_t len;
};

/* The signature as a receiver computes it: HMAC-SHA-256(secret, timestamp "." body). */
static bool signature_checks(const char *secret, const char *ts, const char *sig, const char *body,
                             size_t len)
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char hex[2 * sizeof mac + 1], want[8 + sizeof hex];
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    snprintf(want, sizeof want, "v1=%s", hex);
    long now = (long)time(NULL), t = atol(ts);
    return strcmp(want, sig) == 0 && t > now - 300 && t < now + 300;
}

/* Each body also goes to a file the leak scan reads after the suite. */
static void keep_body(const char *body)
{
    char path[512];
    snprintf(path, sizeof path, "%s/webhook-bodies-%d.txt", h_env("TRM_TEST_TMPDIR"),
             (int)getpid());
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", body);
        fclose(f);
    }
}

static unsigned record(struct MHD_Connection *con, const char *url, struct upload *u)
{
    const char *id = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Trm-Event-Id");
    const char *ts = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Trm-Timestamp");
    const char *sig = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Trm-Signature");
    const char *body = u->data ? u->data : "";
    keep_body(body);
    pthread_mutex_lock(&rx.lock);
    enum rx_mode mode = rx.mode;
    bool refused = mode == RX_500 || (mode == RX_POISON && id && strcmp(id, rx.poison) == 0);
    unsigned status = refused ? 500 : 200;
    if (rx.n < MAX_SEEN) {
        struct seen *s = &rx.seen[rx.n++];
        snprintf(s->id, sizeof s->id, "%s", id ? id : "");
        snprintf(s->ts, sizeof s->ts, "%s", ts ? ts : "");
        snprintf(s->sig, sizeof s->sig, "%s", sig ? sig : "");
        snprintf(s->agency, sizeof s->agency, "%s", url + 1);
        s->body = strdup(body);
        s->status = status;
        const char *secret = strcmp(url, "/a") == 0 ? rx.secret_a : rx.secret_b;
        s->signed_ok = ts && sig && signature_checks(secret, ts, sig, body, u->len);
    }
    if (mode == RX_HOLD && !rx.holding) {
        /* Hold this one delivery until the test lets go (it kills trmd meanwhile): trmd never
         * sees an answer to it, so it is not one answered 200. */
        if (rx.n <= MAX_SEEN)
            rx.seen[rx.n - 1].status = 0;
        snprintf(rx.held, sizeof rx.held, "%s", id ? id : "");
        rx.holding = true;
        pthread_cond_broadcast(&rx.cond);
        while (!rx.release)
            pthread_cond_wait(&rx.cond, &rx.lock);
    }
    pthread_mutex_unlock(&rx.lock);
    if (mode == RX_SLOW)
        usleep(SLOW_MS * 1000);
    return status;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **state)
{
    (void)cls;
    (void)version;
    (void)method;
    struct upload *u = *state;
    if (u == NULL) {
        *state = calloc(1, sizeof *u);
        return MHD_YES;
    }
    if (*size > 0) {
        char *grown = realloc(u->data, u->len + *size + 1);
        if (grown == NULL)
            return MHD_NO;
        memcpy(grown + u->len, data, *size);
        u->data = grown;
        u->len += *size;
        u->data[u->len] = '\0';
        *size = 0;
        return MHD_YES;
    }
    unsigned status = record(con, url, u);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(2, (void *)"{}", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ok = MHD_queue_response(con, status, r);
    MHD_destroy_response(r);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **state,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)con;
    (void)code;
    struct upload *u = *state;
    if (u) {
        free(u->data);
        free(u);
    }
    *state = NULL;
}

/* Starts the receiver on port (0: any free one). */
static void rx_start(unsigned port)
{
    rx.d =
        MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                         (uint16_t)port, NULL, NULL, on_request, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                         on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    ck_assert_msg(rx.d != NULL, "the receiver did not start on port %u", port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(rx.d, MHD_DAEMON_INFO_BIND_PORT);
    rx.port = info->port;
}

static void rx_stop(void)
{
    pthread_mutex_lock(&rx.lock);
    rx.release = true;
    pthread_cond_broadcast(&rx.cond);
    pthread_mutex_unlock(&rx.lock);
    MHD_stop_daemon(rx.d);
    rx.d = NULL;
}

static void rx_reset(enum rx_mode mode)
{
    pthread_mutex_lock(&rx.lock);
    for (size_t i = 0; i < rx.n; i++)
        free(rx.seen[i].body);
    rx.n = 0;
    rx.mode = mode;
    rx.holding = rx.release = false;
    rx.held[0] = '\0';
    pthread_mutex_unlock(&rx.lock);
}

static void rx_mode(enum rx_mode mode)
{
    pthread_mutex_lock(&rx.lock);
    rx.mode = mode;
    pthread_mutex_unlock(&rx.lock);
}

/* How many deliveries of event id the receiver answered with status (0: any). */
static size_t rx_count(const char *id, unsigned status)
{
    size_t n = 0;
    pthread_mutex_lock(&rx.lock);
    for (size_t i = 0; i < rx.n; i++)
        if (strcmp(rx.seen[i].id, id) == 0 && (status == 0 || rx.seen[i].status == status))
            n++;
    pthread_mutex_unlock(&rx.lock);
    return n;
}

/* Waits until every event in ids was answered 200 at least once. */
static void rx_wait_all(char ids[][37], size_t n)
{
    for (int i = 0; i < WAIT_S * 10; i++) {
        size_t done = 0;
        for (size_t k = 0; k < n; k++)
            done += rx_count(ids[k], 200) > 0;
        if (done == n)
            return;
        usleep(100000);
    }
    ck_abort_msg("not every event arrived");
}

/* ------------------------------------------------------------------------------------ */
/* trmd, agencies, users and events */

static struct trmd srv;
static char admin[128], a_agency[37], b_agency[37], a_worker[128], a_coord[128], b_worker[128];
static char sentinel[32];

static const char *const fast[] = {"TRM_WEBHOOK_INTERVAL_MS=100", "TRM_WEBHOOK_RETRY_MAX_S=1",
                                   "TRM_WEBHOOK_TIMEOUT_S=2", "TRM_MAINTENANCE_INTERVAL_MS=200",
                                   NULL};

static void setup(void)
{
    char user[37];
    h_trmd_start(&srv, fast);
    h_admin(admin, "SE");
    h_agency(&srv, admin, "SE", "social_services", a_agency);
    h_agency(&srv, admin, "SE", "ngo", b_agency);
    h_user(&srv, admin, a_agency, "caseworker", false, user, a_worker);
    h_user(&srv, admin, a_agency, "coordinator", false, user, a_coord);
    h_user(&srv, admin, b_agency, "caseworker", false, user, b_worker);
    snprintf(sentinel, sizeof sentinel, "Wh%dPk", (int)getpid());
    snprintf(rx.secret_a, sizeof rx.secret_a, "Whsec%dKxAAAAAAAAAAAAAAAA", (int)getpid());
    snprintf(rx.secret_b, sizeof rx.secret_b, "Whsec%dKxBBBBBBBBBBBBBBBB", (int)getpid());
    rx_reset(RX_OK);
}

static void teardown(void)
{
    if (rx.d)
        rx_stop();
    h_trmd_stop(&srv);
}

static void register_webhook(const char *agency, const char *path, const char *secret,
                             unsigned port)
{
    char url[128], body[512];
    snprintf(url, sizeof url, "/v1/agencies/%s/webhook", agency);
    snprintf(body, sizeof body, "{\"url\": \"http://127.0.0.1:%u%s\", \"secret\": \"%s\"}", port,
             path, secret);
    struct h_resp r;
    h_api(&srv, admin, "PUT", url, body, NULL, &r);
    h_expect(&r, 200, "register webhook");
    ck_assert_ptr_null(strstr(r.body, secret));
    ck_assert(json_is_true(json_object_get(r.json, "active")));
    h_resp_free(&r);
}

/* A case of A with personal values (sentinels), a consent naming B, and an offer to B: an
 * offer_received event for B. Writes the case, consent and referral ids. */
static void offer_to_b(char case_id[37], char consent_id[37], char referral_id[37])
{
    char body[2048], path[128];
    struct h_resp r;
    snprintf(
        body, sizeof body,
        "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
        "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
        "\"identified_month\": \"2026-10\", \"person\": {"
        "\"identity\": {\"full_name\": \"Name %s\"}, \"contact\": {\"address\": \"Addr %s\"}}}",
        sentinel, sentinel);
    h_api(&srv, a_worker, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "case");
    snprintf(case_id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/consents", case_id);
    snprintf(body, sizeof body,
             "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\", \"categories\": "
             "[\"identity\"], \"recipients\": {\"agency_ids\": [\"%s\"]}}",
             b_agency);
    h_api(&srv, a_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "consent");
    snprintf(consent_id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", case_id);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"referral\", \"purpose\": \"accommodation\", "
             "\"categories\": [\"identity\"], \"legal_basis\": \"consent\", \"handling_code\": "
             "\"H2\", \"consent_id\": \"%s\", \"note\": \"Note %s\"}",
             b_agency, consent_id, sentinel);
    h_api(&srv, a_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "offer");
    snprintf(referral_id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

/* The id of agency's newest notification of kind about the referral (or the consent). */
static void event_id(const char *agency, const char *kind, const char *about, char id[37])
{
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {agency, kind, about};
    PGresult *r =
        PQexecParams(pg,
                     "SELECT e.id FROM webhook_events e JOIN notifications n ON n.id = e.id "
                     "WHERE n.agency_id = $1 AND n.kind = $2 "
                     "AND $3::uuid IN (n.referral_id, n.consent_id, n.case_id) "
                     "ORDER BY n.at DESC LIMIT 1",
                     3, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1,
                  "no %s event for the agency", kind);
    snprintf(id, 37, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
}

/* A delivered body holds the members an event may hold, and only ids, codes, times and a
 * case reference: never a personal value. */
static void body_is_clean(const char *body, const char *id)
{
    static const char *const members[] = {
        "id",      "kind",           "at",          "agency_id",  "user_id",
        "case_id", "case_reference", "referral_id", "consent_id", NULL};
    ck_assert_ptr_null(strstr(body, sentinel));
    ck_assert_ptr_null(strstr(body, "Name "));
    json_t *j = json_loads(body, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), id);
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        bool known = false;
        for (size_t i = 0; members[i]; i++)
            known = known || strcmp(k, members[i]) == 0;
        ck_assert_msg(known, "unexpected member %s", k);
        ck_assert(json_is_string(v));
        const char *s = json_string_value(v);
        ck_assert_msg(
            strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:") ==
                strlen(s),
            "%s is not an id, code, time or reference", k);
    }
    json_decref(j);
}

/* ------------------------------------------------------------------------------------ */

START_TEST(signed_and_nothing_personal)
{
    rx_start(0);
    register_webhook(a_agency, "/a", rx.secret_a, rx.port);
    register_webhook(b_agency, "/b", rx.secret_b, rx.port);
    char case_id[37], consent_id[37], rid[37], path[160];
    offer_to_b(case_id, consent_id, rid);
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/referrals/%s/accept", rid);
    h_api(&srv, b_worker, "POST", path, "{}", NULL, &r);
    h_expect(&r, 200, "accept");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/consents/%s/withdraw", case_id, consent_id);
    h_api(&srv, a_worker, "POST", path, "{\"reason\": \"Reason Wh0Pk\"}", NULL, &r);
    h_expect(&r, 200, "withdraw");
    h_resp_free(&r);

    char ids[3][37];
    event_id(b_agency, "offer_received", rid, ids[0]);
    event_id(a_agency, "offer_accepted", rid, ids[1]);
    event_id(b_agency, "consent_withdrawn", consent_id, ids[2]);
    rx_wait_all(ids, 3);
    pthread_mutex_lock(&rx.lock);
    for (size_t i = 0; i < rx.n; i++) {
        struct seen *s = &rx.seen[i];
        ck_assert_msg(s->signed_ok, "the signature of %s does not check", s->id);
        /* Signed with this agency's secret, not the other's. */
        const char *other = strcmp(s->agency, "a") == 0 ? rx.secret_b : rx.secret_a;
        ck_assert(!signature_checks(other, s->ts, s->sig, s->body, strlen(s->body)));
        /* trmd's own verification agrees; a body changed by a byte does not check. */
        const char *mine = strcmp(s->agency, "a") == 0 ? rx.secret_a : rx.secret_b;
        ck_assert(trm_webhook_verify(mine, s->ts, s->sig, s->body, strlen(s->body),
                                     (long long)time(NULL), 300));
        s->body[strlen(s->body) - 2] ^= 1;
        ck_assert(!trm_webhook_verify(mine, s->ts, s->sig, s->body, strlen(s->body),
                                      (long long)time(NULL), 300));
        s->body[strlen(s->body) - 2] ^= 1;
        body_is_clean(s->body, s->id);
    }
    pthread_mutex_unlock(&rx.lock);
    /* The body names the kind, the case and its reference for the agency that holds it. */
    ck_assert_uint_eq(rx_count(ids[1], 200), 1);
    json_t *accepted = NULL;
    pthread_mutex_lock(&rx.lock);
    for (size_t i = 0; i < rx.n && !accepted; i++)
        if (strcmp(rx.seen[i].id, ids[1]) == 0)
            accepted = json_loads(rx.seen[i].body, 0, NULL);
    pthread_mutex_unlock(&rx.lock);
    ck_assert_str_eq(json_string_value(json_object_get(accepted, "kind")), "offer_accepted");
    ck_assert_str_eq(json_string_value(json_object_get(accepted, "case_id")), case_id);
    ck_assert_str_eq(json_string_value(json_object_get(accepted, "referral_id")), rid);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(accepted, "case_reference")));
    json_decref(accepted);

    /* The status an admin sees: counts, never the secret. */
    snprintf(path, sizeof path, "/v1/agencies/%s/webhook", b_agency);
    h_api(&srv, admin, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "webhook status");
    ck_assert_ptr_null(strstr(r.body, rx.secret_b));
    ck_assert_ptr_null(json_object_get(r.json, "secret"));
    ck_assert_int_ge(
        json_integer_value(json_object_get(json_object_get(r.json, "events"), "delivered")), 2);
    h_resp_free(&r);
    /* In the database the secret is sealed. */
    ck_assert_int_eq(h_count("SELECT count(*) FROM agency_webhooks WHERE position(convert_to($1, "
                             "'UTF8') IN sealed_secret) > 0",
                             rx.secret_b),
                     0);
}
END_TEST

/* Events queued while the receiver is down are tried again with backoff; then it answers 500
 * and they are tried again; then they arrive, each attempt with the same id and body. */
START_TEST(retried_while_down_and_failing)
{
    rx_start(0);
    unsigned port = rx.port;
    rx_stop();
    register_webhook(b_agency, "/b", rx.secret_b, port);
    char case_id[37], consent_id[37], rid[37], id[37];
    offer_to_b(case_id, consent_id, rid);
    event_id(b_agency, "offer_received", rid, id);
    const char *attempts = "SELECT count(*) FROM webhook_events WHERE id = $1 AND attempts >= 2 "
                           "AND last_error = 'unreachable' AND status = 'pending'";
    for (int i = 0; i < WAIT_S * 10 && h_count(attempts, id) == 0; i++)
        usleep(100000);
    ck_assert_int_eq(h_count(attempts, id), 1);

    rx_reset(RX_500);
    rx_start(port);
    for (int i = 0; i < WAIT_S * 10 && rx_count(id, 500) < 2; i++)
        usleep(100000);
    ck_assert_uint_ge(rx_count(id, 500), 2);
    ck_assert_int_eq(h_count("SELECT count(*) FROM webhook_events WHERE id = $1 AND "
                             "last_error = 'http_500' AND status = 'pending'",
                             id),
                     1);
    rx_mode(RX_OK);
    char ids[1][37];
    snprintf(ids[0], sizeof ids[0], "%s", id);
    rx_wait_all(ids, 1);
    for (int i = 0; i < WAIT_S * 10 && h_count("SELECT count(*) FROM webhook_events WHERE id = "
                                               "$1 AND status = 'delivered'",
                                               id) == 0;
         i++)
        usleep(100000);
    ck_assert_int_eq(h_count("SELECT count(*) FROM webhook_events WHERE id = $1 AND status = "
                             "'delivered' AND last_error IS NULL",
                             id),
                     1);
    /* Every attempt carried the same body, each signed for its own moment. */
    pthread_mutex_lock(&rx.lock);
    const char *first = NULL;
    for (size_t i = 0; i < rx.n; i++) {
        if (strcmp(rx.seen[i].id, id) != 0)
            continue;
        ck_assert(rx.seen[i].signed_ok);
        if (first == NULL)
            first = rx.seen[i].body;
        ck_assert_str_eq(rx.seen[i].body, first);
    }
    pthread_mutex_unlock(&rx.lock);
    ck_assert_uint_eq(rx_count(id, 200), 1);
}
END_TEST

/* trmd is killed while the receiver holds a delivery: after a restart (two trmd processes
 * sharing the outbox), that event comes again with the same id and body, and every event
 * arrives; the receiver, deduping by id, has each exactly once. */
START_TEST(stable_ids_through_sigkill)
{
    enum { N = 6 };
    rx_reset(RX_HOLD);
    rx_start(0);
    register_webhook(b_agency, "/b", rx.secret_b, rx.port);
    char ids[N][37], case_id[37], consent_id[37], rid[37];
    for (int i = 0; i < N; i++) {
        offer_to_b(case_id, consent_id, rid);
        event_id(b_agency, "offer_received", rid, ids[i]);
    }
    pthread_mutex_lock(&rx.lock);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_S;
    while (!rx.holding && pthread_cond_timedwait(&rx.cond, &rx.lock, &until) == 0)
        ;
    bool holding = rx.holding;
    char held[64];
    snprintf(held, sizeof held, "%s", rx.held);
    pthread_mutex_unlock(&rx.lock);
    ck_assert_msg(holding, "no delivery reached the receiver");
    kill(srv.pid, SIGKILL);
    h_trmd_reap(&srv);
    pthread_mutex_lock(&rx.lock);
    rx.mode = RX_OK;
    rx.release = true;
    pthread_cond_broadcast(&rx.cond);
    pthread_mutex_unlock(&rx.lock);

    struct trmd second;
    h_trmd_start(&srv, fast);
    h_trmd_start(&second, fast);
    rx_wait_all(ids, N);
    /* The held event came again: the same id, the same bytes. */
    ck_assert_uint_ge(rx_count(held, 0), 2);
    pthread_mutex_lock(&rx.lock);
    const char *first = NULL;
    size_t distinct = 0;
    for (size_t i = 0; i < rx.n; i++) {
        struct seen *s = &rx.seen[i];
        ck_assert(s->signed_ok);
        if (strcmp(s->id, held) == 0) {
            if (first == NULL)
                first = s->body;
            ck_assert_str_eq(s->body, first);
        }
        bool again = false;
        for (size_t j = 0; j < i; j++)
            again = again || strcmp(rx.seen[j].id, s->id) == 0;
        distinct += !again;
    }
    pthread_mutex_unlock(&rx.lock);
    /* Deduped by id: exactly the events trmd queued, each once. */
    ck_assert_uint_eq(distinct, N);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(h_count("SELECT count(*) FROM webhook_events e JOIN notifications n "
                                 "ON n.id = e.id WHERE e.id = $1",
                                 ids[i]),
                         1);
    h_trmd_stop(&second);
}
END_TEST

/* Waits until every event in ids is delivered as the outbox says. */
static void outbox_delivered(char ids[][37], size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const char *sql = "SELECT count(*) FROM webhook_events WHERE id = $1 AND "
                          "status = 'delivered'";
        for (int i = 0; i < WAIT_S * 10 && h_count(sql, ids[k]) == 0; i++)
            usleep(100000);
        ck_assert_int_eq(h_count(sql, ids[k]), 1);
    }
}

/* The ids as an array literal ({id,id,...}). */
static const char *id_list(char ids[][37], size_t n, char *list, size_t cap)
{
    snprintf(list, cap, "{");
    for (size_t k = 0; k < n; k++)
        snprintf(list + strlen(list), cap - strlen(list), "%s%s", k ? "," : "", ids[k]);
    snprintf(list + strlen(list), cap - strlen(list), "}");
    return list;
}

/* Runs sql as the owner with the ids as a uuid[] ($1); the rows it changed. */
static long owner_update(const char *sql, char ids[][37], size_t n)
{
    char list[64 * 40];
    id_list(ids, n, list, sizeof list);
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {list};
    PGresult *r = PQexecParams(pg, sql, 1, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
    long changed = atol(PQcmdTuples(r));
    PQclear(r);
    PQfinish(pg);
    return changed;
}

/* A slow receiver, and two trmd sharing the outbox: one claims every event in one round and
 * posts them one after the other, longer than its claim's lease; the other takes those whose
 * lease ended. Each event is still posted once: a worker renews a lease before posting, and
 * leaves alone an event another took. */
/* Queues n offer_received events for B while its receiver is down, then parks them (due in
 * an hour), so that they can be made due all at once; answers the receiver's port. */
static unsigned queue_parked(char ids[][37], size_t n)
{
    rx_start(0);
    unsigned port = rx.port;
    rx_stop();
    register_webhook(b_agency, "/b", rx.secret_b, port);
    char case_id[37], consent_id[37], rid[37];
    for (size_t i = 0; i < n; i++) {
        offer_to_b(case_id, consent_id, rid);
        event_id(b_agency, "offer_received", rid, ids[i]);
    }
    const char *park = "UPDATE webhook_events SET next_attempt_at = now() + interval '1 hour' "
                       "WHERE id = ANY ($1::uuid[])";
    /* An attempt under way may record its failure over the first parking: park again. */
    for (int i = 0; i < 10; i++) {
        owner_update(park, ids, n);
        usleep(300000);
    }
    char list[64 * 40];
    const char *parked = "SELECT count(*) FROM webhook_events WHERE id = ANY ($1::uuid[]) "
                         "AND status = 'pending' AND next_attempt_at > now() + interval '50 min'";
    ck_assert_int_eq(h_count(parked, id_list(ids, n, list, sizeof list)), (long)n);
    return port;
}

START_TEST(slow_receiver_no_event_posted_twice)
{
    enum { N = 6 };
    char ids[N][37];
    unsigned port = queue_parked(ids, N);
    rx_reset(RX_SLOW);
    rx_start(port);
    struct trmd second;
    h_trmd_start(&second, fast);
    /* All due at once: the first worker to look claims them all in one round. */
    const char *due = "UPDATE webhook_events SET next_attempt_at = now() "
                      "WHERE id = ANY ($1::uuid[])";
    ck_assert_int_eq(owner_update(due, ids, N), N);
    rx_wait_all(ids, N);
    outbox_delivered(ids, N);
    usleep(2 * SLOW_MS * 1000); /* a post under way would have reached the receiver by now */
    for (int i = 0; i < N; i++)
        ck_assert_msg(rx_count(ids[i], 0) == 1, "event %s was posted %zu times", ids[i],
                      rx_count(ids[i], 0));
    pthread_mutex_lock(&rx.lock);
    for (size_t i = 0; i < rx.n; i++)
        ck_assert(rx.seen[i].signed_ok);
    pthread_mutex_unlock(&rx.lock);
    h_trmd_stop(&second);
}
END_TEST

/* A receiver that refuses one event (500) holds up none of the others: all due at once, the
 * refused one first, the others are posted in the rounds after it fails, while it is tried
 * again with backoff. */
START_TEST(a_refused_event_holds_up_no_other)
{
    enum { N = 4 };
    char ids[N][37];
    unsigned port = queue_parked(ids, N);
    rx_reset(RX_POISON);
    snprintf(rx.poison, sizeof rx.poison, "%s", ids[0]);
    rx_start(port);
    /* Due at once, as never tried: the first queued (the refused one) is posted first. */
    const char *due = "UPDATE webhook_events SET next_attempt_at = now(), attempts = 0 "
                      "WHERE id = ANY ($1::uuid[])";
    ck_assert_int_eq(owner_update(due, ids, N), N);
    rx_wait_all(ids + 1, N - 1);
    outbox_delivered(ids + 1, N - 1);
    ck_assert_uint_ge(rx_count(ids[0], 500), 1);
    ck_assert_uint_eq(rx_count(ids[0], 200), 0);
    ck_assert_int_eq(h_count("SELECT count(*) FROM webhook_events WHERE id = $1 AND status = "
                             "'pending' AND attempts >= 1 AND last_error = 'http_500'",
                             ids[0]),
                     1);
}
END_TEST

START_TEST(admin_api)
{
    struct h_resp r;
    char path[160], body[512];
    snprintf(path, sizeof path, "/v1/agencies/%s/webhook", a_agency);
    /* Nobody registered yet. */
    h_api(&srv, admin, "GET", path, NULL, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    /* Admins only. */
    snprintf(body, sizeof body, "{\"url\": \"https://hooks.example.org/trm\", \"secret\": \"%s\"}",
             rx.secret_a);
    h_api(&srv, a_coord, "PUT", path, body, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    /* A secret is needed the first time; bad URLs and secrets are refused, by pointer, and
     * nothing is written. */
    h_api(&srv, admin, "PUT", path, "{\"url\": \"https://hooks.example.org/trm\"}", NULL, &r);
    h_assert_problem(&r, 400, "validation_failed");
    ck_assert_ptr_nonnull(strstr(r.body, "/secret"));
    h_resp_free(&r);
    static const char *const bad[] = {
        "{\"url\": \"http://hooks.example.org/trm\", \"secret\": \"0123456789abcdef\"}",
        "{\"url\": \"https://u:p@hooks.example.org/\", \"secret\": \"0123456789abcdef\"}",
        "{\"url\": \"https://hooks.example.org/\", \"secret\": \"short\"}",
        "{\"url\": \"https://hooks.example.org/\", \"secret\": \"0123456789abcdef\", \"x\": 1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h_api(&srv, admin, "PUT", path, bad[i], NULL, &r);
        h_assert_problem(&r, 400, "validation_failed");
        ck_assert_ptr_null(strstr(r.body, "hooks.example.org"));
        h_resp_free(&r);
    }
    ck_assert_int_eq(h_count("SELECT count(*) FROM agency_webhooks WHERE agency_id = $1", a_agency),
                     0);
    /* Registered; changed without a new secret; the admin log names fields, never values. */
    h_api(&srv, admin, "PUT", path, body, NULL, &r);
    h_expect(&r, 200, "register");
    ck_assert_ptr_null(strstr(r.body, rx.secret_a));
    h_resp_free(&r);
    h_api(&srv, admin, "PUT", path,
          "{\"url\": \"https://hooks.example.org/other\", \"active\": false}", NULL, &r);
    h_expect(&r, 200, "change");
    ck_assert(json_is_false(json_object_get(r.json, "active")));
    ck_assert_str_eq(h_str(&r, "url"), "https://hooks.example.org/other");
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM admin_log WHERE object_id = $1 AND action = "
                             "'agency_update' AND 'webhook_secret' = ANY (fields)",
                             a_agency),
                     1);
    ck_assert_int_eq(
        h_count("SELECT count(*) FROM admin_log WHERE object_id = $1 AND (details::text "
                "LIKE '%hooks.example%' OR details::text LIKE '%Whsec%')",
                a_agency),
        0);
    /* An unknown agency. */
    h_api(&srv, admin, "PUT", "/v1/agencies/00000000-0000-4000-8000-000000000000/webhook", body,
          NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    /* Removed, then gone. */
    h_api(&srv, admin, "DELETE", path, NULL, NULL, &r);
    h_expect(&r, 204, "delete");
    h_resp_free(&r);
    h_api(&srv, admin, "DELETE", path, NULL, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    h_api(&srv, admin, "GET", path, NULL, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("webhooks");
    TCase *tc = tcase_create("webhooks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, signed_and_nothing_personal);
    tcase_add_test(tc, retried_while_down_and_failing);
    tcase_add_test(tc, stable_ids_through_sigkill);
    tcase_add_test(tc, slow_receiver_no_event_posted_twice);
    tcase_add_test(tc, a_refused_event_holds_up_no_other);
    tcase_add_test(tc, admin_api);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
