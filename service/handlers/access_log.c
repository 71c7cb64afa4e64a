/* GET /v1/access-log: the access log across cases (who read which categories of which case,
 * when, for what purpose), for auditors (their country; cross-border auditors every one) and
 * coordinators (their agency's cases and those it handed over): row-level security decides
 * (docs/authorization.md). A page of JSON, or with Accept: text/csv or application/x-ndjson
 * every matching entry as one export. Nothing personal: ids, categories, purposes. */
#include "handlers.h"

#include "trm/access_log_store.h"
#include "trm/export_text.h"
#include "trm/http_util.h"

#include <stdlib.h>

#define EXPORT_BATCH 1000
#define PURPOSE_MAX 63

static const char *const csv_columns[] = {"seq",
                                          "at",
                                          "user_id",
                                          "agency_id",
                                          "country",
                                          "case_id",
                                          "categories",
                                          "purpose",
                                          "request_id",
                                          "token_id",
                                          "token_issued_by_other",
                                          NULL};

/* The filters, from the query; false with 400 answered. */
static bool filters(const struct trm_request *req, struct trm_response *res,
                    struct trm_access_log_filter *f)
{
    static const char times[] = "from and to must be dates (YYYY-MM-DD) or UTC times.";
    const struct trm_param params[] = {
        TRM_Q_UUID("agency_id", &f->agency_id),
        TRM_Q_UUID("user_id", &f->user_id),
        TRM_Q_UUID("case_id", &f->case_id),
        TRM_Q_WORD("purpose", &f->purpose, PURPOSE_MAX,
                   .detail = "purpose must be a purpose's name (case_view, subject_access, ...)."),
        TRM_Q_TIME("from", &f->from, .detail = times),
        TRM_Q_TIME("to", &f->to, .detail = times),
        TRM_Q_END,
    };
    return trm_http_query(req, res, params);
}

struct query_args {
    json_t *out; /* first */
    struct trm_access_log_filter f;
    struct trm_page page;
    bool csv;
    struct trm_export_text text;
};

static void query_free(void *state)
{
    struct query_args *x = state;
    json_decref(x->out);
    free(x->text.p);
}

static enum trm_db_status page_tx(struct trm_db_conn *c, void *arg)
{
    struct query_args *x = arg;
    json_decref(x->out);
    x->out = NULL;
    trm_db_commit_with_next(c);
    return trm_access_log_list(c, &x->f, &x->out);
}

static enum trm_db_status export_tx(struct trm_db_conn *c, void *arg)
{
    struct query_args *x = arg;
    trm_export_reset(&x->text);
    if (x->csv)
        trm_export_csv_header(&x->text, csv_columns);
    x->f.after_seq = 0;
    x->f.limit = EXPORT_BATCH;
    enum trm_db_status st = TRM_DB_OK;
    size_t n = EXPORT_BATCH;
    while (st == TRM_DB_OK && n == EXPORT_BATCH && !x->text.too_big) {
        json_t *page = NULL;
        st = trm_access_log_list(c, &x->f, &page);
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

TRM_HANDLER(trm_handle_access_log)
{
    static const struct trm_tx page = {.fn = page_tx};
    /* Serializable: every batch from one snapshot, in order. */
    static const struct trm_tx export = {.fn = export_tx, .isolation = TRM_DB_SERIALIZABLE};
    static const char *const keys[] = {"seq", NULL};
    struct query_args *x = trm_handler_state(req, sizeof *x, query_free);
    if (x == NULL || !filters(req, res, &x->f))
        return;
    x->csv = trm_export_wants_csv(req);
    if (x->csv || trm_export_wants_ndjson(req)) {
        if (!trm_handler_tx(app, req, res, &export, x))
            return;
        if (x->text.too_big) {
            trm_response_problem(res, req, TRM_E_PAYLOAD_TOO_LARGE,
                                 "The export is too large: narrow it with from and to.");
            return;
        }
        trm_response_text(res, 200, x->csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
                          x->text.p, x->text.len);
        x->text.p = NULL;
        return;
    }
    if (!trm_handler_page(app, req, res, "i", &x->page))
        return;
    x->f.after_seq = trm_page_number(&x->page, 0);
    x->f.limit = trm_page_fetch(&x->page);
    if (trm_handler_tx(app, req, res, &page, x))
        trm_handler_page_answer(app, res, &x->page, json_incref(x->out), keys);
}
