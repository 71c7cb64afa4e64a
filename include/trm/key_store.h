/* The wrapped data keys of cases (case_keys): read to seal or open a case's values, for a
 * caller holding a grant of the category (trmd); rotated to a new KEK and retired (trmctl, as
 * the owner role). And retention: erasing long-closed cases. */
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

/* Whether the caller may use a case's key for a category. */
enum trm_case_key_access {
    TRM_KEY_HELD,     /* an active grant of the category: the key is filled */
    TRM_KEY_NOT_HELD, /* no active grant of it */
    TRM_KEY_ERASED,   /* the case's personal data is erased: there is no key */
};
/* The case's wrapped data key, for sealing or opening personal data of a category (NULL:
 * any): NOT_FOUND when the case is not visible. */
struct trm_case_key {
    enum trm_case_key_access access;
    char kek_id[TRM_KEK_ID_MAX + 1];
    unsigned dek_version;
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES];
};
enum trm_db_status trm_case_key_get(struct trm_db_conn *c, const char *case_id,
                                    const char *category, struct trm_case_key *out);

/* Locks up to cap data keys not wrapped under kek_id (skipping rows others hold). */
enum trm_db_status trm_keys_take_batch(struct trm_db_conn *c, const char *kek_id,
                                       struct trm_wrapped_key *out, unsigned cap, unsigned *n);
enum trm_db_status trm_keys_store(struct trm_db_conn *c, const struct trm_wrapped_key *k);
/* How many data keys are wrapped under a KEK other than kek_id, locked rows included. */
enum trm_db_status trm_keys_remaining(struct trm_db_conn *c, const char *kek_id, long *n);

/* A KEK the database knows: data keys wrapped under it, and whether it was retired. */
struct trm_kek_use {
    char kek_id[TRM_KEK_ID_MAX + 1];
    long data_keys;
    char retired_on[11]; /* YYYY-MM-DD, "" unless retired */
};
/* Every KEK that wraps a data key or was retired, by id; *out is malloc'd. */
enum trm_db_status trm_keys_usage(struct trm_db_conn *c, struct trm_kek_use **out, size_t *n);
/* Records kek_id as retired, so no data key may be wrapped under it again, unless data keys
 * are still wrapped under it: *still_wrapped says how many (0: retired). */
enum trm_db_status trm_keys_retire(struct trm_db_conn *c, const char *kek_id, long *still_wrapped);
/* Erases the personal data of cases closed more than days ago; writes how many. */
enum trm_db_status trm_retention_erase(struct trm_db_conn *c, long days, long *erased);

#endif
