/* Shared between the files of the database layer only. */
#ifndef TRM_DB_INTERNAL_H
#define TRM_DB_INTERNAL_H

#include "trm/db.h"

#include <stdint.h>

#define TRM_DB_MAX_STMTS 1024

/* A transaction begun lazily: BEGIN and the context are queued in front of its first
 * statement, and the statement the callback marks as its last carries COMMIT, so a
 * one-statement transaction is one round trip (libpq pipeline mode). */
struct trm_db_tx_state {
    bool open;          /* inside trm_db_tx_run */
    bool begin_pending; /* BEGIN and the context not sent yet */
    enum trm_db_isolation isolation;
    const struct trm_db_context *ctx;
    bool commit_next; /* the next statement carries COMMIT */
    bool commit_sent; /* COMMIT was queued and sent */
    bool committed;   /* ... and the server answered it with success */
    /* trm_db_send_with_next: a statement sent ahead of the next one */
    struct trm_db_stmt *lead;
    const char *const *lead_params;
    enum trm_db_status *lead_status;
};

struct trm_db_conn {
    PGconn *pg;
    uint64_t prepared[TRM_DB_MAX_STMTS / 64];
    struct trm_db_tx_state tx;
    /* Transaction pooling (trm_db_pool_options): the settings each transaction sets, as
     * `set_config(...)` calls to append to the context's SELECT; NULL otherwise, when
     * statements are prepared once per connection and the settings are connection options. */
    const char *tx_settings;
};

unsigned trm_db_pool_max_retries(const struct trm_db_pool *pool);
/* Counts one round trip to the server (for benchmarks). */
void trm_db_count_round_trip(void);
/* Runs COMMIT or ROLLBACK on its own (one round trip). */
enum trm_db_status trm_db_finish(struct trm_db_conn *conn, const char *sql);

#endif
