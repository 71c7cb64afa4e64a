/* GET /v1/tasks: what the caller's agency has to do, computed from the data in one query
 * (task_store.h): SOP deadlines due or overdue, consents about to end, offers received and
 * not answered, offers made and about to end, plan reviews due, deliveries a peer refused.
 * Each says why in a sentence and links its case; due first, paged. */
#include "handlers.h"

#include "trm/http_util.h"
#include "trm/task_store.h"

static const char *const assignees[] = {"me", NULL};

struct task_list {
    json_t *out; /* first: trm_handler_free_out */
    struct trm_task_query q;
    const char *assigned_to;
    struct trm_page page;
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct task_list *x = arg;
    json_decref(x->out);
    x->out = NULL;
    x->q.after_due = trm_page_text(&x->page, 0);
    x->q.after_id = trm_page_text(&x->page, 1);
    x->q.limit = trm_page_fetch(&x->page);
    trm_db_commit_with_next(c);
    return trm_task_list(c, &x->q, &x->out);
}

TRM_HANDLER(trm_handle_tasks_list)
{
    static const struct trm_tx tx = {.fn = list_tx};
    static const char *const keys[] = {"due_at", "id", NULL};
    struct task_list *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL)
        return;
    const struct trm_param params[] = {
        TRM_Q_ENUM("kind", &x->q.kind, trm_task_kinds),
        TRM_Q_TIME("from", &x->q.from),
        TRM_Q_TIME("to", &x->q.to),
        TRM_Q_ENUM("assigned_to", &x->assigned_to, assignees),
        TRM_Q_END,
    };
    if (!trm_http_query(req, res, params) || !trm_handler_page(app, req, res, "ss", &x->page))
        return;
    const struct trm_config *cfg = app->config;
    x->q.deadline_days = cfg->tasks_deadline_days;
    x->q.consent_days = cfg->tasks_consent_days;
    x->q.offer_hours = cfg->tasks_offer_hours;
    x->q.plan_days = cfg->tasks_plan_days;
    x->q.rejected_days = cfg->tasks_rejected_days;
    x->q.assignee = x->assigned_to ? req->principal->user_id : NULL;
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_handler_page_answer(app, res, &x->page, json_incref(x->out), keys);
}
