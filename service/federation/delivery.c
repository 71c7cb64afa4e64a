/* The delivery worker: carries the outbox to peers (POST /v1/federation/inbox), retrying
 * with exponential backoff while a peer is down, until the peer answers with a receipt that
 * its registered key signed; and keeps each peer's agency directory fresh (a signed GET of
 * /v1/federation/agencies). Packages are claimed with a lease in PostgreSQL, so several trmd
 * processes share the outbox; a package delivered twice (a lease that ran out, a crash
 * before the receipt was stored) gets the same receipt from the peer, which stores it once.
 * HTTP goes through libcurl (peer_http.c), which also puts a failure into words. */
#include "trm/app.h"
#include "trm/federation_ops.h"
#include "trm/federation_store.h"
#include "trm/log.h"
#include "trm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLAIM_BATCH 16

struct outcome {
    const char *package_id;
    json_t *receipt;
    const char *error;
    bool final;
    unsigned max_s;
};

static enum trm_db_status outcome_tx(struct trm_db_conn *c, void *arg)
{
    struct outcome *o = arg;
    if (o->receipt)
        return trm_fed_delivered(c, o->package_id, o->receipt);
    return trm_fed_failed(c, o->package_id, o->error, o->final, o->max_s);
}

/* Whether the peer refused the package itself, for good. Refusals that say the two
 * instances' registrations disagree (we are not registered there, or with another key; it
 * has no federation identity yet; the URL reaches another instance), and answers that are
 * not a trm inbox's (a wrong URL), are retried: they end when an admin fixes the
 * registration, and nothing is lost meanwhile. */
static bool refused_for_good(const struct trm_fed_exchange *x)
{
    static const char *const final[] = {"invalid_package", "package_expired", "package_replayed",
                                        "package_refused", NULL};
    return x->status >= 400 && x->status < 500 && trm_str_in(x->code, final);
}

static void deliver(struct trm_app *app, struct trm_fed_due *d, const char *me)
{
    struct trm_fed_exchange x;
    char code[48] = "unreachable", why[160], sentence[800] = "";
    long timeout = app->config->federation_timeout_s;
    snprintf(x.url, sizeof x.url, "%s/v1/federation/inbox", d->url);
    const char *headers[] = {"Content-Type: application/json", NULL};
    char *body = trm_fed_exchange(&x, d->package, headers, timeout, NULL);
    struct outcome o = {.package_id = d->package_id,
                        .error = code,
                        .max_s = (unsigned)app->config->federation_retry_max_s};
    if (x.status == 200) {
        json_t *receipt = json_loads(body ? body : "", 0, NULL);
        if (trm_fed_receipt_check(receipt, d->signing_key, d->package_id, d->hash, d->peer, why,
                                  sizeof why))
            o.receipt = receipt;
        else
            snprintf(code, sizeof code, "bad_receipt");
        if (o.receipt == NULL) {
            json_decref(receipt);
            snprintf(sentence, sizeof sentence,
                     "%s answered with a receipt that does not check (%s)", d->peer, why);
        }
    } else {
        o.final = refused_for_good(&x);
        if (x.status != 0)
            snprintf(code, sizeof code, "%s", x.code[0] ? x.code : "");
        if (x.status != 0 && code[0] == '\0')
            snprintf(code, sizeof code, "http_%ld", x.status);
        trm_fed_explain(&x, d->peer, me, timeout, sentence, sizeof sentence);
    }
    free(body);
    if (trm_db_tx_run(app->db, NULL, false, outcome_tx, &o) != TRM_DB_OK)
        trm_log(TRM_LOG_WARN, "federation_outcome_lost", "a delivery outcome was not recorded");
    else if (o.receipt)
        trm_log(TRM_LOG_INFO, "federation_delivered", "package %s delivered to %s", d->package_id,
                d->peer);
    else
        trm_log(TRM_LOG_WARN, o.final ? "federation_rejected" : "federation_retry",
                "package %s to %s%s: %s (attempt %d)", d->package_id, d->peer,
                o.final ? " refused for good" : " not delivered", sentence, d->attempts + 1);
    json_decref(o.receipt);
}

struct dir_save {
    const char *peer;
    json_t *items;
    int package_version;
    unsigned max_s, failures, retry_in_s; /* a failed fetch */
};

static enum trm_db_status dir_save_tx(struct trm_db_conn *c, void *arg)
{
    struct dir_save *x = arg;
    return trm_fed_directory_save(c, x->peer, x->items, x->package_version);
}

static enum trm_db_status dir_failed_tx(struct trm_db_conn *c, void *arg)
{
    struct dir_save *x = arg;
    trm_db_commit_with_next(c);
    return trm_fed_directory_failed(c, x->peer, x->max_s, &x->failures, &x->retry_in_s);
}

static void refresh_directory(struct trm_app *app, const struct trm_fed_dir_due *d, const char *me)
{
    struct trm_fed_directory r;
    trm_fed_directory_fetch(trm_app_keys(app), me, d->peer, d->url, d->signing_key,
                            app->config->federation_timeout_s, &r);
    struct dir_save x = {
        d->peer, r.items, r.package_version, (unsigned)app->config->federation_retry_max_s, 0, 0};
    if (r.verdict != TRM_FED_CONNECTED) {
        if (trm_db_tx_run(app->db, NULL, false, dir_failed_tx, &x) == TRM_DB_OK)
            trm_log(TRM_LOG_WARN, "federation_directory_failed",
                    "directory of %s not refreshed: %s; %u failures in a row, next attempt in "
                    "%u s",
                    d->peer, r.sentence, x.failures, x.retry_in_s);
    } else if (trm_db_tx_run(app->db, NULL, false, dir_save_tx, &x) == TRM_DB_OK)
        trm_log(TRM_LOG_INFO, "federation_directory", "%zu agencies of %s cached",
                json_array_size(r.items), d->peer);
    json_decref(r.items);
}

struct round {
    struct trm_app *app;
    struct trm_fed_identity me;
    struct trm_fed_due due[CLAIM_BATCH];
    unsigned n_due;
    struct trm_fed_dir_due dirs[CLAIM_BATCH];
    unsigned n_dirs;
};

static enum trm_db_status round_tx(struct trm_db_conn *c, void *arg)
{
    struct round *r = arg;
    const struct trm_config *cfg = r->app->config;
    r->n_due = r->n_dirs = 0;
    enum trm_db_status st = trm_fed_identity_get(c, &r->me);
    if (st != TRM_DB_OK)
        return st;
    /* The lease outlasts one delivery attempt, so nobody else sends the package meanwhile. */
    unsigned lease = (unsigned)(2 * cfg->federation_timeout_s + 5);
    st = trm_fed_claim(c, CLAIM_BATCH, lease, r->due, &r->n_due);
    if (st == TRM_DB_OK)
        st = trm_fed_directory_due(c, (unsigned)cfg->federation_directory_refresh_s, r->dirs,
                                   CLAIM_BATCH, &r->n_dirs);
    return st;
}

void trm_fed_worker_run_once(struct trm_app *app)
{
    struct round r = {.app = app};
    if (trm_db_tx_run(app->db, NULL, false, round_tx, &r) != TRM_DB_OK)
        return; /* not set up, or the database is away: next round */
    for (unsigned i = 0; i < r.n_due; i++) {
        deliver(app, &r.due[i], r.me.instance_id);
        free(r.due[i].package);
    }
    for (unsigned i = 0; i < r.n_dirs; i++)
        refresh_directory(app, &r.dirs[i], r.me.instance_id);
}
