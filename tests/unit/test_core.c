/* The request core without a socket: routing, problems, request hygiene, request ids. */
#include "check_run.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "trm/app.h"
#include "trm/config.h"
#include "trm/http.h"

static struct trm_config cfg;
static struct trm_app app;

static void setup(void)
{
    trm_config_defaults(&cfg);
    app.config = &cfg;
}

static json_t *run(const char *method, const char *path, const struct trm_header *h, size_t nh,
                   const char *body, struct trm_response *res)
{
    struct trm_request req = {.method = method,
                              .path = path,
                              .headers = h,
                              .n_headers = nh,
                              .body = body ? body : "",
                              .body_len = body ? strlen(body) : 0};
    trm_response_init(res);
    trm_app_handle(&app, &req, res);
    return res->body ? json_loads(res->body, 0, NULL) : NULL;
}

static const char *header(const struct trm_response *res, const char *name)
{
    for (size_t i = 0; i < res->n_headers; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}

START_TEST(unknown_path_404_problem)
{
    struct trm_response res;
    json_t *j = run("GET", "/v1/nothing", NULL, 0, NULL, &res);
    ck_assert_int_eq(res.status, 404);
    ck_assert_str_eq(res.content_type, "application/problem+json");
    ck_assert_str_eq(json_string_value(json_object_get(j, "code")), "not_found");
    ck_assert_str_eq(json_string_value(json_object_get(j, "type")), "urn:trm:problem:not_found");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 404);
    ck_assert_ptr_nonnull(header(&res, "X-Request-Id"));
    ck_assert_str_eq(header(&res, "X-Request-Id"),
                     json_string_value(json_object_get(j, "request_id")));
    ck_assert_str_eq(header(&res, "Cache-Control"), "no-store");
    json_decref(j);
    trm_response_free(&res);
}
END_TEST

START_TEST(wrong_method_405_allow)
{
    struct trm_response res;
    json_t *j = run("PUT", "/healthz", NULL, 0, NULL, &res);
    ck_assert_int_eq(res.status, 405);
    ck_assert_str_eq(header(&res, "Allow"), "GET, HEAD");
    json_decref(j);
    trm_response_free(&res);
    j = run("HEAD", "/healthz", NULL, 0, NULL, &res);
    ck_assert_int_eq(res.status, 200);
    json_decref(j);
    trm_response_free(&res);
}
END_TEST

START_TEST(framing_conflicts_400)
{
    struct trm_response res;
    struct trm_header two[] = {{"Content-Length", "2"}, {"content-length", "2"}};
    json_t *j = run("GET", "/healthz", two, 2, NULL, &res);
    ck_assert_int_eq(res.status, 400);
    json_decref(j);
    trm_response_free(&res);
    struct trm_header te[] = {{"Content-Length", "2"}, {"Transfer-Encoding", "chunked"}};
    j = run("GET", "/healthz", te, 2, NULL, &res);
    ck_assert_int_eq(res.status, 400);
    json_decref(j);
    trm_response_free(&res);
}
END_TEST

START_TEST(limits_and_hygiene)
{
    struct trm_response res;
    struct trm_header many[100];
    for (int i = 0; i < 100; i++)
        many[i] = (struct trm_header){"X-A", "b"};
    json_t *j = run("GET", "/healthz", many, 100, NULL, &res);
    ck_assert_int_eq(res.status, 431);
    json_decref(j);
    trm_response_free(&res);

    char *path = malloc(5000);
    memset(path, 'a', 4999);
    path[0] = '/';
    path[4999] = '\0';
    j = run("GET", path, NULL, 0, NULL, &res);
    ck_assert_int_eq(res.status, 414);
    json_decref(j);
    trm_response_free(&res);
    free(path);

    j = run("GET", "healthz", NULL, 0, NULL, &res);
    ck_assert_int_eq(res.status, 400);
    json_decref(j);
    trm_response_free(&res);

    struct trm_request req = {.method = "POST", .path = "/healthz", .body = "{\0}", .body_len = 3};
    trm_response_init(&res);
    trm_app_handle(&app, &req, &res);
    ck_assert_int_eq(res.status, 400);
    trm_response_free(&res);
}
END_TEST

START_TEST(request_id_sanitised)
{
    struct trm_response res;
    struct trm_header good[] = {{"x-request-id", "req-1.A_b"}};
    json_t *j = run("GET", "/healthz", good, 1, NULL, &res);
    ck_assert_str_eq(header(&res, "X-Request-Id"), "req-1.A_b");
    json_decref(j);
    trm_response_free(&res);
    struct trm_header bad[] = {{"X-Request-Id", "a\"b\r\nSet-Cookie: x"}};
    j = run("GET", "/healthz", bad, 1, NULL, &res);
    ck_assert_int_eq((int)strlen(header(&res, "X-Request-Id")), 24);
    json_decref(j);
    trm_response_free(&res);
}
END_TEST

START_TEST(router_params_and_truncation)
{
    static void (*const h)(struct trm_app *, struct trm_request *, struct trm_response *) = NULL;
    const struct trm_route routes[] = {
        {"GET", "/v1/cases/{}", h, 0, TRM_ACT_NONE},
        {"POST", "/v1/cases/{}/transitions", h, 0, TRM_ACT_NONE},
        {"GET", "/v1/cases/{}/transitions", h, 0, TRM_ACT_NONE},
    };
    char store[TRM_MAX_PATH_PARAMS][72], allow[64];
    const struct trm_route *found = NULL;
    struct trm_request req = {.method = "GET", .path = "/v1/cases/abc"};
    ck_assert_int_eq(trm_route_find(routes, 3, &req, store, &found, allow, sizeof allow),
                     TRM_ROUTE_FOUND);
    ck_assert_str_eq(req.params[0], "abc");
    req = (struct trm_request){.method = "DELETE", .path = "/v1/cases/abc/transitions"};
    ck_assert_int_eq(trm_route_find(routes, 3, &req, store, &found, allow, sizeof allow),
                     TRM_ROUTE_NO_METHOD);
    ck_assert_str_eq(allow, "POST, GET, HEAD");
    req = (struct trm_request){.method = "GET", .path = "/v1/cases/"};
    ck_assert_int_eq(trm_route_find(routes, 3, &req, store, &found, allow, sizeof allow),
                     TRM_ROUTE_NO_PATH);
    req = (struct trm_request){.method = "GET", .path = "/v1/cases/a/b/c"};
    ck_assert_int_eq(trm_route_find(routes, 3, &req, store, &found, allow, sizeof allow),
                     TRM_ROUTE_NO_PATH);
    char longpath[300] = "/v1/cases/";
    memset(longpath + 10, 'x', 200);
    longpath[210] = '\0';
    req = (struct trm_request){.method = "GET", .path = longpath};
    ck_assert_int_eq(trm_route_find(routes, 3, &req, store, &found, allow, sizeof allow),
                     TRM_ROUTE_FOUND);
    ck_assert_str_eq(req.params[0], "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, unknown_path_404_problem);
    tcase_add_test(tc, wrong_method_405_allow);
    tcase_add_test(tc, framing_conflicts_400);
    tcase_add_test(tc, limits_and_hygiene);
    tcase_add_test(tc, request_id_sanitised);
    tcase_add_test(tc, router_params_and_truncation);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
