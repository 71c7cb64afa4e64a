/* Signing handover-log checkpoints into the database: over the head, by the maintenance
 * round, and over the entries an export must start after and end with (docs/handover-log.md).
 * A checkpoint is signed only over a chain that holds: the database recomputes it from the
 * checkpoint before the entry to the one after it, and those two must be signed with this
 * instance's key. Otherwise signing would seal a rewritten log. */
#ifndef TRM_CHECKPOINTS_H
#define TRM_CHECKPOINTS_H

#include "trm/db.h"
#include "trm/keyring.h"

enum trm_seal {
    TRM_SEAL_SIGNED,  /* signed and stored now */
    TRM_SEAL_PRESENT, /* a checkpoint over that entry was there already */
    TRM_SEAL_REFUSED, /* no such entry, or the chain around it does not hold: not signed */
};

/* Signs a checkpoint over entry seq, dated now, in the caller's transaction (trm_app may
 * insert checkpoints; concurrent signers of one seq leave one row). */
enum trm_db_status trm_checkpoint_seal(struct trm_db_conn *c, const struct trm_keyring *kr,
                                       long long seq, enum trm_seal *outcome);

#endif
