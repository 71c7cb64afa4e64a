/* Failover (docs/deploy.md, "Failover"): a primary with one synchronous streaming standby
 * (synchronous_commit = remote_apply), trmd connected to both through a libpq multi-host
 * connection string with target_session_attrs=read-write. Under concurrent case creations
 * the primary is stopped (immediate: as if its machine died) and the standby promoted.
 * Measured and printed: the requests that failed (only 503 with Retry-After is allowed), the
 * time until writes are served again, and the acknowledged writes lost (none may be: every
 * case acknowledged before the stop is read back after it). Runs on clusters of its own
 * (tests/ops/cluster.sh). */
#include "check_run.h"
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trm/util.h"

static struct h_cluster primary, standby;

static void teardown(void)
{
    if (primary.dir[0])
        h_cluster_sh("stop '%s' immediate >/dev/null 2>&1", primary.dir);
    if (standby.dir[0])
        h_cluster_sh("stop '%s' immediate >/dev/null 2>&1", standby.dir);
}

/* Waits until the primary sees the standby streaming as its synchronous standby. */
static bool standby_is_synchronous(void)
{
    for (int i = 0; i < 1500; i++) {
        char *state = h_cluster_query(
            &primary, "SELECT sync_state FROM pg_stat_replication WHERE application_name = "
                      "'standby1' AND state = 'streaming'");
        bool sync = state && strcmp(state, "sync") == 0;
        free(state);
        if (sync)
            return true;
        usleep(20000);
    }
    return false;
}

static bool found(const struct trmd *t, const char *token, const char *id)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/cases/%s/summary", id);
    struct h_resp r;
    h_api(t, token, "GET", path, NULL, NULL, &r);
    bool ok = r.status == 200;
    h_resp_free(&r);
    return ok;
}

START_TEST(primary_lost_under_writes)
{
    h_cluster_new(&primary, "failover-primary", NULL);
    h_cluster_at(&standby, "failover-standby");
    ck_assert_int_eq(h_cluster_sh("basebackup '%s' '%s' --standby", primary.dir, standby.dir), 0);
    h_cluster_start(&standby, "cluster_name=standby1");
    /* Synchronous from now on, set on the primary only after the standby's copy was taken:
     * once promoted, the standby has no standby of its own to wait for. */
    free(h_cluster_query(&primary, "ALTER SYSTEM SET synchronous_standby_names = 'standby1'"));
    free(h_cluster_query(&primary, "ALTER SYSTEM SET synchronous_commit = 'remote_apply'"));
    free(h_cluster_query(&primary, "SELECT pg_reload_conf()"));
    ck_assert_msg(standby_is_synchronous(), "the standby never became synchronous");

    char url[1600], db_env[1700], agency[37], token[128];
    snprintf(url, sizeof url,
             "host=%s/sock,%s/sock port=5432,5432 dbname=trm user=trm_app "
             "target_session_attrs=read-write",
             primary.dir, standby.dir);
    snprintf(db_env, sizeof db_env, "TRM_DATABASE_URL=%s", url);
    /* A client gives up on a connection attempt after a second (per host). */
    const char *env[] = {db_env, "TRM_DB_CONNECT_TIMEOUT_S=1", NULL};
    struct trmd t;
    h_trmd_start(&t, env);
    h_user_on(primary.owner_url, "caseworker", agency, token);

    struct h_load load;
    h_load_start(&load, &t, token, 4);
    ck_assert(h_load_wait_acks(&load, 40));
    size_t before = h_load_acked(&load);
    long unavailable_before = atomic_load(&load.unavailable);

    /* From here, the primary is gone (pg_ctl returns once it is). */
    h_cluster_stop(&primary, "immediate");
    double stopped = trm_now_ms();
    ck_assert_int_eq(h_cluster_sh("promote '%s'", standby.dir), 0);
    double promoted = trm_now_ms();
    /* Writes again: some cases acknowledged after the stop. */
    ck_assert_msg(h_load_wait_acks(&load, 20), "writes were not served again");
    h_load_stop(&load);

    double again_ms = -1;
    size_t lost = 0, after = 0;
    for (size_t i = 0; i < load.n_acked; i++) {
        /* Served again: the first write sent after the stop that was acknowledged. */
        if (load.acked_sent[i] > stopped) {
            after++;
            if (again_ms < 0 || load.acked_at[i] - stopped < again_ms)
                again_ms = load.acked_at[i] - stopped;
        }
        if (!found(&t, token, load.acked[i])) {
            lost++;
            fprintf(stderr, "failover: case %s was acknowledged and is gone\n", load.acked[i]);
        }
    }
    long failed = atomic_load(&load.unavailable) - unavailable_before;
    printf("failover: primary stopped under 4 writers; %ld requests failed, all 503 with "
           "Retry-After (%ld other answers); writes served again %.0f ms after the stop "
           "(promotion took %.0f ms); %zu cases acknowledged (%zu before the stop, %zu sent after "
           "it), "
           "%zu lost\n",
           failed, atomic_load(&load.other), again_ms, promoted - stopped, load.n_acked, before,
           after, lost);
    ck_assert_msg(atomic_load(&load.other) == 0, "answers other than 201 and 503+Retry-After: %s",
                  load.other_example);
    ck_assert_int_eq(lost, 0);
    ck_assert_int_gt(after, 0);
    ck_assert_int_eq(h_trmd_stop(&t), 0);
    h_cluster_stop(&standby, NULL);
    h_load_free(&load);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("failover");
    TCase *tc = tcase_create("failover");
    tcase_set_timeout(tc, 240);
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, primary_lost_under_writes);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
