/* The parsed SOPs of this process: a SOP version never changes once loaded, so each is
 * parsed once (from sop_store) and kept for the life of the process. */
#include "trm/sop.h"
#include "trm/sop_store.h"

#include <pthread.h>
#include <string.h>

/* Far more SOP versions than any deployment loads. */
#define MAX_CACHED 256

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char id[TRM_UUID_STR_LEN + 1];
    struct trm_sop *sop;
} cache[MAX_CACHED];
static size_t cache_n;

const struct trm_sop *trm_sop_cached(struct trm_db_conn *c, const char *id)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < cache_n; i++) {
        if (strcmp(cache[i].id, id) == 0) {
            pthread_mutex_unlock(&cache_lock);
            return cache[i].sop;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    json_t *row = NULL, *errors = json_array();
    struct trm_sop *sop = NULL;
    if (trm_sop_get(c, id, true, &row) == TRM_DB_OK)
        sop = trm_sop_parse(json_object_get(row, "document"), errors);
    json_decref(row);
    json_decref(errors);
    if (sop == NULL)
        return NULL;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < cache_n; i++) {
        if (strcmp(cache[i].id, id) == 0) { /* another thread was quicker */
            trm_sop_free(sop);
            sop = cache[i].sop;
            pthread_mutex_unlock(&cache_lock);
            return sop;
        }
    }
    if (cache_n < MAX_CACHED) {
        trm_strlcpy(cache[cache_n].id, id, sizeof cache[cache_n].id);
        cache[cache_n++].sop = sop;
    } else {
        /* Past MAX_CACHED SOP versions (far beyond practice) the last slot is reused; the parse it
         * held is not freed, because a request may still be using it. */
        cache[cache_n - 1].sop = sop;
        trm_strlcpy(cache[cache_n - 1].id, id, sizeof cache[0].id);
    }
    pthread_mutex_unlock(&cache_lock);
    return sop;
}
