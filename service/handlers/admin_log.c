/* /v1/admin-log: the append-only log of administrative actions (agencies, users, tokens,
 * SOPs, federation peers) for auditors, listed in pages or exported as NDJSON or CSV.
 * Row-level security decides which entries an auditor sees (docs/authorization.md). */
#include "handlers.h"

#include "trm/admin_log_store.h"
#include "trm/export_text.h"
#include "trm/http_util.h"

#include <stdlib.h>

#define EXPORT_BATCH 1000

/* The filters of a listing or an export, from the query; false with 400 answered. */
static bool filters(const struct trm_request *req, struct trm_response *res,
                    struct trm_admin_log_filter *f)
{
    const struct trm_param params[] = {
        TRM_Q_UUID("actor_user_id", &f->actor_user_id),
        TRM_Q_ENUM("action", &f->action, trm_admin_actions),
        TRM_Q_TIME("from", &f->from),
        TRM_Q_TIME("to", &f->to),
        TRM_Q_END,
    };
    return trm_http_query(req, res, params);
}

struct list_args {
    json_t *out; /* first */
    struct trm_admin_log_filter f;
    struct trm_page page;
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct list_args *x = arg;
    json_decref(x->out);
    x->out = NULL;
    trm_db_commit_with_next(c);
    return trm_admin_log_list(c, &x->f, &x->out);
}

TRM_HANDLER(trm_handle_admin_log_list)
{
    static const struct trm_tx tx = {.fn = list_tx};
    static const char *const keys[] = {"seq", NULL};
    struct list_args *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL || !filters(req, res, &x->f) || !trm_handler_page(app, req, res, "i", &x->page))
        return;
    x->f.after_seq = trm_page_number(&x->page, 0);
    x->f.limit = trm_page_fetch(&x->page);
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_handler_page_answer(app, res, &x->page, json_incref(x->out), keys);
}

static const char *const csv_columns[] = {
    "seq",           "at",         "actor",     "actor_user_id", "actor_agency_id",
    "actor_country", "action",     "object_id", "country",       "fields",
    "details",       "request_id", NULL};

struct export_args {
    struct trm_admin_log_filter f;
    bool csv;
    struct trm_export_text text;
};

static enum trm_db_status export_tx(struct trm_db_conn *c, void *arg)
{
    struct export_args *x = arg;
    trm_export_reset(&x->text);
    if (x->csv)
        trm_export_csv_header(&x->text, csv_columns);
    x->f.after_seq = 0;
    x->f.limit = EXPORT_BATCH;
    enum trm_db_status st = TRM_DB_OK;
    size_t n = EXPORT_BATCH;
    while (st == TRM_DB_OK && n == EXPORT_BATCH && !x->text.too_big) {
        json_t *page = NULL;
        st = trm_admin_log_list(c, &x->f, &page);
        n = json_array_size(page);
        size_t i;
        json_t *e;
        json_array_foreach(page, i, e)
        {
            trm_export_entry(&x->text, e, x->csv ? csv_columns : NULL);
            x->f.after_seq = json_integer_value(json_object_get(e, "seq"));
        }
        json_decref(page);
    }
    return st;
}

static void export_free(void *state)
{
    struct export_args *x = state;
    free(x->text.p);
}

TRM_HANDLER(trm_handle_admin_log_export)
{
    /* Serializable: every page from one snapshot, so an entry committed while the export
     * runs cannot slip in between pages out of order. */
    static const struct trm_tx tx = {.fn = export_tx, .isolation = TRM_DB_SERIALIZABLE};
    struct export_args *x = trm_handler_state(req, sizeof *x, export_free);
    if (x == NULL)
        return;
    x->csv = trm_export_wants_csv(req);
    if (!filters(req, res, &x->f) || !trm_handler_tx(app, req, res, &tx, x))
        return;
    if (x->text.too_big) {
        trm_response_problem(res, req, TRM_E_PAYLOAD_TOO_LARGE,
                             "The export is too large: narrow it with from and to.");
        return;
    }
    trm_response_text(res, 200, x->csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
                      x->text.p, x->text.len);
    x->text.p = NULL;
}
