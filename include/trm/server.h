/* The HTTP server: libmicrohttpd with a bounded worker thread pool, a connection limit,
 * timeouts and a per-connection memory limit, adapting requests to trm_app_handle. */
#ifndef TRM_SERVER_H
#define TRM_SERVER_H

#include <stddef.h>

struct trm_app;
struct trm_server;

/* Starts listening on app->config->listen; false with a message in err. */
int trm_server_start(struct trm_server **out, struct trm_app *app, char *err, size_t errlen);
/* The bound port (useful with port 0). */
unsigned trm_server_port(const struct trm_server *s);
/* Stops accepting connections, waits up to grace_ms for requests in flight, then stops. */
void trm_server_stop(struct trm_server *s, unsigned grace_ms);
/* HTTP connections open now. */
long trm_server_connections(struct trm_server *s);

/* The metrics listener (config metrics_listen): GET /metrics in the Prometheus text format,
 * nothing else; it reads the API server's connection count. */
struct trm_metrics_server;
int trm_metrics_server_start(struct trm_metrics_server **out, struct trm_app *app,
                             struct trm_server *api, char *err, size_t errlen);
unsigned trm_metrics_server_port(const struct trm_metrics_server *m);
void trm_metrics_server_stop(struct trm_metrics_server *m);

#endif
