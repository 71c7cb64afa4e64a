/* The statistics store: persons (not cases) of a country counted by the statistical fields,
 * assistance indicators and handovers, read through SQL functions that check who may see
 * which country (sql/migrations/0007_stats.sql). Disclosure control is the stats module's
 * (stats.h). Each function runs in the caller's transaction. */
#ifndef TRM_STATS_STORE_H
#define TRM_STATS_STORE_H

#include <jansson.h>

#include "trm/db.h"

/* One registered victim (a person, after merging cases of the same person). */
struct trm_person_row {
    const char *country, *sex, *age_band, *citizenship, *forms, *month, *state, *phase, *status;
    long cases;
    const char *region, *sector; /* "" when none of the person's cases records one */
};
typedef void (*trm_person_fn)(const struct trm_person_row *row, void *arg);

/* Persons of a country (NULL: all, for cross-border auditors) identified in [from, to]
 * (dates, NULL: open); NOT_FOUND when the caller may not see that country. */
enum trm_db_status trm_stats_persons(struct trm_db_conn *c, const char *country, const char *from,
                                     const char *to, trm_person_fn fn, void *arg);
/* [{"indicator", "persons", "median_days"}] */
enum trm_db_status trm_stats_assistance(struct trm_db_conn *c, const char *country,
                                        const char *from, const char *to, json_t **out);
/* [{"from_country", "to_country", "from_kind", "to_kind", "offered", "accepted", "declined",
 * "withdrawn", "expired", "median_hours_to_answer"}] */
enum trm_db_status trm_stats_referrals(struct trm_db_conn *c, const char *country, const char *from,
                                       const char *to, json_t **out);
/* [{"type", "persons"}]: persons who received each type of service (ongoing or completed),
 * every type (sql/migrations/0026_casework.sql). */
enum trm_db_status trm_stats_services(struct trm_db_conn *c, const char *country, const char *from,
                                      const char *to, json_t **out);

/* Screenings by set, each person's latest: [{"set", "version", "measure" (screened,
 * presumed_victim, dimension, indicator), "dimension", "indicator", "persons"}]. */
enum trm_db_status trm_stats_screenings(struct trm_db_conn *c, const char *country,
                                        const char *from, const char *to, json_t **out);

#endif
