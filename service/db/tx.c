/* Transactions: BEGIN and the row-level security context sent with the first statement,
 * the caller's work, COMMIT (sent with the statement the caller marks as its last, or on its
 * own); retried on serialization failure, deadlock, or a connection lost before COMMIT was
 * sent (the server rolled back, so running again is safe). */
#include "trm/db.h"
#include "trm/log.h"
#include "internal.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum trm_db_status trm_db_finish(struct trm_db_conn *c, const char *sql)
{
    PGresult *r = PQexec(c->pg, sql);
    trm_db_count_round_trip();
    enum trm_db_status st = trm_db_classify(c, r, sql);
    PQclear(r);
    return st;
}

/* Nothing is sent yet: BEGIN and the context travel with the first statement. */
static void begin_lazily(struct trm_db_conn *c, const struct trm_db_context *ctx,
                         enum trm_db_isolation isolation)
{
    c->tx = (struct trm_db_tx_state){
        .open = true, .begin_pending = true, .isolation = isolation, .ctx = ctx};
}

/* Commits what fn left open, or rolls back what fn failed in; a transaction fn never
 * began needs neither. */
static enum trm_db_status end_tx(struct trm_db_conn *c, enum trm_db_status st)
{
    struct trm_db_tx_state *tx = &c->tx;
    if (st == TRM_DB_OK && tx->commit_sent && !tx->committed)
        st = TRM_DB_ERROR; /* fn ignored its last statement's failure */
    else if (st == TRM_DB_OK && !tx->begin_pending && !tx->commit_sent) {
        /* A connection lost during COMMIT leaves the outcome unknown: it is reported as
         * unavailable rather than the work being run twice. */
        tx->commit_sent = true;
        st = trm_db_finish(c, "COMMIT");
    } else if (st != TRM_DB_OK && PQstatus(c->pg) == CONNECTION_OK &&
               PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF &&
               PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        (void)trm_db_finish(c, "ROLLBACK");
    tx->open = false;
    return st;
}

enum trm_db_status trm_db_tx_run(struct trm_db_pool *pool, const struct trm_db_context *ctx,
                                 enum trm_db_isolation isolation, trm_db_tx_fn fn, void *arg)
{
    unsigned max_retries = trm_db_pool_max_retries(pool);
    unsigned attempt = 0;
    bool reconnected = false;
    for (;;) {
        struct trm_db_conn *c = trm_db_acquire(pool);
        if (c == NULL)
            return TRM_DB_UNAVAILABLE;
        begin_lazily(c, ctx, isolation);
        enum trm_db_status st = end_tx(c, fn(c, arg));
        bool commit_sent = c->tx.commit_sent;
        trm_db_release(pool, c);
        if (st == TRM_DB_UNAVAILABLE && !reconnected && !commit_sent) {
            /* The server rolled back whatever we did (COMMIT was never sent): once more on
             * a fresh connection, which is what heals the pool after a database restart. */
            reconnected = true;
            continue;
        }
        if (st != TRM_DB_RETRY)
            return st;
        if (attempt++ == max_retries)
            break;
        /* Exponential backoff with jitter, so colliding transactions spread out. */
        usleep((useconds_t)(500u << (attempt < 6 ? attempt : 6)) + randombytes_uniform(1000));
    }
    trm_log(TRM_LOG_WARN, "db_retries_exhausted", "transaction gave up after %u retries",
            max_retries);
    return TRM_DB_UNAVAILABLE;
}

enum trm_db_status trm_db_run(struct trm_db_pool *pool, trm_db_tx_fn fn, void *arg)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        struct trm_db_conn *c = trm_db_acquire(pool);
        if (c == NULL)
            return TRM_DB_UNAVAILABLE;
        enum trm_db_status st = fn(c, arg);
        trm_db_release(pool, c);
        /* Once more on a fresh connection after a lost one (heals the pool). */
        if (st != TRM_DB_UNAVAILABLE)
            return st;
    }
    return TRM_DB_UNAVAILABLE;
}
