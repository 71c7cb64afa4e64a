/* Helpers of the operations drills (backup and restore, failover, PgBouncer): throwaway
 * PostgreSQL clusters of their own (tests/ops/cluster.sh), and a write load of concurrent
 * case creations that remembers every case trmd acknowledged and every answer that was not
 * a success. */
#ifndef TRM_TEST_OPS_H
#define TRM_TEST_OPS_H

#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* A cluster in its own directory: DIR/data, its socket in DIR/sock (port 5432). */
struct h_cluster {
    char dir[512];
    char owner_url[700]; /* database trm as trm_owner */
    char app_url[700];   /* ... and as trm_app */
};

/* Runs tests/ops/cluster.sh with these arguments; its exit status. */
int h_cluster_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Names a cluster directory under the test's scratch space (nothing is created). */
void h_cluster_at(struct h_cluster *c, const char *name);
/* A new cluster, started, with the database trm migrated and the SOPs loaded. settings:
 * extra `name=value ...` for postgres -c (NULL for none). */
void h_cluster_new(struct h_cluster *c, const char *name, const char *settings);
void h_cluster_start(const struct h_cluster *c, const char *settings);
void h_cluster_stop(const struct h_cluster *c, const char *mode);
/* One SQL statement as the superuser on the cluster's database trm; its first cell (malloc'd,
 * "" for no row), or NULL when it failed. */
char *h_cluster_query(const struct h_cluster *c, const char *sql);

/* A caseworker (and its agency) created with trmctl on a database named by its owner URL;
 * writes the agency id and the token. role: caseworker, auditor, admin... */
void h_user_on(const char *owner_url, const char *role, char agency[37], char token[128]);

/* Writers creating cases through one trmd, until stopped. */
struct h_load {
    const struct trmd *t;
    const char *token;
    int n_threads;
    pthread_t threads[8];
    atomic_bool stop;
    atomic_long serial;
    pthread_mutex_t lock;
    /* Every case acknowledged (201), in the order the answers came, and when. */
    char (*acked)[37];
    double *acked_at;   /* when the answer came (trm_now_ms) */
    double *acked_sent; /* when the request was sent */
    long *acked_serial; /* the number in its person's name (H_LOAD_NAME_FMT) */
    size_t n_acked, cap;
    /* Answers that were not 201: 503 with Retry-After, anything else (and no answer). */
    atomic_long unavailable, other;
    char other_example[160];
};

/* Starts n_threads writers (at most 8). */
void h_load_start(struct h_load *l, const struct trmd *t, const char *token, int n_threads);
/* Cases acknowledged so far. */
size_t h_load_acked(struct h_load *l);
/* Waits until at least n cases more than now are acknowledged (or the writers saw only
 * failures for long: false). */
bool h_load_wait_acks(struct h_load *l, size_t n);
void h_load_stop(struct h_load *l);
void h_load_free(struct h_load *l);
/* The full name a writer gave case number i's person (to compare with what a read opens). */
#define H_LOAD_NAME_FMT "Drill Person %ld"

#endif
