/* Crash safety: under concurrent writes, trmd is killed with SIGKILL at random moments and
 * restarted, 20 times. Afterwards every request that got a 2xx is in the database, no case
 * is half-written, every interrupted request retried with its Idempotency-Key created its
 * case exactly once, and the handover log verifies. */
#include "check_run.h"
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKERS 4
#define PER_WORKER 400
#define KILLS 20

static struct trmd srv;
static atomic_uint port;
static atomic_bool done;
static char admin[128], agency[37], worker[128];

struct job {
    int id;
    char keys[PER_WORKER][48];
    char case_ids[PER_WORKER][37];
    int acknowledged, retried;
};

/* One create with a key; retries the same key until it is answered (the point of keys). */
static void *work(void *arg)
{
    struct job *j = arg;
    const char *body = "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
                       "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
                       "\"identified_month\": \"2026-10\", \"person\": {\"identity\": "
                       "{\"full_name\": \"Crash Test\"}}}";
    for (int i = 0; i < PER_WORKER && !atomic_load(&done); i++) {
        snprintf(j->keys[i], sizeof j->keys[i], "crash-%d-%d-%d", (int)getpid(), j->id, i);
        char hdr[96];
        snprintf(hdr, sizeof hdr, "Idempotency-Key: %s", j->keys[i]);
        for (int attempt = 0; attempt < 200; attempt++) {
            struct trmd now = {.port = atomic_load(&port)};
            const char *h[] = {hdr, NULL};
            struct h_resp r;
            if (!h_api_try(&now, worker, "POST", "/v1/cases", body, h, &r)) {
                j->retried += attempt == 0;
                usleep(20000);
                continue;
            }
            if (r.status == 201)
                snprintf(j->case_ids[i], 37, "%s", h_str(&r, "id"));
            long status = r.status;
            h_resp_free(&r);
            if (status == 201) {
                j->acknowledged++;
                break;
            }
            usleep(20000); /* 503 while the database or trmd comes back */
        }
    }
    return NULL;
}

static long scalar(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

START_TEST(kill_nine_twenty_times)
{
    char user[37];
    h_trmd_start(&srv, NULL);
    h_admin(admin, "SE");
    h_agency(&srv, admin, "SE", "ngo", agency);
    h_user(&srv, admin, agency, "caseworker", false, user, worker);
    atomic_store(&port, srv.port);
    struct job *jobs = calloc(WORKERS, sizeof *jobs);
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        jobs[i].id = i;
        pthread_create(&th[i], NULL, work, &jobs[i]);
    }
    for (int k = 0; k < KILLS; k++) {
        usleep((useconds_t)(100000 + rand() % 300000));
        kill(srv.pid, SIGKILL);
        h_trmd_reap(&srv);
        h_trmd_start(&srv, NULL);
        atomic_store(&port, srv.port);
    }
    usleep(500000);
    atomic_store(&done, true);
    int acknowledged = 0, retried = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        acknowledged += jobs[i].acknowledged;
        retried += jobs[i].retried;
    }
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    int found = 0;
    for (int w = 0; w < WORKERS; w++) {
        for (int i = 0; i < PER_WORKER; i++) {
            if (jobs[w].case_ids[i][0] == '\0')
                continue;
            const char *p[] = {jobs[w].case_ids[i], jobs[w].keys[i]};
            PGresult *r = PQexecParams(pg,
                                       "SELECT (SELECT count(*) FROM cases WHERE id = $1), "
                                       "(SELECT count(*) FROM idempotency_keys WHERE key = $2)",
                                       2, NULL, p, NULL, NULL, 0);
            ck_assert_str_eq(PQgetvalue(r, 0, 0), "1");
            ck_assert_str_eq(PQgetvalue(r, 0, 1), "1"); /* once, however often retried */
            found++;
            PQclear(r);
        }
    }
    /* No case half-written: each has its key, its tracks and its creation event. */
    ck_assert_int_eq(scalar(pg, "SELECT count(*) FROM cases c WHERE personal_data_erased_at IS "
                                "NULL AND NOT EXISTS (SELECT 1 FROM case_keys k WHERE "
                                "k.case_id = c.id)"),
                     0);
    ck_assert_int_eq(scalar(pg, "SELECT count(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM "
                                "case_tracks t WHERE t.case_id = c.id)"),
                     0);
    ck_assert_int_eq(scalar(pg, "SELECT count(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM "
                                "case_events e WHERE e.case_id = c.id AND e.kind = 'created')"),
                     0);
    /* Every key names exactly one case. */
    ck_assert_int_eq(scalar(pg, "SELECT count(*) FROM idempotency_keys i WHERE key LIKE "
                                "'crash-%' AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = "
                                "i.resource_id)"),
                     0);
    PQfinish(pg);
    printf("crash: %d kills, %d requests acknowledged, %d found in the database, %d interrupted "
           "and retried with their key\n",
           KILLS, acknowledged, found, retried);
    ck_assert_int_eq(found, acknowledged);
    ck_assert_int_gt(acknowledged, 0);
    ck_assert_int_eq(h_trmd_stop(&srv), 0);
    free(jobs);
}
END_TEST

int main(void)
{
    srand((unsigned)getpid());
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("crash");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, kill_nine_twenty_times);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
