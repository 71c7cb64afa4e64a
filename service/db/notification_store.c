/* The notification store (see notification_store.h). */
#include "trm/notification_store.h"

#include <stdio.h>
#include <stdlib.h>

const char *const trm_notification_kinds[] = {
    "offer_received", "offer_accepted", "offer_declined",    "offer_withdrawn", "offer_expiring",
    "offer_expired",  "case_assigned",  "consent_withdrawn", "consent_expired", NULL};

#define TS_US(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
/* clang-format off */
#define NOTIFICATION_JSON(n, read)                                                          \
    "jsonb_build_object('id', " n ".id, 'kind', " n ".kind, 'at', " TS_US(n ".at") ", "      \
    "'read', " read ") || jsonb_strip_nulls(jsonb_build_object('case_id', " n ".case_id, "  \
    "'referral_id', " n ".referral_id, 'consent_id', " n ".consent_id))"
TRM_DB_STMT(stmt_list, 5,
            "SELECT coalesce(jsonb_agg(" NOTIFICATION_JSON("n", "r.notification_id IS NOT NULL")
            " ORDER BY n.at DESC, n.id DESC), '[]') FROM ("
            "SELECT * FROM notifications n "
            "WHERE ($3::timestamptz IS NULL OR (n.at, n.id) < ($3::timestamptz, $4::uuid)) "
            "AND ($2::text IS NULL OR n.kind = $2) "
            "AND (NOT $1::boolean OR NOT EXISTS (SELECT 1 FROM notification_reads x "
            "     WHERE x.notification_id = n.id AND x.user_id = trm_ctx_user())) "
            "ORDER BY n.at DESC, n.id DESC LIMIT $5::integer) n "
            "LEFT JOIN notification_reads r ON r.notification_id = n.id "
            "AND r.user_id = trm_ctx_user()");
TRM_DB_STMT(stmt_read, 1,
            "WITH n AS (SELECT * FROM notifications WHERE id = $1), "
            "i AS (INSERT INTO notification_reads (notification_id, user_id) "
            "SELECT id, trm_ctx_user() FROM n ON CONFLICT DO NOTHING) "
            "SELECT " NOTIFICATION_JSON("n", "true") " FROM n");
TRM_DB_STMT(stmt_read_all, 1,
            "WITH i AS (INSERT INTO notification_reads (notification_id, user_id) "
            "SELECT n.id, trm_ctx_user() FROM notifications n "
            "WHERE n.at <= coalesce($1::timestamptz, now()) AND NOT EXISTS ("
            "SELECT 1 FROM notification_reads x WHERE x.notification_id = n.id "
            "AND x.user_id = trm_ctx_user()) ON CONFLICT DO NOTHING RETURNING 1) "
            "SELECT count(*) AS marked FROM i");
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

enum trm_db_status trm_notification_list(struct trm_db_conn *c, bool unread, const char *kind,
                                         const char *after_at, const char *after_id, unsigned limit,
                                         json_t **out)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%u", limit);
    const char *p[] = {unread ? "true" : "false", kind, after_at, after_id, lim};
    return trm_db_json_cell(c, &stmt_list, p, out);
}

enum trm_db_status trm_notification_read(struct trm_db_conn *c, const char *id, json_t **out)
{
    const char *p[] = {id};
    return trm_db_json_cell(c, &stmt_read, p, out);
}

enum trm_db_status trm_notification_read_all(struct trm_db_conn *c, const char *until, long *n)
{
    const char *p[] = {until};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_read_all, p, &s);
    *n = s == TRM_DB_OK && PQntuples(r) == 1 ? atol(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return s;
}
