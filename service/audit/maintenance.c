/* Background work of trmd (see maintenance.h). Checkpoints: when the chain has grown by
 * checkpoint_every_entries, or the newest checkpoint is older than checkpoint_every_s, the
 * head (size, hash, time) is signed with the Ed25519 key (checkpoints.h: only over a chain
 * that holds); concurrent signers of the same head collide on its sequence number and one
 * row stays. */
#include "trm/maintenance.h"
#include "trm/app.h"
#include "trm/checkpoints.h"
#include "trm/handover.h"
#include "trm/directory_store.h"
#include "trm/log.h"
#include "trm/federation_ops.h"
#include "trm/handover_store.h"
#include "trm/referral_store.h"
#include "trm/consent_store.h"

#include <stdlib.h>
#include <time.h>

struct round {
    struct trm_app *app;
    long expired;
    long long signed_seq;
};

static enum trm_db_status expire_tx(struct trm_db_conn *c, void *arg)
{
    struct round *r = arg;
    return trm_referrals_expire(c, &r->expired);
}

/* Consents past their expiry: each is processed in a transaction acting for the agency
 * that owns its case (no user), so the withdrawals it sends to peer instances are that
 * agency's, in the same transaction as the expiry. */
#define CONSENTS_PER_ROUND 50

struct consent_expiry {
    struct trm_app *app;
    struct trm_consent_due due[CONSENTS_PER_ROUND];
    unsigned n, i, expired;
};

static enum trm_db_status consents_due_tx(struct trm_db_conn *c, void *arg)
{
    struct consent_expiry *x = arg;
    return trm_consents_due(c, x->due, CONSENTS_PER_ROUND, &x->n);
}

static enum trm_db_status consent_expire_tx(struct trm_db_conn *c, void *arg)
{
    struct consent_expiry *x = arg;
    json_t *crossing = NULL;
    enum trm_db_status st = trm_consent_expire(c, x->due[x->i].consent_id, &crossing);
    if (st == TRM_DB_OK && crossing)
        st = trm_fed_consent_ended(c, x->app->keys, crossing);
    if (st == TRM_DB_OK && crossing)
        x->expired++;
    json_decref(crossing);
    return st;
}

static unsigned expire_consents(struct trm_app *app)
{
    struct consent_expiry x = {.app = app};
    if (trm_db_run(app->db, consents_due_tx, &x) != TRM_DB_OK)
        return 0;
    for (x.i = 0; x.i < x.n; x.i++) {
        struct trm_db_context ctx = {.agency_id = x.due[x.i].owner_agency_id, .role = "system"};
        if (trm_db_tx_run(app->db, &ctx, false, consent_expire_tx, &x) != TRM_DB_OK)
            trm_log(TRM_LOG_WARN, "consent_expiry_failed", "consent %s: tried again next round",
                    x.due[x.i].consent_id);
    }
    return x.expired;
}

static enum trm_db_status checkpoint_tx(struct trm_db_conn *c, void *arg)
{
    struct round *r = arg;
    const struct trm_config *cfg = r->app->config;
    long long seq, cp_seq;
    long age;
    uint8_t head[TRM_HASH_BYTES];
    r->signed_seq = 0;
    enum trm_db_status st = trm_handover_head(c, &seq, head, &cp_seq, &age);
    if (st != TRM_DB_OK || seq <= cp_seq)
        return st;
    if (seq - cp_seq < cfg->checkpoint_every_entries && age >= 0 && age < cfg->checkpoint_every_s)
        return TRM_DB_OK;
    enum trm_seal outcome;
    st = trm_checkpoint_seal(c, trm_app_keys(r->app), seq, &outcome);
    if (st == TRM_DB_OK && outcome == TRM_SEAL_SIGNED)
        r->signed_seq = seq;
    return st;
}

void trm_maintenance_run_once(struct trm_app *app)
{
    struct round r = {.app = app};
    if (trm_db_run(app->db, expire_tx, &r) == TRM_DB_OK && r.expired > 0)
        trm_log(TRM_LOG_INFO, "referrals_expired", "%ld offer(s) expired", r.expired);
    unsigned consents = expire_consents(app);
    if (consents > 0)
        trm_log(TRM_LOG_INFO, "consents_expired", "%u consent(s) expired", consents);
    if (trm_directory_cleanup(app->db, (unsigned)app->config->auth_failure_window_s) != TRM_DB_OK)
        trm_log(TRM_LOG_WARN, "cleanup_failed", "expired counters not removed this round");
    /* Serializable: the head read and the checkpoint written belong together. */
    if (trm_db_tx_run(app->db, NULL, TRM_DB_SERIALIZABLE, checkpoint_tx, &r) == TRM_DB_OK &&
        r.signed_seq)
        trm_log(TRM_LOG_INFO, "checkpoint_signed", "handover log checkpoint at %lld", r.signed_seq);
}
