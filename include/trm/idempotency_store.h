/* Idempotency keys for creating POSTs: the same key with the same request gives back the
 * resource created the first time, once; the same key with another request is refused.
 * Only the request's hash and the created resource's id are kept. */
#ifndef TRM_IDEMPOTENCY_STORE_H
#define TRM_IDEMPOTENCY_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "trm/db.h"
#include "trm/util.h"

#define TRM_IDEM_KEY_MAX 200

struct trm_idem {
    bool present;
    char key[TRM_IDEM_KEY_MAX + 1];
    uint8_t hash[32]; /* over method, path and body */
    const char *route;
};

enum trm_idem_state {
    TRM_IDEM_NEW,
    TRM_IDEM_REPLAY,
    TRM_IDEM_MISMATCH,
    TRM_IDEM_TAKEN, /* between attempts: the key was found recorded, so look it up */
};

/* Creates the resource with the id given to trm_idem_create, in the caller's transaction. */
typedef enum trm_db_status (*trm_idem_create_fn)(struct trm_db_conn *c, void *arg);
/* Loads an existing resource for a replay. */
typedef enum trm_db_status (*trm_idem_load_fn)(struct trm_db_conn *c, void *arg,
                                               const char *resource_id);

/* Inside a transaction: creates the resource (id resource_id) and records the key in the
 * same round trip (the key goes ahead of the create: a new key, the usual case, costs
 * nothing more). A key already recorded makes the transaction retry (state TAKEN), and the
 * retry replays (load, state REPLAY) or refuses another request under the same key (state
 * MISMATCH, status REFUSED). A concurrent first use of the same key waits for the first and
 * then replays it. Without a key, simply creates. With commit_with_create, COMMIT goes with
 * the create (for a create that is all or nothing: trm_db_commit_with_next). state must
 * keep its value between the transaction's attempts (TRM_IDEM_NEW before the first). */
enum trm_db_status trm_idem_create(struct trm_db_conn *c, const char *user_id,
                                   const struct trm_idem *idem, const char *resource_id,
                                   bool commit_with_create, trm_idem_create_fn create,
                                   trm_idem_load_fn load, void *arg, enum trm_idem_state *state);

#endif
