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
struct trm_response;

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
    /* A body streamed to its handler (a route flagged TRM_ROUTE_STREAMED: a document's
     * content). The adapter sets body_follows when it calls the core with the headers only;
     * the handler hands over a sink (trm_request_stream_body) instead of answering; the core
     * answers nothing then, and leaves in stream what the adapter feeds the body to
     * (trm_stream_write) and gets the answer from (trm_stream_end). Without body_follows the
     * core feeds the body it was given and answers at once (unit tests, fuzzers). */
    bool body_follows;
    struct trm_stream *stream; /* made by the handler's sink; the adapter's once answered */
};

/* Where a streamed body goes: the handler's state and what is done with it. The core calls
 * write with each piece as it arrives, end once the body is complete, and release last in
 * every case (after end, or when the client went away before it), exactly once. */
struct trm_body_sink {
    /* Takes a piece of the body; false to hang up (a client sending far more than will ever
     * be taken). A piece it refuses to keep (too much, the wrong type) it drops, and end
     * answers why. */
    bool (*write)(void *state, const char *data, size_t len);
    /* The body is complete: the answer, into res. */
    void (*end)(void *state, struct trm_response *res);
    /* Frees the state, undoing what was started and not ended (a staged upload). */
    void (*release)(void *state);
    void *state;
};
/* In a handler of a streamed route: the body goes to sink (copied; from here the core owns
 * the state and calls release whatever happens). The handler leaves res alone. */
void trm_request_stream_body(struct trm_request *req, const struct trm_body_sink *sink);

/* A streamed request between its headers and its end (server.c holds it). */
struct trm_stream;
/* A piece of the body; false: hang up. */
bool trm_stream_write(struct trm_stream *s, const char *data, size_t len);
/* The body ended: the handler's answer, given only when the caller's token still holds (the
 * upload may have taken minutes), with the headers every answer carries. */
void trm_stream_end(struct trm_app *app, struct trm_stream *s, struct trm_response *res);
/* Releases the stream (and the handler's state: an upload not ended is undone). NULL is
 * fine. */
void trm_stream_free(struct trm_stream *s);
/* The request id and route pattern of a stream, for the adapter's log line. */
const char *trm_stream_request_id(const struct trm_stream *s);
const char *trm_stream_route(const struct trm_stream *s);
/* Whether method and path name a route whose body is streamed to its handler. */
bool trm_app_streams_body(const char *method, const char *path);

/* A response body produced while it is sent (a document's content): size bytes, read from
 * pos into buf (at most max) as the client takes them. read answers the bytes copied, or -1
 * to cut the response off (the client sees it end early); release is called once, last. */
struct trm_body_source {
    unsigned long long size;
    long (*read)(void *state, unsigned long long pos, char *buf, size_t max);
    void (*release)(void *state);
    void *state;
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
    struct trm_body_source source; /* instead of body, when source.read is set */
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
/* A body read while it is sent (the source is released by the response from here). */
void trm_response_source(struct trm_response *res, unsigned status, const char *content_type,
                         const struct trm_body_source *source);
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
