/* Who works a case: its assignee, a caseworker or coordinator of the agency that owns it
 * (trm_case_assign, sql/migrations/0026_casework.sql). */
#ifndef TRM_ASSIGNMENT_STORE_H
#define TRM_ASSIGNMENT_STORE_H

#include <stdbool.h>

#include "trm/db.h"
#include "trm/util.h"

enum trm_assign_outcome {
    TRM_ASSIGN_OK,
    TRM_ASSIGN_NOT_FOUND,        /* the case is not visible to the caller */
    TRM_ASSIGN_NOT_OWNER,        /* visible, but another agency's (or transferred out) */
    TRM_ASSIGN_STALE,            /* the version If-Match named is not the case's */
    TRM_ASSIGN_ASSIGNEE,         /* not a user who may work the owner's cases */
    TRM_ASSIGN_TAKEN,            /* a caseworker found it assigned already */
    TRM_ASSIGN_COORDINATOR_ONLY, /* a caseworker assigning someone else, or nobody */
};

/* Assigns case_id (at version) to user_id (NULL: nobody), in the caller's transaction;
 * *changed false when it was so already. */
enum trm_db_status trm_case_assign(struct trm_db_conn *c, const char *case_id, long version,
                                   const char *user_id, enum trm_assign_outcome *outcome,
                                   bool *changed);

#endif
