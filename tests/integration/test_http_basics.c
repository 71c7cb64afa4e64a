/* The HTTP surface every endpoint shares: health, readiness, problems for unknown paths
 * and methods, request ids, body limits, hostile framing that must never crash trmd. */
#include "check_run.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static struct trmd srv;

static void setup(void)
{
    h_trmd_start(&srv, NULL);
}

static void teardown(void)
{
    ck_assert_int_eq(h_trmd_stop(&srv), 0);
}

START_TEST(healthz_and_readyz)
{
    struct h_resp r;
    char buf[128];
    h_http(&srv, "GET", "/healthz", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ok");
    ck_assert_ptr_nonnull(h_header(&r, "X-Request-Id", buf, sizeof buf));
    ck_assert_str_eq(h_header(&r, "Cache-Control", buf, sizeof buf), "no-store");
    h_resp_free(&r);
    h_http(&srv, "GET", "/readyz", NULL, NULL, &r);
    ck_assert_msg(r.status == 200, "readyz: %s", r.body);
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ready");
    h_resp_free(&r);
    h_http(&srv, "HEAD", "/healthz", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
}
END_TEST

START_TEST(unknown_path_is_problem_404)
{
    struct h_resp r;
    h_http(&srv, "GET", "/no/such/thing", NULL, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    h_http(&srv, "GET", "/healthz/../readyz", NULL, NULL, &r);
    ck_assert(r.status == 404 || r.status == 400);
    h_resp_free(&r);
}
END_TEST

START_TEST(wrong_method_is_405_with_allow)
{
    struct h_resp r;
    char allow[128];
    h_http(&srv, "DELETE", "/readyz", NULL, NULL, &r);
    h_assert_problem(&r, 405, "method_not_allowed");
    ck_assert_str_eq(h_header(&r, "Allow", allow, sizeof allow), "GET, HEAD");
    h_resp_free(&r);
}
END_TEST

START_TEST(request_id_echoed_only_when_sane)
{
    struct h_resp r;
    char buf[128];
    const char *good[] = {"X-Request-Id: abc-123.def_4", NULL};
    h_http(&srv, "GET", "/nowhere", good, NULL, &r);
    ck_assert_str_eq(h_header(&r, "X-Request-Id", buf, sizeof buf), "abc-123.def_4");
    ck_assert_str_eq(json_string_value(json_object_get(r.json, "request_id")), "abc-123.def_4");
    h_resp_free(&r);
    const char *bad[] = {"X-Request-Id: <script>alert(1)</script>", NULL};
    h_http(&srv, "GET", "/healthz", bad, NULL, &r);
    ck_assert_ptr_nonnull(h_header(&r, "X-Request-Id", buf, sizeof buf));
    ck_assert_ptr_null(strchr(buf, '<'));
    h_resp_free(&r);
}
END_TEST

START_TEST(declared_body_over_limit_is_413)
{
    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[n] = '\0';
    struct h_resp r;
    const char *hdr[] = {"Content-Type: application/json", NULL};
    h_http(&srv, "POST", "/healthz", hdr, big, &r);
    h_assert_problem(&r, 413, "payload_too_large");
    h_resp_free(&r);
    free(big);
}
END_TEST

START_TEST(chunked_body_over_limit_is_413)
{
    /* 2 MiB in 64 KiB chunks, no Content-Length. */
    size_t chunk = 65536, count = 32;
    size_t cap = 256 + count * (chunk + 16);
    char *req = malloc(cap), *resp = malloc(65536);
    size_t len = (size_t)snprintf(req, cap,
                                  "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                  "application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t i = 0; i < count; i++) {
        len += (size_t)snprintf(req + len, cap - len, "%zx\r\n", chunk);
        memset(req + len, 'b', chunk);
        len += chunk;
        memcpy(req + len, "\r\n", 2);
        len += 2;
    }
    memcpy(req + len, "0\r\n\r\n", 5);
    len += 5;
    h_raw(srv.port, req, len, resp, 65536, 5000);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 413", 12) == 0, "got: %.80s", resp);
    ck_assert_ptr_nonnull(strstr(resp, "application/problem+json"));
    free(req);
    free(resp);
}
END_TEST

START_TEST(conflicting_framing_is_refused)
{
    char resp[8192];
    const char *two_cl = "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: 2\r\nContent-Length: 4\r\n\r\n{}";
    h_raw(srv.port, two_cl, strlen(two_cl), resp, sizeof resp, 3000);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 400", 12) == 0, "two Content-Length: %.80s", resp);
    const char *cl_te =
        "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    h_raw(srv.port, cl_te, strlen(cl_te), resp, sizeof resp, 3000);
    ck_assert_msg(strncmp(resp, "HTTP/1.1 400", 12) == 0, "CL with TE: %.80s", resp);
    ck_assert(h_trmd_alive(&srv));
}
END_TEST

START_TEST(malformed_requests_never_crash)
{
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nNoColonHeader\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\n: empty-name\r\n\r\n",
        "\x01\x02\x03\x04\r\n\r\n",
        "GET /%00%ff%c0%af HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
    };
    char resp[8192];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        h_raw(srv.port, bad[i], strlen(bad[i]), resp, sizeof resp, 2000);
        /* 505 for an unknown HTTP version is a fair answer; no other 5xx is. */
        ck_assert_msg(strncmp(resp, "HTTP/1.1 5", 10) != 0 ||
                          strncmp(resp, "HTTP/1.1 505", 12) == 0,
                      "case %zu gave %.40s", i, resp);
        ck_assert_msg(h_trmd_alive(&srv), "trmd died on case %zu", i);
    }
    /* A header block larger than the per-connection memory limit. */
    size_t n = 100000;
    char *huge = malloc(n + 64);
    int len = snprintf(huge, 64, "GET /healthz HTTP/1.1\r\nX-Big: ");
    memset(huge + len, 'x', n);
    memcpy(huge + len + n, "\r\n\r\n", 5);
    h_raw(srv.port, huge, strlen(huge), resp, sizeof resp, 3000);
    free(huge);
    ck_assert(h_trmd_alive(&srv));
    struct h_resp r;
    h_http(&srv, "GET", "/healthz", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    h_resp_free(&r);
}
END_TEST

START_TEST(too_many_headers_is_431)
{
    const char *hdr[80];
    char lines[79][32];
    for (int i = 0; i < 79; i++) {
        snprintf(lines[i], sizeof lines[i], "X-Filler-%d: %d", i, i);
        hdr[i] = lines[i];
    }
    hdr[79] = NULL;
    struct h_resp r;
    h_http(&srv, "GET", "/healthz", hdr, NULL, &r);
    h_assert_problem(&r, 431, "headers_too_large");
    h_resp_free(&r);
}
END_TEST

START_TEST(request_log_has_no_query_values)
{
    struct h_resp r;
    h_http(&srv, "GET", "/healthz?name=SENTINEL-Query-Value", NULL, NULL, &r);
    h_resp_free(&r);
    char *log = h_trmd_log(&srv);
    ck_assert_ptr_null(strstr(log, "SENTINEL-Query-Value"));
    ck_assert_ptr_nonnull(strstr(log, "\"event\":\"request\""));
    free(log);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_basics");
    TCase *tc = tcase_create("http");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, healthz_and_readyz);
    tcase_add_test(tc, unknown_path_is_problem_404);
    tcase_add_test(tc, wrong_method_is_405_with_allow);
    tcase_add_test(tc, request_id_echoed_only_when_sane);
    tcase_add_test(tc, declared_body_over_limit_is_413);
    tcase_add_test(tc, chunked_body_over_limit_is_413);
    tcase_add_test(tc, conflicting_framing_is_refused);
    tcase_add_test(tc, malformed_requests_never_crash);
    tcase_add_test(tc, too_many_headers_is_431);
    tcase_add_test(tc, request_log_has_no_query_values);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
