/* The authorization table: roles against actions. Case scope (own agency or accepted
 * referral) is not here: row-level security and the case store enforce it. */
#include "trm/auth.h"
#include "trm/db.h"

#include <string.h>

static const char *const role_names[] = {"caseworker", "coordinator", "auditor", "admin"};

/* Rows: actions; columns: caseworker, coordinator, auditor, admin. Admins manage the
 * directory and SOPs and never read case content; auditors read logs and statistics and
 * never personal fields; coordinators approve their agency's sensitive actions. */
static const bool table[TRM_ACT__COUNT][4] = {
    [TRM_ACT_NONE] = {true, true, true, true},
    [TRM_ACT_DIRECTORY_READ] = {true, true, true, true},
    [TRM_ACT_DIRECTORY_MANAGE] = {false, false, false, true},
    [TRM_ACT_SOP_MANAGE] = {false, false, false, true},
    [TRM_ACT_CASE_READ] = {true, true, false, false},
    [TRM_ACT_CASE_WRITE] = {true, true, false, false},
    [TRM_ACT_CASE_APPROVE] = {false, true, false, false},
    [TRM_ACT_AUDIT_READ] = {false, true, true, false},
    [TRM_ACT_STATS_READ] = {false, true, true, false},
    [TRM_ACT_ADMIN_LOG_READ] = {false, false, true, false},
};

const char *trm_role_name(enum trm_role role)
{
    return role_names[role];
}

bool trm_role_parse(const char *name, enum trm_role *out)
{
    for (int i = 0; i < 4; i++) {
        if (name && strcmp(name, role_names[i]) == 0) {
            *out = (enum trm_role)i;
            return true;
        }
    }
    return false;
}

bool trm_authz_allows(enum trm_role role, enum trm_action action)
{
    return action < TRM_ACT__COUNT && (unsigned)role < 4 && table[action][role];
}

void trm_principal_db_context(const struct trm_principal *p, struct trm_db_context *out)
{
    out->user_id = p->user_id;
    out->agency_id = p->agency_id;
    out->country = p->country;
    out->role = role_names[p->role];
    out->cross_border = p->cross_border;
    out->token_id = p->token_id[0] ? p->token_id : NULL;
}
