/* The database layer: a bounded pool of libpq connections, lazily prepared statements that
 * are prepared again after a reconnect, and a transaction helper that sets the row-level
 * security context and retries serialization failures and deadlocks.
 * Nothing here knows HTTP; callers map trm_db_status to their own answers. */
#ifndef TRM_DB_H
#define TRM_DB_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct trm_db_pool;
struct trm_db_conn;

enum trm_db_status {
    TRM_DB_OK = 0,
    TRM_DB_NOT_FOUND,    /* the row asked for is not there (or not visible): SQLSTATE TR404 */
    TRM_DB_CONFLICT,     /* a unique or state constraint refused the write */
    TRM_DB_INVALID,      /* a check or foreign-key constraint refused the values */
    TRM_DB_REFUSED,      /* the callback decided to roll back; its own outputs say why */
    TRM_DB_RETRY,        /* serialization failure or deadlock: retried by trm_db_tx_run */
    TRM_DB_UNAVAILABLE,  /* no connection, connection lost, timeout: answer 503 */
    TRM_DB_ERROR,        /* anything else: a bug or a schema mismatch */
    TRM_DB_GUARD_FAILED, /* this thread's guard refused (trm_db_guard_set): nothing ran */
};

struct trm_db_pool_options {
    const char *conninfo;
    unsigned size;
    unsigned acquire_timeout_ms;
    unsigned connect_timeout_s;
    unsigned statement_timeout_ms;
    unsigned tx_max_retries;
    const char *application_name;
    /* Behind a pooler in transaction mode (PgBouncer pool_mode = transaction): nothing is
     * kept in the database session, whose server connection may be another one at the next
     * transaction. Statements are sent unnamed (parsed with each execution) instead of
     * prepared once per connection, and the settings otherwise given as connection options
     * (statement, lock and idle timeouts, time zone, no JIT) are set in each transaction
     * with its row-level security context, transaction-local. */
    bool transaction_pooling;
    /* trmd: refuse a login role with more power than trm_app (trm_db_role_excess), checked
     * on the pool's first connection. Once refused, the pool hands out no connection, and
     * role_refused (if set) is called once, from the thread that connected. */
    bool refuse_powerful_role;
    void (*role_refused)(void);
};

/* A statement known to the program; declare with TRM_DB_STMT at file scope. Parameters are
 * passed as text. The slot is assigned on first use and names the prepared statement. */
struct trm_db_stmt {
    const char *label; /* for logs */
    const char *sql;
    int nparams;
    atomic_int slot;
};
#define TRM_DB_STMT(var, n, text) static struct trm_db_stmt var = {#var, text, n, 0}

int trm_db_pool_open(struct trm_db_pool **out, const struct trm_db_pool_options *opt);
void trm_db_pool_close(struct trm_db_pool *pool);
/* Why the pool refused its role (one line), or NULL. */
const char *trm_db_pool_refusal(struct trm_db_pool *pool);
/* 1 (why says what, in one line) when the connection's login role is a superuser, bypasses
 * row-level security, or owns the database or any relation, schema, function or type in it,
 * itself or through a role it is a member of; 0 when it holds none of that; -1 when the
 * question could not be asked. */
int trm_db_role_excess(PGconn *pg, char *why, size_t len);

/* The pool as metrics show it: its size, connections lent out and open, and how many
 * borrowers had to wait for a free one or gave up waiting. */
struct trm_db_pool_stats {
    unsigned size, in_use, open;
    unsigned long waits, timeouts;
};
void trm_db_pool_stats(struct trm_db_pool *pool, struct trm_db_pool_stats *out);
/* What the metrics read from the database at each scrape (SELECT trm_metrics_snapshot():
 * counts and ages, migration 0023) into *out, a new reference. */
enum trm_db_status trm_db_metrics_snapshot(struct trm_db_pool *pool, json_t **out);

/* Borrows a connected connection, waiting at most acquire_timeout_ms for a free one and
 * reconnecting a broken one; NULL when the database cannot be reached. */
struct trm_db_conn *trm_db_acquire(struct trm_db_pool *pool);
void trm_db_release(struct trm_db_pool *pool, struct trm_db_conn *conn);
PGconn *trm_db_pg(struct trm_db_conn *conn);

/* Executes a declared statement with text parameters (NULL means SQL NULL).
 * Returns the result (never NULL: PQclear it) and sets *status. */
PGresult *trm_db_exec(struct trm_db_conn *conn, struct trm_db_stmt *stmt, const char *const *params,
                      enum trm_db_status *status);
/* Several statements in one round trip (libpq pipeline mode), for work whose statements
 * do not depend on each other's results. Each runs with its own snapshot, in order; once
 * one fails the rest do not run. Every call gets a result (never NULL: PQclear each);
 * returns the status of the first failure. */
#define TRM_DB_MAX_BATCH 4
struct trm_db_call {
    struct trm_db_stmt *stmt;
    const char *const *params;
    PGresult *result; /* out */
};
enum trm_db_status trm_db_exec_batch(struct trm_db_conn *conn, struct trm_db_call *calls, size_t n);
/* Classifies a finished result (and logs unexpected errors without their values). */
enum trm_db_status trm_db_classify(struct trm_db_conn *conn, const PGresult *res,
                                   const char *label);

/* Result columns read by name, never by position: a statement names its columns (AS ...)
 * and its store lists where each goes in a row struct, ended by {0}. The columns are
 * found once per result (PQfnumber); a column the result lacks or a value that does not fit
 * its kind is an error (logged), not a silent shift. A NULL leaves the destination zeroed
 * (TEXT: ""). */
enum trm_db_kind {
    TRM_DB_TEXT,  /* char[size]: copied (truncated to fit) */
    TRM_DB_STR,   /* const char *: points into the result (valid until PQclear) */
    TRM_DB_BOOL,  /* bool */
    TRM_DB_INT,   /* int */
    TRM_DB_UINT,  /* unsigned */
    TRM_DB_LONG,  /* long */
    TRM_DB_LLONG, /* long long */
    TRM_DB_HEX,   /* uint8_t[size]: exactly 2 * size hex digits */
};
struct trm_db_col {
    const char *name;
    enum trm_db_kind kind;
    size_t offset, size;
};
/* A column of a row struct: TRM_DB_COL(TRM_DB_TEXT, struct trm_user, agency.id, "agency_id");
 * a column named as its member: TRM_DB_FIELD(TRM_DB_TEXT, struct trm_agency, name). */
#define TRM_DB_COL(kind, type, member, column)                                                     \
    {                                                                                              \
        (column), (kind), offsetof(type, member), sizeof(((type *)0)->member)                      \
    }
#define TRM_DB_FIELD(kind, type, member) TRM_DB_COL(kind, type, member, #member)
/* Runs stmt, keeping nothing of its result but its status. */
enum trm_db_status trm_db_do(struct trm_db_conn *conn, struct trm_db_stmt *stmt,
                             const char *const *params);
/* Runs stmt and reads its first row into out: NOT_FOUND when there is none. */
enum trm_db_status trm_db_get(struct trm_db_conn *conn, struct trm_db_stmt *stmt,
                              const char *const *params, const struct trm_db_col *cols, void *out);
/* Runs stmt and reads at most cap rows into out (elements of elem bytes); *n how many. */
enum trm_db_status trm_db_list(struct trm_db_conn *conn, struct trm_db_stmt *stmt,
                               const char *const *params, const struct trm_db_col *cols, void *out,
                               size_t elem, unsigned cap, unsigned *n);
/* Reads row `row` of r into out; false when a column is missing or a value does not fit. */
bool trm_db_row(const PGresult *r, int row, const struct trm_db_col *cols, void *out);
/* Reads the first row: NOT_FOUND when there is none, ERROR as trm_db_row fails. */
enum trm_db_status trm_db_one(const PGresult *r, const struct trm_db_col *cols, void *out);
/* Reads at most cap rows into out (an array of elements of elem bytes); *n says how many. */
enum trm_db_status trm_db_rows(const PGresult *r, const struct trm_db_col *cols, void *out,
                               size_t elem, unsigned cap, unsigned *n);

/* Who acts, for row-level security: set with set_config(..., true) at the start of every
 * transaction. A NULL context sets nothing, and then policies show no case rows. */
struct trm_db_context {
    const char *user_id;
    const char *agency_id;
    const char *country;
    const char *role;
    bool cross_border;
    const char *token_id; /* the API token of the request (access log, migration 0018) */
};

typedef enum trm_db_status (*trm_db_tx_fn)(struct trm_db_conn *conn, void *arg);

/* How a transaction sees the work of others (the values of false and true, which callers
 * written before the snapshot level passed, keep their meaning). */
enum trm_db_isolation {
    /* Each statement sees what was committed when it started: most work. */
    TRM_DB_READ_COMMITTED = 0,
    /* As if alone; a conflict fails with TRM_DB_RETRY and trm_db_tx_run runs fn again. For
     * a read and a write that belong together (the head signed as a checkpoint). */
    TRM_DB_SERIALIZABLE = 1,
    /* REPEATABLE READ, READ ONLY: every statement sees the one snapshot taken at the first,
     * so a read in several statements (a chain in batches and its head) is consistent;
     * any write fails. Never conflicts, never waits. */
    TRM_DB_SNAPSHOT = 2,
};

/* Runs fn in a transaction: BEGIN at the isolation level, context, fn, COMMIT. fn may run
 * again after a serialization failure, a deadlock or a connection lost before COMMIT, so it
 * must reset its outputs at its start. fn's status other than TRM_DB_OK rolls back and is
 * returned. */
enum trm_db_status trm_db_tx_run(struct trm_db_pool *pool, const struct trm_db_context *ctx,
                                 enum trm_db_isolation isolation, trm_db_tx_fn fn, void *arg);

/* Inside trm_db_tx_run: the next statement (or batch) is fn's last, so COMMIT travels with
 * it in the same round trip (BEGIN and the context travel with fn's first statement). Only for a
 * statement whose every successful outcome may be committed: fn learns its result after
 * the commit, so it cannot roll back on what it reads (a read, or a function that writes
 * all or nothing). A failed statement or COMMIT still rolls back and retries as usual.
 * Outside a transaction it does nothing. */
void trm_db_commit_with_next(struct trm_db_conn *conn);

/* Inside trm_db_tx_run: stmt goes out ahead of the next statement (or batch), in the same
 * round trip; when it fails, the next does not run. *status receives stmt's own status when
 * that round trip is answered (TRM_DB_ERROR until then), so the caller can tell its failure
 * from the next statement's. The params and status must stay valid until then. For a write
 * that only makes sense with the next one (recording an idempotency key with the create). */
void trm_db_send_with_next(struct trm_db_conn *conn, struct trm_db_stmt *stmt,
                           const char *const *params, enum trm_db_status *status);

/* Runs a statement whose single cell is a JSON value into *out (a new reference);
 * NOT_FOUND for no row or SQL NULL. */
enum trm_db_status trm_db_json_cell(struct trm_db_conn *conn, struct trm_db_stmt *stmt,
                                    const char *const *params, json_t **out);
/* A PostgreSQL array literal ({a,b}) of a JSON array of plain words or ids, which the caller
 * has validated (no quoting is done). malloc'd. */
char *trm_db_words_literal(json_t *words);

/* Runs fn on a pooled connection without a transaction block (each statement commits on
 * its own): for single-statement work such as authentication, in one round trip. */
enum trm_db_status trm_db_run(struct trm_db_pool *pool, trm_db_tx_fn fn, void *arg);

/* A guard: a statement that must succeed before anything this thread sends afterwards may
 * run. Once set, it travels at the head of the thread's next pipeline (after BEGIN and the
 * context inside a transaction), so it costs no round trip of its own. When it raises
 * SQLSTATE TR401, nothing after it runs, its transaction rolls back, the call returns
 * TRM_DB_GUARD_FAILED and the guard is REFUSED; once it has succeeded it is PASSED and sent no
 * more. A connection lost before its answer leaves it PENDING (sent again with the retry).
 * trmd guards each request served on a remembered authentication (service/auth/authn.c).
 * stmt and params must stay valid until trm_db_guard_clear. */
enum trm_db_guard_state {
    TRM_DB_GUARD_NONE,
    TRM_DB_GUARD_PENDING,
    TRM_DB_GUARD_PASSED,
    TRM_DB_GUARD_REFUSED,
};
void trm_db_guard_set(struct trm_db_stmt *stmt, const char *const *params);
enum trm_db_guard_state trm_db_guard_state(void);
void trm_db_guard_clear(void);
/* Sends a PENDING guard on its own (one round trip), for work that sent nothing else; the
 * guard's new state is returned by trm_db_guard_state. TRM_DB_OK when it was not pending or
 * passed now. */
enum trm_db_status trm_db_guard_check(struct trm_db_pool *pool);

/* The highest migration applied (schema_migrations), for readiness. */
enum trm_db_status trm_db_schema_version(struct trm_db_pool *pool, long *version);

/* Counters for benchmarks: round trips to PostgreSQL made by this process (each wait for
 * the server's answers counts once: a connect, a statement, a pipeline). */
unsigned long trm_db_round_trips(void);

#endif
