/* trmd's background work: expiring referral offers past their deadline and signing
 * handover-log checkpoints. Any number of trmd processes may run it at once. */
#ifndef TRM_MAINTENANCE_H
#define TRM_MAINTENANCE_H

struct trm_app;
struct trm_maintenance;

struct trm_maintenance *trm_maintenance_start(struct trm_app *app);
void trm_maintenance_stop(struct trm_maintenance *m);
/* One round, now (tests and trmctl). */
void trm_maintenance_run_once(struct trm_app *app);

#endif
