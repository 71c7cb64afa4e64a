/* What an operator watches: the request log lines (duration to the microsecond, one
 * request-id format whoever answered, the trace id of a W3C traceparent header). */
#include "check_run.h"
#include "harness.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct trmd srv;

static void setup(void)
{
    h_trmd_start(&srv, NULL);
}

static void teardown(void)
{
    ck_assert_int_eq(h_trmd_stop(&srv), 0);
}

/* The request line logged with this request id (a new reference), waiting for it: trmd
 * logs a request once libmicrohttpd reports it completed, just after the answer went out. */
static json_t *request_line(const char *request_id, char **raw)
{
    char needle[128];
    snprintf(needle, sizeof needle, "\"request_id\":\"%s\"", request_id);
    for (int attempt = 0; attempt < 200; attempt++) {
        char *log = h_trmd_log(&srv);
        for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
            if (strstr(line, "\"event\":\"request\"") && strstr(line, needle)) {
                json_t *j = json_loads(line, 0, NULL);
                if (raw)
                    *raw = strdup(line);
                free(log);
                return j;
            }
        }
        free(log);
        usleep(20000);
    }
    ck_abort_msg("no request line with request id %s", request_id);
    return NULL;
}

static bool hex24(const char *s)
{
    regex_t re;
    regcomp(&re, "^[0-9a-f]{24}$", REG_EXTENDED | REG_NOSUB);
    bool ok = s && regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

START_TEST(trace_id_from_traceparent)
{
    struct h_resp r;
    const char *h[] = {"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                       "X-Request-Id: obs-trace-1", NULL};
    h_http(&srv, "GET", "/healthz", h, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
    json_t *j = request_line("obs-trace-1", NULL);
    ck_assert_str_eq(json_string_value(json_object_get(j, "trace_id")),
                     "4bf92f3577b34da6a3ce929d0e0e4736");
    json_decref(j);
    /* A malformed one is left out, not logged as it came. */
    const char *bad[] = {"traceparent: 00-NOT-A-TRACE", "X-Request-Id: obs-trace-2", NULL};
    h_http(&srv, "GET", "/healthz", bad, NULL, &r);
    h_resp_free(&r);
    j = request_line("obs-trace-2", NULL);
    ck_assert_ptr_null(json_object_get(j, "trace_id"));
    json_decref(j);
}
END_TEST

START_TEST(duration_rounded_to_microseconds)
{
    struct h_resp r;
    const char *h[] = {"X-Request-Id: obs-duration", NULL};
    h_http(&srv, "GET", "/readyz", h, NULL, &r);
    h_resp_free(&r);
    char *raw = NULL;
    json_t *j = request_line("obs-duration", &raw);
    ck_assert(json_is_number(json_object_get(j, "duration_ms")));
    regex_t re;
    regcomp(&re, "\"duration_ms\":[0-9]+(\\.[0-9]{1,3})?[,}]", REG_EXTENDED | REG_NOSUB);
    ck_assert_msg(regexec(&re, raw, 0, NULL, 0) == 0, "duration not to the microsecond: %s", raw);
    regfree(&re);
    free(raw);
    json_decref(j);
}
END_TEST

/* A 413 answered before the body is read gets an id of the same format as every other
 * answer, in its header, its body and its log line. */
START_TEST(early_413_has_the_same_request_id_format)
{
    char req[512], out[4096];
    int n = snprintf(req, sizeof req,
                     "POST /v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 999999999\r\n\r\n{}");
    h_raw(srv.port, req, (size_t)n, out, sizeof out, 3000);
    ck_assert_msg(strstr(out, " 413 ") != NULL, "%s", out);
    const char *idh = strstr(out, "X-Request-Id: ");
    ck_assert_ptr_nonnull(idh);
    char id[64];
    sscanf(idh + strlen("X-Request-Id: "), "%63[^\r\n]", id);
    ck_assert_msg(hex24(id), "request id %s", id);
    json_t *j = request_line(id, NULL);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 413);
    json_decref(j);
}
END_TEST

/* The contract trmd was built with, served as written and as JSON (the contract check
 * compares both with docs/openapi.yaml in full). */
START_TEST(serves_its_openapi)
{
    struct h_resp r;
    char ct[128];
    h_http(&srv, "GET", "/v1/openapi.yaml", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(h_header(&r, "Content-Type", ct, sizeof ct),
                     "application/yaml; charset=utf-8");
    FILE *f = fopen(TRM_SOURCE_DIR "/docs/openapi.yaml", "rb");
    ck_assert_ptr_nonnull(f);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    ck_assert_uint_eq(r.body_len, n);
    ck_assert(memcmp(r.body, text, n) == 0);
    h_resp_free(&r);
    h_http(&srv, "GET", "/v1/openapi.json", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(h_header(&r, "Content-Type", ct, sizeof ct), "application/json");
    ck_assert_ptr_nonnull(r.json);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "openapi")), "3.1.0");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(r.json, "paths"), "/v1/openapi.json"));
    h_resp_free(&r);
    h_http(&srv, "POST", "/v1/openapi.json", NULL, NULL, &r);
    h_assert_problem(&r, 405, "method_not_allowed");
    h_resp_free(&r);
}
END_TEST

/* Every request line trmd wrote: a request id trmd made is 24 hex digits. */
START_TEST(every_request_line_well_formed)
{
    char *log = h_trmd_log(&srv);
    int n = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "\"event\":\"request\""))
            continue;
        json_t *j = json_loads(line, 0, NULL);
        ck_assert_ptr_nonnull(j);
        const char *id = json_string_value(json_object_get(j, "request_id"));
        ck_assert_msg(id && (hex24(id) || strncmp(id, "obs-", 4) == 0), "%s", line);
        ck_assert(json_is_number(json_object_get(j, "duration_ms")));
        json_decref(j);
        n++;
    }
    ck_assert_int_gt(n, 0);
    free(log);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("observability");
    TCase *tc = tcase_create("logs");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, trace_id_from_traceparent);
    tcase_add_test(tc, duration_rounded_to_microseconds);
    tcase_add_test(tc, early_413_has_the_same_request_id_format);
    tcase_add_test(tc, serves_its_openapi);
    tcase_add_test(tc, every_request_line_well_formed);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
