/* The libmicrohttpd adapter: the only file that includes microhttpd.h. It gathers a
 * request (headers, query, body within the size limit), hands it to trm_app_handle, queues
 * the response, and logs one line per request when libmicrohttpd reports it completed. */
#include "trm/server.h"
#include "trm/app.h"
#include "trm/log.h"
#include "trm/metrics.h"
#include "trm/request_id.h"
#include "trm/util.h"
#include "internal.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A connection as the slow-client guard sees it. libmicrohttpd only cuts connections that
 * stay silent; a client dribbling its headers a byte a second would hold a slot forever.
 * So a connection gets request_header_timeout_s to start each request (from its opening or
 * the end of its last request), after which the guard shuts its socket down. */
struct conn_entry {
    int fd;
    bool in_request;
    double waiting_since_ms;
    struct conn_entry *prev, *next;
};

struct trm_server {
    struct MHD_Daemon *daemon;
    struct trm_app *app;
    atomic_int in_flight;
    unsigned port;
    pthread_mutex_t conns_lock;
    struct conn_entry *conns;
    long n_conns;
    pthread_t guard;
    atomic_bool stopping;
};

static struct conn_entry *entry_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void mark(struct trm_server *srv, struct MHD_Connection *conn, bool in_request)
{
    pthread_mutex_lock(&srv->conns_lock);
    struct conn_entry *e = entry_of(conn);
    if (e) {
        e->in_request = in_request;
        e->waiting_since_ms = trm_now_ms();
    }
    pthread_mutex_unlock(&srv->conns_lock);
}

/* Past max_connections a connection is answered with a fixed 503 and closed, rather than
 * left waiting in the listen queue behind the busy ones. libmicrohttpd's own limit is set
 * higher, so it accepts them for this. */
static void refuse_connection(int fd)
{
    char id[TRM_REQUEST_ID_NEW_LEN + 1], body[256], msg[512];
    trm_request_id_new(id);
    int blen = snprintf(body, sizeof body,
                        "{\"type\":\"urn:trm:problem:service_unavailable\",\"title\":\"Service "
                        "temporarily unavailable\",\"status\":503,\"detail\":\"Too many "
                        "connections.\",\"code\":\"service_unavailable\",\"request_id\":\"%s\"}",
                        id);
    int n =
        snprintf(msg, sizeof msg,
                 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"
                 "Retry-After: 2\r\nConnection: close\r\nCache-Control: no-store\r\n"
                 "X-Request-Id: %s\r\nContent-Length: %d\r\n\r\n%s",
                 id, blen, body);
    ssize_t w = send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
    shutdown(fd, SHUT_RDWR);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct trm_server *srv = cls;
    pthread_mutex_lock(&srv->conns_lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fdi =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (fdi && srv->n_conns >= srv->app->config->max_connections) {
            refuse_connection(fdi->connect_fd);
            pthread_mutex_unlock(&srv->conns_lock);
            return;
        }
        struct conn_entry *e = calloc(1, sizeof *e);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (e && ci) {
            e->fd = ci->connect_fd;
            e->waiting_since_ms = trm_now_ms();
            e->next = srv->conns;
            if (srv->conns)
                srv->conns->prev = e;
            srv->conns = e;
            srv->n_conns++;
            *socket_context = e;
        } else {
            free(e);
        }
    } else if (*socket_context) {
        /* Closed: libmicrohttpd closes the socket after this returns. */
        struct conn_entry *e = *socket_context;
        if (e->prev)
            e->prev->next = e->next;
        else
            srv->conns = e->next;
        if (e->next)
            e->next->prev = e->prev;
        free(e);
        srv->n_conns--;
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&srv->conns_lock);
}

static void *guard(void *arg)
{
    struct trm_server *srv = arg;
    double limit = (double)srv->app->config->request_header_timeout_s * 1000.0;
    while (!atomic_load(&srv->stopping)) {
        usleep(200000);
        double now = trm_now_ms();
        pthread_mutex_lock(&srv->conns_lock);
        for (struct conn_entry *e = srv->conns; e; e = e->next)
            if (!e->in_request && now - e->waiting_since_ms > limit)
                shutdown(e->fd, SHUT_RDWR); /* libmicrohttpd sees the end and cleans up */
        pthread_mutex_unlock(&srv->conns_lock);
    }
    return NULL;
}

/* Per-request state: created on the first callback, freed only on completion. */
struct req_ctx {
    double started_ms;
    char *body;
    size_t len, cap;
    bool refused;   /* a response was queued before the body was read */
    bool too_large; /* the streamed body passed the limit: discarded, 413 at the end */
    size_t discarded;
    unsigned status;
    char method[16];
    char route[64];
    char request_id[TRM_REQUEST_ID_MAX + 1];
    char trace_id[TRM_TRACE_ID_LEN + 1]; /* from traceparent, or empty */
};

struct kv_list {
    struct trm_header *items;
    size_t n, cap, limit;
    bool overflow;
};

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    struct kv_list *l = cls;
    if (l->n == l->limit) {
        l->overflow = true;
        return MHD_NO;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct trm_header *items = realloc(l->items, cap * sizeof *items);
        if (items == NULL) {
            l->overflow = true;
            return MHD_NO;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n].name = key ? key : "";
    l->items[l->n].value = value ? value : "";
    l->n++;
    return MHD_YES;
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct req_ctx *ctx,
                             struct trm_response *res)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(res->body_len, res->body ? res->body : (void *)"",
                                        res->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        trm_response_free(res);
        return MHD_NO;
    }
    res->body = NULL; /* now owned by libmicrohttpd */
    if (res->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
    for (size_t i = 0; i < res->n_headers; i++)
        MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
    ctx->status = res->status;
    enum MHD_Result ok = MHD_queue_response(conn, res->status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Answers without reading the body (libmicrohttpd then discards it and closes). */
static enum MHD_Result refuse(struct MHD_Connection *conn, struct req_ctx *ctx,
                              struct trm_request *req, enum trm_error e, const char *detail)
{
    struct trm_response res;
    trm_response_init(&res);
    trm_response_problem(&res, req, e, detail);
    trm_response_set_header(&res, "X-Request-Id", req->request_id);
    trm_response_set_header(&res, "Cache-Control", "no-store");
    ctx->refused = true;
    memcpy(ctx->request_id, req->request_id, sizeof ctx->request_id);
    return queue(conn, ctx, &res);
}

static void client_address(struct MHD_Connection *conn, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)len);
}

/* The request id of an answer given before the core runs: the same as the core's. */
static void pick_request_id(struct MHD_Connection *conn, struct trm_request *req)
{
    trm_request_id_pick(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id"),
                        req->request_id, TRM_REQUEST_ID_MAX);
}

/* A declared body over the limit is refused before it is read. */
static bool declared_too_large(struct MHD_Connection *conn, const struct trm_config *cfg)
{
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    long n;
    if (cl == NULL)
        return false;
    return !trm_parse_long(cl, 0, cfg->max_body_bytes, &n);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct trm_server *srv = cls;
    struct trm_app *app = srv->app;
    struct req_ctx *ctx = *con_cls;
    struct trm_request req = {.method = method, .path = url};

    if (ctx == NULL) {
        ctx = calloc(1, sizeof *ctx);
        if (ctx == NULL)
            return MHD_NO;
        *con_cls = ctx;
        atomic_fetch_add(&srv->in_flight, 1);
        mark(srv, conn, true);
        ctx->started_ms = trm_now_ms();
        trm_strlcpy(ctx->method, method, sizeof ctx->method);
        trm_traceparent_trace_id(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent"),
                                 ctx->trace_id);
        if (declared_too_large(conn, app->config)) {
            pick_request_id(conn, &req);
            return refuse(conn, ctx, &req, TRM_E_PAYLOAD_TOO_LARGE,
                          "The request body is larger than this service accepts.");
        }
        return MHD_YES;
    }
    if (ctx->refused) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (ctx->too_large || ctx->len + n > (size_t)app->config->max_body_bytes) {
            /* libmicrohttpd 0.9.75 cannot answer in the middle of a chunked upload: drop the
             * body, answer 413 once it ends, and hang up on a client that keeps sending. */
            free(ctx->body);
            ctx->body = NULL;
            ctx->len = ctx->cap = 0;
            ctx->too_large = true;
            ctx->discarded += n;
            return ctx->discarded > 4 * (size_t)app->config->max_body_bytes ? MHD_NO : MHD_YES;
        }
        if (ctx->len + n + 1 > ctx->cap) {
            size_t cap = ctx->cap ? ctx->cap : 4096;
            while (cap < ctx->len + n + 1)
                cap *= 2;
            char *body = realloc(ctx->body, cap);
            if (body == NULL)
                return MHD_NO;
            ctx->body = body;
            ctx->cap = cap;
        }
        memcpy(ctx->body + ctx->len, upload_data, n);
        ctx->len += n;
        ctx->body[ctx->len] = '\0';
        return MHD_YES;
    }

    if (ctx->too_large) {
        pick_request_id(conn, &req);
        return refuse(conn, ctx, &req, TRM_E_PAYLOAD_TOO_LARGE,
                      "The request body is larger than this service accepts.");
    }

    /* The whole request is here: adapt it and run the core. */
    struct kv_list headers = {.limit = (size_t)app->config->max_headers + 1};
    struct kv_list query = {.limit = 256};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_kv, &headers);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_kv, &query);
    char addr[INET6_ADDRSTRLEN];
    client_address(conn, addr, sizeof addr);
    req.headers = headers.items;
    req.n_headers = headers.n;
    req.query = query.items;
    req.n_query = query.n;
    req.body = ctx->body ? ctx->body : "";
    req.body_len = ctx->len;
    req.client_addr = addr;

    struct trm_response res;
    trm_response_init(&res);
    if (query.overflow) {
        pick_request_id(conn, &req);
        trm_response_problem(&res, &req, TRM_E_URI_TOO_LONG, "Too many query parameters.");
        trm_response_set_header(&res, "X-Request-Id", req.request_id);
    } else {
        trm_app_handle(app, &req, &res);
    }
    memcpy(ctx->request_id, req.request_id, sizeof ctx->request_id);
    if (req.route)
        trm_strlcpy(ctx->route, req.route, sizeof ctx->route);
    free(headers.items);
    free(query.items);
    return queue(conn, ctx, &res);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct trm_server *srv = cls;
    struct req_ctx *ctx = *con_cls;
    if (ctx == NULL)
        return;
    mark(srv, conn, false);
    *con_cls = NULL;
    /* Method, route pattern, status, duration (milliseconds to the microsecond), request id
     * and trace id: never a body, a query value or a concrete path. */
    double ms = (double)(long long)((trm_now_ms() - ctx->started_ms) * 1000.0 + 0.5) / 1000.0;
    json_t *f = json_pack("{s:s, s:s, s:i, s:f, s:s}", "method", ctx->method, "route",
                          ctx->route[0] ? ctx->route : "-", "status", (int)ctx->status,
                          "duration_ms", ms, "request_id", ctx->request_id);
    if (f && ctx->trace_id[0])
        json_object_set_new(f, "trace_id", json_string(ctx->trace_id));
    if (f && toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
        json_object_set_new(f, "terminated", json_integer(toe));
    trm_log_fields(TRM_LOG_INFO, "request", f);
    trm_metrics_request(ctx->method, ctx->route, ctx->status, ms / 1000.0);
    free(ctx->body);
    free(ctx);
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* libmicrohttpd's own messages, passed on as debug lines (its format strings). */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    trm_log(TRM_LOG_DEBUG, "http", "%s", msg);
}

bool trm_http_resolve(const char *listen, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen || (size_t)(colon - listen) >= sizeof host) {
        snprintf(err, errlen, "listen must be host:port");
        return false;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *h = host;
    if (h[0] == '[' && h[strlen(h) - 1] == ']') {
        h[strlen(h) - 1] = '\0';
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(h, colon + 1, &hints, &ai) != 0 || ai == NULL) {
        snprintf(err, errlen, "cannot resolve listen address %s", listen);
        return false;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return true;
}

int trm_server_start(struct trm_server **out, struct trm_app *app, char *err, size_t errlen)
{
    const struct trm_config *cfg = app->config;
    struct sockaddr_storage ss;
    if (!trm_http_resolve(cfg->listen, &ss, err, errlen))
        return -1;
    struct trm_server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return -1;
    srv->app = app;
    pthread_mutex_init(&srv->conns_lock, NULL);
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)cfg->worker_threads, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(cfg->max_connections * 2 + 64), MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)cfg->connection_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)cfg->connection_memory_limit, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        snprintf(err, errlen, "cannot listen on %s", cfg->listen);
        free(srv);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : 0;
    pthread_create(&srv->guard, NULL, guard, srv);
    *out = srv;
    return 0;
}

long trm_server_connections(struct trm_server *s)
{
    pthread_mutex_lock(&s->conns_lock);
    long n = s->n_conns;
    pthread_mutex_unlock(&s->conns_lock);
    return n;
}

unsigned trm_server_port(const struct trm_server *s)
{
    return s->port;
}

void trm_server_stop(struct trm_server *s, unsigned grace_ms)
{
    if (s == NULL)
        return;
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    /* Requests already being handled finish; idle keep-alive connections do not count. */
    for (unsigned waited = 0; atomic_load(&s->in_flight) > 0 && waited < grace_ms; waited += 10)
        usleep(10000);
    atomic_store(&s->stopping, true);
    pthread_join(s->guard, NULL);
    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->conns_lock);
    free(s);
}
