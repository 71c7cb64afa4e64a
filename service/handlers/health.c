/* Liveness and readiness, for load balancers and orchestrators. Neither needs a token. */
#include "handlers.h"

#include "trm/build_info.h"
#include "trm/db.h"

TRM_HANDLER(trm_handle_healthz)
{
    (void)app;
    (void)req;
    trm_response_json(res, 200, json_pack("{s:s}", "status", "ok"));
}

TRM_HANDLER(trm_handle_readyz)
{
    long version = 0;
    enum trm_db_status st = trm_db_schema_version(app->db, &version);
    if (st != TRM_DB_OK) {
        trm_response_problem(res, req, TRM_E_NOT_READY, "The database is not reachable.");
        trm_response_set_header(res, "Retry-After", "2");
        return;
    }
    if (version != TRM_SCHEMA_VERSION) {
        trm_response_problem(res, req, TRM_E_NOT_READY,
                             "The database schema is not at this version's migration; run "
                             "trmctl migrate.");
        trm_response_set_header(res, "Retry-After", "10");
        return;
    }
    trm_response_json(
        res, 200,
        json_pack("{s:s, s:I}", "status", "ready", "schema_version", (json_int_t)version));
}
