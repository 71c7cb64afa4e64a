/* Metrics in the Prometheus text exposition format (version 0.0.4), served by trmd on a
 * listener of their own (metrics_listen; service/http/metrics_server.c). The counters here
 * are process-wide and lock-free; labels are route templates, methods, status classes and
 * SQLSTATE classes, never a concrete path, an id, a token or a personal value. */
#ifndef TRM_METRICS_H
#define TRM_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/* A growing text buffer for an exposition. */
struct trm_metrics_text {
    char *data;
    size_t len, cap;
    bool failed; /* out of memory: the text is incomplete */
};

void trm_metrics_printf(struct trm_metrics_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "# HELP name help\n# TYPE name type\n". */
void trm_metrics_family(struct trm_metrics_text *t, const char *name, const char *type,
                        const char *help);
/* One unlabelled sample of a gauge or counter. */
void trm_metrics_sample(struct trm_metrics_text *t, const char *name, double value);

/* One answered request: its method, the route template it matched (NULL: none), its status
 * and how long it took. */
void trm_metrics_request(const char *method, const char *route, unsigned status, double seconds);
/* One error result from PostgreSQL, by SQLSTATE (NULL: the connection was lost, counted as
 * class 08). */
void trm_metrics_db_error(const char *sqlstate);

/* The request counters and latency histograms, and the database errors by SQLSTATE class. */
void trm_metrics_render_requests(struct trm_metrics_text *t);
void trm_metrics_render_db_errors(struct trm_metrics_text *t);
/* The process: resident memory, open file descriptors, start time. */
void trm_metrics_render_process(struct trm_metrics_text *t);

#endif
