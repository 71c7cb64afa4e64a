/* The webhook store: agencies' webhooks (URL, sealed secret) and the outbox of events
 * (sql/migrations/0026_casework.sql). Functions taking a connection run in the caller's
 * transaction. */
#ifndef TRM_WEBHOOK_STORE_H
#define TRM_WEBHOOK_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "trm/db.h"
#include "trm/util.h"
#include "trm/webhook.h"

/* An event due for delivery, claimed for a while. */
struct trm_webhook_due {
    char id[TRM_UUID_STR_LEN + 1];
    char agency_id[TRM_UUID_STR_LEN + 1];
    char url[TRM_WEBHOOK_URL_MAX + 1];
    char *sealed_secret; /* hex, malloc'd */
    char *body;          /* the event's JSON, malloc'd */
    int attempts;
    char lease[64]; /* the lease's end as the database set it: the proof of the claim */
};
/* Claims up to cap due events for lease_s seconds (FOR UPDATE SKIP LOCKED: concurrent
 * workers take different events); release each with trm_webhook_due_free. */
enum trm_db_status trm_webhook_claim(struct trm_db_conn *c, unsigned cap, unsigned lease_s,
                                     struct trm_webhook_due *out, unsigned *n);
/* Extends d's lease to lease_s seconds from now if the claim is still d's (d->lease is
 * updated); *kept false when it was lost (another worker took the event after the lease
 * ended, or it is no longer pending): d must not be posted then. */
enum trm_db_status trm_webhook_renew(struct trm_db_conn *c, struct trm_webhook_due *d,
                                     unsigned lease_s, bool *kept);
void trm_webhook_due_free(struct trm_webhook_due *d);
/* An attempt's outcome: error NULL (delivered) or a code; posted false for an event not
 * posted, sharing its receiver's failure in the same round (no attempt counted); *given_up
 * when the event is now too old to be tried again. */
enum trm_db_status trm_webhook_outcome(struct trm_db_conn *c, const char *id, const char *error,
                                       bool posted, unsigned max_backoff_s, unsigned give_up_s,
                                       bool *given_up);

/* What registering a webhook did. */
enum trm_webhook_put {
    TRM_WEBHOOK_SET,           /* created, or replaced with a new secret */
    TRM_WEBHOOK_UPDATED,       /* URL or active changed, the secret kept */
    TRM_WEBHOOK_SECRET_NEEDED, /* no secret given, and none to keep */
    TRM_WEBHOOK_NO_AGENCY,     /* no agency of this instance with that id */
};
/* Registers or changes agency_id's webhook (an admin); sealed_hex NULL keeps the secret. */
enum trm_db_status trm_webhook_put(struct trm_db_conn *c, const char *agency_id, const char *url,
                                   const char *sealed_hex, bool active,
                                   enum trm_webhook_put *outcome);
/* {"agency_id", "url", "active", "created_at", "updated_at", "events": {"pending",
 * "delivered", "failed", "last_error", "last_delivered_at"}}: never the secret. NOT_FOUND
 * when the agency has none. */
enum trm_db_status trm_webhook_status(struct trm_db_conn *c, const char *agency_id, json_t **out);
/* Removes it and its undelivered events; NOT_FOUND when there was none. */
enum trm_db_status trm_webhook_delete(struct trm_db_conn *c, const char *agency_id);

#endif
