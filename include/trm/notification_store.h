/* The notification store: what users are told (sql/migrations/0026_casework.sql). The rows
 * are written by the database itself, in the transaction of the change they report; trmd
 * lists them, marks them read, and has the time-driven ones made. Functions taking a
 * connection run in the caller's transaction. */
#ifndef TRM_NOTIFICATION_STORE_H
#define TRM_NOTIFICATION_STORE_H

#include "trm/db.h"

#include <jansson.h>
#include <stdbool.h>

/* The kinds of notification (NULL-terminated). */
extern const char *const trm_notification_kinds[];

/* The caller's notifications, newest first: [{"id", "kind", "at", "read", and where they
 * apply "case_id", "referral_id", "consent_id"}]; at most limit, after (at, id) when given,
 * only unread ones with unread, only of kind when given. */
enum trm_db_status trm_notification_list(struct trm_db_conn *c, bool unread, const char *kind,
                                         const char *after_at, const char *after_id, unsigned limit,
                                         json_t **out);
/* Marks one read for the caller and answers it; NOT_FOUND when the caller has no such
 * notification. */
enum trm_db_status trm_notification_read(struct trm_db_conn *c, const char *id, json_t **out);
/* Marks read every notification of the caller up to until (a time; NULL: now); *n how many
 * were unread. */
enum trm_db_status trm_notification_read_all(struct trm_db_conn *c, const char *until, long *n);

/* Tells both parties of every open offer that ends within hours (once); *n how many were
 * told. */
enum trm_db_status trm_notifications_expiring(struct trm_db_conn *c, unsigned hours, long *n);
/* Removes notifications and finished webhook events older than days. */
enum trm_db_status trm_notifications_cleanup(struct trm_db_conn *c, unsigned days);

#endif
