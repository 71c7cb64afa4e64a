/* GET /metrics on the metrics listener: every line of a scrape parsed by a strict parser of
 * the Prometheus text format (version 0.0.4), the series an operator needs present and
 * plausible, nothing personal, no id and no token in it; the API's address does not serve
 * it, and the metrics listener answers nothing else. */
#include "check_run.h"
#include "harness.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct trmd srv;
static char admin[128];

static void setup(void)
{
    h_trmd_start(&srv, NULL);
    h_admin(admin, "SE");
}

static void teardown(void)
{
    ck_assert_int_eq(h_trmd_stop(&srv), 0);
}

/* ---- A strict parser of the text format ------------------------------------------- */

#define MAX_FAMILIES 128
#define MAX_SERIES 4096

struct family {
    char name[128], type[16];
    bool help, closed;
};

struct sample {
    char name[128], labels[1024]; /* labels as written, without the braces */
    char le[32];                  /* a histogram bucket's bound */
    char rest[1024];              /* the labels other than le */
    double value;
};

struct exposition {
    struct family families[MAX_FAMILIES];
    size_t n_families;
    struct family *current; /* the family of the last line */
    struct sample *samples;
    size_t n_samples;
    char error[256];
};

static bool name_ok(const char *s, size_t n, bool metric)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* Go's ParseFloat as the format allows it: decimal, exponent, NaN, +Inf, -Inf. */
static bool value_ok(const char *s, double *out)
{
    if (strcmp(s, "NaN") == 0 || strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0) {
        *out = strcmp(s, "NaN") == 0 ? NAN : s[0] == '+' ? INFINITY : -INFINITY;
        return true;
    }
    regex_t re;
    regcomp(&re, "^[-+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?$",
            REG_EXTENDED | REG_NOSUB);
    bool ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    *out = ok ? strtod(s, NULL) : 0;
    return ok;
}

static struct family *family_named(struct exposition *e, const char *name)
{
    for (size_t i = 0; i < e->n_families; i++)
        if (strcmp(e->families[i].name, name) == 0)
            return &e->families[i];
    return NULL;
}

/* The family a sample belongs to: its own name, or a histogram's _bucket, _sum, _count. */
static struct family *family_of(struct exposition *e, const char *sample)
{
    struct family *f = family_named(e, sample);
    if (f)
        return f;
    const char *suffixes[] = {"_bucket", "_sum", "_count"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(sample), k = strlen(suffixes[i]);
        if (n > k && strcmp(sample + n - k, suffixes[i]) == 0) {
            char base[128];
            snprintf(base, sizeof base, "%.*s", (int)(n - k), sample);
            f = family_named(e, base);
            if (f && strcmp(f->type, "histogram") == 0)
                return f;
        }
    }
    return NULL;
}

/* The format keeps a family's lines together: once another family's line came, it is
 * closed. */
static bool enter_family(struct exposition *e, struct family *f)
{
    if (e->current == f)
        return true;
    if (f->closed)
        return false;
    if (e->current)
        e->current->closed = true;
    e->current = f;
    return true;
}

/* Labels `name="value",...` (a trailing comma allowed): valid names, escapes \\ \" \n
 * only, no name twice. Copies le apart from the rest. */
static bool labels_ok(const char *s, struct sample *out)
{
    char seen[16][64];
    size_t n_seen = 0, rest = 0;
    out->le[0] = out->rest[0] = '\0';
    while (*s) {
        const char *eq = strchr(s, '=');
        if (eq == NULL || !name_ok(s, (size_t)(eq - s), false) || eq[1] != '"' ||
            (size_t)(eq - s) >= 64 || n_seen == 16)
            return false;
        for (size_t i = 0; i < n_seen; i++)
            if (strlen(seen[i]) == (size_t)(eq - s) && strncmp(seen[i], s, (size_t)(eq - s)) == 0)
                return false;
        snprintf(seen[n_seen++], 64, "%.*s", (int)(eq - s), s);
        const char *v = eq + 2;
        char value[512];
        size_t vn = 0;
        for (; *v && *v != '"'; v++) {
            if (*v == '\\') {
                v++;
                if (*v != '\\' && *v != '"' && *v != 'n')
                    return false;
            } else if (*v == '\n') {
                return false;
            }
            if (vn < sizeof value - 1)
                value[vn++] = *v;
        }
        value[vn] = '\0';
        if (*v != '"')
            return false;
        if (strcmp(seen[n_seen - 1], "le") == 0)
            snprintf(out->le, sizeof out->le, "%.31s", value);
        else
            rest += (size_t)snprintf(out->rest + rest, sizeof out->rest - rest, "%s=%s;",
                                     seen[n_seen - 1], value);
        s = v + 1;
        if (*s == ',')
            s++;
        else if (*s != '\0')
            return false;
    }
    return true;
}

static bool refuse(struct exposition *e, int line, const char *why)
{
    snprintf(e->error, sizeof e->error, "line %d: %s", line, why);
    return false;
}

static bool parse_comment(struct exposition *e, char *l, int lineno)
{
    bool help = strncmp(l, "# HELP ", 7) == 0, type = strncmp(l, "# TYPE ", 7) == 0;
    if (!help && !type)
        return true; /* a plain comment */
    char *name = l + 7, *sp = strchr(name, ' ');
    if (sp == NULL || !name_ok(name, (size_t)(sp - name), true))
        return refuse(e, lineno, "HELP or TYPE without a valid metric name");
    *sp = '\0';
    struct family *f = family_named(e, name);
    if (f == NULL) {
        if (e->n_families == MAX_FAMILIES)
            return refuse(e, lineno, "too many families");
        f = &e->families[e->n_families++];
        snprintf(f->name, sizeof f->name, "%s", name);
    }
    if (!enter_family(e, f))
        return refuse(e, lineno, "a family's lines are not together");
    if (help) {
        if (f->help)
            return refuse(e, lineno, "a second HELP");
        for (const char *p = sp + 1; *p; p++)
            if (*p == '\\' && p[1] != '\\' && p[1] != 'n')
                return refuse(e, lineno, "a HELP escape other than \\\\ or \\n");
        f->help = true;
        return true;
    }
    const char *t = sp + 1;
    if (f->type[0])
        return refuse(e, lineno, "a second TYPE");
    if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram") &&
        strcmp(t, "summary") && strcmp(t, "untyped"))
        return refuse(e, lineno, "an unknown TYPE");
    for (size_t i = 0; i < e->n_samples; i++)
        if (family_of(e, e->samples[i].name) == f)
            return refuse(e, lineno, "TYPE after the family's samples");
    snprintf(f->type, sizeof f->type, "%s", t);
    return true;
}

static bool parse_sample(struct exposition *e, char *l, int lineno)
{
    if (e->n_samples == MAX_SERIES)
        return refuse(e, lineno, "too many samples");
    struct sample *s = &e->samples[e->n_samples];
    size_t n = strcspn(l, "{ ");
    if (!name_ok(l, n, true) || n >= sizeof s->name)
        return refuse(e, lineno, "not a valid metric name");
    snprintf(s->name, sizeof s->name, "%.*s", (int)n, l);
    char *p = l + n;
    s->labels[0] = '\0';
    if (*p == '{') {
        char *close = strrchr(p, '}');
        if (close == NULL || (size_t)(close - p - 1) >= sizeof s->labels)
            return refuse(e, lineno, "unclosed labels");
        snprintf(s->labels, sizeof s->labels, "%.*s", (int)(close - p - 1), p + 1);
        if (!labels_ok(s->labels, s))
            return refuse(e, lineno, "malformed labels");
        p = close + 1;
    } else {
        s->le[0] = s->rest[0] = '\0';
    }
    if (*p != ' ')
        return refuse(e, lineno, "no space before the value");
    p++;
    char value[64];
    size_t vn = strcspn(p, " ");
    if (vn == 0 || vn >= sizeof value)
        return refuse(e, lineno, "no value");
    snprintf(value, sizeof value, "%.*s", (int)vn, p);
    if (!value_ok(value, &s->value))
        return refuse(e, lineno, "not a valid value");
    p += vn;
    if (*p == ' ') { /* a timestamp: an integer */
        p++;
        if (*p == '-')
            p++;
        if (*p == '\0' || strspn(p, "0123456789") != strlen(p))
            return refuse(e, lineno, "not a valid timestamp");
    } else if (*p != '\0') {
        return refuse(e, lineno, "trailing characters");
    }
    struct family *f = family_of(e, s->name);
    if (f == NULL || !f->type[0] || !f->help)
        return refuse(e, lineno, "a sample without its family's HELP and TYPE before it");
    if (!enter_family(e, f))
        return refuse(e, lineno, "a family's lines are not together");
    if (strcmp(f->type, "counter") == 0 &&
        (strlen(s->name) < 7 || strcmp(s->name + strlen(s->name) - 6, "_total") != 0 ||
         !(s->value >= 0) || isinf(s->value)))
        return refuse(e, lineno, "a counter not named _total, or not a finite count");
    for (size_t i = 0; i < e->n_samples; i++)
        if (strcmp(e->samples[i].name, s->name) == 0 && strcmp(e->samples[i].rest, s->rest) == 0 &&
            strcmp(e->samples[i].le, s->le) == 0)
            return refuse(e, lineno, "the same series twice");
    e->n_samples++;
    return true;
}

/* Each histogram series: buckets with rising le, counts never falling, +Inf equal to
 * _count, and a _sum. */
static bool histograms_ok(struct exposition *e)
{
    for (size_t i = 0; i < e->n_samples; i++) {
        struct sample *c = &e->samples[i];
        size_t n = strlen(c->name);
        if (n < 7 || strcmp(c->name + n - 6, "_count") != 0)
            continue;
        char base[128], bucket[160], sum[160];
        snprintf(base, sizeof base, "%.*s", (int)(n - 6), c->name);
        struct family *f = family_named(e, base);
        if (f == NULL || strcmp(f->type, "histogram") != 0)
            continue;
        snprintf(bucket, sizeof bucket, "%s_bucket", base);
        snprintf(sum, sizeof sum, "%s_sum", base);
        double last_le = -INFINITY, last = 0;
        bool inf = false, has_sum = false;
        for (size_t k = 0; k < e->n_samples; k++) {
            struct sample *b = &e->samples[k];
            if (strcmp(b->rest, c->rest) != 0)
                continue;
            has_sum = has_sum || strcmp(b->name, sum) == 0;
            if (strcmp(b->name, bucket) != 0)
                continue;
            double le;
            if (!value_ok(b->le, &le) || le <= last_le || b->value < last) {
                snprintf(e->error, sizeof e->error, "%.100s{%.120s}: buckets not cumulative", base,
                         c->rest);
                return false;
            }
            last_le = le;
            last = b->value;
            inf = inf || isinf(le);
            if (isinf(le) && b->value != c->value) {
                snprintf(e->error, sizeof e->error, "%.100s{%.120s}: +Inf bucket is not the count",
                         base, c->rest);
                return false;
            }
        }
        if (!inf || !has_sum) {
            snprintf(e->error, sizeof e->error, "%.100s{%.120s}: no +Inf bucket or no _sum", base,
                     c->rest);
            return false;
        }
    }
    return true;
}

/* Parses a whole exposition; false with e->error naming the first problem. */
static bool parse_exposition(const char *text, struct exposition *e)
{
    memset(e, 0, sizeof *e);
    e->samples = calloc(MAX_SERIES, sizeof *e->samples);
    size_t len = strlen(text);
    if (len == 0 || text[len - 1] != '\n')
        return refuse(e, 0, "the exposition does not end with a newline");
    char *copy = strdup(text), *save = NULL;
    int lineno = 0;
    bool ok = true;
    for (char *l = copy; ok && l && *l; l = save) {
        char *nl = strchr(l, '\n');
        *nl = '\0';
        save = nl + 1;
        lineno++;
        if (*l == '\0')
            ok = refuse(e, lineno, "an empty line");
        else if (*l == '#')
            ok = parse_comment(e, l, lineno);
        else
            ok = parse_sample(e, l, lineno);
    }
    free(copy);
    return ok && histograms_ok(e);
}

static void exposition_free(struct exposition *e)
{
    free(e->samples);
}

/* A sample's value by name and exact labels as written ("" for none); NAN when absent. */
static double value_of(const struct exposition *e, const char *name, const char *labels)
{
    for (size_t i = 0; i < e->n_samples; i++)
        if (strcmp(e->samples[i].name, name) == 0 && strcmp(e->samples[i].labels, labels) == 0)
            return e->samples[i].value;
    return NAN;
}

/* ---- Scraping ------------------------------------------------------------------------ */

/* GET path on port over a raw connection (not recorded for the API contract check: this
 * listener is not the API); the status into *status, the body (malloc'd) returned. */
static char *scrape(unsigned port, const char *method, const char *path, long *status,
                    char *content_type, size_t ct_len)
{
    char req[256];
    static char out[1 << 20];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    size_t got = h_raw(port, req, (size_t)n, out, sizeof out, 5000);
    ck_assert_msg(got > 12, "no answer from the metrics listener");
    *status = strtol(out + 9, NULL, 10);
    const char *ct = strstr(out, "\r\nContent-Type: ");
    content_type[0] = '\0';
    if (ct)
        sscanf(ct + 16, "%255[^\r]", content_type);
    (void)ct_len;
    const char *body = strstr(out, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    return strdup(body + 4);
}

START_TEST(scrape_is_strict_prometheus_text)
{
    /* Some traffic first: a created case (its values must not show), a 404, a 401. */
    char agency[37], user[37], worker[128], id[37];
    h_agency(&srv, admin, "SE", "ngo", agency);
    h_user(&srv, admin, agency, "caseworker", false, user, worker);
    struct h_resp r;
    h_api(&srv, worker, "POST", "/v1/cases",
          "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", \"citizenship\": "
          "\"PH\", \"exploitation_forms\": [\"labour\"], \"identified_month\": \"2026-10\", "
          "\"person\": {\"identity\": {\"full_name\": \"Metrics Sentinel Person\"}}}",
          NULL, &r);
    h_expect(&r, 201, "case");
    snprintf(id, sizeof id, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    char path[128];
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    h_resp_free(&r);
    h_http(&srv, "GET", "/v1/no/such/path", NULL, NULL, &r);
    h_resp_free(&r);
    h_http(&srv, "GET", "/v1/me", NULL, NULL, &r);
    h_resp_free(&r);

    long status;
    char ct[256];
    char *body = scrape(srv.metrics_port, "GET", "/metrics", &status, ct, sizeof ct);
    ck_assert_int_eq(status, 200);
    ck_assert_str_eq(ct, "text/plain; version=0.0.4; charset=utf-8");
    struct exposition e;
    ck_assert_msg(parse_exposition(body, &e), "%s", e.error);

    const char *families[] = {"trm_build_info",
                              "trm_http_requests_total",
                              "trm_http_request_duration_seconds",
                              "trm_http_connections",
                              "trm_auth_remembered_tokens",
                              "trm_db_round_trips_total",
                              "trm_db_pool_size",
                              "trm_db_pool_in_use",
                              "trm_db_pool_open",
                              "trm_db_pool_waits_total",
                              "trm_db_pool_timeouts_total",
                              "trm_db_errors_total",
                              "trm_db_up",
                              "trm_handover_log_head_seq",
                              "trm_federation_outbox_pending",
                              "trm_federation_outbox_oldest_age_seconds",
                              "process_resident_memory_bytes",
                              "process_open_fds",
                              "process_start_time_seconds"};
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        ck_assert_msg(family_named(&e, families[i]) != NULL, "no %s", families[i]);
    ck_assert(value_of(&e, "trm_http_requests_total",
                       "route=\"/v1/cases\",method=\"POST\",status=\"2xx\"") >= 1);
    ck_assert(value_of(&e, "trm_http_requests_total",
                       "route=\"/v1/cases/{}\",method=\"GET\",status=\"2xx\"") >= 1);
    ck_assert(value_of(&e, "trm_http_requests_total",
                       "route=\"unmatched\",method=\"any\",status=\"4xx\"") >= 1);
    ck_assert(value_of(&e, "trm_http_requests_total",
                       "route=\"/v1/me\",method=\"GET\",status=\"4xx\"") >= 1);
    ck_assert(value_of(&e, "trm_http_request_duration_seconds_count",
                       "route=\"/v1/cases\",method=\"POST\"") >= 1);
    ck_assert(value_of(&e, "trm_db_up", "") == 1);
    ck_assert(value_of(&e, "trm_db_pool_size", "") == 8);
    ck_assert(value_of(&e, "trm_db_round_trips_total", "") > 0);
    ck_assert(value_of(&e, "trm_handover_log_head_seq", "") >= 0);
    ck_assert(value_of(&e, "trm_auth_remembered_tokens", "") >= 1);
    ck_assert(value_of(&e, "process_resident_memory_bytes", "") > 1e6);
    ck_assert(value_of(&e, "trm_http_connections", "") >= 0);

    /* Nothing of the case, its person or the tokens; no id in any label. */
    ck_assert_ptr_null(strstr(body, "Metrics Sentinel"));
    ck_assert_ptr_null(strstr(body, id));
    ck_assert_ptr_null(strstr(body, worker));
    ck_assert_ptr_null(strstr(body, "trm_ey"));
    regex_t uuid;
    regcomp(&uuid, "[0-9a-f]{8}-[0-9a-f]{4}-|[0-9a-f]{24}", REG_EXTENDED | REG_NOSUB);
    for (size_t i = 0; i < e.n_samples; i++)
        ck_assert_msg(regexec(&uuid, e.samples[i].labels, 0, NULL, 0) != 0, "an id in %s{%s}",
                      e.samples[i].name, e.samples[i].labels);
    regfree(&uuid);
    printf("metrics: a scrape of %zu bytes, %zu samples in %zu families, parsed strictly\n",
           strlen(body), e.n_samples, e.n_families);
    exposition_free(&e);
    free(body);
}
END_TEST

START_TEST(metrics_only_on_their_listener)
{
    struct h_resp r;
    h_http(&srv, "GET", "/metrics", NULL, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    long status;
    char ct[256];
    char *body = scrape(srv.metrics_port, "GET", "/v1/me", &status, ct, sizeof ct);
    ck_assert_int_eq(status, 404);
    ck_assert_str_eq(ct, "application/problem+json");
    free(body);
    body = scrape(srv.metrics_port, "POST", "/metrics", &status, ct, sizeof ct);
    ck_assert_int_eq(status, 405);
    free(body);
}
END_TEST

/* The parser itself refuses what the format forbids. */
START_TEST(parser_is_strict)
{
    const char *bad[] = {
        "x 1\n",                                        /* no TYPE */
        "# HELP x h\n# TYPE x gauge\nx 1",              /* no final newline */
        "# HELP x h\n# TYPE x gauge\nx 1\nx 2\n",       /* a series twice */
        "# HELP x h\n# TYPE x gauge\nx{a=\"\\q\"} 1\n", /* a bad escape */
        "# HELP x h\n# TYPE x gauge\nx{1a=\"b\"} 1\n",  /* a bad label name */
        "# HELP x h\n# TYPE x gauge\nx one\n",          /* not a number */
        "# HELP x h\n# TYPE x counter\nx 1\n",          /* counter not _total */
        "# HELP x h\n# TYPE x gauge\n\nx 1\n",          /* an empty line */
        "# HELP x h\n# TYPE x gauge\nx 1\n# HELP y h\n# TYPE y gauge\ny 1\nx{a=\"b\"} 1\n",
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 1\nh_count 1\n", /* falling buckets */
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", /* no +Inf */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct exposition e;
        ck_assert_msg(!parse_exposition(bad[i], &e), "case %zu was accepted", i);
        exposition_free(&e);
    }
    struct exposition e;
    ck_assert_msg(parse_exposition("# HELP h h\n# TYPE h histogram\nh_bucket{a=\"x\",le=\"1\"} 1\n"
                                   "h_bucket{a=\"x\",le=\"+Inf\"} 2\nh_sum{a=\"x\"} 0.5\n"
                                   "h_count{a=\"x\"} 2\n# HELP c_total c\n# TYPE c_total "
                                   "counter\nc_total{b=\"q\\\"\\\\\"} 3 1700000000000\n",
                                   &e),
                  "%s", e.error);
    exposition_free(&e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, parser_is_strict);
    tcase_add_test(tc, scrape_is_strict_prometheus_text);
    tcase_add_test(tc, metrics_only_on_their_listener);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
