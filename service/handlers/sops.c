/* /v1/sops: the Standard Operating Procedures loaded (any user may read them; admins load
 * new versions, recorded in the admin log). */
#include "handlers.h"

#include "trm/admin_log_store.h"
#include "trm/http_util.h"
#include "trm/sop.h"
#include "trm/sop_store.h"

/* More SOP versions than a deployment loads: the list is not paged. */
#define SOPS_MAX 100

static json_t *row_json(const struct trm_sop_row *r)
{
    return json_pack("{s:s, s:s, s:I, s:o, s:s, s:s}", "id", r->id, "code", r->code, "version",
                     (json_int_t)r->version, "country",
                     r->country[0] ? json_string(r->country) : json_null(), "title", r->title,
                     "loaded_at", r->loaded_at);
}

struct sop_list {
    struct trm_sop_row rows[SOPS_MAX];
    unsigned n;
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct sop_list *x = arg;
    return trm_sop_list(c, x->rows, SOPS_MAX, &x->n);
}

TRM_HANDLER(trm_handle_sops_list)
{
    static const struct trm_tx tx = {.fn = list_tx, .without_context = true};
    struct sop_list *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL || !trm_handler_tx(app, req, res, &tx, x))
        return;
    json_t *items = json_array();
    for (unsigned i = 0; i < x->n; i++)
        json_array_append_new(items, row_json(&x->rows[i]));
    trm_http_list(res, items, NULL);
}

struct sop_one {
    char id[TRM_UUID_STR_LEN + 1];
    struct trm_sop_row row;
    json_t *doc;
};

static void sop_one_free(void *state)
{
    struct sop_one *x = state;
    json_decref(x->doc);
}

static enum trm_db_status get_tx(struct trm_db_conn *c, void *arg)
{
    struct sop_one *x = arg;
    json_decref(x->doc);
    return trm_sop_get(c, x->id, &x->row, &x->doc);
}

TRM_HANDLER(trm_handle_sop_get)
{
    static const struct trm_tx tx = {.fn = get_tx, .without_context = true};
    struct sop_one *x = trm_handler_state(req, sizeof *x, sop_one_free);
    if (x == NULL || !trm_http_uuid_param(req, res, 0, x->id) ||
        !trm_handler_tx(app, req, res, &tx, x))
        return;
    json_t *body = row_json(&x->row);
    json_object_set(body, "document", x->doc);
    trm_response_json(res, 200, body);
}

struct sop_load {
    const char *user_id, *request_id;
    struct trm_sop *sop;
    json_t *doc; /* the document as sent (kept with the request) */
    struct trm_sop_row row;
};

static void sop_load_free(void *state)
{
    struct sop_load *x = state;
    trm_sop_free(x->sop);
}

static enum trm_db_status load_tx(struct trm_db_conn *c, void *arg)
{
    struct sop_load *x = arg;
    json_t *ignored = NULL;
    enum trm_db_status st = trm_sop_insert(c, &x->row, x->doc, x->user_id);
    if (st == TRM_DB_OK)
        st = trm_admin_log_add(c, TRM_ADMIN_SOP_LOAD, x->row.id, "document", x->request_id);
    if (st == TRM_DB_OK) {
        trm_db_commit_with_next(c);
        st = trm_sop_get(c, x->row.id, &x->row, &ignored);
    }
    json_decref(ignored);
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
        trm_http_created_at(res, row_json(&x->row), "/v1/sops/%s", x->row.id);
}
