/* Idempotency keys (see idempotency_store.h). */
#include "trm/idempotency_store.h"

#include <sodium.h>
#include <string.h>

#include "trm/util.h"

/* clang-format off */
TRM_DB_STMT(stmt_idem_get, 3,
            "SELECT resource_id, request_hash = decode($3, 'hex') AND route IS NOT NULL AS same "
            "FROM idempotency_keys WHERE user_id = $1 AND key = $2");
TRM_DB_STMT(stmt_idem_put, 6,
            "INSERT INTO idempotency_keys (user_id, key, route, request_hash, status, resource_id) "
            "VALUES ($1, $2, $3, decode($4, 'hex'), $5, $6)");
/* clang-format on */

/* A key recorded before: the resource it created, and whether this request is the same. */
struct recorded {
    char resource_id[TRM_UUID_STR_LEN + 1];
    bool same;
};
static const struct trm_db_col recorded_cols[] = {
    TRM_DB_FIELD(TRM_DB_TEXT, struct recorded, resource_id),
    TRM_DB_FIELD(TRM_DB_BOOL, struct recorded, same),
    {0},
};

static enum trm_db_status create_with_key(struct trm_db_conn *c, const char *const *put,
                                          bool commit_with_create, trm_idem_create_fn create,
                                          void *arg, enum trm_idem_state *state)
{
    enum trm_db_status key_st = TRM_DB_ERROR;
    trm_db_send_with_next(c, &stmt_idem_put, put, &key_st);
    if (commit_with_create)
        trm_db_commit_with_next(c);
    enum trm_db_status st = create(c, arg);
    if (key_st == TRM_DB_CONFLICT) {
        /* Recorded before (or by a concurrent request that committed first): the retry
         * looks it up. */
        *state = TRM_IDEM_TAKEN;
        return TRM_DB_RETRY;
    }
    if (st == TRM_DB_OK && key_st != TRM_DB_OK)
        st = TRM_DB_ERROR; /* the create ran without its key: never commit that */
    return st;
}

enum trm_db_status trm_idem_create(struct trm_db_conn *c, const char *user_id,
                                   const struct trm_idem *idem, const char *resource_id,
                                   bool commit_with_create, trm_idem_create_fn create,
                                   trm_idem_load_fn load, void *arg, enum trm_idem_state *state)
{
    bool taken = *state == TRM_IDEM_TAKEN;
    *state = TRM_IDEM_NEW;
    if (!idem->present) {
        if (commit_with_create)
            trm_db_commit_with_next(c);
        return create(c, arg);
    }
    char hex[65];
    trm_hex_encode(idem->hash, sizeof idem->hash, hex);
    const char *put[] = {user_id, idem->key, idem->route, hex, "201", resource_id};
    if (!taken)
        return create_with_key(c, put, commit_with_create, create, arg, state);
    const char *p[] = {user_id, idem->key, hex};
    struct recorded rec;
    enum trm_db_status st = trm_db_get(c, &stmt_idem_get, p, recorded_cols, &rec);
    if (st == TRM_DB_OK) {
        *state = rec.same ? TRM_IDEM_REPLAY : TRM_IDEM_MISMATCH;
        return rec.same ? load(c, arg, rec.resource_id) : TRM_DB_REFUSED;
    }
    if (st != TRM_DB_NOT_FOUND)
        return st;
    /* Gone since (expired, or the first request rolled back): create after all. */
    return create_with_key(c, put, commit_with_create, create, arg, state);
}
