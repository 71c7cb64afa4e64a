/* trmd's background work: expiring referral offers past their deadline and signing
 * handover-log checkpoints. Any number of trmd processes may run it at once. */
#ifndef TRM_MAINTENANCE_H
#define TRM_MAINTENANCE_H

struct trm_app;

/* One round (trmd runs it every maintenance_interval_ms, tests and trmctl at will). */
void trm_maintenance_run_once(struct trm_app *app);

#endif
