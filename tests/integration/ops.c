/* Helpers of the operations drills (see ops.h). */
#include "ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trm/util.h"

int h_cluster_sh(const char *fmt, ...)
{
    char args[2048], cmd[2600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s/tests/ops/cluster.sh' %s", TRM_SOURCE_DIR, args);
    return h_sh(cmd);
}

void h_cluster_at(struct h_cluster *c, const char *name)
{
    h_tmp_path(c->dir, sizeof c->dir, name);
    snprintf(c->owner_url, sizeof c->owner_url, "host=%s/sock port=5432 dbname=trm user=trm_owner",
             c->dir);
    snprintf(c->app_url, sizeof c->app_url, "host=%s/sock port=5432 dbname=trm user=trm_app",
             c->dir);
}

void h_cluster_start(const struct h_cluster *c, const char *settings)
{
    ck_assert_msg(h_cluster_sh("start '%s' %s", c->dir, settings ? settings : "") == 0,
                  "the cluster %s did not start (see its pg.log)", c->dir);
}

void h_cluster_new(struct h_cluster *c, const char *name, const char *settings)
{
    h_cluster_at(c, name);
    ck_assert_int_eq(h_cluster_sh("init '%s' >/dev/null", c->dir), 0);
    h_cluster_start(c, settings);
    ck_assert_int_eq(h_cluster_sh("trm '%s' '%s'", c->dir, TRMCTL_PATH), 0);
}

void h_cluster_stop(const struct h_cluster *c, const char *mode)
{
    ck_assert_int_eq(h_cluster_sh("stop '%s' %s", c->dir, mode ? mode : "fast"), 0);
}

char *h_cluster_query(const struct h_cluster *c, const char *sql)
{
    char out[600];
    static int serial;
    snprintf(out, sizeof out, "%s/query-%d.out", c->dir, serial++);
    size_t cap = strlen(sql) + 2048;
    char *cmd = malloc(cap);
    snprintf(cmd, cap, "'%s/tests/ops/cluster.sh' psql '%s' \"%s\" >'%s' 2>&1", TRM_SOURCE_DIR,
             c->dir, sql, out);
    int rc = h_sh(cmd);
    free(cmd);
    FILE *f = fopen(out, "r");
    char buf[512] = "";
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    unlink(out);
    return rc == 0 ? strdup(buf) : NULL;
}

void h_user_on(const char *owner_url, const char *role, char agency[37], char token[128])
{
    static int serial;
    char args[512], user[128];
    setenv("TRM_OPS_OWNER_URL", owner_url, 1);
    snprintf(args, sizeof args, "agency add --name 'Drill agency %d-%d' --country SE --kind ngo",
             (int)getpid(), serial++);
    ck_assert_int_eq(h_trmctl_with("TRM_OPS_OWNER_URL", h_key_file(), args, agency, 37), 0);
    snprintf(args, sizeof args, "user add --agency %s --role %s --name 'Drill %s'", agency, role,
             role);
    ck_assert_int_eq(h_trmctl_with("TRM_OPS_OWNER_URL", h_key_file(), args, user, sizeof user), 0);
    snprintf(args, sizeof args, "token issue --user %s --expires-days 1", user);
    ck_assert_int_eq(h_trmctl_with("TRM_OPS_OWNER_URL", h_key_file(), args, token, 128), 0);
}

static void remember(struct h_load *l, const char *id, long serial, double sent)
{
    pthread_mutex_lock(&l->lock);
    if (l->n_acked == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->acked = realloc(l->acked, l->cap * sizeof *l->acked);
        l->acked_at = realloc(l->acked_at, l->cap * sizeof *l->acked_at);
        l->acked_sent = realloc(l->acked_sent, l->cap * sizeof *l->acked_sent);
        l->acked_serial = realloc(l->acked_serial, l->cap * sizeof *l->acked_serial);
    }
    snprintf(l->acked[l->n_acked], 37, "%s", id);
    l->acked_at[l->n_acked] = trm_now_ms();
    l->acked_serial[l->n_acked] = serial;
    l->acked_sent[l->n_acked] = sent;
    l->n_acked++;
    pthread_mutex_unlock(&l->lock);
}

static void *writer(void *arg)
{
    struct h_load *l = arg;
    while (!atomic_load(&l->stop)) {
        long n = atomic_fetch_add(&l->serial, 1);
        char body[1024];
        snprintf(body, sizeof body,
                 "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
                 "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
                 "\"identified_month\": \"2026-10\", \"person\": {\"identity\": "
                 "{\"full_name\": \"" H_LOAD_NAME_FMT "\"}}}",
                 n);
        struct h_resp r;
        char retry[16];
        double sent = trm_now_ms();
        if (!h_api_try(l->t, l->token, "POST", "/v1/cases", body, NULL, &r)) {
            atomic_fetch_add(&l->other, 1);
            snprintf(l->other_example, sizeof l->other_example, "no answer");
            usleep(20000);
            continue;
        }
        const char *id = h_str(&r, "id");
        if (r.status == 201 && id)
            remember(l, id, n, sent);
        else if (r.status == 503 && h_header(&r, "Retry-After", retry, sizeof retry))
            atomic_fetch_add(&l->unavailable, 1);
        else {
            atomic_fetch_add(&l->other, 1);
            snprintf(l->other_example, sizeof l->other_example, "%ld %.120s", r.status, r.body);
        }
        /* A client told to retry waits a little (not Retry-After's seconds: the drill measures
         * how soon writes are served again). */
        if (r.status != 201)
            usleep(20000);
        h_resp_free(&r);
    }
    return NULL;
}

void h_load_start(struct h_load *l, const struct trmd *t, const char *token, int n_threads)
{
    memset(l, 0, sizeof *l);
    l->t = t;
    l->token = token;
    l->n_threads = n_threads < 8 ? n_threads : 8;
    pthread_mutex_init(&l->lock, NULL);
    for (int i = 0; i < l->n_threads; i++)
        pthread_create(&l->threads[i], NULL, writer, l);
}

size_t h_load_acked(struct h_load *l)
{
    pthread_mutex_lock(&l->lock);
    size_t n = l->n_acked;
    pthread_mutex_unlock(&l->lock);
    return n;
}

bool h_load_wait_acks(struct h_load *l, size_t n)
{
    size_t target = h_load_acked(l) + n;
    /* Bounded: 60 s of no progress at all means the drill is broken, not slow. */
    for (int i = 0; i < 3000; i++) {
        if (h_load_acked(l) >= target)
            return true;
        usleep(20000);
    }
    return false;
}

void h_load_stop(struct h_load *l)
{
    atomic_store(&l->stop, true);
    for (int i = 0; i < l->n_threads; i++)
        pthread_join(l->threads[i], NULL);
    l->n_threads = 0;
}

void h_load_free(struct h_load *l)
{
    if (l->n_threads)
        h_load_stop(l);
    free(l->acked);
    free(l->acked_at);
    free(l->acked_sent);
    free(l->acked_serial);
    pthread_mutex_destroy(&l->lock);
}
