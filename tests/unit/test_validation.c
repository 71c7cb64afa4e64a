/* One way to validate: the JSON spec (the time kind, checks across fields, messages, the
 * one-line constructors), query parameter lists, and the handler kit's list pages (cursor
 * shapes) and per-request state. */
#include "check_run.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trm/app.h"
#include "trm/config.h"
#include "trm/handler.h"
#include "trm/http_util.h"
#include "trm/json_spec.h"
#include "trm/keyring.h"

START_TEST(times_have_one_shape)
{
    const char *good[] = {"2026-10-02", "2024-02-29", "2026-10-02T00:00:00Z",
                          "2026-12-31T23:59:59Z"};
    const char *bad[] = {"",
                         "yesterday",
                         "2026-02-30",
                         "2026-10-02T",
                         "2026-10-02T24:00:00Z",
                         "2026-10-02T12:60:00Z",
                         "2026-10-02T12:00:60Z",
                         "2026-10-02T 1:00:00Z",
                         "2026-10-02T+1:00:00Z",
                         "2026-10-02T12:00:00",
                         "2026-10-02 12:00:00Z",
                         "2026-10-02T12:00:00+01:00",
                         "2026-10-02T12:00:00.5Z"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(trm_json_is_time(good[i]), "%s", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!trm_json_is_time(bad[i]), "%s", bad[i]);
    ck_assert(trm_json_is_future("2999-01"));
    ck_assert(trm_json_is_future("2999-01-01"));
    ck_assert(trm_json_is_future("2999-01-01T00:00:00Z"));
    ck_assert(!trm_json_is_future("2000-01"));
    ck_assert(!trm_json_is_future("2000-01-01T00:00:00Z"));
}
END_TEST

struct window {
    const char *from, *to;
};

static const char *window_ok(const void *arg, const char **field)
{
    const struct window *w = arg;
    *field = "to";
    return w->from && w->to && strcmp(w->to, w->from) <= 0 ? "must be after from" : NULL;
}

static json_t *errors_of(const char *text, const struct trm_field *spec,
                         enum trm_json_verdict *verdict)
{
    json_t *doc = json_loads(text, 0, NULL), *errors = json_array();
    *verdict = trm_json_validate(doc, spec, "", errors);
    json_decref(doc);
    return errors;
}

START_TEST(checks_across_fields_run_once_the_fields_are_valid)
{
    struct window w = {0};
    const char *kind = NULL;
    static const char *const kinds[] = {"a", "b", NULL};
    const struct trm_field spec[] = {
        TRM_F_ENUM("kind", &kind, kinds, TRM_REQUIRED),
        TRM_F_TIME("from", &w.from, TRM_REQUIRED, .message = "must be a past time"),
        TRM_F_TIME("to", &w.to),
        TRM_F_CHECK(window_ok, &w),
        TRM_F_END,
    };
    enum trm_json_verdict v;
    json_t *e =
        errors_of("{\"kind\": \"a\", \"from\": \"2026-01-02\", \"to\": \"2026-01-03\"}", spec, &v);
    ck_assert_int_eq(v, TRM_JSON_VALID);
    ck_assert_int_eq(json_array_size(e), 0);
    json_decref(e);
    /* Well-formed, but not together: one problem, about the member the check names. */
    w = (struct window){0};
    e = errors_of("{\"kind\": \"a\", \"from\": \"2026-01-02\", \"to\": \"2026-01-01\"}", spec, &v);
    ck_assert_int_eq(v, TRM_JSON_INCONSISTENT);
    ck_assert_int_eq(json_array_size(e), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(e, 0), "pointer")), "/to");
    json_decref(e);
    /* A malformed field: the check does not run; the field's own message is used. */
    w = (struct window){0};
    e = errors_of("{\"kind\": \"c\", \"from\": \"yesterday\", \"to\": \"2026-01-01\", \"\": 1}",
                  spec, &v);
    ck_assert_int_eq(v, TRM_JSON_MALFORMED);
    ck_assert_int_eq(json_array_size(e), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(e, 2), "message")),
                     "must be a past time");
    json_decref(e);
}
END_TEST

static bool even(const char *v)
{
    return strlen(v) % 2 == 0;
}

static void request_with_query(struct trm_request *req, const struct trm_header *q, size_t n)
{
    memset(req, 0, sizeof *req);
    req->method = "GET";
    req->path = "/v1/x";
    req->query = q;
    req->n_query = n;
    strcpy(req->request_id, "test");
}

START_TEST(query_parameters_are_a_list)
{
    static const char *const colours[] = {"red", "blue", NULL};
    const char *colour = NULL, *id = NULL, *from = NULL, *word = NULL, *pair = NULL;
    bool flag = false;
    const struct trm_param params[] = {
        TRM_Q_ENUM("colour", &colour, colours),
        TRM_Q_UUID("id", &id),
        TRM_Q_TIME("from", &from, .detail = "from must be a date or a UTC time."),
        TRM_Q_BOOL("flag", &flag),
        TRM_Q_WORD("word", &word, 5),
        TRM_Q_CHECKED("pair", &pair, even),
        TRM_Q_END,
    };
    struct trm_header good[] = {{"colour", "red"},
                                {"id", "00000000-0000-4000-8000-000000000001"},
                                {"from", "2026-01-01T10:00:00Z"},
                                {"flag", "true"},
                                {"word", "a_b1"},
                                {"pair", "ab"}};
    struct trm_request req;
    struct trm_response res;
    request_with_query(&req, good, 6);
    trm_response_init(&res);
    ck_assert(trm_http_query(&req, &res, params));
    ck_assert_str_eq(colour, "red");
    ck_assert(flag);
    ck_assert_str_eq(pair, "ab");
    ck_assert_int_eq(res.status, 0);
    struct {
        struct trm_header h;
        const char *detail;
    } bad[] = {
        {{"colour", "green"}, "Query parameter colour is not one of the allowed values."},
        {{"id", "x"}, "Query parameter id must be a UUID."},
        {{"from", "2026-01-01T10:00Z"}, "from must be a date or a UTC time."},
        {{"flag", "yes"}, "Query parameter flag must be true or false."},
        {{"word", "toolong"}, "Query parameter word must be a name (a-z, 0-9, _)."},
        {{"word", "Caps"}, "Query parameter word must be a name (a-z, 0-9, _)."},
        {{"pair", "abc"}, "Query parameter pair is not valid."},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        request_with_query(&req, &bad[i].h, 1);
        trm_response_init(&res);
        ck_assert(!trm_http_query(&req, &res, params));
        ck_assert_int_eq(res.status, 400);
        json_t *j = json_loads(res.body, 0, NULL);
        ck_assert_str_eq(json_string_value(json_object_get(j, "code")), "invalid_parameter");
        ck_assert_str_eq(json_string_value(json_object_get(j, "detail")), bad[i].detail);
        json_decref(j);
        trm_response_free(&res);
    }
}
END_TEST

static struct trm_keyring_source *keys(void)
{
    static struct trm_keyring_source *src;
    if (src == NULL) {
        char path[64], err[256];
        ck_assert_int_ge(sodium_init(), 0);
        snprintf(path, sizeof path, "/tmp/trm-validation-%d.key", (int)getpid());
        unlink(path);
        ck_assert(trm_keyring_create_file(path, err, sizeof err));
        ck_assert(trm_keyring_source_open(&src, path, err, sizeof err));
        unlink(path);
    }
    return src;
}

/* A cursor that another list issued is signed by us too: its shape is checked. */
START_TEST(cursors_fit_their_list)
{
    struct trm_config cfg;
    trm_config_defaults(&cfg);
    struct trm_app app = {.config = &cfg, .keys = keys()};
    json_t *items = json_array();
    for (int i = 0; i < 3; i++)
        json_array_append_new(
            items, json_pack("{s:s, s:i}", "id", "00000000-0000-4000-8000-000000000001", "n", i));
    struct trm_page page = {.limit = 2};
    struct trm_response res;
    trm_response_init(&res);
    trm_handler_page_answer(&app, &res, &page, items, (const char *const[]){"n", "id", NULL});
    json_t *body = json_loads(res.body, 0, NULL);
    ck_assert_int_eq(json_array_size(json_object_get(body, "items")), 2);
    char cursor[512], query[600];
    snprintf(cursor, sizeof cursor, "%s", json_string_value(json_object_get(body, "next_cursor")));
    json_decref(body);
    trm_response_free(&res);
    struct trm_header q[] = {{"cursor", cursor}};
    struct trm_request req;
    request_with_query(&req, q, 1);
    trm_response_init(&res);
    ck_assert(trm_handler_page(&app, &req, &res, "iu", &page));
    ck_assert_int_eq(trm_page_number(&page, 0), 1);
    ck_assert_int_eq(trm_page_fetch(&page), TRM_PAGE_DEFAULT + 1);
    trm_request_release(&req);
    const char *wrong[] = {"su", "i", "iuu", "ii"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        request_with_query(&req, q, 1);
        trm_response_init(&res);
        ck_assert_msg(!trm_handler_page(&app, &req, &res, wrong[i], &page), "%s", wrong[i]);
        ck_assert_int_eq(res.status, 400);
        trm_request_release(&req);
        trm_response_free(&res);
    }
    (void)query;
}
END_TEST

static int cleaned;

static void clean(void *state)
{
    json_decref(*(json_t **)state);
    cleaned++;
}

/* The state a handler asks for is freed with its cleaner, once, by trm_request_release. */
START_TEST(handler_state_is_freed_in_one_place)
{
    struct trm_request req = {0};
    json_t **held = trm_handler_state(&req, sizeof *held, clean);
    ck_assert_ptr_nonnull(held);
    ck_assert_ptr_null(*held);
    *held = json_object();
    ck_assert_int_eq(trm_refuse(held, TRM_WHY_STALE, json_array()), TRM_DB_REFUSED);
    trm_request_keep(&req, json_string("kept"));
    trm_request_release(&req);
    ck_assert_int_eq(cleaned, 1);
    ck_assert_ptr_null(req.state);
    ck_assert_ptr_null(req.kept);
    trm_request_release(&req);
    ck_assert_int_eq(cleaned, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("validation");
    TCase *tc = tcase_create("validation");
    tcase_add_test(tc, times_have_one_shape);
    tcase_add_test(tc, checks_across_fields_run_once_the_fields_are_valid);
    tcase_add_test(tc, query_parameters_are_a_list);
    tcase_add_test(tc, cursors_fit_their_list);
    tcase_add_test(tc, handler_state_is_freed_in_one_place);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
