/* PostgreSQL stops under a running trmd: /readyz answers 503 problem+json with Retry-After
 * quickly, nothing crashes, and after PostgreSQL returns trmd is ready again without a
 * restart. Runs alone (RUN_SERIAL): it stops the shared test database. */
#include "check_run.h"
#include "harness.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "trm/util.h"

static long ready_status(const struct trmd *t, struct h_resp *r)
{
    h_http(t, "GET", "/readyz", NULL, NULL, r);
    return r->status;
}

START_TEST(readyz_follows_the_database)
{
    struct trmd t;
    h_trmd_start(&t, NULL);
    struct h_resp r;
    ck_assert_int_eq(ready_status(&t, &r), 200);
    h_resp_free(&r);

    ck_assert_int_eq(h_sh(h_env("TRM_TEST_PG_STOP")), 0);
    double t0 = trm_now_ms();
    long status = 0;
    while (trm_now_ms() - t0 < 20000) {
        status = ready_status(&t, &r);
        if (status == 503)
            break;
        h_resp_free(&r);
        usleep(50000);
    }
    double down_ms = trm_now_ms() - t0;
    h_assert_problem(&r, 503, "not_ready");
    char retry[32];
    ck_assert_ptr_nonnull(h_header(&r, "Retry-After", retry, sizeof retry));
    h_resp_free(&r);
    /* While the database is down, every request still gets an answer. */
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(ready_status(&t, &r), 503);
        h_resp_free(&r);
        h_http(&t, "GET", "/healthz", NULL, NULL, &r);
        ck_assert_int_eq(r.status, 200);
        h_resp_free(&r);
    }
    ck_assert(h_trmd_alive(&t));

    ck_assert_int_eq(h_sh(h_env("TRM_TEST_PG_START")), 0);
    t0 = trm_now_ms();
    while (trm_now_ms() - t0 < 30000) {
        status = ready_status(&t, &r);
        h_resp_free(&r);
        if (status == 200)
            break;
        usleep(50000);
    }
    double up_ms = trm_now_ms() - t0;
    ck_assert_int_eq(status, 200);
    /* No connection is left broken in the pool: many requests in a row all succeed. */
    for (int i = 0; i < 40; i++) {
        ck_assert_int_eq(ready_status(&t, &r), 200);
        h_resp_free(&r);
    }
    printf("db_outage: readyz 503 %.0f ms after the stop, 200 %.0f ms after the start\n", down_ms,
           up_ms);
    ck_assert_int_eq(h_trmd_stop(&t), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("db_outage");
    TCase *tc = tcase_create("outage");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, readyz_follows_the_database);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
