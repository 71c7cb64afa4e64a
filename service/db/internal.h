/* Shared between the files of the database layer only. */
#ifndef TRM_DB_INTERNAL_H
#define TRM_DB_INTERNAL_H

#include "trm/db.h"

unsigned trm_db_pool_max_retries(const struct trm_db_pool *pool);
/* Counts one round trip to the server (for benchmarks). */
void trm_db_count_round_trip(void);

#endif
