/* The SOP store: SOP versions as loaded (sql/migrations/0005_sop.sql), never changed once
 * stored. Parsing and checking documents is the sop module's (sop.h); this stores and reads
 * them. Each function runs in the caller's transaction. */
#ifndef TRM_SOP_STORE_H
#define TRM_SOP_STORE_H

#include <jansson.h>
#include <stdbool.h>

#include "trm/db.h"
#include "trm/util.h"

/* A SOP version as stored beside its document. */
struct trm_sop_row {
    char id[TRM_UUID_STR_LEN + 1];
    char code[48];
    long version;
    char country[3]; /* "" for a generic SOP */
    char title[200];
};

/* Stores a validated document (row->id set by the caller); CONFLICT when its code and version
 * exist, INVALID for an unknown country. */
enum trm_db_status trm_sop_insert(struct trm_db_conn *c, const struct trm_sop_row *row,
                                  json_t *document, const char *loaded_by);
/* Whether this code and version are loaded already, and with the same document. */
enum trm_db_status trm_sop_existing(struct trm_db_conn *c, const char *code, long version,
                                    json_t *document, bool *exists, bool *same);
/* Every SOP version, by code and version: [{"id", "code", "version", "country", "title",
 * "loaded_at"}]. */
enum trm_db_status trm_sop_list(struct trm_db_conn *c, json_t **out);
/* One SOP version as listed, with its "document" when asked for. */
enum trm_db_status trm_sop_get(struct trm_db_conn *c, const char *id, bool with_document,
                               json_t **out);

#endif
