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
static char admin[128], agency[37], worker[128], other_agency[37], auditor[128];

struct job {
    int id;
    char keys[PER_WORKER][48];
    char case_ids[PER_WORKER][37];
    char referral_ids[PER_WORKER][37];
    int acknowledged, retried, referrals, transitions;
};

/* Sends until an answer comes back (trmd may be down); returns the status. */
static long until_answered(const char *method, const char *path, const char *body,
                           const char *const *hdr, struct h_resp *keep)
{
    for (int attempt = 0; attempt < 200 && !atomic_load(&done); attempt++) {
        struct trmd now = {.port = atomic_load(&port)};
        struct h_resp r;
        if (!h_api_try(&now, worker, method, path, body, hdr, &r)) {
            usleep(20000);
            continue;
        }
        long status = r.status;
        if (status == 503) {
            h_resp_free(&r);
            usleep(20000);
            continue;
        }
        /* Only a success is kept for the caller; anything else is freed here. */
        if (keep && status / 100 == 2)
            *keep = r;
        else
            h_resp_free(&r);
        return status;
    }
    return 0;
}

/* For some cases: a consent, a referral offer and a step of the SOP, each retried until
 * answered (a retried offer meets the open one: 409; a retried step: 409 or 412). */
static void share(struct job *j, int i)
{
    char path[160], body[400];
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s/consents", j->case_ids[i]);
    snprintf(body, sizeof body,
             "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-01\", \"categories\": "
             "[\"identity\"], \"recipients\": {\"agency_ids\": [\"%s\"]}}",
             other_agency);
    if (until_answered("POST", path, body, NULL, &r) != 201)
        return;
    char cid[37];
    snprintf(cid, sizeof cid, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", j->case_ids[i]);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"referral\", \"purpose\": \"accommodation\", "
             "\"categories\": [\"identity\"], \"legal_basis\": \"consent\", \"consent_id\": "
             "\"%s\", \"handling_code\": \"H1\"}",
             other_agency, cid);
    if (until_answered("POST", path, body, NULL, &r) == 201) {
        snprintf(j->referral_ids[i], 37, "%s", h_str(&r, "id"));
        j->referrals++;
        h_resp_free(&r);
    }
    snprintf(path, sizeof path, "/v1/cases/%s/transitions", j->case_ids[i]);
    const char *hdr[] = {"If-Match: \"1\"", NULL};
    j->transitions +=
        until_answered("POST", path, "{\"transition\": \"open_investigation\"}", hdr, NULL) == 200;
}

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
                if (i % 4 == 0)
                    share(j, i);
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
    h_agency(&srv, admin, "PH", "ngo", other_agency);
    char io[37];
    h_agency(&srv, admin, "SE", "international_org", io);
    h_user(&srv, admin, io, "auditor", true, user, auditor);
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
    int acknowledged = 0, retried = 0, referrals = 0, transitions = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(th[i], NULL);
        acknowledged += jobs[i].acknowledged;
        retried += jobs[i].retried;
        referrals += jobs[i].referrals;
        transitions += jobs[i].transitions;
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
    /* Every acknowledged offer is there, with its handover entry; the chain verifies. */
    for (int w = 0; w < WORKERS; w++) {
        for (int i = 0; i < PER_WORKER; i++) {
            if (jobs[w].referral_ids[i][0] == '\0')
                continue;
            const char *p[] = {jobs[w].referral_ids[i]};
            PGresult *q = PQexecParams(pg,
                                       "SELECT count(*) FROM handover_log WHERE referral_id = $1 "
                                       "AND action = 'offer'",
                                       1, NULL, p, NULL, NULL, 0);
            ck_assert_str_eq(PQgetvalue(q, 0, 0), "1");
            PQclear(q);
        }
    }
    ck_assert_int_eq(scalar(pg, "SELECT max(seq) - count(*) FROM handover_log"), 0);
    PQfinish(pg);
    struct h_resp v;
    h_api(&srv, auditor, "GET", "/v1/handovers/verify", NULL, NULL, &v);
    ck_assert_msg(json_is_true(json_object_get(v.json, "ok")), "%s", v.body);
    h_resp_free(&v);
    printf("crash: %d kills, %d requests acknowledged, %d found in the database, %d interrupted "
           "and retried with their key; %d referrals and %d steps acknowledged, handover log "
           "verified\n",
           KILLS, acknowledged, found, retried, referrals, transitions);
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
