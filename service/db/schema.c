/* Reads the applied schema version, which /readyz compares with the build's. */
#include "trm/db.h"

#include <stdlib.h>

TRM_DB_STMT(stmt_schema_version, 0, "SELECT coalesce(max(version), 0) FROM schema_migrations");

static enum trm_db_status read_version(struct trm_db_conn *c, void *arg)
{
    enum trm_db_status st;
    PGresult *r = trm_db_exec(c, &stmt_schema_version, NULL, &st);
    if (st == TRM_DB_OK)
        *(long *)arg = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return st;
}

enum trm_db_status trm_db_schema_version(struct trm_db_pool *pool, long *version)
{
    *version = 0;
    return trm_db_tx_run(pool, NULL, false, read_version, version);
}
