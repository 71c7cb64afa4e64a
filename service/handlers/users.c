/* /v1/users and their API tokens (admins only: the route table says so). Every change is
 * recorded in the admin log in the transaction that makes it (admin_log_store.h). */
#include "handlers.h"

#include "trm/admin_log_store.h"
#include "trm/auth.h"
#include "trm/directory_store.h"
#include "trm/http_util.h"
#include "trm/idempotency_store.h"

#include <sodium.h>
#include <string.h>

/* How long a token may be made to last. */
#define TOKEN_MAX_DAYS 3650

static json_t *user_json(const struct trm_user *u)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b}", "id", u->id, "agency_id", u->agency_id,
                     "role", u->role, "display_name", u->display_name, "cross_border",
                     u->cross_border, "disabled", u->disabled, "demo", u->demo);
}

/* The directory is the same for every admin: its reads need no row-level security context. */
struct user_list {
    const char *agency_id;
    struct trm_page page;
    unsigned n;
    struct trm_user rows[TRM_PAGE_MAX + 1];
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct user_list *x = arg;
    return trm_directory_user_list(c, x->agency_id, trm_page_text(&x->page, 0), x->rows,
                                   trm_page_fetch(&x->page), &x->n);
}

TRM_HANDLER(trm_handle_users_list)
{
    static const struct trm_tx tx = {.fn = list_tx, .without_context = true};
    static const char *const keys[] = {"id", NULL};
    struct user_list *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL)
        return;
    const struct trm_param params[] = {TRM_Q_UUID("agency_id", &x->agency_id), TRM_Q_END};
    if (!trm_http_query(req, res, params) || !trm_handler_page(app, req, res, "u", &x->page) ||
        !trm_handler_tx(app, req, res, &tx, x))
        return;
    json_t *items = json_array();
    for (unsigned i = 0; i < x->n; i++)
        json_array_append_new(items, user_json(&x->rows[i]));
    trm_handler_page_answer(app, res, &x->page, items, keys);
}

struct user_one {
    char id[TRM_UUID_STR_LEN + 1];
    struct trm_user u;
};

static enum trm_db_status get_tx(struct trm_db_conn *c, void *arg)
{
    struct user_one *x = arg;
    return trm_directory_user_get(c, x->id, &x->u);
}

TRM_HANDLER(trm_handle_user_get)
{
    static const struct trm_tx tx = {.fn = get_tx, .without_context = true};
    struct user_one *x = trm_handler_state(req, sizeof *x, NULL);
    if (x && trm_http_uuid_param(req, res, 0, x->id) && trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, user_json(&x->u));
}

struct user_create {
    const char *agency_id, *role, *name, *user_id, *request_id;
    bool cross_border;
    struct trm_idem idem;
    enum trm_idem_state state;
    struct trm_user u;
};

/* The user and its admin-log entry (COMMIT travels with the entry). */
static enum trm_db_status create_user(struct trm_db_conn *c, void *arg)
{
    struct user_create *x = arg;
    enum trm_db_status st = trm_directory_user_insert(c, &x->u);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_admin_log_add(c, TRM_ADMIN_USER_CREATE, x->u.id,
                             x->u.cross_border ? "agency_id,role,display_name,cross_border"
                                               : "agency_id,role,display_name",
                             x->request_id);
}

static enum trm_db_status load_user(struct trm_db_conn *c, void *arg, const char *id)
{
    struct user_create *x = arg;
    return trm_directory_user_get(c, id, &x->u);
}

static enum trm_db_status create_tx(struct trm_db_conn *c, void *arg)
{
    struct user_create *x = arg;
    enum trm_db_status st = trm_idem_create(c, x->user_id, &x->idem, x->u.id, false, create_user,
                                            load_user, x, &x->state);
    return x->state == TRM_IDEM_MISMATCH ? trm_refuse(x, TRM_WHY_IDEM_MISMATCH, NULL) : st;
}

/* Only auditors are cross-border (the database says which agencies may have them). */
static const char *cross_border_ok(const void *arg, const char **field)
{
    const struct user_create *x = arg;
    *field = "cross_border";
    return x->cross_border && strcmp(x->role, "auditor") != 0 ? "only auditors may be cross-border"
                                                              : NULL;
}

static const struct trm_outcome create_outcomes[] = {
    TRM_WHEN_FIELD(TRM_DB_NOT_FOUND, "/agency_id", "is not a known agency"),
    TRM_WHEN_FIELD(TRM_DB_INVALID, "/cross_border",
                   "only auditors of an international organisation or national coordinator may "
                   "be cross-border"),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_user_create)
{
    static const struct trm_tx tx = {.fn = create_tx, .outcomes = create_outcomes};
    struct user_create *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL)
        return;
    const struct trm_field spec[] = {
        TRM_F_UUID("agency_id", &x->agency_id, TRM_REQUIRED),
        TRM_F_ENUM("role", &x->role, trm_user_roles, TRM_REQUIRED),
        TRM_F_STRING("display_name", &x->name, TRM_NAME_MAX, TRM_REQUIRED),
        TRM_F_BOOL("cross_border", &x->cross_border),
        TRM_F_CHECK(cross_border_ok, x),
        TRM_F_END,
    };
    if (!trm_http_idempotency(req, res, &x->idem) || !trm_handler_body(req, res, spec, NULL))
        return;
    x->user_id = req->principal->user_id;
    x->request_id = req->request_id;
    trm_uuid_v4(x->u.id);
    trm_uuid_parse(x->agency_id, x->u.agency_id);
    trm_strlcpy(x->u.role, x->role, sizeof x->u.role);
    trm_strlcpy(x->u.display_name, x->name, sizeof x->u.display_name);
    x->u.cross_border = x->cross_border;
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_http_created_at(res, user_json(&x->u), "/v1/users/%s", x->u.id);
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

TRM_HANDLER(trm_handle_user_patch)
{
    static const struct trm_tx tx = {.fn = patch_tx};
    struct user_patch *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL)
        return;
    const struct trm_field spec[] = {TRM_F_BOOL("disabled", &x->disabled, TRM_REQUIRED), TRM_F_END};
    x->request_id = req->request_id;
    if (trm_http_uuid_param(req, res, 0, x->id) && trm_handler_body(req, res, spec, NULL) &&
        trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, user_json(&x->u));
}

/* Issuing is one function for trmd and trmctl (trm_token_issue: its own transaction, with
 * the admin-log entry); the token is wiped with the state. */
struct token_issue {
    char user_id[TRM_UUID_STR_LEN + 1];
    long days;
    struct trm_token_issued t;
};

static void token_wipe(void *state)
{
    struct token_issue *x = state;
    sodium_memzero(&x->t, sizeof x->t);
}

TRM_HANDLER(trm_handle_token_issue)
{
    struct token_issue *x = trm_handler_state(req, sizeof *x, token_wipe);
    if (x == NULL)
        return;
    x->days = app->config->token_default_days;
    const struct trm_field spec[] = {TRM_F_INT("expires_days", &x->days, 1, TOKEN_MAX_DAYS),
                                     TRM_F_END};
    if (!trm_http_uuid_param(req, res, 0, x->user_id) ||
        !trm_handler_body_optional(req, res, spec, NULL))
        return;
    if (trm_request_header(req, "Idempotency-Key") != NULL) {
        /* A token is shown once and never stored, so a retry cannot be answered with it. */
        trm_response_problem(res, req, TRM_E_BAD_REQUEST,
                             "Tokens are shown only once: issue without Idempotency-Key and "
                             "revoke any token whose answer was lost.");
        return;
    }
    enum trm_db_status st = trm_token_issue(app->db, trm_app_keys(app), req->principal, x->user_id,
                                            x->days, req->request_id, &x->t);
    if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
        return;
    }
    json_t *token = json_pack("{s:s, s:s, s:s, s:o}", "id", x->t.id, "user_id", x->user_id, "token",
                              x->t.token.text, "expires_at",
                              x->t.expires_at[0] ? json_string(x->t.expires_at) : json_null());
    trm_http_created_at(res, token, "/v1/tokens/%s", x->t.id);
}

struct token_list {
    json_t *out; /* first: trm_handler_free_out */
    char user_id[TRM_UUID_STR_LEN + 1];
    struct trm_page page;
};

static enum trm_db_status token_list_tx(struct trm_db_conn *c, void *arg)
{
    struct token_list *x = arg;
    json_decref(x->out);
    x->out = NULL;
    return trm_directory_token_list(c, x->user_id, trm_page_text(&x->page, 0),
                                    trm_page_text(&x->page, 1), trm_page_fetch(&x->page), &x->out);
}

/* A user's tokens for the admin screen: ids, kinds and times, never a secret. */
TRM_HANDLER(trm_handle_tokens_list)
{
    static const struct trm_tx tx = {.fn = token_list_tx, .without_context = true};
    static const char *const keys[] = {"created_at", "id", NULL};
    struct token_list *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL || !trm_http_uuid_param(req, res, 0, x->user_id) ||
        !trm_handler_page(app, req, res, "su", &x->page) || !trm_handler_tx(app, req, res, &tx, x))
        return;
    json_t *items = x->out;
    x->out = NULL;
    trm_handler_page_answer(app, res, &x->page, items, keys);
}

TRM_HANDLER(trm_handle_token_revoke)
{
    char id[TRM_UUID_STR_LEN + 1];
    if (!trm_http_uuid_param(req, res, 0, id))
        return;
    enum trm_db_status st = trm_token_revoke(app->db, req->principal, id, req->request_id);
    if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else
        res->status = 204;
}
