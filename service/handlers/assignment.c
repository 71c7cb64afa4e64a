/* PUT /v1/cases/{id}/assignee: who works a case. A coordinator of the owning agency assigns
 * any caseworker or coordinator of it (or nobody); a caseworker may take an unassigned case
 * for themselves. The answer is the case's summary with its new version; the assignee is
 * told (a notification), and the timeline says who assigned whom. */
#include "handlers.h"

#include "trm/assignment_store.h"
#include "trm/http_util.h"

enum { WHY_NOT_OWNER = TRM_WHY_OWN, WHY_ASSIGNEE, WHY_TAKEN, WHY_COORDINATOR_ONLY };

struct assign {
    char case_id[TRM_UUID_STR_LEN + 1];
    const char *user_id; /* NULL: nobody */
    long version;
    struct trm_case_summary summary;
};

static enum trm_db_status assign_tx(struct trm_db_conn *c, void *arg)
{
    struct assign *x = arg;
    static const int why[] = {
        [TRM_ASSIGN_NOT_OWNER] = WHY_NOT_OWNER,
        [TRM_ASSIGN_STALE] = TRM_WHY_STALE,
        [TRM_ASSIGN_ASSIGNEE] = WHY_ASSIGNEE,
        [TRM_ASSIGN_TAKEN] = WHY_TAKEN,
        [TRM_ASSIGN_COORDINATOR_ONLY] = WHY_COORDINATOR_ONLY,
    };
    enum trm_assign_outcome outcome;
    bool changed;
    enum trm_db_status st =
        trm_case_assign(c, x->case_id, x->version, x->user_id, &outcome, &changed);
    if (st != TRM_DB_OK)
        return st;
    if (outcome == TRM_ASSIGN_NOT_FOUND)
        return TRM_DB_NOT_FOUND;
    if (outcome != TRM_ASSIGN_OK)
        return trm_refuse(x, why[outcome], NULL);
    trm_db_commit_with_next(c);
    return trm_case_summary_get(c, x->case_id, &x->summary);
}

static const struct trm_outcome assign_outcomes[] = {
    TRM_WHEN_REFUSED(WHY_NOT_OWNER, TRM_E_FORBIDDEN,
                     "Only the agency that owns the case assigns it."),
    TRM_WHEN_REFUSED_FIELD(WHY_ASSIGNEE, "/user_id",
                           "is not an enabled caseworker or coordinator of the agency that owns "
                           "the case"),
    TRM_WHEN_REFUSED(WHY_TAKEN, TRM_E_ALREADY_ASSIGNED,
                     "The case is assigned already: a coordinator reassigns it."),
    TRM_WHEN_REFUSED(WHY_COORDINATOR_ONLY, TRM_E_FORBIDDEN,
                     "A caseworker may only take an unassigned case for themselves; coordinators "
                     "assign and unassign."),
    TRM_WHEN(TRM_DB_NOT_FOUND, TRM_E_NOT_FOUND, "No such case."),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_case_assign)
{
    static const struct trm_tx tx = {.fn = assign_tx, .outcomes = assign_outcomes};
    struct assign *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL)
        return;
    const struct trm_field spec[] = {
        TRM_F_UUID("user_id", &x->user_id, TRM_REQUIRED, .nullable = true),
        TRM_F_END,
    };
    if (trm_http_uuid_param(req, res, 0, x->case_id) &&
        trm_http_if_match_version(req, res, "If-Match names no version of this case.",
                                  &x->version) &&
        trm_handler_body(req, res, spec, NULL) && trm_handler_tx(app, req, res, &tx, x))
        trm_case_summary_answer(res, &x->summary);
}
