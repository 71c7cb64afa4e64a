/* A bounded pool of libpq connections. Connections are opened lazily, checked on borrow,
 * and reset when they broke; a reset forgets which statements were prepared on them. */
#include "trm/db.h"
#include "trm/log.h"
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct trm_db_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    struct trm_db_conn *conns;
    struct trm_db_conn **free_list;
    unsigned n_free;
    struct trm_db_pool_options opt;
    char *conninfo;
    char options[200];
    char tx_settings[400];
    char timeout[16];
    atomic_bool role_checked, role_refused;
    atomic_ulong waits, timeouts;
    char refusal[512]; /* written once, before role_refused is set */
};

static atomic_bool database_down;
static atomic_ulong round_trips;

unsigned trm_db_pool_max_retries(const struct trm_db_pool *p)
{
    return p->opt.tx_max_retries;
}

void trm_db_count_round_trip(void)
{
    atomic_fetch_add(&round_trips, 1);
}

unsigned long trm_db_round_trips(void)
{
    return atomic_load(&round_trips);
}

int trm_db_pool_open(struct trm_db_pool **out, const struct trm_db_pool_options *opt)
{
    struct trm_db_pool *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -1;
    p->opt = *opt;
    p->conninfo = strdup(opt->conninfo);
    p->conns = calloc(opt->size, sizeof *p->conns);
    p->free_list = calloc(opt->size, sizeof *p->free_list);
    if (!p->conninfo || !p->conns || !p->free_list) {
        trm_db_pool_close(p);
        return -1;
    }
    for (unsigned i = 0; i < opt->size; i++)
        p->free_list[p->n_free++] = &p->conns[i];
    /* No JIT: compiling a plan costs tens of milliseconds, and trmd's statements are short
     * (a fresh database's estimates pushed case reads over jit_above_cost). */
    snprintf(p->options, sizeof p->options,
             "-c statement_timeout=%u -c idle_in_transaction_session_timeout=%u "
             "-c lock_timeout=%u -c TimeZone=UTC -c jit=off",
             opt->statement_timeout_ms, opt->statement_timeout_ms * 2, opt->statement_timeout_ms);
    snprintf(p->tx_settings, sizeof p->tx_settings,
             "set_config('statement_timeout', '%u', true), "
             "set_config('idle_in_transaction_session_timeout', '%u', true), "
             "set_config('lock_timeout', '%u', true), set_config('TimeZone', 'UTC', true), "
             "set_config('jit', 'off', true)",
             opt->statement_timeout_ms, opt->statement_timeout_ms * 2, opt->statement_timeout_ms);
    snprintf(p->timeout, sizeof p->timeout, "%u", opt->connect_timeout_s);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->freed, NULL);
    *out = p;
    return 0;
}

void trm_db_pool_close(struct trm_db_pool *p)
{
    if (p == NULL)
        return;
    if (p->conns) {
        for (unsigned i = 0; i < p->opt.size; i++)
            if (p->conns[i].pg)
                PQfinish(p->conns[i].pg);
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->freed);
    }
    free(p->conns);
    free(p->free_list);
    free(p->conninfo);
    free(p);
}

/* An idle connection has nothing to read unless the server closed it (a restart, a
 * terminated backend): reading that here heals it before a request is sent on it, so a
 * pipeline that carries COMMIT never starts on a dead connection. */
static void notice_closed(PGconn *pg)
{
    struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};
    if (pfd.fd >= 0 && poll(&pfd, 1, 0) == 1)
        (void)PQconsumeInput(pg);
}

const char *trm_db_pool_refusal(struct trm_db_pool *p)
{
    return atomic_load(&p->role_refused) ? p->refusal : NULL;
}

/* The first connection that answers asks whether the role holds too much power. */
static bool role_acceptable(struct trm_db_pool *p, struct trm_db_conn *c)
{
    if (!p->opt.refuse_powerful_role || atomic_load(&p->role_checked))
        return !atomic_load(&p->role_refused);
    char why[sizeof p->refusal];
    int excess = trm_db_role_excess(c->pg, why, sizeof why);
    if (excess < 0)
        return false;
    pthread_mutex_lock(&p->lock);
    bool first = !atomic_load(&p->role_checked);
    if (first && excess > 0) {
        memcpy(p->refusal, why, sizeof why);
        atomic_store(&p->role_refused, true);
    }
    atomic_store(&p->role_checked, true);
    pthread_mutex_unlock(&p->lock);
    if (first && excess > 0 && p->opt.role_refused)
        p->opt.role_refused();
    return excess == 0;
}

static bool connect_conn(struct trm_db_pool *p, struct trm_db_conn *c)
{
    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK)
        return role_acceptable(p, c);
    memset(c->prepared, 0, sizeof c->prepared);
    c->tx = (struct trm_db_tx_state){0};
    if (c->pg != NULL) {
        PQreset(c->pg);
    } else {
        /* A pooler in transaction mode takes no connection options (PgBouncer refuses
         * them): the same settings then travel with each transaction. */
        const char *keys[] = {"dbname", "connect_timeout", "application_name", "options", NULL};
        const char *vals[] = {p->conninfo, p->timeout,
                              p->opt.application_name ? p->opt.application_name : "trm",
                              p->opt.transaction_pooling ? NULL : p->options, NULL};
        c->pg = PQconnectdbParams(keys, vals, 1);
    }
    atomic_fetch_add(&round_trips, 1);
    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK) {
        if (atomic_exchange(&database_down, false))
            trm_log(TRM_LOG_INFO, "db_connected", "the database is reachable again");
        return role_acceptable(p, c);
    }
    /* Logged once per outage, not once per request. The libpq message names hosts and
     * users, never personal data. */
    if (!atomic_exchange(&database_down, true)) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        trm_log(TRM_LOG_WARN, "db_connect_failed", "%s", msg);
    }
    return false;
}

struct trm_db_conn *trm_db_acquire(struct trm_db_pool *p)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += p->opt.acquire_timeout_ms / 1000;
    deadline.tv_nsec += (long)(p->opt.acquire_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    if (p->n_free == 0)
        atomic_fetch_add(&p->waits, 1);
    while (p->n_free == 0) {
        if (pthread_cond_timedwait(&p->freed, &p->lock, &deadline) == ETIMEDOUT && p->n_free == 0) {
            pthread_mutex_unlock(&p->lock);
            atomic_fetch_add(&p->timeouts, 1);
            trm_log(TRM_LOG_WARN, "db_pool_exhausted", "no free database connection");
            return NULL;
        }
    }
    struct trm_db_conn *c = p->free_list[--p->n_free];
    pthread_mutex_unlock(&p->lock);
    if (atomic_load(&p->role_refused)) {
        trm_db_release(p, c);
        return NULL;
    }
    c->tx = (struct trm_db_tx_state){0};
    c->tx_settings = p->opt.transaction_pooling ? p->tx_settings : NULL;
    if (c->pg != NULL)
        notice_closed(c->pg);
    if (!connect_conn(p, c)) {
        trm_db_release(p, c);
        return NULL;
    }
    return c;
}

void trm_db_release(struct trm_db_pool *p, struct trm_db_conn *c)
{
    /* A connection left inside a transaction (a caller bug or a lost result) is reset, so
     * the next borrower never inherits someone else's context. */
    if (c->pg != NULL && (PQtransactionStatus(c->pg) != PQTRANS_IDLE ||
                          PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF)) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    pthread_mutex_lock(&p->lock);
    p->free_list[p->n_free++] = c;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

void trm_db_pool_stats(struct trm_db_pool *p, struct trm_db_pool_stats *out)
{
    pthread_mutex_lock(&p->lock);
    out->size = p->opt.size;
    out->in_use = p->opt.size - p->n_free;
    out->open = 0;
    for (unsigned i = 0; i < p->opt.size; i++)
        out->open += p->conns[i].pg != NULL && PQstatus(p->conns[i].pg) == CONNECTION_OK;
    pthread_mutex_unlock(&p->lock);
    out->waits = atomic_load(&p->waits);
    out->timeouts = atomic_load(&p->timeouts);
}

PGconn *trm_db_pg(struct trm_db_conn *c)
{
    return c->pg;
}

enum trm_db_status trm_db_json_cell(struct trm_db_conn *c, struct trm_db_stmt *st,
                                    const char *const *p, json_t **out)
{
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, st, p, &s);
    *out = NULL;
    if (s == TRM_DB_OK && (PQntuples(r) == 0 || PQgetisnull(r, 0, 0)))
        s = TRM_DB_NOT_FOUND;
    if (s == TRM_DB_OK && (*out = json_loads(PQgetvalue(r, 0, 0), 0, NULL)) == NULL)
        s = TRM_DB_ERROR;
    PQclear(r);
    return s;
}

char *trm_db_words_literal(json_t *arr)
{
    size_t cap = 3 + json_array_size(arr) * 40, len = 1, i;
    char *out = malloc(cap);
    json_t *v;
    if (out == NULL)
        return NULL;
    out[0] = '{';
    json_array_foreach(arr, i, v) len += (size_t)snprintf(
        out + len, cap - len, "%s%s", i ? "," : "", json_is_string(v) ? json_string_value(v) : "");
    snprintf(out + len, cap - len, "}");
    return out;
}
