/* What the SOP engine reads of a case and writes to it: the facts its guards look at, and a
 * transition already checked against them. Each function runs in the caller's transaction. */
#ifndef TRM_TRANSITION_STORE_H
#define TRM_TRANSITION_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "trm/case_store.h"
#include "trm/db.h"
#include "trm/util.h"

/* The facts of a case as JSON (trm_case_facts in SQL; trm_sop_facts_from_json in sop.h
 * reads them) and the id of its SOP: with lock, the case row is locked. NOT_FOUND when the
 * case is not visible. */
enum trm_db_status trm_case_facts_get(struct trm_db_conn *c, const char *case_id, bool lock,
                                      char sop_id[TRM_UUID_STR_LEN + 1], json_t **facts);

/* A checked transition of one track, from one state to another. */
struct trm_case_step {
    const char *case_id;
    long version; /* the version the facts were read at */
    const char *track, *from, *to;
    bool terminal;   /* to ends the track */
    json_t *details; /* the timeline entry's details (no personal values) */
    const char *sealed_note_hex, *note_category; /* NULL: no note */
};
/* Takes the step and reads the case's new summary, in one round trip; CONFLICT when the
 * version or state moved meanwhile. */
enum trm_db_status trm_case_transition_apply(struct trm_db_conn *c, const struct trm_case_step *s,
                                             struct trm_case_summary *summary);

#endif
