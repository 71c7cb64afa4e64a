/* The pure HTTP core: a request is a plain struct (method, path, headers, query, body,
 * client address), a response is a plain struct (status, headers, body). The libmicrohttpd
 * adapter in service/http/server.c only converts to and from these, so unit tests and
 * fuzzers drive the whole service without a socket. */
#ifndef TRM_HTTP_H
#define TRM_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "trm/errors.h"

struct trm_app;
struct trm_principal;

struct trm_header {
    const char *name;
    const char *value;
};

#define TRM_MAX_PATH_PARAMS 4

/* Every answer's Content-Security-Policy: only this origin's own files, no inline script or
 * style, no eval, no framing (the console in web/ is built for it). */
#define TRM_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "                    \
    "form-action 'self'; frame-ancestors 'none'"
/* The console session's cookie, and the header that makes a browser forget it. */
#define TRM_SESSION_COOKIE "trm_session"
#define TRM_SESSION_COOKIE_CLEAR                                                                   \
    TRM_SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
#define TRM_REQUEST_ID_MAX 64

struct trm_request {
    const char *method;
    const char *path; /* decoded path without the query string */
    const struct trm_header *headers;
    size_t n_headers;
    const struct trm_header *query;
    size_t n_query;
    const char *body; /* NUL-terminated copy; body_len excludes the NUL */
    size_t body_len;
    const char *client_addr;
    /* Filled by the core: */
    char request_id[TRM_REQUEST_ID_MAX + 1];
    const char *route; /* matched route pattern, for logs */
    const char *params[TRM_MAX_PATH_PARAMS];
    size_t n_params;
    const struct trm_principal *principal;
    /* Owned by the core for the handler, released once it has answered (handler.h): its
     * state (trm_handler_state) and the JSON values it keeps (the body, a cursor). */
    void *state;
    json_t *kept;
    /* A console session's token (the cookie's value) when the request was authenticated by
     * it: the session handlers need it, nothing else does. */
    const char *session_token;
};

#define TRM_MAX_RESPONSE_HEADERS 16

struct trm_response {
    unsigned status;
    const char *content_type;
    char *body; /* malloc'd, owned by the response */
    size_t body_len;
    struct {
        char name[40];
        char value[256];
    } headers[TRM_MAX_RESPONSE_HEADERS];
    size_t n_headers;
};

/* Case-insensitive lookup of the first header with this name (NULL when absent). */
const char *trm_request_header(const struct trm_request *req, const char *name);
/* Number of headers with this name. */
size_t trm_request_header_count(const struct trm_request *req, const char *name);
/* Query parameter lookup (NULL when absent). */
const char *trm_request_query(const struct trm_request *req, const char *name);

void trm_response_init(struct trm_response *res);
void trm_response_free(struct trm_response *res);
void trm_response_set_header(struct trm_response *res, const char *name, const char *value);
/* The value of a response header set so far, or NULL. */
const char *trm_response_header(const struct trm_response *res, const char *name);
/* A JSON body (consumed). */
void trm_response_json(struct trm_response *res, unsigned status, json_t *body);
/* A body of another type (malloc'd text of len bytes, consumed; NULL: empty). */
void trm_response_text(struct trm_response *res, unsigned status, const char *content_type,
                       char *body, size_t len);
/* An RFC 9457 problem; detail never contains a submitted value. */
void trm_response_problem(struct trm_response *res, const struct trm_request *req, enum trm_error e,
                          const char *detail);
/* A problem with an `errors` array (400) or other extension members (consumed). */
void trm_response_problem_ext(struct trm_response *res, const struct trm_request *req,
                              enum trm_error e, const char *detail, const char *member,
                              json_t *value);

/* Releases what the handler left with the request (its state, kept values); the core calls
 * it after every run of a handler. */
void trm_request_release(struct trm_request *req);

/* Handles one request: request id, request hygiene, routing, authentication, handler.
 * Always leaves a complete response in res. */
void trm_app_handle(struct trm_app *app, struct trm_request *req, struct trm_response *res);
/* The client address for rate limiting: the peer, or the last X-Forwarded-For hop when the
 * peer is the configured reverse proxy. */
void trm_app_client_address(const struct trm_app *app, const struct trm_request *req, char *out,
                            size_t len);
/* Whether the request reached trmd over TLS (the trusted proxy says so in
 * X-Forwarded-Proto), for the session cookie's Secure attribute. */
bool trm_app_request_tls(const struct trm_app *app, const struct trm_request *req);
/* Requests handled by this process (for benchmarks: round trips per request). */
unsigned long trm_app_requests_handled(void);

#endif
