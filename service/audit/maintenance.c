/* Background work of trmd (see maintenance.h). Checkpoints: when the chain has grown by
 * checkpoint_every_entries, or the newest checkpoint is older than checkpoint_every_s, the
 * head (size, hash, time) is signed with the Ed25519 key; concurrent signers of the same
 * head collide on its sequence number and one row stays. */
#include "trm/maintenance.h"
#include "trm/app.h"
#include "trm/handover.h"
#include "trm/directory.h"
#include "trm/log.h"
#include "trm/referrals.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct trm_maintenance {
    struct trm_app *app;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
};

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
    const struct trm_keyring *kr = trm_app_keys(r->app);
    char at[40], key_id[17];
    uint8_t pk[TRM_SIGN_PUBLIC_BYTES], sig[TRM_SIGNATURE_BYTES];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    trm_signing_public(kr, pk, key_id);
    trm_checkpoint_sign(kr, seq, head, at, sig);
    st = trm_handover_checkpoint_add(c, seq, head, at, key_id, sig);
    if (st == TRM_DB_OK)
        r->signed_seq = seq;
    return st;
}

void trm_maintenance_run_once(struct trm_app *app)
{
    struct round r = {.app = app};
    if (trm_db_run(app->db, expire_tx, &r) == TRM_DB_OK && r.expired > 0)
        trm_log(TRM_LOG_INFO, "referrals_expired", "%ld offer(s) expired", r.expired);
    if (trm_directory_cleanup(app->db, (unsigned)app->config->auth_failure_window_s) != TRM_DB_OK)
        trm_log(TRM_LOG_WARN, "cleanup_failed", "expired counters not removed this round");
    /* Serializable: the head read and the checkpoint written belong together. */
    if (trm_db_tx_run(app->db, NULL, true, checkpoint_tx, &r) == TRM_DB_OK && r.signed_seq)
        trm_log(TRM_LOG_INFO, "checkpoint_signed", "handover log checkpoint at %lld", r.signed_seq);
}

static void *loop(void *arg)
{
    struct trm_maintenance *m = arg;
    long interval = m->app->config->maintenance_interval_ms;
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += interval / 1000;
        until.tv_nsec += (interval % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&m->wake, &m->lock, &until);
        if (m->stop)
            break;
        pthread_mutex_unlock(&m->lock);
        trm_maintenance_run_once(m->app);
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

struct trm_maintenance *trm_maintenance_start(struct trm_app *app)
{
    struct trm_maintenance *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->app = app;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->wake, NULL);
    if (pthread_create(&m->thread, NULL, loop, m) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void trm_maintenance_stop(struct trm_maintenance *m)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->wake);
    free(m);
}
