/* Request ids (one format whoever answers) and trace ids from W3C traceparent headers. */
#include "check_run.h"

#include <sodium.h>
#include <string.h>

#include "trm/http.h"
#include "trm/request_id.h"

static bool is_hex24(const char *s)
{
    if (strlen(s) != TRM_REQUEST_ID_NEW_LEN)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

START_TEST(new_ids_are_24_hex)
{
    char a[TRM_REQUEST_ID_NEW_LEN + 1], b[TRM_REQUEST_ID_NEW_LEN + 1];
    trm_request_id_new(a);
    trm_request_id_new(b);
    ck_assert(is_hex24(a));
    ck_assert(is_hex24(b));
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(client_ids_echoed_only_when_safe)
{
    char out[TRM_REQUEST_ID_MAX + 1];
    trm_request_id_pick("abc-DEF_1.2", out, TRM_REQUEST_ID_MAX);
    ck_assert_str_eq(out, "abc-DEF_1.2");
    const char *bad[] = {NULL,
                         "",
                         "a b",
                         "x\r\ny",
                         "\"q\"",
                         "a/b",
                         "0123456789012345678901234567890123456789012345678901234567890123456789"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        trm_request_id_pick(bad[i], out, TRM_REQUEST_ID_MAX);
        ck_assert_msg(is_hex24(out), "case %zu gave %s", i, out);
    }
}
END_TEST

START_TEST(traceparent_valid)
{
    char id[TRM_TRACE_ID_LEN + 1];
    ck_assert(
        trm_traceparent_trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", id));
    ck_assert_str_eq(id, "4bf92f3577b34da6a3ce929d0e0e4736");
    /* A later version may append fields. */
    ck_assert(trm_traceparent_trace_id(
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra", id));
    ck_assert(
        trm_traceparent_trace_id(" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ", id));
}
END_TEST

START_TEST(traceparent_invalid)
{
    const char *bad[] = {
        NULL,
        "",
        "garbage",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* upper case */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero parent id */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* 00 has no more */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    /* short trace id */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
    };
    char id[TRM_TRACE_ID_LEN + 1];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(!trm_traceparent_trace_id(bad[i], id), "case %zu accepted", i);
        ck_assert_str_eq(id, "");
    }
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("request_id");
    TCase *tc = tcase_create("request_id");
    tcase_add_test(tc, new_ids_are_24_hex);
    tcase_add_test(tc, client_ids_echoed_only_when_safe);
    tcase_add_test(tc, traceparent_valid);
    tcase_add_test(tc, traceparent_invalid);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
