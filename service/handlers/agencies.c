/* /v1/me and /v1/agencies: who am I, and the directory of agencies (no personal data).
 * Changes are recorded in the admin log in the transaction that makes them. */
#include "handlers.h"

#include "trm/admin_log_store.h"
#include "trm/directory.h"
#include "trm/http_util.h"
#include "trm/idempotency.h"

#include <stdio.h>
#include <string.h>

void trm_handle_me(struct trm_app *app, struct trm_request *req, struct trm_response *res)
{
    (void)app;
    const struct trm_principal *p = req->principal;
    trm_response_json(res, 200,
                      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "user_id", p->user_id,
                                "display_name", p->display_name, "role", trm_role_name(p->role),
                                "agency_id", p->agency_id, "agency_name", p->agency_name, "country",
                                p->country, "cross_border", p->cross_border));
}

json_t *trm_agency_json(const struct trm_agency *a)
{
    /* instance_id names the peer instance of an agency that is not ours; local_only marks ours
     * that peers never see (demo and deactivated agencies): docs/federation.md. */
    bool ours = a->instance_id[0] == '\0';
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:o, s:b}", "id", a->id, "name", a->name,
                     "country", a->country, "kind", a->kind, "active", a->active, "demo", a->demo,
                     "instance_id", ours ? json_null() : json_string(a->instance_id), "local_only",
                     ours && (a->demo || !a->active));
}

struct agency_list {
    const char *country, *kind, *after[3];
    unsigned limit, n;
    struct trm_agency rows[101];
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct agency_list *x = arg;
    return trm_directory_agency_list(c, x->country, x->kind, x->after[0], x->after[1], x->after[2],
                                     x->rows, x->limit + 1, &x->n);
}

void trm_handle_agencies_list(struct trm_app *app, struct trm_request *req,
                              struct trm_response *res)
{
    struct agency_list x = {0};
    json_t *after = NULL;
    if (!trm_http_query_country(req, res, "country", &x.country) ||
        !trm_http_query_enum(req, res, "kind", trm_agency_kinds, &x.kind) ||
        !trm_http_page(req, res, trm_app_keys(app), &x.limit, &after))
        return;
    for (size_t i = 0; after && i < 3; i++)
        x.after[i] = json_string_value(json_array_get(after, i));
    if (after && (!x.after[0] || !x.after[1] || !x.after[2])) {
        json_decref(after);
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER, "cursor does not fit this list.");
        return;
    }
    enum trm_db_status st = trm_db_tx_run(app->db, NULL, false, list_tx, &x);
    json_decref(after);
    if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
        return;
    }
    json_t *items = json_array();
    unsigned shown = x.n > x.limit ? x.limit : x.n;
    for (unsigned i = 0; i < shown; i++)
        json_array_append_new(items, trm_agency_json(&x.rows[i]));
    char *next = NULL;
    if (x.n > x.limit) {
        const struct trm_agency *last = &x.rows[shown - 1];
        json_t *key = json_pack("[s, s, s]", last->country, last->name, last->id);
        next = trm_http_cursor_encode(trm_app_keys(app), key);
        json_decref(key);
    }
    trm_http_list(res, items, next);
}

struct agency_one {
    char id[37];
    struct trm_agency a;
};

static enum trm_db_status get_tx(struct trm_db_conn *c, void *arg)
{
    struct agency_one *x = arg;
    return trm_directory_agency_get(c, x->id, &x->a);
}

void trm_handle_agency_get(struct trm_app *app, struct trm_request *req, struct trm_response *res)
{
    struct agency_one x;
    if (!trm_http_uuid_param(req, res, 0, x.id))
        return;
    enum trm_db_status st = trm_db_tx_run(app->db, NULL, false, get_tx, &x);
    if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else
        trm_response_json(res, 200, trm_agency_json(&x.a));
}

struct agency_create {
    struct trm_agency a;
    const char *request_id;
};

/* The agency and its admin-log entry (COMMIT travels with the entry). */
static enum trm_db_status create_agency(struct trm_db_conn *c, void *arg)
{
    struct agency_create *x = arg;
    enum trm_db_status st = trm_directory_agency_insert(c, &x->a);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_admin_log_add(c, TRM_ADMIN_AGENCY_CREATE, x->a.id, "name,country,kind",
                             x->request_id);
}

static enum trm_db_status load_agency(struct trm_db_conn *c, void *arg, const char *id)
{
    struct agency_create *x = arg;
    return trm_directory_agency_get(c, id, &x->a);
}

struct create_tx_args {
    const struct trm_principal *p;
    struct trm_idem idem;
    enum trm_idem_state state;
    struct agency_create x;
};

static enum trm_db_status create_tx(struct trm_db_conn *c, void *arg)
{
    struct create_tx_args *t = arg;
    return trm_idem_create(c, t->p->user_id, &t->idem, t->x.a.id, false, create_agency, load_agency,
                           &t->x, &t->state);
}

void trm_handle_agency_create(struct trm_app *app, struct trm_request *req,
                              struct trm_response *res)
{
    const char *name = NULL, *country = NULL, *kind = NULL;
    const struct trm_field spec[] = {
        {.name = "name",
         .type = TRM_FIELD_STRING,
         .dest = &name,
         .required = true,
         .max_len = TRM_NAME_MAX},
        {.name = "country", .type = TRM_FIELD_COUNTRY, .dest = &country, .required = true},
        {.name = "kind",
         .type = TRM_FIELD_ENUM,
         .dest = &kind,
         .required = true,
         .allowed = trm_agency_kinds},
        {0},
    };
    struct create_tx_args t = {.p = req->principal, .x.request_id = req->request_id};
    json_t *doc = NULL;
    if (!trm_http_idempotency(req, res, &t.idem) || !trm_http_json_body(req, res, spec, &doc))
        return;
    trm_uuid_v4(t.x.a.id);
    trm_strlcpy(t.x.a.name, name, sizeof t.x.a.name);
    trm_strlcpy(t.x.a.country, country, sizeof t.x.a.country);
    trm_strlcpy(t.x.a.kind, kind, sizeof t.x.a.kind);
    t.x.a.active = true;
    json_decref(doc);
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, create_tx, &t);
    if (t.state == TRM_IDEM_MISMATCH) {
        trm_http_idempotency_mismatch(req, res);
    } else if (st == TRM_DB_NOT_FOUND) {
        trm_response_problem_ext(
            res, req, TRM_E_VALIDATION_FAILED, "Some fields are invalid; see errors.", "errors",
            json_pack("[{s:s, s:s}]", "pointer", "/country", "message", "is not a known country"));
    } else if (st == TRM_DB_CONFLICT) {
        trm_response_problem(res, req, TRM_E_CONFLICT,
                             "This country already has an agency with that name.");
    } else if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
    } else {
        char location[80];
        snprintf(location, sizeof location, "/v1/agencies/%s", t.x.a.id);
        trm_http_created(res, location, trm_agency_json(&t.x.a));
    }
}

struct agency_patch {
    char id[TRM_UUID_STR_LEN + 1];
    bool active;
    const char *request_id;
    struct trm_agency a;
};

static enum trm_db_status patch_tx(struct trm_db_conn *c, void *arg)
{
    struct agency_patch *x = arg;
    enum trm_db_status st = trm_directory_agency_set_active(c, x->id, x->active);
    if (st == TRM_DB_OK)
        st = trm_admin_log_add(c, TRM_ADMIN_AGENCY_UPDATE, x->id, "active", x->request_id);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_directory_agency_get(c, x->id, &x->a);
}

TRM_HANDLER(trm_handle_agency_patch)
{
    struct agency_patch x = {.request_id = req->request_id};
    const struct trm_field spec[] = {
        {.name = "active", .type = TRM_FIELD_BOOL, .dest = &x.active, .required = true},
        {0},
    };
    json_t *doc = NULL;
    if (!trm_http_uuid_param(req, res, 0, x.id) || !trm_http_json_body(req, res, spec, &doc))
        return;
    json_decref(doc);
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, patch_tx, &x);
    if (st == TRM_DB_CONFLICT)
        trm_response_problem(res, req, TRM_E_CONFLICT,
                             "An agency of another instance is kept up to date by that instance.");
    else if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else
        trm_response_json(res, 200, trm_agency_json(&x.a));
}
