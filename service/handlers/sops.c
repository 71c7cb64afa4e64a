/* /v1/sops: the Standard Operating Procedures loaded (any user may read them; admins load
 * new versions, recorded in the admin log). The database shapes a SOP's JSON. */
#include "handlers.h"

#include "trm/admin_log_store.h"
#include "trm/http_util.h"
#include "trm/sop.h"
#include "trm/sop_store.h"

struct sop_read {
    json_t *out; /* first: trm_handler_free_out */
    char id[TRM_UUID_STR_LEN + 1];
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct sop_read *x = arg;
    json_decref(x->out);
    x->out = NULL;
    return trm_sop_list(c, &x->out);
}

/* Every SOP version (few: the list is not paged). */
TRM_HANDLER(trm_handle_sops_list)
{
    static const struct trm_tx tx = {.fn = list_tx, .without_context = true};
    struct sop_read *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x && trm_handler_tx(app, req, res, &tx, x))
        trm_http_list(res, json_incref(x->out), NULL);
}

static enum trm_db_status get_tx(struct trm_db_conn *c, void *arg)
{
    struct sop_read *x = arg;
    json_decref(x->out);
    x->out = NULL;
    return trm_sop_get(c, x->id, true, &x->out);
}

TRM_HANDLER(trm_handle_sop_get)
{
    static const struct trm_tx tx = {.fn = get_tx, .without_context = true};
    struct sop_read *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x && trm_http_uuid_param(req, res, 0, x->id) && trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, json_incref(x->out));
}

struct sop_load {
    json_t *out; /* first: the SOP as stored, without its document */
    const char *user_id, *request_id;
    struct trm_sop *sop;
    json_t *doc; /* the document as sent (kept with the request) */
    struct trm_sop_row row;
};

static void sop_load_free(void *state)
{
    struct sop_load *x = state;
    json_decref(x->out);
    trm_sop_free(x->sop);
}

static enum trm_db_status load_tx(struct trm_db_conn *c, void *arg)
{
    struct sop_load *x = arg;
    json_decref(x->out);
    x->out = NULL;
    enum trm_db_status st = trm_sop_insert(c, &x->row, x->doc, x->user_id);
    if (st == TRM_DB_OK)
        st = trm_admin_log_add(c, TRM_ADMIN_SOP_LOAD, x->row.id, "document", x->request_id);
    if (st == TRM_DB_OK) {
        trm_db_commit_with_next(c);
        st = trm_sop_get(c, x->row.id, false, &x->out);
    }
    return st;
}

static const struct trm_outcome load_outcomes[] = {
    TRM_WHEN(TRM_DB_CONFLICT, TRM_E_CONFLICT,
             "That code and version exist already: load a new version."),
    TRM_WHEN(TRM_DB_INVALID, TRM_E_VALIDATION_FAILED, "The country is not known."),
    TRM_WHEN_END,
};

/* The body is a SOP document, checked by the sop module (every problem at once). */
TRM_HANDLER(trm_handle_sop_create)
{
    static const struct trm_tx tx = {.fn = load_tx, .outcomes = load_outcomes};
    struct sop_load *x = trm_handler_state(req, sizeof *x, sop_load_free);
    if (x == NULL)
        return;
    json_error_t e;
    x->doc =
        req->body_len ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e) : NULL;
    if (x->doc == NULL) {
        trm_response_problem(res, req, TRM_E_MALFORMED_JSON,
                             "The body is not a valid JSON SOP document.");
        return;
    }
    trm_request_keep(req, x->doc);
    json_t *errors = json_array();
    x->sop = trm_sop_parse(x->doc, errors);
    if (x->sop == NULL) {
        trm_response_problem_ext(res, req, TRM_E_VALIDATION_FAILED,
                                 "The SOP document has problems; see errors.", "errors", errors);
        return;
    }
    json_decref(errors);
    x->user_id = req->principal->user_id;
    x->request_id = req->request_id;
    char id[TRM_UUID_STR_LEN + 1];
    trm_uuid_v4(id);
    trm_sop_row_of(x->sop, id, &x->row);
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_http_created_at(res, json_incref(x->out), "/v1/sops/%s", x->row.id);
}
