/* The timeline store: what happened to a case, oldest first (case_events), and the notes
 * agencies working on it wrote (case_notes, sealed). Each function runs in the caller's
 * transaction. */
#ifndef TRM_EVENT_STORE_H
#define TRM_EVENT_STORE_H

#include <jansson.h>

#include "trm/db.h"

/* Timeline events after after_id (0: from the start), oldest first, at most limit:
 * [{"id", "at", "kind", "actor_user_id", "actor_agency_id", "details", "note_id",
 * "note_category", "sealed_note"}] (a note the caller may not open has no sealed_note). */
enum trm_db_status trm_case_events(struct trm_db_conn *c, const char *case_id, long after_id,
                                   unsigned limit, json_t **out);
/* A timeline entry (details must not hold personal values). */
enum trm_db_status trm_case_event_add(struct trm_db_conn *c, const char *case_id, const char *kind,
                                      json_t *details);
/* A timeline entry written by an agency working on the case (e.g. services provided), with
 * an optional sealed note (hex, sealed under "notes" with note_id) of a category the writer
 * holds. */
enum trm_db_status trm_case_event_note(struct trm_db_conn *c, const char *case_id, const char *kind,
                                       const char *note_id, const char *sealed_note_hex,
                                       const char *category);

#endif
