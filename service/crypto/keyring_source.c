/* A key file followed while trmd runs (see keyring.h). Superseded keyrings are kept until
 * close, because a request on another thread may still be using one: rotations are rare,
 * and each keyring is a few kilobytes of locked memory. */
#include "trm/keyring.h"
#include "trm/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_GENERATIONS 64

struct trm_keyring_source {
    char *path;
    pthread_mutex_t lock;
    _Atomic(const struct trm_keyring *) current;
    struct trm_keyring *generations[MAX_GENERATIONS];
    size_t n;
    atomic_long checked_at; /* seconds, monotonic */
    struct timespec mtime;
};

static long now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec;
}

bool trm_keyring_source_open(struct trm_keyring_source **out, const char *path, char *err,
                             size_t errlen)
{
    struct trm_keyring_source *s = calloc(1, sizeof *s);
    struct trm_keyring *kr = NULL;
    struct stat st;
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return false;
    }
    if (!trm_keyring_load(&kr, path, err, errlen) || stat(path, &st) != 0) {
        trm_keyring_free(kr);
        free(s->path);
        free(s);
        return false;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->generations[s->n++] = kr;
    atomic_store(&s->current, kr);
    atomic_store(&s->checked_at, now_s());
    s->mtime = st.st_mtim;
    *out = s;
    return true;
}

/* Reloads when the file changed; keeps the old keyring when the new file is unreadable. */
static void refresh(struct trm_keyring_source *s)
{
    struct stat st;
    if (stat(s->path, &st) != 0 ||
        (st.st_mtim.tv_sec == s->mtime.tv_sec && st.st_mtim.tv_nsec == s->mtime.tv_nsec))
        return;
    char err[256];
    struct trm_keyring *kr = NULL;
    if (s->n == MAX_GENERATIONS || !trm_keyring_load(&kr, s->path, err, sizeof err)) {
        trm_log(TRM_LOG_ERROR, "keyring_reload_failed", "%s",
                s->n == MAX_GENERATIONS ? "too many reloads: restart trmd" : err);
        return;
    }
    s->mtime = st.st_mtim;
    s->generations[s->n++] = kr;
    atomic_store(&s->current, kr);
    trm_log(TRM_LOG_INFO, "keyring_reloaded", "current key-encryption key %s",
            trm_keyring_current_kek_id(kr));
}

const struct trm_keyring *trm_keyring_source_get(struct trm_keyring_source *s)
{
    long now = now_s();
    long last = atomic_load(&s->checked_at);
    if (now != last && atomic_compare_exchange_strong(&s->checked_at, &last, now)) {
        pthread_mutex_lock(&s->lock);
        refresh(s);
        pthread_mutex_unlock(&s->lock);
    }
    return atomic_load(&s->current);
}

const struct trm_keyring *trm_keyring_source_for(struct trm_keyring_source *s, const char *kek_id)
{
    const struct trm_keyring *kr = trm_keyring_source_get(s);
    if (trm_keyring_kek(kr, kek_id) != NULL)
        return kr;
    pthread_mutex_lock(&s->lock);
    refresh(s);
    pthread_mutex_unlock(&s->lock);
    return atomic_load(&s->current);
}

void trm_keyring_source_close(struct trm_keyring_source *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        trm_keyring_free(s->generations[i]);
    pthread_mutex_destroy(&s->lock);
    free(s->path);
    free(s);
}
