/* Statements: prepared lazily per connection, and sent in one round trip together with
 * whatever must precede or follow them (a first PREPARE, a lazy BEGIN and the row-level
 * security context, a COMMIT) using libpq's pipeline mode. Behind a pooler in transaction
 * mode they are sent unnamed instead, each parsed with its execution (trm_db_pool_options). */
#include "trm/db.h"
#include "trm/log.h"
#include "trm/metrics.h"
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
    trm_metrics_db_error(c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK ? NULL : state);
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK || state == NULL) {
        trm_log(TRM_LOG_WARN, "db_unavailable", "%s: connection lost", label);
        return TRM_DB_UNAVAILABLE;
    }
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
        return TRM_DB_RETRY;
    /* TR401: a guard refused (trm_db_guard_set). */
    if (strcmp(state, "TR401") == 0)
        return TRM_DB_GUARD_FAILED;
    /* TR404: a function of ours found nothing the caller may act on (RAISE in SQL). */
    if (strcmp(state, "TR404") == 0)
        return TRM_DB_NOT_FOUND;
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

/* A batch and, in front of it, the thread's guard and a leading statement. */
#define MAX_CALLS (TRM_DB_MAX_BATCH + 2)
#define MAX_PARTS (3 + 2 * MAX_CALLS)

/* What a pipeline carries, in order; each part gets one result. */
enum part_kind { K_BEGIN, K_CONTEXT, K_PREPARE, K_EXEC, K_COMMIT };

struct part {
    enum part_kind kind;
    size_t call; /* PREPARE and EXEC: which call */
    PGresult *res;
};

struct pipeline {
    struct part parts[MAX_PARTS];
    size_t n;
    char names[MAX_CALLS][16];
    const char *ctx_values[6];
    char ctx_sql[800];
    int ctx_n;
};

/* `SELECT set_config('trm.user_id', $1, true), ...` for the context's non-NULL values (ctx
 * may be NULL), then the connection's transaction settings (transaction pooling). */
static void context_sql(struct pipeline *pl, const struct trm_db_context *ctx,
                        const char *tx_settings)
{
    const char *names[] = {"trm.user_id", "trm.agency_id",    "trm.country",
                           "trm.role",    "trm.cross_border", "trm.token_id"};
    const char *values[6] = {0};
    if (ctx) {
        const char *v[] = {
            ctx->user_id, ctx->agency_id, ctx->country, ctx->role, ctx->cross_border ? "on" : "off",
            ctx->token_id};
        memcpy(values, v, sizeof values);
    }
    size_t len = (size_t)snprintf(pl->ctx_sql, sizeof pl->ctx_sql, "SELECT");
    for (int i = 0; i < 6; i++) {
        if (values[i] == NULL)
            continue;
        pl->ctx_values[pl->ctx_n++] = values[i];
        len += (size_t)snprintf(pl->ctx_sql + len, sizeof pl->ctx_sql - len,
                                "%s set_config('%s', $%d, true)", pl->ctx_n > 1 ? "," : "",
                                names[i], pl->ctx_n);
    }
    if (tx_settings)
        snprintf(pl->ctx_sql + len, sizeof pl->ctx_sql - len, "%s %s", pl->ctx_n > 0 ? "," : "",
                 tx_settings);
}

static void add_part(struct pipeline *pl, enum part_kind kind, size_t call)
{
    pl->parts[pl->n++] = (struct part){kind, call, NULL};
}

/* BEGIN and the context (lazily, with a transaction's first statements), a PREPARE before
 * each statement this connection has not prepared yet, the statements, COMMIT if asked. */
static void plan(struct trm_db_conn *c, struct pipeline *pl, const struct trm_db_call *calls,
                 size_t n)
{
    if (c->tx.open && c->tx.begin_pending) {
        add_part(pl, K_BEGIN, 0);
        if (c->tx.ctx != NULL || c->tx_settings != NULL) {
            context_sql(pl, c->tx.ctx, c->tx_settings);
            add_part(pl, K_CONTEXT, 0);
        }
    }
    for (size_t i = 0; i < n; i++) {
        int slot = atomic_load(&calls[i].stmt->slot);
        snprintf(pl->names[i], sizeof pl->names[i], "s%d", slot);
        if (c->tx_settings == NULL && !((c->prepared[slot / 64] >> (slot % 64)) & 1))
            add_part(pl, K_PREPARE, i);
        add_part(pl, K_EXEC, i);
    }
    if (c->tx.open && c->tx.commit_next)
        add_part(pl, K_COMMIT, 0);
    c->tx.commit_next = false;
}

static const char *begin_sql(enum trm_db_isolation isolation)
{
    switch (isolation) {
    case TRM_DB_SERIALIZABLE:
        return "BEGIN ISOLATION LEVEL SERIALIZABLE";
    case TRM_DB_SNAPSHOT:
        return "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
    case TRM_DB_READ_COMMITTED:
        break;
    }
    return "BEGIN ISOLATION LEVEL READ COMMITTED";
}

/* A statement's execution: prepared under its slot's name, or unnamed (parsed with it)
 * behind a pooler in transaction mode. */
static bool send_exec(struct trm_db_conn *c, const char *name, const struct trm_db_call *call)
{
    const struct trm_db_stmt *st = call->stmt;
    if (c->tx_settings)
        return PQsendQueryParams(c->pg, st->sql, st->nparams, NULL, call->params, NULL, NULL, 0);
    return PQsendQueryPrepared(c->pg, name, st->nparams, call->params, NULL, NULL, 0);
}

static bool send_part(struct trm_db_conn *c, struct pipeline *pl, const struct part *p,
                      enum trm_db_isolation isolation, const struct trm_db_call *calls)
{
    PGconn *pg = c->pg;
    const struct trm_db_stmt *st = calls[p->call].stmt;
    switch (p->kind) {
    case K_BEGIN:
        return PQsendQueryParams(pg, begin_sql(isolation), 0, NULL, NULL, NULL, NULL, 0);
    case K_CONTEXT:
        return PQsendQueryParams(pg, pl->ctx_sql, pl->ctx_n, NULL, pl->ctx_values, NULL, NULL, 0);
    case K_PREPARE:
        return PQsendPrepare(pg, pl->names[p->call], st->sql, st->nparams, NULL);
    case K_EXEC:
        return send_exec(c, pl->names[p->call], &calls[p->call]);
    case K_COMMIT:
        return PQsendQueryParams(pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
    }
    return false;
}

/* Reads one result per part, then the sync; false when the connection broke. */
static bool read_parts(PGconn *pg, struct pipeline *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        pl->parts[i].res = PQgetResult(pg);
        if (pl->parts[i].res == NULL)
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

/* The first part that failed decides (parts after it are only "aborted"). Each call gets
 * its statement's result; statements a PREPARE went through for are remembered (prepared
 * statements outlive a rolled-back transaction). */
static enum trm_db_status settle(struct trm_db_conn *c, struct pipeline *pl,
                                 struct trm_db_call *calls)
{
    enum trm_db_status st = TRM_DB_OK;
    for (size_t i = 0; i < pl->n; i++) {
        struct part *p = &pl->parts[i];
        ExecStatusType es = PQresultStatus(p->res);
        if (st == TRM_DB_OK && es != PGRES_PIPELINE_ABORTED)
            st = trm_db_classify(c, p->res,
                                 p->kind == K_EXEC || p->kind == K_PREPARE
                                     ? calls[p->call].stmt->label
                                     : "transaction");
        if (p->kind == K_PREPARE && es == PGRES_COMMAND_OK) {
            int slot = atomic_load(&calls[p->call].stmt->slot);
            c->prepared[slot / 64] |= (uint64_t)1 << (slot % 64);
        }
        if (p->kind == K_EXEC) {
            calls[p->call].result = p->res;
            p->res = NULL;
        }
        if (p->kind == K_COMMIT && st == TRM_DB_OK)
            c->tx.committed = true;
        PQclear(p->res);
    }
    return st;
}

static enum trm_db_status run_pipeline(struct trm_db_conn *c, struct pipeline *pl,
                                       struct trm_db_call *calls)
{
    bool sent = PQenterPipelineMode(c->pg) == 1;
    for (size_t i = 0; sent && i < pl->n; i++) {
        sent = send_part(c, pl, &pl->parts[i], c->tx.isolation, calls);
        if (pl->parts[i].kind == K_COMMIT)
            c->tx.commit_sent = true;
    }
    sent = sent && PQpipelineSync(c->pg);
    trm_db_count_round_trip();
    c->tx.begin_pending = false;
    if (sent && read_parts(c->pg, pl))
        return settle(c, pl, calls);
    /* The pool resets a connection left in pipeline mode or in a transaction. */
    for (size_t i = 0; i < pl->n; i++)
        PQclear(pl->parts[i].res);
    return trm_db_classify(c, NULL, calls[0].stmt->label);
}

/* This thread's guard (see trm_db_guard_set in trm/db.h). */
static _Thread_local struct {
    struct trm_db_stmt *stmt;
    const char *const *params;
    enum trm_db_guard_state state;
} guard;

void trm_db_guard_set(struct trm_db_stmt *stmt, const char *const *params)
{
    guard.stmt = stmt;
    guard.params = params;
    guard.state = TRM_DB_GUARD_PENDING;
}

enum trm_db_guard_state trm_db_guard_state(void)
{
    return guard.state;
}

void trm_db_guard_clear(void)
{
    guard.stmt = NULL;
    guard.params = NULL;
    guard.state = TRM_DB_GUARD_NONE;
}

/* Runs calls[0..n) in one round trip (with BEGIN, context, PREPAREs and COMMIT as due);
 * calls[0] is the thread's guard when guarded. */
static enum trm_db_status exec_calls(struct trm_db_conn *c, struct trm_db_call *calls, size_t n,
                                     bool guarded)
{
    enum trm_db_status st = TRM_DB_OK;
    for (size_t i = 0; i < n; i++) {
        calls[i].result = NULL;
        if (stmt_slot(calls[i].stmt) >= TRM_DB_MAX_STMTS) {
            trm_log(TRM_LOG_ERROR, "db_too_many_statements", "%s: raise TRM_DB_MAX_STMTS",
                    calls[i].stmt->label);
            st = TRM_DB_ERROR;
        }
    }
    struct pipeline pl = {0};
    if (st == TRM_DB_OK) {
        plan(c, &pl, calls, n);
        if (pl.n == 1) { /* nothing to send along: the plain protocol */
            const struct trm_db_stmt *st0 = calls[0].stmt;
            calls[0].result = c->tx_settings ? PQexecParams(c->pg, st0->sql, st0->nparams, NULL,
                                                            calls[0].params, NULL, NULL, 0)
                                             : PQexecPrepared(c->pg, pl.names[0], st0->nparams,
                                                              calls[0].params, NULL, NULL, 0);
            trm_db_count_round_trip();
            st = trm_db_classify(c, calls[0].result, calls[0].stmt->label);
        } else {
            st = run_pipeline(c, &pl, calls);
        }
    }
    if (guarded && calls[0].result != NULL) {
        ExecStatusType es = PQresultStatus(calls[0].result);
        if (es == PGRES_TUPLES_OK || es == PGRES_COMMAND_OK)
            guard.state = TRM_DB_GUARD_PASSED;
        else if (st == TRM_DB_GUARD_FAILED)
            guard.state = TRM_DB_GUARD_REFUSED;
    }
    for (size_t i = 0; i < n; i++)
        if (calls[i].result == NULL)
            calls[i].result = PQmakeEmptyPGresult(c->pg, PGRES_FATAL_ERROR);
    return st;
}

void trm_db_send_with_next(struct trm_db_conn *c, struct trm_db_stmt *stmt,
                           const char *const *params, enum trm_db_status *status)
{
    if (!c->tx.open)
        return;
    c->tx.lead = stmt;
    c->tx.lead_params = params;
    c->tx.lead_status = status;
    if (status)
        *status = TRM_DB_ERROR;
}

static void fail_all(struct trm_db_conn *c, struct trm_db_call *calls, size_t n)
{
    for (size_t i = 0; i < n; i++)
        calls[i].result = PQmakeEmptyPGresult(c->pg, PGRES_FATAL_ERROR);
}

enum trm_db_status trm_db_exec_batch(struct trm_db_conn *c, struct trm_db_call *calls, size_t n)
{
    if (n == 0 || n > TRM_DB_MAX_BATCH) {
        fail_all(c, calls, n < TRM_DB_MAX_BATCH ? n : TRM_DB_MAX_BATCH);
        return TRM_DB_ERROR;
    }
    if (guard.state == TRM_DB_GUARD_REFUSED) { /* nothing more runs for this request */
        fail_all(c, calls, n);
        return TRM_DB_GUARD_FAILED;
    }
    bool guarded = guard.state == TRM_DB_GUARD_PENDING;
    struct trm_db_stmt *lead = c->tx.lead;
    enum trm_db_status *lead_status = c->tx.lead_status;
    c->tx.lead = NULL;
    if (!guarded && lead == NULL)
        return exec_calls(c, calls, n, false);
    struct trm_db_call all[MAX_CALLS];
    size_t k = 0;
    if (guarded)
        all[k++] = (struct trm_db_call){guard.stmt, guard.params, NULL};
    size_t lead_at = k;
    if (lead)
        all[k++] = (struct trm_db_call){lead, c->tx.lead_params, NULL};
    memcpy(all + k, calls, n * sizeof *calls);
    enum trm_db_status st = exec_calls(c, all, n + k, guarded);
    if (lead && lead_status) {
        ExecStatusType es = PQresultStatus(all[lead_at].result);
        *lead_status = es == PGRES_COMMAND_OK || es == PGRES_TUPLES_OK ? TRM_DB_OK
                       : es == PGRES_PIPELINE_ABORTED
                           ? TRM_DB_ERROR
                           : trm_db_classify(c, all[lead_at].result, lead->label);
    }
    for (size_t i = 0; i < k; i++)
        PQclear(all[i].result);
    for (size_t i = 0; i < n; i++)
        calls[i].result = all[k + i].result;
    return st;
}

static enum trm_db_status guard_alone(struct trm_db_conn *c, void *arg)
{
    (void)arg;
    struct trm_db_call call = {guard.stmt, guard.params, NULL};
    enum trm_db_status st = exec_calls(c, &call, 1, true);
    PQclear(call.result);
    return st;
}

enum trm_db_status trm_db_guard_check(struct trm_db_pool *pool)
{
    if (guard.state != TRM_DB_GUARD_PENDING)
        return guard.state == TRM_DB_GUARD_REFUSED ? TRM_DB_GUARD_FAILED : TRM_DB_OK;
    return trm_db_run(pool, guard_alone, NULL);
}

PGresult *trm_db_exec(struct trm_db_conn *c, struct trm_db_stmt *st, const char *const *params,
                      enum trm_db_status *status)
{
    struct trm_db_call call = {st, params, NULL};
    *status = trm_db_exec_batch(c, &call, 1);
    return call.result;
}

void trm_db_commit_with_next(struct trm_db_conn *c)
{
    c->tx.commit_next = c->tx.open;
}
