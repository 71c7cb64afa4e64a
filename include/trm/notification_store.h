/* The notification store: what users are told (sql/migrations/0026_casework.sql). The rows
 * are written by the database itself, in the transaction of the change they report; trmd
 * lists them, marks them read, and has the time-driven ones made. Functions taking a
 * connection run in the caller's transaction. */
#ifndef TRM_NOTIFICATION_STORE_H
#define TRM_NOTIFICATION_STORE_H

#include "trm/db.h"

/* Tells both parties of every open offer that ends within hours (once); *n how many were
 * told. */
enum trm_db_status trm_notifications_expiring(struct trm_db_conn *c, unsigned hours, long *n);
/* Removes notifications and finished webhook events older than days. */
enum trm_db_status trm_notifications_cleanup(struct trm_db_conn *c, unsigned days);

#endif
