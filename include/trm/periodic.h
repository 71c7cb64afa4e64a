/* A background thread that runs a function every interval until stopped (trmd's maintenance
 * and the federation delivery worker). Stopping wakes it at once and waits for the round in
 * progress to finish. */
#ifndef TRM_PERIODIC_H
#define TRM_PERIODIC_H

struct trm_periodic;

/* Starts the thread; NULL when it cannot be created. The first round runs after one
 * interval. */
struct trm_periodic *trm_periodic_start(long interval_ms, void (*fn)(void *), void *arg);
void trm_periodic_stop(struct trm_periodic *p);

#endif
