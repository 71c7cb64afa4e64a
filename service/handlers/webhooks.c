/* /v1/agencies/{id}/webhook: an agency's webhook, managed by admins (docs/casework.md). The
 * secret is sealed before it reaches the database and never shown again; the answer says
 * how delivery goes (counts and the last error code). Every change is in the admin log as an
 * update of the agency, naming the fields set, never their values. */
#include "handlers.h"

#include "trm/admin_log_store.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/webhook.h"
#include "trm/webhook_store.h"

#include <stdlib.h>
#include <string.h>

enum { WHY_NO_AGENCY = TRM_WHY_OWN, WHY_SECRET_NEEDED };

struct webhook_put {
    json_t *out; /* first: trm_handler_free_out */
    char agency_id[TRM_UUID_STR_LEN + 1];
    const char *url, *secret, *request_id;
    bool active, active_given;
    char *sealed;
    char fields[64];
};

static void webhook_put_free(void *state)
{
    struct webhook_put *x = state;
    json_decref(x->out);
    free(x->sealed);
}

static enum trm_db_status put_tx(struct trm_db_conn *c, void *arg)
{
    struct webhook_put *x = arg;
    json_decref(x->out);
    x->out = NULL;
    enum trm_webhook_put outcome;
    enum trm_db_status st =
        trm_webhook_put(c, x->agency_id, x->url, x->sealed, x->active, &outcome);
    if (st == TRM_DB_OK && outcome == TRM_WEBHOOK_NO_AGENCY)
        return trm_refuse(x, WHY_NO_AGENCY, NULL);
    if (st == TRM_DB_OK && outcome == TRM_WEBHOOK_SECRET_NEEDED)
        return trm_refuse(x, WHY_SECRET_NEEDED, NULL);
    if (st == TRM_DB_OK)
        st = trm_admin_log_add(c, TRM_ADMIN_AGENCY_UPDATE, x->agency_id, x->fields, x->request_id);
    if (st == TRM_DB_OK) {
        trm_db_commit_with_next(c);
        st = trm_webhook_status(c, x->agency_id, &x->out);
    }
    return st;
}

static const struct trm_outcome put_outcomes[] = {
    TRM_WHEN_REFUSED(WHY_NO_AGENCY, TRM_E_NOT_FOUND, "No agency of this instance has that id."),
    TRM_WHEN_REFUSED_FIELD(WHY_SECRET_NEEDED, "/secret", "is required to register a webhook"),
    TRM_WHEN_END,
};

static const char *webhook_ok(const void *arg, const char **field)
{
    const struct webhook_put *x = arg;
    if (!trm_webhook_url_ok(x->url))
        return *field = "url",
               "must be an https:// URL (or http:// to this machine), without credentials";
    if (x->secret && !trm_webhook_secret_ok(x->secret))
        return *field = "secret", "must be 16 to 128 printable ASCII characters without spaces";
    return NULL;
}

TRM_HANDLER(trm_handle_webhook_put)
{
    static const struct trm_tx tx = {.fn = put_tx, .outcomes = put_outcomes};
    struct webhook_put *x = trm_handler_state(req, sizeof *x, webhook_put_free);
    if (x == NULL)
        return;
    x->active = true;
    const struct trm_field spec[] = {
        TRM_F_STRING("url", &x->url, TRM_WEBHOOK_URL_MAX, TRM_REQUIRED),
        TRM_F_STRING("secret", &x->secret, TRM_WEBHOOK_SECRET_MAX),
        TRM_F_BOOL("active", &x->active, .present = &x->active_given),
        TRM_F_CHECK(webhook_ok, x),
        TRM_F_END,
    };
    if (!trm_http_uuid_param(req, res, 0, x->agency_id) || !trm_handler_body(req, res, spec, NULL))
        return;
    if (x->secret) {
        x->sealed = trm_webhook_secret_seal(trm_app_keys(app), x->agency_id, x->secret);
        if (x->sealed == NULL) {
            trm_response_problem(res, req, TRM_E_INTERNAL, "The secret could not be sealed.");
            return;
        }
    }
    snprintf(x->fields, sizeof x->fields, "webhook_url%s%s", x->secret ? ",webhook_secret" : "",
             x->active_given ? ",webhook_active" : "");
    x->request_id = req->request_id;
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, json_incref(x->out));
}

struct webhook_one {
    json_t *out; /* first: trm_handler_free_out */
    char agency_id[TRM_UUID_STR_LEN + 1];
    const char *request_id;
};

static enum trm_db_status get_tx(struct trm_db_conn *c, void *arg)
{
    struct webhook_one *x = arg;
    json_decref(x->out);
    x->out = NULL;
    trm_db_commit_with_next(c);
    return trm_webhook_status(c, x->agency_id, &x->out);
}

static const struct trm_outcome one_outcomes[] = {
    TRM_WHEN(TRM_DB_NOT_FOUND, TRM_E_NOT_FOUND, "This agency has no webhook."),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_webhook_get)
{
    static const struct trm_tx tx = {.fn = get_tx, .outcomes = one_outcomes};
    struct webhook_one *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x && trm_http_uuid_param(req, res, 0, x->agency_id) &&
        trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, json_incref(x->out));
}

static enum trm_db_status delete_tx(struct trm_db_conn *c, void *arg)
{
    struct webhook_one *x = arg;
    enum trm_db_status st = trm_webhook_delete(c, x->agency_id);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_admin_log_add(c, TRM_ADMIN_AGENCY_UPDATE, x->agency_id, "webhook", x->request_id);
}

TRM_HANDLER(trm_handle_webhook_delete)
{
    static const struct trm_tx tx = {.fn = delete_tx, .outcomes = one_outcomes};
    struct webhook_one *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL || !trm_http_uuid_param(req, res, 0, x->agency_id))
        return;
    x->request_id = req->request_id;
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_response_text(res, 204, NULL, NULL, 0);
}
