/* PostgreSQL stops under a running trmd: /readyz answers 503 problem+json with Retry-After
 * quickly, nothing crashes, and after PostgreSQL returns trmd is ready again without a
 * restart. Runs alone (RUN_SERIAL): it stops the shared test database. */
#include "check_run.h"
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
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

    h_pg_start();
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

/* Writers and readers keep going while PostgreSQL stops and starts: every answer is a 2xx
 * or a 503 problem with Retry-After, none hangs, trmd stays up, and after the database
 * returns every request succeeds again. */
struct load {
    const struct trmd *t;
    const char *token;
    atomic_bool stop;
    atomic_long ok, unavailable, other;
    double worst_ms;
};

static void *hammer(void *arg)
{
    struct load *l = arg;
    const char *body = "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
                       "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
                       "\"identified_month\": \"2026-10\"}";
    for (int i = 0; !atomic_load(&l->stop); i++) {
        struct h_resp r;
        double t0 = trm_now_ms();
        if (i % 2)
            h_api(l->t, l->token, "POST", "/v1/cases", body, NULL, &r);
        else
            h_api(l->t, l->token, "GET", "/v1/me", NULL, NULL, &r);
        double ms = trm_now_ms() - t0;
        if (ms > l->worst_ms)
            l->worst_ms = ms;
        char retry[16];
        if (r.status == 200 || r.status == 201)
            atomic_fetch_add(&l->ok, 1);
        else if (r.status == 503 && h_header(&r, "Retry-After", retry, sizeof retry))
            atomic_fetch_add(&l->unavailable, 1);
        else
            atomic_fetch_add(&l->other, 1);
        h_resp_free(&r);
    }
    return NULL;
}

START_TEST(outage_under_load)
{
    struct trmd t;
    h_trmd_start(&t, NULL);
    char admin[128], agency[37], user[37], worker[128];
    h_admin(admin, "SE");
    h_agency(&t, admin, "SE", "ngo", agency);
    h_user(&t, admin, agency, "caseworker", false, user, worker);
    struct load l = {.t = &t, .token = worker};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, hammer, &l);
    usleep(500000);
    ck_assert_int_eq(h_sh(h_env("TRM_TEST_PG_STOP")), 0);
    usleep(1500000);
    long down = atomic_load(&l.unavailable);
    h_pg_start();
    double back = trm_now_ms();
    /* Within a couple of seconds of the return, requests succeed again. */
    struct h_resp r;
    long status = 0;
    while (trm_now_ms() - back < 30000) {
        h_api(&t, worker, "GET", "/v1/me", NULL, NULL, &r);
        status = r.status;
        h_resp_free(&r);
        if (status == 200)
            break;
        usleep(50000);
    }
    double recovered_ms = trm_now_ms() - back;
    ck_assert_int_eq(status, 200);
    usleep(500000);
    atomic_store(&l.stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    /* No connection left broken in the pool: a run of requests all succeed. */
    for (int i = 0; i < 40; i++) {
        h_api(&t, worker, "GET", "/v1/me", NULL, NULL, &r);
        ck_assert_int_eq(r.status, 200);
        h_resp_free(&r);
    }
    printf("db_outage: under load %ld ok, %ld answered 503 with Retry-After (%ld while down), "
           "%ld other; slowest answer %.0f ms; serving again %.0f ms after the restart\n",
           atomic_load(&l.ok), atomic_load(&l.unavailable), down, atomic_load(&l.other), l.worst_ms,
           recovered_ms);
    ck_assert_int_eq(atomic_load(&l.other), 0);
    ck_assert_int_gt(down, 0);
    ck_assert(h_trmd_alive(&t));
    ck_assert_int_eq(h_trmd_stop(&t), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("db_outage");
    TCase *tc = tcase_create("outage");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, readyz_follows_the_database);
    tcase_add_test(tc, outage_under_load);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
