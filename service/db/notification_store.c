/* The notification store (see notification_store.h). */
#include "trm/notification_store.h"

#include <stdio.h>
#include <stdlib.h>

/* clang-format off */
TRM_DB_STMT(stmt_expiring, 1, "SELECT trm_offers_expiring_notify($1::integer) AS told");
TRM_DB_STMT(stmt_cleanup, 1, "SELECT trm_notifications_cleanup($1::integer)");
/* clang-format on */

enum trm_db_status trm_notifications_expiring(struct trm_db_conn *c, unsigned hours, long *n)
{
    char h[16];
    snprintf(h, sizeof h, "%u", hours);
    const char *p[] = {h};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_expiring, p, &s);
    *n = s == TRM_DB_OK && PQntuples(r) == 1 ? atol(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return s;
}

enum trm_db_status trm_notifications_cleanup(struct trm_db_conn *c, unsigned days)
{
    char d[16];
    snprintf(d, sizeof d, "%u", days);
    const char *p[] = {d};
    enum trm_db_status s;
    PQclear(trm_db_exec(c, &stmt_cleanup, p, &s));
    return s;
}
