/* /v1/sops: the Standard Operating Procedures loaded (any user may read them; admins load
 * new versions, recorded in the admin log). */
#include "handlers.h"

#include "trm/admin_log_store.h"
#include "trm/http_util.h"
#include "trm/sop.h"
#include "trm/sop_store.h"

#include <stdio.h>
#include <string.h>

static json_t *row_json(const struct trm_sop_row *r)
{
    return json_pack("{s:s, s:s, s:I, s:o, s:s, s:s}", "id", r->id, "code", r->code, "version",
                     (json_int_t)r->version, "country",
                     r->country[0] ? json_string(r->country) : json_null(), "title", r->title,
                     "loaded_at", r->loaded_at);
}

struct sop_list {
    struct trm_sop_row rows[100];
    unsigned n;
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct sop_list *x = arg;
    return trm_sop_list(c, x->rows, 100, &x->n);
}

TRM_HANDLER(trm_handle_sops_list)
{
    struct sop_list x;
    enum trm_db_status st = trm_db_tx_run(app->db, NULL, false, list_tx, &x);
    if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
        return;
    }
    json_t *items = json_array();
    for (unsigned i = 0; i < x.n; i++)
        json_array_append_new(items, row_json(&x.rows[i]));
    trm_http_list(res, items, NULL);
}

struct sop_one {
    char id[37];
    struct trm_sop_row row;
    json_t *doc;
};

static enum trm_db_status get_tx(struct trm_db_conn *c, void *arg)
{
    struct sop_one *x = arg;
    json_decref(x->doc);
    return trm_sop_get(c, x->id, &x->row, &x->doc);
}

TRM_HANDLER(trm_handle_sop_get)
{
    struct sop_one x = {0};
    if (!trm_http_uuid_param(req, res, 0, x.id))
        return;
    enum trm_db_status st = trm_db_tx_run(app->db, NULL, false, get_tx, &x);
    if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
    } else {
        json_t *body = row_json(&x.row);
        json_object_set(body, "document", x.doc);
        trm_response_json(res, 200, body);
    }
    json_decref(x.doc);
}

struct sop_load {
    char id[TRM_UUID_STR_LEN + 1];
    const char *user_id, *request_id;
    struct trm_sop *sop;
    json_t *doc;
    struct trm_sop_row row;
};

static enum trm_db_status load_tx(struct trm_db_conn *c, void *arg)
{
    struct sop_load *x = arg;
    json_t *ignored = NULL;
    struct trm_sop_row row;
    trm_sop_row_of(x->sop, x->id, &row);
    enum trm_db_status st = trm_sop_insert(c, &row, x->doc, x->user_id);
    if (st == TRM_DB_OK)
        st = trm_admin_log_add(c, TRM_ADMIN_SOP_LOAD, x->id, "document", x->request_id);
    if (st == TRM_DB_OK) {
        trm_db_commit_with_next(c);
        st = trm_sop_get(c, x->id, &x->row, &ignored);
    }
    json_decref(ignored);
    return st;
}

TRM_HANDLER(trm_handle_sop_create)
{
    json_error_t e;
    json_t *doc =
        req->body_len ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e) : NULL;
    if (doc == NULL) {
        trm_response_problem(res, req, TRM_E_MALFORMED_JSON,
                             "The body is not a valid JSON SOP document.");
        return;
    }
    json_t *errors = json_array();
    struct sop_load x = {
        .user_id = req->principal->user_id, .request_id = req->request_id, .doc = doc};
    x.sop = trm_sop_parse(doc, errors);
    if (x.sop == NULL) {
        trm_response_problem_ext(res, req, TRM_E_VALIDATION_FAILED,
                                 "The SOP document has problems; see errors.", "errors", errors);
        json_decref(doc);
        return;
    }
    json_decref(errors);
    trm_uuid_v4(x.id);
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, load_tx, &x);
    if (st == TRM_DB_CONFLICT)
        trm_response_problem(res, req, TRM_E_CONFLICT,
                             "That code and version exist already: load a new version.");
    else if (st == TRM_DB_INVALID)
        trm_response_problem(res, req, TRM_E_VALIDATION_FAILED, "The country is not known.");
    else if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else {
        char location[80];
        snprintf(location, sizeof location, "/v1/sops/%s", x.id);
        trm_http_created(res, location, row_json(&x.row));
    }
    trm_sop_free(x.sop);
    json_decref(doc);
}
