/* The guardian store: guardians appointed for a child, who they are (name, appointed by)
 * sealed (hex, with its category), when they were appointed in clear. Written by the owning
 * agency; each function runs in the caller's transaction. */
#ifndef TRM_GUARDIAN_STORE_H
#define TRM_GUARDIAN_STORE_H

#include <jansson.h>

#include "trm/db.h"

enum trm_db_status trm_guardian_insert(struct trm_db_conn *c, const char *id, const char *case_id,
                                       const char *appointed_on, const char *sealed_hex,
                                       const char *category, json_t **out);
/* [{"id", "appointed_on", "category", "recorded_at", "recorded_by", "sealed"}], as the caller
 * may see them. */
enum trm_db_status trm_guardian_list(struct trm_db_conn *c, const char *case_id, json_t **out);

#endif
