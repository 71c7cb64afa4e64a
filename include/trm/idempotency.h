/* Idempotency keys for creating POSTs: the same key with the same request gives back the
 * resource created the first time, once; the same key with another request is refused.
 * Only the request's hash and the created resource's id are kept. */
#ifndef TRM_IDEMPOTENCY_H
#define TRM_IDEMPOTENCY_H

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

enum trm_idem_state { TRM_IDEM_NEW, TRM_IDEM_REPLAY, TRM_IDEM_MISMATCH };

/* Creates the resource (writing its id) in the caller's transaction. */
typedef enum trm_db_status (*trm_idem_create_fn)(struct trm_db_conn *c, void *arg,
                                                 char resource_id[TRM_UUID_STR_LEN + 1]);
/* Loads an existing resource for a replay. */
typedef enum trm_db_status (*trm_idem_load_fn)(struct trm_db_conn *c, void *arg,
                                               const char *resource_id);

/* Inside a transaction: replays (load), refuses (state MISMATCH, status REFUSED) or creates
 * and records the key. A concurrent first use of the same key makes the transaction retry,
 * and the retry replays. Without a key, simply creates. */
enum trm_db_status trm_idem_create(struct trm_db_conn *c, const char *user_id,
                                   const struct trm_idem *idem, trm_idem_create_fn create,
                                   trm_idem_load_fn load, void *arg, enum trm_idem_state *state);

#endif
