/* The timeline store (see event_store.h): what happened to a case, in order, with the notes
 * agencies wrote (sealed). */
#include "trm/event_store.h"
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>

/* clang-format off */
/* A note the caller may not open (row-level security hides its case_notes row) comes back
 * with its note_id and no sealed text. */
TRM_DB_STMT(stmt_events, 3,
            "SELECT coalesce(jsonb_agg(jsonb_build_object('id', e.id, "
            "'at', " TRM_SQL_TIME("e.at") ", 'kind', e.kind, 'actor_user_id', e.actor_user_id, "
            "'actor_agency_id', e.actor_agency_id, 'details', e.details, "
            "'note_id', e.details ->> 'note_id', 'note_category', n.category, "
            "'sealed_note', encode(n.sealed, 'hex')) ORDER BY e.id), '[]') "
            "FROM (SELECT * FROM case_events WHERE case_id = $1 AND id > $2::bigint "
            "ORDER BY id LIMIT $3::integer) e LEFT JOIN case_notes n ON n.case_id = e.case_id "
            "AND n.note_id = (e.details ->> 'note_id')::uuid");
TRM_DB_STMT(stmt_event_add, 3,
            "INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details) "
            "VALUES ($1, $2, trm_ctx_user(), trm_ctx_agency(), $3::jsonb)");
TRM_DB_STMT(stmt_event_note, 5,
            "WITH n AS (INSERT INTO case_notes (case_id, note_id, category, agency_id, sealed) "
            "SELECT $1, $3::uuid, $5, trm_ctx_agency(), decode($4, 'hex') "
            "WHERE $4::text IS NOT NULL) "
            "INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details) "
            "SELECT $1, $2, trm_ctx_user(), trm_ctx_agency(), CASE WHEN $4::text IS NULL "
            "THEN '{}'::jsonb ELSE jsonb_build_object('note_id', $3::text) END");
/* clang-format on */

enum trm_db_status trm_case_events(struct trm_db_conn *c, const char *case_id, long after_id,
                                   unsigned limit, json_t **out)
{
    char after[24], lim[16];
    snprintf(after, sizeof after, "%ld", after_id);
    snprintf(lim, sizeof lim, "%u", limit);
    const char *p[] = {case_id, after, lim};
    return trm_db_json_cell(c, &stmt_events, p, out);
}

enum trm_db_status trm_case_event_add(struct trm_db_conn *c, const char *case_id, const char *kind,
                                      json_t *details)
{
    char *d = json_dumps(details, JSON_COMPACT);
    const char *p[] = {case_id, kind, d};
    enum trm_db_status s = trm_db_do(c, &stmt_event_add, p);
    free(d);
    return s;
}

enum trm_db_status trm_case_event_note(struct trm_db_conn *c, const char *case_id, const char *kind,
                                       const char *note_id, const char *sealed_note_hex,
                                       const char *category)
{
    const char *p[] = {case_id, kind, note_id, sealed_note_hex, category};
    return trm_db_do(c, &stmt_event_note, p);
}
