/* /v1/sessions: the web console's sign-in (a token or a one-time sign-in code exchanged for a
 * session in an HttpOnly cookie), the current session (for a reload of the page: who, and the
 * CSRF proof, which the console keeps in memory only) and sign-out. A session is a token, so
 * every request made with it is authenticated and authorized exactly as with a bearer token;
 * changes also need the CSRF proof (service/http/core.c). */
#include "handlers.h"

#include "trm/auth.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/session_store.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* Who, as GET /v1/me says it, with the session's CSRF proof and end. */
static json_t *session_json(const struct trm_principal *p, const char *csrf, const char *expires_at,
                            long idle_s)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s?, s:I}", "user_id", p->user_id,
                     "display_name", p->display_name, "role", trm_role_name(p->role), "agency_id",
                     p->agency_id, "agency_name", p->agency_name, "country", p->country,
                     "cross_border", p->cross_border, "csrf_token", csrf, "expires_at", expires_at,
                     "idle_timeout_s", (json_int_t)idle_s);
}

static void set_cookie(struct trm_app *app, const struct trm_request *req, struct trm_response *res,
                       const char *token)
{
    const char *mode = app->config->session_cookie_secure;
    bool secure =
        strcmp(mode, "on") == 0 || (strcmp(mode, "auto") == 0 && trm_app_request_tls(app, req));
    char cookie[256];
    snprintf(cookie, sizeof cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%ld%s",
             TRM_SESSION_COOKIE, token, app->config->session_max_s, secure ? "; Secure" : "");
    trm_response_set_header(res, "Set-Cookie", cookie);
    sodium_memzero(cookie, sizeof cookie);
}

TRM_HANDLER(trm_handle_session_create)
{
    const char *token = NULL;
    const struct trm_field spec[] = {
        TRM_F_STRING("token", &token, 100, .required = true),
        {0},
    };
    if (!trm_handler_body(req, res, spec, NULL))
        return;
    struct trm_authn_limits limits = {(unsigned)app->config->auth_failure_limit,
                                      (unsigned)app->config->auth_failure_window_s};
    char client[64];
    trm_app_client_address(app, req, client, sizeof client);
    struct trm_session s;
    unsigned retry = 0;
    enum trm_authn_result r = trm_session_open(app->db, trm_app_keys(app), &limits, token, client,
                                               (unsigned)app->config->session_idle_s,
                                               (unsigned)app->config->session_max_s, &s, &retry);
    if (r == TRM_AUTHN_OK) {
        trm_http_created(
            res, "/v1/sessions/current",
            session_json(&s.principal, s.csrf, s.expires_at, app->config->session_idle_s));
        set_cookie(app, req, res, s.token.text);
    } else if (r == TRM_AUTHN_RATE_LIMITED) {
        char after[16];
        snprintf(after, sizeof after, "%u", retry);
        trm_response_problem(res, req, TRM_E_RATE_LIMITED,
                             "Too many failed sign-ins from this address.");
        trm_response_set_header(res, "Retry-After", after);
    } else if (r == TRM_AUTHN_INVALID) {
        trm_response_problem(res, req, TRM_E_UNAUTHENTICATED,
                             "The token or sign-in code is not valid, has expired, was revoked or "
                             "was used already.");
    } else {
        trm_response_problem(res, req, TRM_E_SERVICE_UNAVAILABLE,
                             "The database is not reachable; try again.");
        trm_response_set_header(res, "Retry-After", "2");
    }
    sodium_memzero(&s, sizeof s);
}

TRM_HANDLER(trm_handle_session_get)
{
    if (req->session_token == NULL) {
        trm_response_problem(res, req, TRM_E_NOT_FOUND,
                             "This request was not made with a console session.");
        return;
    }
    char csrf[TRM_CSRF_LEN + 1];
    trm_session_csrf(trm_app_keys(app), req->session_token, csrf);
    trm_response_json(res, 200,
                      session_json(req->principal, csrf, NULL, app->config->session_idle_s));
}

static enum trm_db_status close_tx(struct trm_db_conn *c, void *arg)
{
    const char *const *token_id = arg;
    enum trm_db_status st = trm_session_store_close(c, *token_id);
    return st == TRM_DB_NOT_FOUND ? TRM_DB_OK : st; /* closed already: signed out all the same */
}

TRM_HANDLER(trm_handle_session_delete)
{
    static const struct trm_tx tx = {.fn = close_tx};
    if (req->session_token == NULL) {
        trm_response_problem(res, req, TRM_E_NOT_FOUND,
                             "This request was not made with a console session.");
        return;
    }
    const char **token_id = trm_handler_state(req, sizeof *token_id, NULL);
    if (token_id == NULL)
        return;
    *token_id = req->principal->token_id;
    if (!trm_handler_tx(app, req, res, &tx, token_id))
        return;
    res->status = 204;
    trm_response_set_header(res, "Set-Cookie", TRM_SESSION_COOKIE_CLEAR);
}
