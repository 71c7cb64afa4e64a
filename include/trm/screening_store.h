/* Screenings of identification indicators in the database (docs/identification.md). Each
 * function runs in the caller's transaction, as the caller (row-level security decides what
 * is seen and written). */
#ifndef TRM_SCREENING_STORE_H
#define TRM_SCREENING_STORE_H

#include <jansson.h>

#include "trm/db.h"

/* The case (NOT_FOUND when the caller does not see it) and the latest version of the set
 * code names, or when code is NULL of the set for the case's age and first form of
 * exploitation: {"code", "version", "document"}, the three null when there is no such set. */
enum trm_db_status trm_screening_set_for_case(struct trm_db_conn *c, const char *case_id,
                                              const char *code, json_t **out);

struct trm_screening_new {
    const char *id, *case_id, *set_code, *category;
    long set_version;
    json_t *observed, *result;
    const char *sealed_note_hex; /* NULL: no note */
};
/* Records a screening (and its note as a case note, and a timeline entry); the screening as
 * JSON in *out. */
enum trm_db_status trm_screening_insert(struct trm_db_conn *c, const struct trm_screening_new *s,
                                        json_t **out);
/* The screenings the caller sees, newest first, each with "note_sealed" (hex) when it has a
 * note the caller may open. */
enum trm_db_status trm_screening_list(struct trm_db_conn *c, const char *case_id, json_t **out);

/* The labels in language of the indicator sets the case's screenings used (the caller sees):
 * {"<code>:<version>": {"title", "dimensions", "indicators", ...}}, {} when none has labels
 * in that language. */
enum trm_db_status trm_screening_labels(struct trm_db_conn *c, const char *case_id,
                                        const char *language, json_t **out);

#endif
