/* The webhook delivery worker: posts queued events to their agencies' receivers, signed,
 * and records each attempt; a failed one is tried again with exponential backoff until the
 * event is given up (webhook_give_up_s). Events are claimed for a lease in PostgreSQL
 * (FOR UPDATE SKIP LOCKED), so several trmd processes share the outbox; an event whose
 * outcome was never recorded (trmd killed while posting) is posted again once its lease
 * ends, with the same id and body: receivers dedupe by the id. A round posts its events one
 * after the other, so an event whose lease could end before its attempt does is first
 * renewed, if the claim is still this worker's: no event is posted by two workers at once.
 * The receiver's answer is read for its status only, never logged or kept. */
#include "trm/app.h"
#include "trm/build_info.h"
#include "trm/log.h"
#include "trm/webhook.h"
#include "trm/webhook_store.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define CLAIM_BATCH 16
#define ANSWER_MAX (64 * 1024)

static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
    size_t *seen = arg;
    (void)ptr;
    *seen += size * n;
    return *seen > ANSWER_MAX ? 0 : size * n;
}

/* Posts body to url with the signature headers; the outcome as a code (NULL: delivered). */
static const char *post(const char *url, const char *id, const char *body, const char *secret,
                        long timeout_s, char code[24])
{
    char ts[32], sig[TRM_WEBHOOK_SIGNATURE_LEN + 1];
    char h_id[80], h_ts[48], h_sig[96], h_ua[64];
    long long now = (long long)time(NULL);
    snprintf(ts, sizeof ts, "%lld", now);
    trm_webhook_sign(secret, now, body, strlen(body), sig);
    snprintf(h_id, sizeof h_id, "Trm-Event-Id: %s", id);
    snprintf(h_ts, sizeof h_ts, "Trm-Timestamp: %s", ts);
    snprintf(h_sig, sizeof h_sig, "Trm-Signature: %s", sig);
    snprintf(h_ua, sizeof h_ua, "User-Agent: trmd/%s", TRM_VERSION);
    const char *lines[] = {"Content-Type: application/json", h_id, h_ts, h_sig, h_ua, "Expect:"};
    struct curl_slist *h = NULL;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        h = curl_slist_append(h, lines[i]);
    CURL *curl = curl_easy_init();
    size_t seen = 0;
    long status = 0;
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    if (curl && h) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout_s);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &seen);
        rc = curl_easy_perform(curl);
        if (rc == CURLE_OK || rc == CURLE_WRITE_ERROR)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(curl);
    if (status >= 200 && status < 300)
        return NULL;
    if (status != 0)
        snprintf(code, 24, "http_%ld", status);
    else if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(code, 24, "timeout");
    else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST)
        snprintf(code, 24, "unreachable");
    else
        snprintf(code, 24, "transport_error");
    return code;
}

struct outcome {
    const struct trm_webhook_due *d;
    const char *error;
    unsigned max_s, give_up_s;
    bool posted, given_up;
};

static enum trm_db_status outcome_tx(struct trm_db_conn *c, void *arg)
{
    struct outcome *o = arg;
    trm_db_commit_with_next(c);
    return trm_webhook_outcome(c, o->d->id, o->error, o->posted, o->max_s, o->give_up_s,
                               &o->given_up);
}

/* Posts one event, or (failed_before: the agency's receiver just failed in this round)
 * records the same failure without posting, so a receiver that hangs costs one timeout a
 * round, not one per event; such an event counts no attempt, and goes first next time.
 * Returns the failure's code (NULL: delivered). */
static const char *deliver(struct trm_app *app, const struct trm_webhook_due *d,
                           const char *failed_before, char code[24])
{
    const struct trm_config *cfg = app->config;
    char secret[TRM_WEBHOOK_SECRET_MAX + 1];
    struct outcome o = {.d = d,
                        .error = failed_before,
                        .max_s = (unsigned)cfg->webhook_retry_max_s,
                        .give_up_s = (unsigned)cfg->webhook_give_up_s,
                        .posted = failed_before == NULL};
    if (o.error == NULL && trm_webhook_secret_open(trm_app_keys(app), d->agency_id,
                                                   d->sealed_secret, secret, sizeof secret)) {
        o.error = post(d->url, d->id, d->body, secret, cfg->webhook_timeout_s, code);
        sodium_memzero(secret, sizeof secret);
    } else if (o.error == NULL) {
        o.error = "secret_unreadable";
    }
    if (trm_db_tx_run(app->db, NULL, false, outcome_tx, &o) != TRM_DB_OK)
        trm_log(TRM_LOG_WARN, "webhook_outcome_lost",
                "event %s: the outcome was not recorded; it is posted again after its lease",
                d->id);
    else if (o.error == NULL)
        trm_log(TRM_LOG_INFO, "webhook_delivered", "event %s delivered to agency %s", d->id,
                d->agency_id);
    else if (o.posted)
        trm_log(TRM_LOG_WARN, o.given_up ? "webhook_given_up" : "webhook_retry",
                "event %s for agency %s not delivered: %s (attempt %d)%s", d->id, d->agency_id,
                o.error, d->attempts + 1, o.given_up ? "; given up" : "");
    else
        trm_log(TRM_LOG_WARN, o.given_up ? "webhook_given_up" : "webhook_retry",
                "event %s for agency %s not posted: its receiver failed this round (%s)%s", d->id,
                d->agency_id, o.error, o.given_up ? "; given up" : "");
    return o.error;
}

struct round {
    const struct trm_config *cfg;
    struct trm_webhook_due due[CLAIM_BATCH];
    unsigned n;
    unsigned lease_s;    /* outlasts one attempt: connect and answer, then the outcome's write */
    double leased_at_ms; /* when the leases of due[] were last set (claimed), as trmd saw it */
};

static enum trm_db_status claim_tx(struct trm_db_conn *c, void *arg)
{
    struct round *r = arg;
    for (unsigned i = 0; i < r->n; i++)
        trm_webhook_due_free(&r->due[i]);
    r->n = 0;
    trm_db_commit_with_next(c);
    return trm_webhook_claim(c, CLAIM_BATCH, r->lease_s, r->due, &r->n);
}

struct renewal {
    struct trm_webhook_due *d;
    unsigned lease_s;
    bool kept;
};

static enum trm_db_status renew_tx(struct trm_db_conn *c, void *arg)
{
    struct renewal *w = arg;
    trm_db_commit_with_next(c);
    return trm_webhook_renew(c, w->d, w->lease_s, &w->kept);
}

/* Whether event d, about to be posted, is still this worker's for a whole attempt: its lease
 * is renewed first when what is left of it (counted from before the claim was answered, with
 * a second to spare) is shorter than an attempt. False: the claim is lost (or the database is
 * away), and the event is left to whoever holds it. */
static bool lease_holds(struct trm_app *app, struct round *r, struct trm_webhook_due *d,
                        double *leased_at_ms)
{
    double attempt_ms = ((double)r->cfg->webhook_timeout_s + 1) * 1000.0;
    double left_ms = (double)r->lease_s * 1000.0 - (trm_now_ms() - *leased_at_ms) - 1000.0;
    if (left_ms >= attempt_ms)
        return true;
    struct renewal w = {.d = d, .lease_s = r->lease_s};
    double asked = trm_now_ms();
    if (trm_db_tx_run(app->db, NULL, false, renew_tx, &w) != TRM_DB_OK || !w.kept) {
        trm_log(TRM_LOG_INFO, "webhook_lease_lost",
                "event %s: its lease ended before it was posted; left to the worker holding it",
                d->id);
        return false;
    }
    *leased_at_ms = asked;
    return true;
}

void trm_webhook_worker_run_once(struct trm_app *app)
{
    struct round r = {.cfg = app->config,
                      .lease_s = (unsigned)(2 * app->config->webhook_timeout_s + 1)};
    r.leased_at_ms = trm_now_ms();
    if (trm_db_tx_run(app->db, NULL, false, claim_tx, &r) != TRM_DB_OK)
        return; /* the database is away: next round */
    char codes[CLAIM_BATCH][24];
    const char *failed[CLAIM_BATCH] = {0};
    for (unsigned i = 0; i < r.n; i++) {
        const char *before = NULL;
        for (unsigned j = 0; j < i && before == NULL; j++)
            if (failed[j] && strcmp(r.due[j].agency_id, r.due[i].agency_id) == 0)
                before = failed[j];
        /* Each event's lease runs from the claim until renewed. */
        double leased_at_ms = r.leased_at_ms;
        if (!atomic_load(&app->stopping) &&
            (before || lease_holds(app, &r, &r.due[i], &leased_at_ms)))
            failed[i] = deliver(app, &r.due[i], before, codes[i]);
        trm_webhook_due_free(&r.due[i]);
    }
}
