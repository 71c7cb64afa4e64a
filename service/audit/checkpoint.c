/* Signing handover-log checkpoints (see checkpoints.h). The database says what a new
 * checkpoint rests on (trm_handover_seal_basis); this side checks that the checkpoints it
 * rests on are ours, then signs. */
#include "trm/checkpoints.h"
#include "trm/handover.h"
#include "trm/log.h"
#include "trm/handover_store.h"
#include "trm/util.h"

#include <string.h>
#include <time.h>

/* Every checkpoint the new one rests on must be signed with our key. */
static bool basis_holds(json_t *basis, const uint8_t pk[TRM_SIGN_PUBLIC_BYTES])
{
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(basis, "checkpoints"), i, item)
    {
        struct trm_checkpoint k;
        if (!trm_checkpoint_from_json(item, &k) || !trm_checkpoint_holds(pk, &k))
            return false;
    }
    return true;
}

enum trm_db_status trm_checkpoint_seal(struct trm_db_conn *c, const struct trm_keyring *kr,
                                       long long seq, enum trm_seal *outcome)
{
    json_t *basis = NULL;
    *outcome = TRM_SEAL_REFUSED;
    enum trm_db_status st = trm_handover_seal_basis(c, seq, &basis);
    if (st != TRM_DB_OK)
        return st;
    uint8_t pk[TRM_SIGN_PUBLIC_BYTES], head[TRM_HASH_BYTES], sig[TRM_SIGNATURE_BYTES];
    char key_id[17], at[32];
    const char *hash = json_string_value(json_object_get(basis, "hash"));
    trm_signing_public(kr, pk, key_id);
    if (json_is_true(json_object_get(basis, "sealed"))) {
        *outcome = TRM_SEAL_PRESENT;
    } else if (hash && strlen(hash) == 2 * TRM_HASH_BYTES &&
               trm_hex_decode(hash, head, TRM_HASH_BYTES) && basis_holds(basis, pk)) {
        trm_time_rfc3339(time(NULL), at);
        trm_checkpoint_sign(kr, seq, head, at, sig);
        st = trm_handover_checkpoint_add(c, seq, head, at, key_id, sig);
        if (st == TRM_DB_OK)
            *outcome = TRM_SEAL_SIGNED;
    } else {
        trm_log(TRM_LOG_ERROR, "checkpoint_refused",
                "the handover log does not verify around entry %lld: no checkpoint signed", seq);
    }
    json_decref(basis);
    return st;
}
