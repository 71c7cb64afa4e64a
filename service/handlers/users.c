/* /v1/users and their API tokens (admins only: the route table says so). Every change is
 * recorded in the admin log in the transaction that makes it (admin_log_store.h). */
#include "handlers.h"

#include "trm/admin_log_store.h"
#include "trm/auth.h"
#include "trm/directory.h"
#include "trm/http_util.h"
#include "trm/idempotency.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static json_t *user_json(const struct trm_user *u)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b}", "id", u->id, "agency_id", u->agency_id,
                     "role", u->role, "display_name", u->display_name, "cross_border",
                     u->cross_border, "disabled", u->disabled, "demo", u->demo);
}

struct user_list {
    const char *agency_id, *after;
    unsigned limit, n;
    struct trm_user rows[101];
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct user_list *x = arg;
    return trm_directory_user_list(c, x->agency_id, x->after, x->rows, x->limit + 1, &x->n);
}

void trm_handle_users_list(struct trm_app *app, struct trm_request *req, struct trm_response *res)
{
    struct user_list x = {0};
    json_t *after = NULL;
    if (!trm_http_query_uuid(req, res, "agency_id", &x.agency_id) ||
        !trm_http_page(req, res, trm_app_keys(app), &x.limit, &after))
        return;
    x.after = after ? json_string_value(json_array_get(after, 0)) : NULL;
    if (after && (x.after == NULL || !trm_uuid_parse(x.after, NULL))) {
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
        json_array_append_new(items, user_json(&x.rows[i]));
    char *next = NULL;
    if (x.n > x.limit) {
        json_t *key = json_pack("[s]", x.rows[shown - 1].id);
        next = trm_http_cursor_encode(trm_app_keys(app), key);
        json_decref(key);
    }
    trm_http_list(res, items, next);
}

struct user_one {
    char id[37];
    struct trm_user u;
};

static enum trm_db_status get_tx(struct trm_db_conn *c, void *arg)
{
    struct user_one *x = arg;
    return trm_directory_user_get(c, x->id, &x->u);
}

void trm_handle_user_get(struct trm_app *app, struct trm_request *req, struct trm_response *res)
{
    struct user_one x;
    if (!trm_http_uuid_param(req, res, 0, x.id))
        return;
    enum trm_db_status st = trm_db_tx_run(app->db, NULL, false, get_tx, &x);
    if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else
        trm_response_json(res, 200, user_json(&x.u));
}

struct user_create {
    const struct trm_request *req;
    struct trm_idem idem;
    enum trm_idem_state state;
    struct trm_user u;
};

/* The user and its admin-log entry (COMMIT travels with the entry). */
static enum trm_db_status create_user(struct trm_db_conn *c, void *arg)
{
    struct user_create *t = arg;
    enum trm_db_status st = trm_directory_user_insert(c, &t->u);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_admin_log_add(c, TRM_ADMIN_USER_CREATE, t->u.id,
                             t->u.cross_border ? "agency_id,role,display_name,cross_border"
                                               : "agency_id,role,display_name",
                             t->req->request_id);
}

static enum trm_db_status load_user(struct trm_db_conn *c, void *arg, const char *id)
{
    struct user_create *t = arg;
    return trm_directory_user_get(c, id, &t->u);
}

static enum trm_db_status create_tx(struct trm_db_conn *c, void *arg)
{
    struct user_create *t = arg;
    return trm_idem_create(c, t->req->principal->user_id, &t->idem, t->u.id, false, create_user,
                           load_user, t, &t->state);
}

void trm_handle_user_create(struct trm_app *app, struct trm_request *req, struct trm_response *res)
{
    const char *agency_id = NULL, *role = NULL, *name = NULL;
    bool cross_border = false;
    const struct trm_field spec[] = {
        {.name = "agency_id", .type = TRM_FIELD_UUID, .dest = &agency_id, .required = true},
        {.name = "role",
         .type = TRM_FIELD_ENUM,
         .dest = &role,
         .required = true,
         .allowed = trm_user_roles},
        {.name = "display_name",
         .type = TRM_FIELD_STRING,
         .dest = &name,
         .required = true,
         .max_len = TRM_NAME_MAX},
        {.name = "cross_border", .type = TRM_FIELD_BOOL, .dest = &cross_border},
        {0},
    };
    struct user_create t = {.req = req};
    json_t *doc = NULL;
    if (!trm_http_idempotency(req, res, &t.idem) || !trm_http_json_body(req, res, spec, &doc))
        return;
    trm_uuid_v4(t.u.id);
    trm_uuid_parse(agency_id, t.u.agency_id);
    trm_strlcpy(t.u.role, role, sizeof t.u.role);
    trm_strlcpy(t.u.display_name, name, sizeof t.u.display_name);
    t.u.cross_border = cross_border;
    json_decref(doc);
    if (cross_border && strcmp(t.u.role, "auditor") != 0) {
        trm_http_field_problem(req, res, "/cross_border", "only auditors may be cross-border");
        return;
    }
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, create_tx, &t);
    if (t.state == TRM_IDEM_MISMATCH) {
        trm_http_idempotency_mismatch(req, res);
    } else if (st == TRM_DB_NOT_FOUND) {
        trm_http_field_problem(req, res, "/agency_id", "is not a known agency");
    } else if (st == TRM_DB_INVALID) {
        trm_http_field_problem(req, res, "/cross_border",
                               "only auditors of an international organisation or national "
                               "coordinator may be cross-border");
    } else if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
    } else {
        char location[80];
        snprintf(location, sizeof location, "/v1/users/%s", t.u.id);
        trm_http_created(res, location, user_json(&t.u));
    }
}

struct user_patch {
    char id[TRM_UUID_STR_LEN + 1];
    bool disabled;
    const char *request_id;
    struct trm_user u;
};

static enum trm_db_status patch_tx(struct trm_db_conn *c, void *arg)
{
    struct user_patch *x = arg;
    enum trm_db_status st = trm_directory_user_set_disabled(c, x->id, x->disabled);
    if (st == TRM_DB_OK)
        st = trm_admin_log_add(c, TRM_ADMIN_USER_UPDATE, x->id, "disabled", x->request_id);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_directory_user_get(c, x->id, &x->u);
}

void trm_handle_user_patch(struct trm_app *app, struct trm_request *req, struct trm_response *res)
{
    struct user_patch x = {.request_id = req->request_id};
    const struct trm_field spec[] = {
        {.name = "disabled", .type = TRM_FIELD_BOOL, .dest = &x.disabled, .required = true},
        {0},
    };
    json_t *doc = NULL;
    if (!trm_http_uuid_param(req, res, 0, x.id) || !trm_http_json_body(req, res, spec, &doc))
        return;
    json_decref(doc);
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, patch_tx, &x);
    if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else
        trm_response_json(res, 200, user_json(&x.u));
}

TRM_HANDLER(trm_handle_token_issue)
{
    long days = app->config->token_default_days;
    char user_id[TRM_UUID_STR_LEN + 1];
    const struct trm_field spec[] = {
        {.name = "expires_days", .type = TRM_FIELD_INT, .dest = &days, .min = 1, .max = 3650},
        {0},
    };
    json_t *doc = NULL;
    if (!trm_http_uuid_param(req, res, 0, user_id) ||
        !trm_http_json_body_optional(req, res, spec, &doc))
        return;
    json_decref(doc);
    if (trm_request_header(req, "Idempotency-Key") != NULL) {
        /* A token is shown once and never stored, so a retry cannot be answered with it. */
        trm_response_problem(res, req, TRM_E_BAD_REQUEST,
                             "Tokens are shown only once: issue without Idempotency-Key and "
                             "revoke any token whose answer was lost.");
        return;
    }
    struct trm_token_issued t;
    enum trm_db_status st = trm_token_issue(app->db, trm_app_keys(app), req->principal, user_id,
                                            days, req->request_id, &t);
    if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
        return;
    }
    char location[80];
    snprintf(location, sizeof location, "/v1/tokens/%s", t.id);
    trm_http_created(res, location,
                     json_pack("{s:s, s:s, s:s, s:o}", "id", t.id, "user_id", user_id, "token",
                               t.token.text, "expires_at",
                               t.expires_at[0] ? json_string(t.expires_at) : json_null()));
    sodium_memzero(&t, sizeof t);
}

struct token_list {
    char user_id[TRM_UUID_STR_LEN + 1];
    const char *after_created, *after_id;
    unsigned limit;
    json_t *items;
};

static enum trm_db_status token_list_tx(struct trm_db_conn *c, void *arg)
{
    struct token_list *x = arg;
    json_decref(x->items);
    x->items = NULL;
    return trm_directory_token_list(c, x->user_id, x->after_created, x->after_id, x->limit + 1,
                                    &x->items);
}

/* A user's tokens for the admin screen: ids, kinds and times, never a secret. */
TRM_HANDLER(trm_handle_tokens_list)
{
    struct token_list x = {0};
    json_t *after = NULL;
    if (!trm_http_uuid_param(req, res, 0, x.user_id) ||
        !trm_http_page(req, res, trm_app_keys(app), &x.limit, &after))
        return;
    x.after_created = after ? json_string_value(json_array_get(after, 0)) : NULL;
    x.after_id = after ? json_string_value(json_array_get(after, 1)) : NULL;
    if (after && (x.after_created == NULL || x.after_id == NULL)) {
        json_decref(after);
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER, "cursor does not fit this list.");
        return;
    }
    enum trm_db_status st = trm_db_tx_run(app->db, NULL, false, token_list_tx, &x);
    json_decref(after);
    if (st != TRM_DB_OK) {
        json_decref(x.items);
        trm_http_db_problem(req, res, st);
        return;
    }
    char *next = NULL;
    if (json_array_size(x.items) > x.limit) {
        json_array_remove(x.items, x.limit);
        json_t *last = json_array_get(x.items, x.limit - 1);
        json_t *key =
            json_pack("[O, O]", json_object_get(last, "created_at"), json_object_get(last, "id"));
        next = trm_http_cursor_encode(trm_app_keys(app), key);
        json_decref(key);
    }
    trm_http_list(res, x.items, next);
}

TRM_HANDLER(trm_handle_token_revoke)
{
    char id[TRM_UUID_STR_LEN + 1];
    if (!trm_http_uuid_param(req, res, 0, id))
        return;
    enum trm_db_status st = trm_token_revoke(app->db, req->principal, id, req->request_id);
    if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
        return;
    }
    res->status = 204;
}
