/* The process-wide counters behind GET /metrics (trm/metrics.h): requests by route template,
 * method and status class with a latency histogram each, PostgreSQL errors by SQLSTATE
 * class, and the process's own figures; and the helpers that write the text format. */
#include "trm/metrics.h"
#include "trm/app.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUTES 128 /* trm_routes_count and one slot for requests that matched none */
#define N_BUCKETS 13

/* Seconds; the last bucket (+Inf) is the count. */
static const double bucket_le[N_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,  0.5,    1,     2.5,  5,     10};
static const char *const bucket_text[N_BUCKETS] = {"0.001", "0.0025", "0.005", "0.01", "0.025",
                                                   "0.05",  "0.1",    "0.25",  "0.5",  "1",
                                                   "2.5",   "5",      "10"};

struct route_stats {
    atomic_ulong by_class[5]; /* 1xx .. 5xx */
    atomic_ulong buckets[N_BUCKETS];
    atomic_ulong count;
    atomic_ullong sum_us;
};

static struct route_stats routes[MAX_ROUTES];
static atomic_ulong db_errors[36 * 36]; /* by SQLSTATE class: two characters of [0-9A-Z] */

void trm_metrics_printf(struct trm_metrics_text *t, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !t->failed; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n =
            vsnprintf(t->data ? t->data + t->len : NULL, t->data ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
        } else if (t->data && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        } else {
            size_t cap = t->cap ? t->cap : 8192;
            while (cap < t->len + (size_t)n + 1)
                cap *= 2;
            char *d = realloc(t->data, cap);
            if (d == NULL)
                t->failed = true;
            t->data = d ? d : t->data;
            t->cap = d ? cap : t->cap;
        }
    }
}

void trm_metrics_family(struct trm_metrics_text *t, const char *name, const char *type,
                        const char *help)
{
    trm_metrics_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void trm_metrics_sample(struct trm_metrics_text *t, const char *name, double value)
{
    trm_metrics_printf(t, "%s %.17g\n", name, value);
}

/* The route's slot: its index in trm_routes (HEAD counts with its GET route), or the last
 * slot for a request that matched no route. */
static size_t slot_of(const char *method, const char *route)
{
    size_t none = trm_routes_count < MAX_ROUTES ? trm_routes_count : MAX_ROUTES - 1;
    if (route == NULL || route[0] == '\0')
        return none;
    for (size_t i = 0; i < trm_routes_count && i < MAX_ROUTES - 1; i++) {
        const struct trm_route *r = &trm_routes[i];
        if (strcmp(r->pattern, route) == 0 &&
            (strcmp(r->method, method) == 0 ||
             (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)))
            return i;
    }
    return none;
}

void trm_metrics_request(const char *method, const char *route, unsigned status, double seconds)
{
    struct route_stats *s = &routes[slot_of(method, route)];
    unsigned cls = status / 100;
    if (cls >= 1 && cls <= 5)
        atomic_fetch_add(&s->by_class[cls - 1], 1);
    /* The count first, then the buckets from the widest down: a scrape reading the buckets
     * from the narrowest up and the count last always sees them cumulative. */
    atomic_fetch_add(&s->sum_us, (unsigned long long)(seconds * 1e6 + 0.5));
    atomic_fetch_add(&s->count, 1);
    for (int b = N_BUCKETS - 1; b >= 0 && seconds <= bucket_le[b]; b--)
        atomic_fetch_add(&s->buckets[b], 1);
}

static int class_char(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'Z')
        return c - 'A' + 10;
    return -1;
}

void trm_metrics_db_error(const char *sqlstate)
{
    const char *s = sqlstate && strlen(sqlstate) >= 2 ? sqlstate : "08";
    int a = class_char(s[0]), b = class_char(s[1]);
    if (a >= 0 && b >= 0)
        atomic_fetch_add(&db_errors[a * 36 + b], 1);
}

/* The labels of a slot: its route template and method, or route "unmatched". */
static void labels(char *out, size_t len, size_t slot)
{
    if (slot < trm_routes_count && slot < MAX_ROUTES - 1)
        snprintf(out, len, "route=\"%s\",method=\"%s\"", trm_routes[slot].pattern,
                 trm_routes[slot].method);
    else
        snprintf(out, len, "route=\"unmatched\",method=\"any\"");
}

void trm_metrics_render_requests(struct trm_metrics_text *t)
{
    size_t n = trm_routes_count < MAX_ROUTES ? trm_routes_count + 1 : MAX_ROUTES;
    char l[256];
    trm_metrics_family(t, "trm_http_requests_total", "counter",
                       "HTTP requests answered, by route template, method and status class.");
    for (size_t i = 0; i < n; i++) {
        if (atomic_load(&routes[i].count) == 0)
            continue;
        labels(l, sizeof l, i);
        for (int c = 0; c < 5; c++)
            trm_metrics_printf(t, "trm_http_requests_total{%s,status=\"%dxx\"} %lu\n", l, c + 1,
                               atomic_load(&routes[i].by_class[c]));
    }
    trm_metrics_family(t, "trm_http_request_duration_seconds", "histogram",
                       "Time from a request's first byte to its answer, by route template.");
    for (size_t i = 0; i < n; i++) {
        unsigned long count = atomic_load(&routes[i].count);
        if (count == 0)
            continue;
        labels(l, sizeof l, i);
        /* From the narrowest bucket up, then the count (see trm_metrics_request). */
        unsigned long b[N_BUCKETS];
        for (int k = 0; k < N_BUCKETS; k++)
            b[k] = atomic_load(&routes[i].buckets[k]);
        count = atomic_load(&routes[i].count);
        unsigned long long sum = atomic_load(&routes[i].sum_us);
        for (int k = 0; k < N_BUCKETS; k++)
            trm_metrics_printf(t, "trm_http_request_duration_seconds_bucket{%s,le=\"%s\"} %lu\n", l,
                               bucket_text[k], b[k] < count ? b[k] : count);
        trm_metrics_printf(t, "trm_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %lu\n", l,
                           count);
        trm_metrics_printf(t, "trm_http_request_duration_seconds_sum{%s} %.6f\n", l,
                           (double)sum / 1e6);
        trm_metrics_printf(t, "trm_http_request_duration_seconds_count{%s} %lu\n", l, count);
    }
}

void trm_metrics_render_db_errors(struct trm_metrics_text *t)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    trm_metrics_family(t, "trm_db_errors_total", "counter",
                       "Errors PostgreSQL answered, by SQLSTATE class (08: connection lost).");
    for (int i = 0; i < 36 * 36; i++) {
        unsigned long n = atomic_load(&db_errors[i]);
        if (n > 0)
            trm_metrics_printf(t, "trm_db_errors_total{class=\"%c%c\"} %lu\n", digits[i / 36],
                               digits[i % 36], n);
    }
}

/* A field of /proc/self/status in kB, as bytes (-1 when absent). */
static double status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtod(line + n + 1, NULL) * 1024.0;
    if (f)
        fclose(f);
    return v;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    double n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return d ? n - 1 : -1; /* less the directory's own descriptor */
}

/* When the process started, in seconds since the epoch (field 22 of /proc/self/stat). */
static double start_time(void)
{
    FILE *f = fopen("/proc/self/stat", "r");
    char buf[1024];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long long ticks = 0;
    for (int field = 2; p && *p && field < 22; p++)
        if (*p == ' ')
            field++;
    if (p)
        ticks = strtoull(p, NULL, 10);
    FILE *u = fopen("/proc/uptime", "r");
    double uptime = 0;
    if (u) {
        if (fscanf(u, "%lf", &uptime) != 1)
            uptime = 0;
        fclose(u);
    }
    double now = (double)time(NULL);
    return now - uptime + (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

void trm_metrics_render_process(struct trm_metrics_text *t)
{
    trm_metrics_family(t, "process_resident_memory_bytes", "gauge", "Resident memory in bytes.");
    trm_metrics_sample(t, "process_resident_memory_bytes", status_kb("VmRSS"));
    trm_metrics_family(t, "process_open_fds", "gauge", "Open file descriptors.");
    trm_metrics_sample(t, "process_open_fds", open_fds());
    trm_metrics_family(t, "process_start_time_seconds", "gauge",
                       "Start time of the process since the Unix epoch, in seconds.");
    trm_metrics_printf(t, "process_start_time_seconds %.0f\n", start_time());
}
