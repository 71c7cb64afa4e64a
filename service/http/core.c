/* The request core: from a request struct to a response struct. Checks that apply to every
 * request live here once: request id, request hygiene (header counts, conflicting framing
 * headers, path length, body size and type), the console's files, routing, authentication
 * (a bearer token, or a console session's cookie with its CSRF proof for changes), security
 * headers. */
#include "trm/app.h"
#include "trm/db.h"
#include "trm/keyring.h"
#include "trm/log.h"
#include "trm/request_id.h"
#include "trm/util.h"
#include "trm/web.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_PATH_LEN 1024

static atomic_ulong requests_handled;

unsigned long trm_app_requests_handled(void)
{
    return atomic_load(&requests_handled);
}

static void set_request_id(struct trm_request *req)
{
    trm_request_id_pick(trm_request_header(req, "X-Request-Id"), req->request_id,
                        TRM_REQUEST_ID_MAX);
}

static bool media_type_is(const char *value, const char *type)
{
    size_t n = strlen(type);
    if (strncasecmp(value, type, n) != 0)
        return false;
    const char *rest = value + n;
    while (*rest == ' ')
        rest++;
    return *rest == '\0' || *rest == ';';
}

/* Checks that do not depend on the route; false with the problem already in res. */
static bool request_is_sane(struct trm_app *app, struct trm_request *req, struct trm_response *res)
{
    const struct trm_config *cfg = app->config;
    if (req->n_headers > (size_t)cfg->max_headers) {
        trm_response_problem(res, req, TRM_E_HEADERS_TOO_LARGE, "Too many request headers.");
        return false;
    }
    /* libmicrohttpd 0.9.75 accepts these ambiguous framings; a proxy in front of us might
     * read them differently (request smuggling), so they are refused outright. */
    size_t n_cl = trm_request_header_count(req, "Content-Length");
    if (n_cl > 1 || (n_cl == 1 && trm_request_header(req, "Transfer-Encoding") != NULL)) {
        trm_response_problem(res, req, TRM_E_BAD_REQUEST,
                             "Conflicting Content-Length or Transfer-Encoding headers.");
        return false;
    }
    if (req->path == NULL || req->path[0] != '/') {
        trm_response_problem(res, req, TRM_E_BAD_REQUEST, "The request target is not a path.");
        return false;
    }
    if (strlen(req->path) > MAX_PATH_LEN) {
        trm_response_problem(res, req, TRM_E_URI_TOO_LONG, "The request path is too long.");
        return false;
    }
    if (req->body_len > (size_t)cfg->max_body_bytes) {
        trm_response_problem(res, req, TRM_E_PAYLOAD_TOO_LARGE,
                             "The request body is larger than this service accepts.");
        return false;
    }
    if (req->body_len > 0 && memchr(req->body, '\0', req->body_len) != NULL) {
        trm_response_problem(res, req, TRM_E_BAD_REQUEST, "The request body contains NUL bytes.");
        return false;
    }
    return true;
}

static bool body_type_ok(struct trm_request *req, struct trm_response *res)
{
    if (req->body_len == 0)
        return true;
    const char *ct = trm_request_header(req, "Content-Type");
    bool ok =
        ct != NULL &&
        (media_type_is(ct, "application/json") ||
         (strcmp(req->method, "PATCH") == 0 && media_type_is(ct, "application/merge-patch+json")));
    if (!ok)
        trm_response_problem(res, req, TRM_E_UNSUPPORTED_MEDIA_TYPE,
                             "Send the body as application/json.");
    return ok;
}

static void unavailable(const struct trm_request *req, struct trm_response *res)
{
    trm_response_problem(res, req, TRM_E_SERVICE_UNAVAILABLE, "The database is not reachable.");
    trm_response_set_header(res, "Retry-After", "2");
}

void trm_app_client_address(const struct trm_app *app, const struct trm_request *req, char *out,
                            size_t len)
{
    const char *peer = req->client_addr ? req->client_addr : "";
    trm_strlcpy(out, peer, len);
    const char *xff = trm_request_header(req, "X-Forwarded-For");
    if (app->config->trusted_proxy[0] == '\0' || xff == NULL ||
        strcmp(peer, app->config->trusted_proxy) != 0)
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ')
        last++;
    char candidate[64];
    unsigned char buf[16];
    trm_strlcpy(candidate, last, sizeof candidate);
    candidate[strcspn(candidate, " ")] = '\0';
    if (inet_pton(AF_INET, candidate, buf) == 1 || inet_pton(AF_INET6, candidate, buf) == 1)
        trm_strlcpy(out, candidate, len);
}

bool trm_app_request_tls(const struct trm_app *app, const struct trm_request *req)
{
    const char *proto = trm_request_header(req, "X-Forwarded-Proto");
    return app->config->trusted_proxy[0] != '\0' && req->client_addr &&
           strcmp(req->client_addr, app->config->trusted_proxy) == 0 && proto &&
           strcasecmp(proto, "https") == 0;
}

/* The session token in the Cookie header (trm_session=...), into out; false when none. */
static bool session_cookie(const struct trm_request *req, char out[TRM_TOKEN_LEN + 1])
{
    static const char name[] = "trm_session=";
    const char *cookie = trm_request_header(req, "Cookie");
    for (const char *p = cookie; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t len = strcspn(p, ";");
        if (len == sizeof name - 1 + TRM_TOKEN_LEN && strncmp(p, name, sizeof name - 1) == 0) {
            memcpy(out, p + sizeof name - 1, TRM_TOKEN_LEN);
            out[TRM_TOKEN_LEN] = '\0';
            return true;
        }
        p += len;
    }
    return false;
}

static bool safe_method(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
           strcmp(method, "OPTIONS") == 0;
}

static bool authenticate(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                         const struct trm_authn_limits *limits, const char *client,
                         struct trm_principal *principal, char *cookie_token)
{
    unsigned retry = 0;
    char bearer[TRM_TOKEN_LEN + 8];
    const char *authorization = trm_request_header(req, "Authorization");
    bool by_cookie = authorization == NULL && session_cookie(req, cookie_token);
    if (by_cookie) {
        snprintf(bearer, sizeof bearer, "Bearer %s", cookie_token);
        authorization = bearer;
    }
    enum trm_authn_result r = trm_authn_verify(app->db, trm_app_keys(app), limits, app->authn_cache,
                                               authorization, client, principal, &retry);
    sodium_memzero(bearer, sizeof bearer);
    /* A cookie carries a console session and nothing else. */
    if (r == TRM_AUTHN_OK && by_cookie && !principal->session)
        r = TRM_AUTHN_INVALID;
    switch (r) {
    case TRM_AUTHN_OK:
        req->principal = principal;
        req->session_token = by_cookie ? cookie_token : NULL;
        if (by_cookie && !safe_method(req->method) &&
            !trm_session_csrf_ok(trm_app_keys(app), cookie_token,
                                 trm_request_header(req, "X-CSRF-Token"))) {
            trm_response_problem(res, req, TRM_E_CSRF_FAILED,
                                 "A change through a console session needs its proof in "
                                 "X-CSRF-Token.");
            return false;
        }
        return true;
    case TRM_AUTHN_MISSING:
        trm_response_problem(res, req, TRM_E_UNAUTHENTICATED,
                             "Send an API token: Authorization: Bearer trm_...");
        trm_response_set_header(res, "WWW-Authenticate", "Bearer realm=\"trm\"");
        return false;
    case TRM_AUTHN_INVALID:
        trm_response_problem(res, req, TRM_E_UNAUTHENTICATED,
                             by_cookie ? "The session has ended: sign in again."
                                       : "The token is not valid, has expired or was revoked.");
        trm_response_set_header(res, "WWW-Authenticate",
                                "Bearer realm=\"trm\", error=\"invalid_token\"");
        if (by_cookie) /* the browser forgets the dead session */
            trm_response_set_header(res, "Set-Cookie", TRM_SESSION_COOKIE_CLEAR);
        return false;
    case TRM_AUTHN_RATE_LIMITED: {
        char after[16];
        snprintf(after, sizeof after, "%u", retry);
        trm_response_problem(res, req, TRM_E_RATE_LIMITED,
                             "Too many failed authentications from this address.");
        trm_response_set_header(res, "Retry-After", after);
        return false;
    }
    case TRM_AUTHN_UNAVAILABLE:
        break;
    }
    unavailable(req, res);
    return false;
}

/* Runs the route's handler, then frees what it left with the request (its state, kept
 * values): the one place they are freed, on every path. */
static void run_handler(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                        const struct trm_route *route)
{
    route->handler(app, req, res);
    trm_request_release(req);
}

static void serve(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                  const struct trm_route *route)
{
    if (!trm_authz_allows(req->principal->role, route->action)) {
        trm_response_problem(res, req, TRM_E_FORBIDDEN, "Your role does not allow this action.");
        return;
    }
    run_handler(app, req, res, route);
}

/* An authenticated route. A principal remembered from an earlier request is re-checked by
 * the database with the request's first statements (or on its own afterwards, when the
 * request sent none): the answer goes out only if the check passed. When it failed (the
 * token was revoked, the user's role changed, ...), none of the request's statements ran,
 * so the request is served again from a fresh lookup, which answers as it always did. */
static void serve_authenticated(struct trm_app *app, struct trm_request *req,
                                struct trm_response *res, const struct trm_route *route)
{
    struct trm_authn_limits limits = {(unsigned)app->config->auth_failure_limit,
                                      (unsigned)app->config->auth_failure_window_s};
    char client[64], cookie_token[TRM_TOKEN_LEN + 1] = "";
    trm_app_client_address(app, req, client, sizeof client);
    struct trm_principal principal;
    bool answered = false;
    for (int attempt = 0; attempt < 3 && !answered; attempt++) {
        if (!authenticate(app, req, res, &limits, client, &principal, cookie_token)) {
            answered = true;
        } else if (!principal.remembered) {
            serve(app, req, res, route);
            answered = true;
        } else {
            struct trm_authn_recheck recheck;
            trm_authn_guard(&recheck, &principal, &limits, client);
            serve(app, req, res, route);
            (void)trm_db_guard_check(app->db);
            enum trm_db_guard_state guard = trm_db_guard_state();
            trm_db_guard_clear();
            if (guard == TRM_DB_GUARD_PASSED) {
                answered = true;
            } else {
                trm_response_free(res);
                trm_response_init(res);
                if (guard != TRM_DB_GUARD_REFUSED)
                    break; /* the database did not answer the check */
                trm_authn_forget(app->authn_cache, &principal);
            }
        }
        req->principal = NULL; /* it lives in this frame */
        req->session_token = NULL;
    }
    req->principal = NULL;
    req->session_token = NULL;
    sodium_memzero(cookie_token, sizeof cookie_token);
    if (!answered)
        unavailable(req, res);
}

static void dispatch(struct trm_app *app, struct trm_request *req, struct trm_response *res)
{
    char param_store[TRM_MAX_PATH_PARAMS][72];
    char allow[96];
    const struct trm_route *route = NULL;
    switch (trm_route_find(trm_routes, trm_routes_count, req, param_store, &route, allow,
                           sizeof allow)) {
    case TRM_ROUTE_NO_PATH:
        trm_response_problem(res, req, TRM_E_NOT_FOUND, "No such resource.");
        return;
    case TRM_ROUTE_NO_METHOD:
        trm_response_problem(res, req, TRM_E_METHOD_NOT_ALLOWED,
                             "This resource does not support that method.");
        trm_response_set_header(res, "Allow", allow);
        return;
    case TRM_ROUTE_FOUND:
        break;
    }
    if (!body_type_ok(req, res))
        return;
    if (route->flags & TRM_ROUTE_PUBLIC)
        run_handler(app, req, res, route);
    else
        serve_authenticated(app, req, res, route);
}

const struct trm_keyring *trm_app_keys(struct trm_app *app)
{
    return trm_keyring_source_get(app->keys);
}

void trm_app_handle(struct trm_app *app, struct trm_request *req, struct trm_response *res)
{
    atomic_fetch_add(&requests_handled, 1);
    set_request_id(req);
    if (request_is_sane(app, req, res) && !trm_web_serve(app->web, req, res))
        dispatch(app, req, res);
    if (res->status == 0)
        trm_response_problem(res, req, TRM_E_INTERNAL, "The request could not be answered.");
    trm_response_set_header(res, "X-Request-Id", req->request_id);
    /* API answers may carry personal data: never cached anywhere. (The console's files say
     * how they may be cached themselves.) */
    if (trm_response_header(res, "Cache-Control") == NULL)
        trm_response_set_header(res, "Cache-Control", "no-store");
    trm_response_set_header(res, "X-Content-Type-Options", "nosniff");
    trm_response_set_header(res, "Content-Security-Policy", TRM_CSP);
    trm_response_set_header(res, "Referrer-Policy", "no-referrer");
    trm_response_set_header(res, "X-Frame-Options", "DENY");
}
