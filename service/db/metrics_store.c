/* What GET /metrics reads from the database: one call, counts and ages only (migration
 * 0023, trm_metrics_snapshot). */
#include "trm/db.h"

TRM_DB_STMT(stmt_snapshot, 0, "SELECT trm_metrics_snapshot()");

static enum trm_db_status snapshot(struct trm_db_conn *c, void *arg)
{
    return trm_db_json_cell(c, &stmt_snapshot, NULL, arg);
}

enum trm_db_status trm_db_metrics_snapshot(struct trm_db_pool *pool, json_t **out)
{
    *out = NULL;
    return trm_db_run(pool, snapshot, out);
}
