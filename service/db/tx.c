/* Transactions: BEGIN and the row-level security context in one round trip, the caller's
 * work, COMMIT; retried on serialization failure, deadlock, or a connection lost before
 * COMMIT was sent (the server rolled back, so running again is safe). */
#include "trm/db.h"
#include "trm/log.h"
#include "internal.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Adds `set_config('<name>', <literal>, true)` to sql; values are escaped by libpq. */
static bool add_setting(PGconn *pg, char *sql, size_t cap, const char *name, const char *value)
{
    if (value == NULL)
        return true;
    char *lit = PQescapeLiteral(pg, value, strlen(value));
    if (lit == NULL)
        return false;
    size_t len = strlen(sql);
    int n = snprintf(sql + len, cap - len, "%sset_config('%s', %s, true)",
                     strchr(sql, '(') ? ", " : " ", name, lit);
    PQfreemem(lit);
    return n > 0 && (size_t)n < cap - len;
}

static enum trm_db_status begin(struct trm_db_conn *c, const struct trm_db_context *ctx,
                                bool serializable)
{
    PGconn *pg = trm_db_pg(c);
    char sql[1024];
    snprintf(sql, sizeof sql, "BEGIN ISOLATION LEVEL %s;",
             serializable ? "SERIALIZABLE" : "READ COMMITTED");
    if (ctx != NULL) {
        strcat(sql, " SELECT");
        if (!add_setting(pg, sql, sizeof sql, "trm.user_id", ctx->user_id) ||
            !add_setting(pg, sql, sizeof sql, "trm.agency_id", ctx->agency_id) ||
            !add_setting(pg, sql, sizeof sql, "trm.country", ctx->country) ||
            !add_setting(pg, sql, sizeof sql, "trm.role", ctx->role) ||
            !add_setting(pg, sql, sizeof sql, "trm.cross_border", ctx->cross_border ? "on" : "off"))
            return TRM_DB_ERROR;
    }
    /* Simple query protocol: both statements travel in one round trip. */
    PGresult *r = PQexec(pg, sql);
    trm_db_count_round_trip();
    enum trm_db_status st = trm_db_classify(c, r, "begin");
    PQclear(r);
    return st;
}

static enum trm_db_status finish(struct trm_db_conn *c, const char *sql)
{
    PGresult *r = PQexec(trm_db_pg(c), sql);
    trm_db_count_round_trip();
    enum trm_db_status st = trm_db_classify(c, r, sql);
    PQclear(r);
    return st;
}

enum trm_db_status trm_db_tx_run(struct trm_db_pool *pool, const struct trm_db_context *ctx,
                                 bool serializable, trm_db_tx_fn fn, void *arg)
{
    unsigned max_retries = trm_db_pool_max_retries(pool);
    unsigned attempt = 0;
    bool reconnected = false;
    for (;;) {
        struct trm_db_conn *c = trm_db_acquire(pool);
        if (c == NULL)
            return TRM_DB_UNAVAILABLE;
        enum trm_db_status st = begin(c, ctx, serializable);
        if (st == TRM_DB_OK)
            st = fn(c, arg);
        if (st == TRM_DB_OK) {
            /* A connection lost during COMMIT leaves the outcome unknown: it is reported as
             * unavailable rather than the work being run twice. */
            st = finish(c, "COMMIT");
            trm_db_release(pool, c);
        } else {
            if (PQstatus(trm_db_pg(c)) == CONNECTION_OK)
                (void)finish(c, "ROLLBACK");
            trm_db_release(pool, c);
            if (st == TRM_DB_UNAVAILABLE && !reconnected) {
                /* The server rolled back whatever we did: once more on a fresh connection,
                 * which is what heals the pool after a database restart. */
                reconnected = true;
                continue;
            }
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
