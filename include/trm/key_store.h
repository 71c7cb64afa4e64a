/* Maintenance of wrapped data keys and retention (trmctl, as the owner role). */
#ifndef TRM_KEY_STORE_H
#define TRM_KEY_STORE_H

#include "trm/crypto.h"
#include "trm/db.h"
#include "trm/util.h"

struct trm_wrapped_key {
    char case_id[TRM_UUID_STR_LEN + 1];
    char kek_id[TRM_KEK_ID_MAX + 1];
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES];
};

/* Locks up to cap data keys not wrapped under kek_id (skipping rows others hold). */
enum trm_db_status trm_keys_take_batch(struct trm_db_conn *c, const char *kek_id,
                                       struct trm_wrapped_key *out, unsigned cap, unsigned *n);
enum trm_db_status trm_keys_store(struct trm_db_conn *c, const struct trm_wrapped_key *k);
/* "kek_id<TAB>count" lines into out (malloc'd). */
enum trm_db_status trm_keys_status(struct trm_db_conn *c, char **out);
/* Erases the personal data of cases closed more than days ago; writes how many. */
enum trm_db_status trm_retention_erase(struct trm_db_conn *c, long days, long *erased);

#endif
