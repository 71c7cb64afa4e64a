/* The restore drill of docs/deploy.md ("Backups"), as CI runs it: a base backup taken with
 * pg_basebackup while trmd writes cases and handovers, restored into a new data directory
 * and started; there, every case acknowledged before the backup began is read back whole
 * (its sealed person opened with the key file), and the handover log exported from the
 * restored database passes `trmctl verify-log`. Runs on a cluster of its own
 * (tests/ops/cluster.sh), so it disturbs no other test. */
#include "check_run.h"
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trm/util.h"

static struct h_cluster primary, restored;

/* Clusters left running by a failed drill are stopped (an error here is no news). */
static void teardown(void)
{
    if (primary.dir[0])
        h_cluster_sh("stop '%s' immediate >/dev/null 2>&1", primary.dir);
    if (restored.dir[0])
        h_cluster_sh("stop '%s' immediate >/dev/null 2>&1", restored.dir);
}

/* A case, a consent for agency `to` and a referral offer: one handover log entry. False
 * when any answer was not a success (run from a thread: no assertion here). */
static bool handover(const struct trmd *t, const char *token, const char *to)
{
    const char *body = "{\"country\": \"SE\", \"sex\": \"male\", \"age_band\": \"18-20\", "
                       "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
                       "\"identified_month\": \"2026-10\", \"person\": {\"identity\": "
                       "{\"full_name\": \"Drill Referred\"}}}";
    struct h_resp r;
    char path[128], json[512], id[37] = "", cid[37] = "";
    if (!h_api_try(t, token, "POST", "/v1/cases", body, NULL, &r))
        return false;
    if (r.status == 201 && h_str(&r, "id"))
        snprintf(id, sizeof id, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    if (id[0] == '\0')
        return false;
    snprintf(path, sizeof path, "/v1/cases/%s/consents", id);
    snprintf(json, sizeof json,
             "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\", \"categories\": "
             "[\"identity\"], \"recipients\": {\"agency_ids\": [\"%s\"]}}",
             to);
    if (!h_api_try(t, token, "POST", path, json, NULL, &r))
        return false;
    if (r.status == 201 && h_str(&r, "id"))
        snprintf(cid, sizeof cid, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    if (cid[0] == '\0')
        return false;
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", id);
    snprintf(json, sizeof json,
             "{\"to_agency_id\": \"%s\", \"kind\": \"referral\", \"purpose\": \"accommodation\", "
             "\"categories\": [\"identity\"], \"handling_code\": \"H2\", \"legal_basis\": "
             "\"consent\", \"consent_id\": \"%s\"}",
             to, cid);
    if (!h_api_try(t, token, "POST", path, json, NULL, &r))
        return false;
    bool ok = r.status == 201;
    h_resp_free(&r);
    return ok;
}

struct handovers {
    const struct trmd *t;
    const char *token, *to;
    atomic_bool stop;
    atomic_int n, failed;
};

static void *keep_handing_over(void *arg)
{
    struct handovers *h = arg;
    while (!atomic_load(&h->stop)) {
        if (handover(h->t, h->token, h->to))
            atomic_fetch_add(&h->n, 1);
        else
            atomic_fetch_add(&h->failed, 1);
    }
    return NULL;
}

static bool reads_back(const struct trmd *t, const char *token, const char *id, long serial)
{
    char path[128], want[64];
    snprintf(path, sizeof path, "/v1/cases/%s", id);
    snprintf(want, sizeof want, H_LOAD_NAME_FMT, serial);
    struct h_resp r;
    h_api(t, token, "GET", path, NULL, NULL, &r);
    json_t *name = json_object_get(json_object_get(json_object_get(r.json, "person"), "identity"),
                                   "full_name");
    bool ok = r.status == 200 && json_is_string(name) && strcmp(json_string_value(name), want) == 0;
    h_resp_free(&r);
    return ok;
}

/* The export of the handover log and trmctl verify-log over it; its verdict into out. */
static int verify_log(const struct trmd *t, const char *auditor, char *out, size_t cap)
{
    struct h_resp r;
    char pk[80], file[512], args[1024];
    h_api(t, auditor, "GET", "/v1/keys/signing", NULL, NULL, &r);
    h_expect(&r, 200, "signing key");
    snprintf(pk, sizeof pk, "%s", h_str(&r, "public_key"));
    h_resp_free(&r);
    h_api(t, auditor, "GET", "/v1/handovers/export", NULL, NULL, &r);
    h_expect(&r, 200, "export");
    h_tmp_path(file, sizeof file, "restored-log.ndjson");
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fwrite(r.body, 1, r.body_len, f);
    fclose(f);
    h_resp_free(&r);
    /* Entries appended after the last checkpoint signed before the backup are not signed:
     * docs/handover-log.md, "an export taken from a database copy". */
    snprintf(args, sizeof args, "verify-log '%s' --public-key %s --allow-unsigned-tail", file, pk);
    return h_trmctl(args, out, cap);
}

START_TEST(restore_drill)
{
    h_cluster_new(&primary, "drill-primary", NULL);
    const char *fast_checkpoints[] = {"TRM_CHECKPOINT_EVERY_ENTRIES=5",
                                      "TRM_MAINTENANCE_INTERVAL_MS=200", NULL};
    char db_env[800], agency[37], to[37], worker[128], other[128], auditor[128];
    snprintf(db_env, sizeof db_env, "TRM_DATABASE_URL=%s", primary.app_url);
    const char *env[] = {db_env, fast_checkpoints[0], fast_checkpoints[1], NULL};
    struct trmd t;
    h_trmd_start(&t, env);
    h_user_on(primary.owner_url, "caseworker", agency, worker);
    h_user_on(primary.owner_url, "caseworker", to, other);
    h_user_on(primary.owner_url, "auditor", agency, auditor);

    /* Write load: cases from 2 writers, handovers from a third. */
    struct h_load load;
    h_load_start(&load, &t, worker, 2);
    struct handovers hand = {.t = &t, .token = worker, .to = to};
    pthread_t hth;
    pthread_create(&hth, NULL, keep_handing_over, &hand);
    ck_assert(h_load_wait_acks(&load, 30));
    size_t before = h_load_acked(&load);
    int handovers_before = atomic_load(&hand.n);

    char backup[512];
    h_tmp_path(backup, sizeof backup, "drill-backup");
    double t0 = trm_now_ms();
    ck_assert_msg(h_cluster_sh("backup '%s' '%s'", primary.dir, backup) == 0, "pg_basebackup");
    double backup_ms = trm_now_ms() - t0;
    size_t during = h_load_acked(&load) - before;
    atomic_store(&hand.stop, true);
    pthread_join(hth, NULL);
    h_load_stop(&load);
    ck_assert_int_eq(atomic_load(&hand.failed), 0);
    ck_assert_int_gt(atomic_load(&hand.n), 0);
    ck_assert_msg(load.other == 0, "writers got %ld unexpected answers, e.g. %s", load.other,
                  load.other_example);
    ck_assert_int_eq(h_trmd_stop(&t), 0);
    /* The original is gone: what follows stands on the backup alone. */
    h_cluster_stop(&primary, "immediate");

    h_cluster_at(&restored, "drill-restored");
    t0 = trm_now_ms();
    ck_assert_msg(h_cluster_sh("restore '%s' '%s'", backup, restored.dir) == 0,
                  "restore (pg_verifybackup)");
    h_cluster_start(&restored, NULL);
    double restore_ms = trm_now_ms() - t0;
    snprintf(db_env, sizeof db_env, "TRM_DATABASE_URL=%s", restored.app_url);
    const char *renv[] = {db_env, NULL};
    h_trmd_start(&t, renv);
    struct h_resp r;
    h_http(&t, "GET", "/readyz", NULL, NULL, &r);
    h_expect(&r, 200, "restored readyz");
    h_resp_free(&r);

    /* Every case acknowledged before the backup began is there, whole: read through trmd,
     * its person opened. Of those acknowledged while it ran, the backup holds some: counted
     * in the database, in one statement. */
    for (size_t i = 0; i < before; i++)
        ck_assert_msg(reads_back(&t, worker, load.acked[i], load.acked_serial[i]),
                      "case %s, acknowledged before the backup, is not restored", load.acked[i]);
    size_t cap = during * 40 + 64, len = 0;
    char *sql = malloc(cap);
    len += (size_t)snprintf(sql, cap,
                            "SELECT count(*) FROM cases WHERE id IN ('00000000-0000-"
                            "0000-0000-000000000000'");
    for (size_t i = before; i < before + during; i++)
        len += (size_t)snprintf(sql + len, cap - len, ",'%s'", load.acked[i]);
    snprintf(sql + len, cap - len, ")");
    char *n = h_cluster_query(&restored, sql);
    ck_assert_ptr_nonnull(n);
    size_t found_during = (size_t)atol(n);
    free(n);
    free(sql);
    char verdict[1024];
    int rc = verify_log(&t, auditor, verdict, sizeof verdict);
    ck_assert_msg(rc == 0, "verify-log on the restored database: %s", verdict);
    ck_assert_ptr_nonnull(strstr(verdict, "checkpoints verified"));
    char *size = h_cluster_query(&restored, "SELECT pg_size_pretty(pg_database_size('trm'))");
    printf("restore: pg_basebackup under load took %.0f ms (database %s); restore, "
           "pg_verifybackup and start %.0f ms; %zu cases acknowledged before the backup all read "
           "back, %zu of %zu acknowledged while it ran are in it; %d handovers before it; "
           "verify-log: %s\n",
           backup_ms, size ? size : "?", restore_ms, before, found_during, during, handovers_before,
           verdict);
    free(size);
    ck_assert_int_eq(h_trmd_stop(&t), 0);
    h_cluster_stop(&restored, NULL);
    h_load_free(&load);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("backup_restore");
    TCase *tc = tcase_create("drill");
    tcase_set_timeout(tc, 240);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, restore_drill);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
