/* Statements: prepared lazily per connection, and sent in one round trip together with
 * whatever must precede or follow them (a first PREPARE, a lazy BEGIN and the row-level
 * security context, a COMMIT) using libpq's pipeline mode. */
#include "trm/db.h"
#include "trm/log.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int next_slot = 1;

static int stmt_slot(struct trm_db_stmt *st)
{
    int s = atomic_load(&st->slot);
    if (s != 0)
        return s;
    int fresh = atomic_fetch_add(&next_slot, 1);
    int expected = 0;
    if (atomic_compare_exchange_strong(&st->slot, &expected, fresh))
        return fresh;
    return expected;
}

enum trm_db_status trm_db_classify(struct trm_db_conn *c, const PGresult *r, const char *label)
{
    ExecStatusType es = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK)
        return TRM_DB_OK;
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK || state == NULL) {
        trm_log(TRM_LOG_WARN, "db_unavailable", "%s: connection lost", label);
        return TRM_DB_UNAVAILABLE;
    }
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return TRM_DB_RETRY;
    /* 23505: unique violation; TR409: a rule of ours refused the change (RAISE in SQL). */
    if (strcmp(state, "23505") == 0 || strcmp(state, "TR409") == 0)
        return TRM_DB_CONFLICT;
    if (strcmp(state, "23514") == 0 || strcmp(state, "23503") == 0)
        return TRM_DB_INVALID;
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0 ||
        strcmp(state, "55P03") == 0 || strcmp(state, "53300") == 0) {
        trm_log(TRM_LOG_WARN, "db_unavailable", "%s: sqlstate %s", label, state);
        return TRM_DB_UNAVAILABLE;
    }
    /* Log the SQLSTATE and constraint only: PostgreSQL's message and detail may quote a
     * value, and values can be personal data. */
    const char *constraint = PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME);
    trm_log(TRM_LOG_ERROR, "db_error", "%s: sqlstate %s%s%s", label, state,
            constraint ? " constraint " : "", constraint ? constraint : "");
    return TRM_DB_ERROR;
}

/* What a pipeline carries, in order; each entry gets one result. */
enum part { P_BEGIN, P_CONTEXT, P_PREPARE, P_STMT, P_COMMIT, P_COUNT };

struct pipeline {
    bool queued[P_COUNT];
    PGresult *res[P_COUNT];
    const char *ctx_values[5];
    char ctx_sql[256];
    int ctx_n;
    bool prepared; /* the PREPARE part succeeded */
};

/* `SELECT set_config('trm.user_id', $1, true), ...` for the context's non-NULL values. */
static void context_sql(struct pipeline *pl, const struct trm_db_context *ctx)
{
    const char *names[] = {"trm.user_id", "trm.agency_id", "trm.country", "trm.role",
                           "trm.cross_border"};
    const char *values[] = {ctx->user_id, ctx->agency_id, ctx->country, ctx->role,
                            ctx->cross_border ? "on" : "off"};
    size_t len = (size_t)snprintf(pl->ctx_sql, sizeof pl->ctx_sql, "SELECT");
    for (int i = 0; i < 5; i++) {
        if (values[i] == NULL)
            continue;
        pl->ctx_values[pl->ctx_n++] = values[i];
        len += (size_t)snprintf(pl->ctx_sql + len, sizeof pl->ctx_sql - len,
                                "%s set_config('%s', $%d, true)", pl->ctx_n > 1 ? "," : "",
                                names[i], pl->ctx_n);
    }
}

static bool send_parts(PGconn *pg, struct pipeline *pl, const struct trm_db_tx_state *tx,
                       struct trm_db_stmt *st, const char *name, const char *const *params)
{
    bool ok = true;
    if (pl->queued[P_BEGIN])
        ok = PQsendQueryParams(pg,
                               tx->serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                                                : "BEGIN ISOLATION LEVEL READ COMMITTED",
                               0, NULL, NULL, NULL, NULL, 0);
    if (ok && pl->queued[P_CONTEXT])
        ok = PQsendQueryParams(pg, pl->ctx_sql, pl->ctx_n, NULL, pl->ctx_values, NULL, NULL, 0);
    if (ok && pl->queued[P_PREPARE])
        ok = PQsendPrepare(pg, name, st->sql, st->nparams, NULL);
    if (ok)
        ok = PQsendQueryPrepared(pg, name, st->nparams, params, NULL, NULL, 0);
    if (ok && pl->queued[P_COMMIT])
        ok = PQsendQueryParams(pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
    return ok && PQpipelineSync(pg);
}

/* Reads one result per queued part, then the sync; false when the connection broke. */
static bool read_parts(PGconn *pg, struct pipeline *pl)
{
    for (int i = 0; i < P_COUNT; i++) {
        if (!pl->queued[i])
            continue;
        pl->res[i] = PQgetResult(pg);
        if (pl->res[i] == NULL)
            return false;
        /* Each part's results end with NULL (bounded: a broken connection ends too). */
        PGresult *extra;
        for (int k = 0; k < 8 && (extra = PQgetResult(pg)) != NULL; k++)
            PQclear(extra);
    }
    PGresult *sync = PQgetResult(pg);
    bool ok = sync != NULL && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
    PQclear(sync);
    return ok && PQexitPipelineMode(pg) == 1;
}

/* The first part that failed decides (parts after it are only "aborted"). */
static PGresult *settle(struct trm_db_conn *c, struct pipeline *pl, const char *label,
                        enum trm_db_status *status)
{
    int pick = P_STMT;
    *status = TRM_DB_OK;
    for (int i = 0; i < P_COUNT && *status == TRM_DB_OK; i++) {
        if (!pl->queued[i] ||
            (pl->res[i] != NULL && PQresultStatus(pl->res[i]) == PGRES_PIPELINE_ABORTED))
            continue;
        *status = trm_db_classify(c, pl->res[i], i == P_STMT ? label : "transaction");
        if (*status != TRM_DB_OK)
            pick = i;
    }
    pl->prepared =
        pl->res[P_PREPARE] != NULL && PQresultStatus(pl->res[P_PREPARE]) == PGRES_COMMAND_OK;
    if (pl->queued[P_COMMIT] && *status == TRM_DB_OK)
        c->tx.committed = true;
    PGresult *out = pl->res[pick];
    pl->res[pick] = NULL;
    for (int i = 0; i < P_COUNT; i++)
        PQclear(pl->res[i]);
    return out != NULL ? out : PQmakeEmptyPGresult(c->pg, PGRES_FATAL_ERROR);
}

static PGresult *exec_pipelined(struct trm_db_conn *c, struct trm_db_stmt *st, const char *name,
                                const char *const *params, struct pipeline *pl,
                                enum trm_db_status *status)
{
    if (PQenterPipelineMode(c->pg) != 1) {
        *status = trm_db_classify(c, NULL, st->label);
        return PQmakeEmptyPGresult(c->pg, PGRES_FATAL_ERROR);
    }
    bool sent = send_parts(c->pg, pl, &c->tx, st, name, params);
    trm_db_count_round_trip();
    c->tx.begin_pending = false;
    c->tx.commit_sent = pl->queued[P_COMMIT];
    if (!sent || !read_parts(c->pg, pl)) {
        /* The pool resets a connection left in pipeline mode or a transaction. */
        for (int i = 0; i < P_COUNT; i++)
            PQclear(pl->res[i]);
        *status = trm_db_classify(c, NULL, st->label);
        return PQmakeEmptyPGresult(c->pg, PGRES_FATAL_ERROR);
    }
    return settle(c, pl, st->label, status);
}

PGresult *trm_db_exec(struct trm_db_conn *c, struct trm_db_stmt *st, const char *const *params,
                      enum trm_db_status *status)
{
    int slot = stmt_slot(st);
    char name[16];
    snprintf(name, sizeof name, "s%d", slot);
    if (slot >= TRM_DB_MAX_STMTS) {
        trm_log(TRM_LOG_ERROR, "db_too_many_statements", "%s: raise TRM_DB_MAX_STMTS", st->label);
        *status = TRM_DB_ERROR;
        return PQmakeEmptyPGresult(c->pg, PGRES_FATAL_ERROR);
    }
    struct pipeline pl = {0};
    bool known = (c->prepared[slot / 64] >> (slot % 64)) & 1;
    pl.queued[P_BEGIN] = c->tx.open && c->tx.begin_pending;
    pl.queued[P_CONTEXT] = pl.queued[P_BEGIN] && c->tx.ctx != NULL;
    pl.queued[P_PREPARE] = !known;
    pl.queued[P_STMT] = true;
    pl.queued[P_COMMIT] = c->tx.open && c->tx.commit_next;
    c->tx.commit_next = false;
    if (pl.queued[P_CONTEXT])
        context_sql(&pl, c->tx.ctx);
    PGresult *r;
    if (pl.queued[P_BEGIN] || pl.queued[P_PREPARE] || pl.queued[P_COMMIT]) {
        r = exec_pipelined(c, st, name, params, &pl, status);
    } else {
        r = PQexecPrepared(c->pg, name, st->nparams, params, NULL, NULL, 0);
        trm_db_count_round_trip();
        *status = trm_db_classify(c, r, st->label);
    }
    /* Prepared if the PREPARE itself went through, whatever the statement did (prepared
     * statements outlive a rolled-back transaction). */
    if (pl.prepared)
        c->prepared[slot / 64] |= (uint64_t)1 << (slot % 64);
    return r;
}

void trm_db_commit_with_next(struct trm_db_conn *c)
{
    c->tx.commit_next = c->tx.open;
}
