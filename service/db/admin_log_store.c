/* The admin log store (see admin_log_store.h). */
#include "trm/admin_log_store.h"

#include "sql.h"

#include <stdio.h>

const char *const trm_admin_actions[] = {[TRM_ADMIN_AGENCY_CREATE] = "agency_create",
                                         [TRM_ADMIN_AGENCY_UPDATE] = "agency_update",
                                         [TRM_ADMIN_USER_CREATE] = "user_create",
                                         [TRM_ADMIN_USER_UPDATE] = "user_update",
                                         [TRM_ADMIN_TOKEN_ISSUE] = "token_issue",
                                         [TRM_ADMIN_TOKEN_REVOKE] = "token_revoke",
                                         [TRM_ADMIN_SOP_LOAD] = "sop_load",
                                         [TRM_ADMIN_PEER_ADD] = "peer_add",
                                         NULL};

/* clang-format off */
#define ENTRY_JSON                                                                          \
    "jsonb_build_object('seq', seq, 'at', " TRM_SQL_TIME("at") ", 'actor', actor, "         \
    "'actor_user_id', actor_user_id, 'actor_agency_id', actor_agency_id, "                  \
    "'actor_country', actor_country, 'action', action, 'object_id', object_id, "            \
    "'country', country, 'fields', to_jsonb(fields), 'details', details, "                  \
    "'request_id', request_id)"

TRM_DB_STMT(stmt_add, 4,
            "SELECT trm_admin_log_add($1, $2, string_to_array(nullif($3, ''), ','), $4)");
TRM_DB_STMT(stmt_list, 6,
            "SELECT coalesce(jsonb_agg(" ENTRY_JSON " ORDER BY seq), '[]') FROM ("
            "SELECT * FROM admin_log WHERE seq > $5::bigint "
            "AND ($1::uuid IS NULL OR actor_user_id = $1) "
            "AND ($2::text IS NULL OR action = $2) "
            "AND ($3::timestamptz IS NULL OR at >= $3) "
            "AND ($4::timestamptz IS NULL OR at < $4) "
            "ORDER BY seq LIMIT $6::integer) e");
/* clang-format on */

enum trm_db_status trm_admin_log_add(struct trm_db_conn *c, enum trm_admin_action action,
                                     const char *object_id, const char *fields,
                                     const char *request_id)
{
    const char *p[] = {trm_admin_actions[action], object_id, fields, request_id};
    return trm_db_do(c, &stmt_add, p);
}

enum trm_db_status trm_admin_log_list(struct trm_db_conn *c, const struct trm_admin_log_filter *f,
                                      json_t **out)
{
    char after[24], lim[16];
    snprintf(after, sizeof after, "%lld", f->after_seq);
    snprintf(lim, sizeof lim, "%u", f->limit);
    const char *p[] = {f->actor_user_id, f->action, f->from, f->to, after, lim};
    return trm_db_json_cell(c, &stmt_list, p, out);
}
