/* Idempotency keys (see idempotency.h). */
#include "trm/idempotency.h"

#include <sodium.h>
#include <string.h>

TRM_DB_STMT(stmt_idem_get, 3,
            "SELECT resource_id, request_hash = decode($3, 'hex') AND route IS NOT NULL "
            "FROM idempotency_keys WHERE user_id = $1 AND key = $2");
TRM_DB_STMT(stmt_idem_put, 6,
            "INSERT INTO idempotency_keys (user_id, key, route, request_hash, status, resource_id) "
            "VALUES ($1, $2, $3, decode($4, 'hex'), $5, $6)");

enum trm_db_status trm_idem_create(struct trm_db_conn *c, const char *user_id,
                                   const struct trm_idem *idem, trm_idem_create_fn create,
                                   trm_idem_load_fn load, void *arg, enum trm_idem_state *state)
{
    *state = TRM_IDEM_NEW;
    char id[TRM_UUID_STR_LEN + 1] = "";
    if (!idem->present)
        return create(c, arg, id);
    char hex[65];
    trm_hex_encode(idem->hash, sizeof idem->hash, hex);
    const char *p[] = {user_id, idem->key, hex};
    enum trm_db_status st;
    PGresult *r = trm_db_exec(c, &stmt_idem_get, p, &st);
    if (st == TRM_DB_OK && PQntuples(r) == 1) {
        bool same = PQgetvalue(r, 0, 1)[0] == 't';
        trm_strlcpy(id, PQgetvalue(r, 0, 0), sizeof id);
        PQclear(r);
        *state = same ? TRM_IDEM_REPLAY : TRM_IDEM_MISMATCH;
        return same ? load(c, arg, id) : TRM_DB_REFUSED;
    }
    PQclear(r);
    if (st != TRM_DB_OK)
        return st;
    st = create(c, arg, id);
    if (st != TRM_DB_OK)
        return st;
    const char *q[] = {user_id, idem->key, idem->route, hex, "201", id};
    r = trm_db_exec(c, &stmt_idem_put, q, &st);
    PQclear(r);
    /* Someone else committed this key first: roll back and retry, which replays theirs. */
    return st == TRM_DB_CONFLICT ? TRM_DB_RETRY : st;
}
