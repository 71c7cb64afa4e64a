/* The metrics listener: a libmicrohttpd daemon of its own on metrics_listen (loopback by
 * default), answering GET /metrics with the Prometheus text format (version 0.0.4) and
 * nothing else. Kept off the API's address so that it needs no token and the API's proxy
 * never exposes it. Labels are route templates, methods, status and SQLSTATE classes: never
 * a concrete path, an id, a token or a personal value. */
#include "trm/app.h"
#include "trm/auth.h"
#include "trm/build_info.h"
#include "trm/db.h"
#include "trm/metrics.h"
#include "trm/server.h"
#include "internal.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct trm_metrics_server {
    struct MHD_Daemon *daemon;
    struct trm_app *app;
    struct trm_server *api;
    unsigned port;
};

static void render_database(struct trm_metrics_server *m, struct trm_metrics_text *t)
{
    struct trm_db_pool_stats ps;
    trm_db_pool_stats(m->app->db, &ps);
    trm_metrics_family(t, "trm_db_round_trips_total", "counter",
                       "Round trips to PostgreSQL (each wait for the server's answers).");
    trm_metrics_sample(t, "trm_db_round_trips_total", (double)trm_db_round_trips());
    trm_metrics_family(t, "trm_db_pool_size", "gauge", "Database connections the pool may hold.");
    trm_metrics_sample(t, "trm_db_pool_size", ps.size);
    trm_metrics_family(t, "trm_db_pool_in_use", "gauge", "Pooled connections lent out now.");
    trm_metrics_sample(t, "trm_db_pool_in_use", ps.in_use);
    trm_metrics_family(t, "trm_db_pool_open", "gauge", "Pooled connections open now.");
    trm_metrics_sample(t, "trm_db_pool_open", ps.open);
    trm_metrics_family(t, "trm_db_pool_waits_total", "counter",
                       "Borrowers that found no free pooled connection and waited.");
    trm_metrics_sample(t, "trm_db_pool_waits_total", (double)ps.waits);
    trm_metrics_family(t, "trm_db_pool_timeouts_total", "counter",
                       "Borrowers that waited db_acquire_timeout_ms in vain (answered 503).");
    trm_metrics_sample(t, "trm_db_pool_timeouts_total", (double)ps.timeouts);
    trm_metrics_render_db_errors(t);
}

/* A member of the snapshot as a number; false when it is null or absent. */
static bool number(json_t *snap, const char *member, double *out)
{
    json_t *v = json_object_get(snap, member);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

/* What the database holds: the handover log's head and last checkpoint, the federation
 * outbox. trm_db_up says whether it could be read at all. */
static void render_snapshot(struct trm_metrics_server *m, struct trm_metrics_text *t)
{
    json_t *snap = NULL;
    bool up = trm_db_metrics_snapshot(m->app->db, &snap) == TRM_DB_OK;
    trm_metrics_family(t, "trm_db_up", "gauge",
                       "1 when this scrape could read the database, else 0 (and the "
                       "database's figures are left out).");
    trm_metrics_sample(t, "trm_db_up", up ? 1 : 0);
    double v;
    if (up && number(snap, "handover_head_seq", &v)) {
        trm_metrics_family(t, "trm_handover_log_head_seq", "gauge",
                           "Entries in the handover log (the sequence number of its head).");
        trm_metrics_sample(t, "trm_handover_log_head_seq", v);
    }
    if (up && number(snap, "checkpoint_seq", &v)) {
        trm_metrics_family(t, "trm_handover_checkpoint_seq", "gauge",
                           "The entry the last signed checkpoint covers.");
        trm_metrics_sample(t, "trm_handover_checkpoint_seq", v);
    }
    if (up && number(snap, "checkpoint_age_s", &v)) {
        trm_metrics_family(t, "trm_handover_checkpoint_age_seconds", "gauge",
                           "Age of the last signed checkpoint of the handover log.");
        trm_metrics_sample(t, "trm_handover_checkpoint_age_seconds", v);
    }
    if (up && number(snap, "outbox_pending", &v)) {
        trm_metrics_family(t, "trm_federation_outbox_pending", "gauge",
                           "Packages for peer instances not delivered yet.");
        trm_metrics_sample(t, "trm_federation_outbox_pending", v);
        if (!number(snap, "outbox_oldest_age_s", &v))
            v = 0;
        trm_metrics_family(t, "trm_federation_outbox_oldest_age_seconds", "gauge",
                           "How long the oldest undelivered package has waited (0: none).");
        trm_metrics_sample(t, "trm_federation_outbox_oldest_age_seconds", v);
    }
    json_decref(snap);
}

static char *render(struct trm_metrics_server *m, size_t *len)
{
    struct trm_metrics_text t = {0};
    trm_metrics_family(&t, "trm_build_info", "gauge",
                       "This trmd's version and the schema version it needs (always 1).");
    trm_metrics_printf(&t, "trm_build_info{version=\"%s\",schema=\"%d\"} 1\n", TRM_VERSION,
                       TRM_SCHEMA_VERSION);
    trm_metrics_render_requests(&t);
    trm_metrics_family(&t, "trm_http_connections", "gauge", "HTTP connections open now.");
    trm_metrics_sample(&t, "trm_http_connections", (double)trm_server_connections(m->api));
    trm_metrics_family(&t, "trm_auth_remembered_tokens", "gauge",
                       "Tokens trmd remembers having verified (auth_cache_s).");
    trm_metrics_sample(&t, "trm_auth_remembered_tokens",
                       trm_authn_cache_count(m->app->authn_cache));
    render_database(m, &t);
    render_snapshot(m, &t);
    trm_metrics_render_process(&t);
    if (t.failed) {
        free(t.data);
        return NULL;
    }
    *len = t.len;
    return t.data;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
                              char *body, size_t len, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ok = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result problem(struct MHD_Connection *conn, unsigned status, const char *code,
                               const char *title, const char *detail, const char *allow)
{
    char *body = malloc(512);
    if (body == NULL)
        return MHD_NO;
    int n = snprintf(body, 512,
                     "{\"type\":\"urn:trm:problem:%s\",\"title\":\"%s\",\"status\":%u,"
                     "\"detail\":\"%s\",\"code\":\"%s\"}",
                     code, title, status, detail, code);
    return answer(conn, status, "application/problem+json", body, (size_t)n, allow);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    static int first;
    if (*con_cls == NULL) {
        *con_cls = &first;
        return MHD_YES;
    }
    if (*upload_size > 0) { /* a body is never read: discard it */
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0)
        return problem(conn, 404, "not_found", "Not found",
                       "This listener serves GET /metrics only.", NULL);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return problem(conn, 405, "method_not_allowed", "Method not allowed", "GET /metrics only.",
                       "GET, HEAD");
    size_t len = 0;
    char *text = render(cls, &len);
    if (text == NULL)
        return problem(conn, 500, "internal_error", "Internal error",
                       "The metrics could not be written.", NULL);
    return answer(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, NULL);
}

int trm_metrics_server_start(struct trm_metrics_server **out, struct trm_app *app,
                             struct trm_server *api, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    if (!trm_http_resolve(app->config->metrics_listen, &ss, err, errlen))
        return -1;
    struct trm_metrics_server *m = calloc(1, sizeof *m);
    if (m == NULL)
        return -1;
    m->app = app;
    m->api = api;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, 16u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_END);
    if (m->daemon == NULL) {
        snprintf(err, errlen, "cannot listen on %s (metrics_listen)", app->config->metrics_listen);
        free(m);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    m->port = di ? di->port : 0;
    *out = m;
    return 0;
}

unsigned trm_metrics_server_port(const struct trm_metrics_server *m)
{
    return m ? m->port : 0;
}

void trm_metrics_server_stop(struct trm_metrics_server *m)
{
    if (m == NULL)
        return;
    MHD_stop_daemon(m->daemon);
    free(m);
}
