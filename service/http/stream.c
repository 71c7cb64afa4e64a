/* Streamed request bodies (see http.h): a handler of a TRM_ROUTE_STREAMED route hands over a
 * sink instead of answering; the core keeps it with who asked, and the adapter feeds it the
 * body and asks it for the answer. The answer goes out only while the caller's token still
 * holds: the database checks it again with the sink's last statements, exactly as it checks
 * a remembered token (core.c), since the upload may have taken minutes. */
#include "internal.h"
#include "trm/app.h"
#include "trm/auth.h"
#include "trm/db.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct trm_stream {
    struct trm_body_sink sink;
    bool ended, ready;
    struct trm_principal principal;
    char client[64];
    char request_id[TRM_REQUEST_ID_MAX + 1];
    char route[64];
};

void trm_request_stream_body(struct trm_request *req, const struct trm_body_sink *sink)
{
    trm_stream_free(req->stream);
    req->stream = calloc(1, sizeof *req->stream);
    if (req->stream == NULL) {
        sink->release(sink->state);
        return;
    }
    req->stream->sink = *sink;
}

void trm_stream_bind(struct trm_stream *s, const struct trm_request *req, const char *client)
{
    s->principal = *req->principal;
    trm_strlcpy(s->client, client, sizeof s->client);
    trm_strlcpy(s->request_id, req->request_id, sizeof s->request_id);
    trm_strlcpy(s->route, req->route ? req->route : "", sizeof s->route);
    s->ready = true;
}

bool trm_stream_write(struct trm_stream *s, const char *data, size_t len)
{
    return s->sink.write(s->sink.state, data, len);
}

void trm_stream_end(struct trm_app *app, struct trm_stream *s, struct trm_response *res)
{
    struct trm_request req = {.route = s->route};
    memcpy(req.request_id, s->request_id, sizeof req.request_id);
    struct trm_authn_limits limits = {(unsigned)app->config->auth_failure_limit,
                                      (unsigned)app->config->auth_failure_window_s};
    struct trm_authn_recheck recheck;
    trm_authn_guard(&recheck, &s->principal, &limits, s->client);
    s->sink.end(s->sink.state, res);
    s->ended = true;
    (void)trm_db_guard_check(app->db);
    enum trm_db_guard_state guard = trm_db_guard_state();
    trm_db_guard_clear();
    if (guard != TRM_DB_GUARD_PASSED) {
        /* Nothing the sink sent last ran: its work is undone when it is released. */
        trm_response_free(res);
        trm_response_init(res);
        if (guard == TRM_DB_GUARD_REFUSED) {
            trm_authn_forget(app->authn_cache, &s->principal);
            trm_response_problem(res, &req, TRM_E_UNAUTHENTICATED,
                                 "The token is not valid, has expired or was revoked.");
            trm_response_set_header(res, "WWW-Authenticate",
                                    "Bearer realm=\"trm\", error=\"invalid_token\"");
        } else {
            trm_response_problem(res, &req, TRM_E_SERVICE_UNAVAILABLE,
                                 "The database is not reachable.");
            trm_response_set_header(res, "Retry-After", "2");
        }
    }
    trm_app_finish_response(&req, res);
}

void trm_stream_free(struct trm_stream *s)
{
    if (s == NULL)
        return;
    s->sink.release(s->sink.state);
    sodium_memzero(&s->principal, sizeof s->principal);
    free(s);
}

const char *trm_stream_request_id(const struct trm_stream *s)
{
    return s->request_id;
}

const char *trm_stream_route(const struct trm_stream *s)
{
    return s->route;
}

bool trm_stream_ready(const struct trm_stream *s)
{
    return s != NULL && s->ready;
}
