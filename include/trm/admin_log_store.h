/* The admin log store (sql/migrations/0018_admin_log.sql): one append-only entry per change
 * of an agency, a user, a token, a SOP or a federation peer, written in the transaction of
 * the change by trmd's handlers and by trmctl. The actor is the transaction's acting user
 * (an admin) or, without one, the operator running trmctl. An entry holds ids, codes and
 * field names only: the database builds its details from the changed row. */
#ifndef TRM_ADMIN_LOG_STORE_H
#define TRM_ADMIN_LOG_STORE_H

#include <jansson.h>

#include "trm/db.h"

enum trm_admin_action {
    TRM_ADMIN_AGENCY_CREATE,
    TRM_ADMIN_AGENCY_UPDATE,
    TRM_ADMIN_USER_CREATE,
    TRM_ADMIN_USER_UPDATE,
    TRM_ADMIN_TOKEN_ISSUE,
    TRM_ADMIN_TOKEN_REVOKE,
    TRM_ADMIN_SOP_LOAD,
    TRM_ADMIN_PEER_ADD,
};

/* The actions' names as stored and shown (agency_create, ...), NULL-terminated. */
extern const char *const trm_admin_actions[];

/* Records action on object_id (a UUID, or a peer's instance id), which must exist, with the
 * names of the fields it set ("name,country,kind"; "" for none) and the request id (NULL
 * for trmctl). Inside the caller's transaction, after the change. */
enum trm_db_status trm_admin_log_add(struct trm_db_conn *c, enum trm_admin_action action,
                                     const char *object_id, const char *fields,
                                     const char *request_id);

/* Filters of a listing; NULL for none. from and to: dates or UTC times (to excluded). */
struct trm_admin_log_filter {
    const char *actor_user_id, *action, *from, *to;
    long long after_seq;
    unsigned limit;
};
/* Entries the caller may see (row-level security), oldest first, as a JSON array of
 * {seq, at, actor, actor_user_id, actor_agency_id, actor_country, action, object_id,
 * country, fields, details, request_id}. */
enum trm_db_status trm_admin_log_list(struct trm_db_conn *c, const struct trm_admin_log_filter *f,
                                      json_t **out);

#endif
