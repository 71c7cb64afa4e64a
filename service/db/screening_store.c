/* The screening store (see screening_store.h): screenings of identification indicators, their
 * codes and result in clear, their note a sealed case note. */
#include "trm/screening_store.h"
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>

/* clang-format off */
#define SCREENING_JSON                                                                       \
    "jsonb_build_object('id', s.id, 'case_id', s.case_id, 'indicator_set', s.set_code, "     \
    "'indicator_set_version', s.set_version, 'observed', to_jsonb(s.observed), 'result', "   \
    "s.result, 'category', s.category, 'recorded_by', s.recorded_by, "                       \
    "'recorded_by_agency_id', s.recorded_by_agency_id, 'recorded_at', "                      \
    TRM_SQL_TIME("s.recorded_at") ")"
/* The set a screening of the case uses when it names none: the children's lists for the age
 * bands under 18, the sexual exploitation list when that is the case's first form. */
TRM_DB_STMT(stmt_set_for_case, 2,
            "SELECT jsonb_build_object('code', x.code, 'version', x.version, 'document', "
            "x.document) FROM cases c LEFT JOIN LATERAL (SELECT s.code, s.version, s.document "
            "FROM indicator_sets s WHERE s.code = coalesce($2, 'ilo-ec-2009-' || CASE WHEN "
            "c.age_band IN ('0-8', '9-17') THEN 'children' ELSE 'adults' END || '-' || CASE "
            "WHEN c.exploitation_forms[1] = 'sexual' THEN 'sexual' ELSE 'labour' END) "
            "ORDER BY s.version DESC LIMIT 1) x ON true WHERE c.id = $1");
TRM_DB_STMT(stmt_screening_insert, 8,
            "WITH s AS (INSERT INTO screenings (id, case_id, set_code, set_version, observed, "
            "result, presumed_victim, category, recorded_by, recorded_by_agency_id) "
            "SELECT $1, $2, $3, $4::integer, ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), "
            "$6::jsonb, ($6::jsonb ->> 'presumed_victim')::boolean, $7, trm_ctx_user(), "
            "trm_ctx_agency() RETURNING *), "
            "n AS (INSERT INTO case_notes (case_id, note_id, category, agency_id, sealed) "
            "SELECT $2, $1, $7, trm_ctx_agency(), decode($8, 'hex') WHERE $8 IS NOT NULL), "
            "e AS (INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, "
            "details) SELECT $2, 'screening_recorded', trm_ctx_user(), trm_ctx_agency(), "
            "jsonb_build_object('screening_id', $1::uuid, 'category', $7::text)) "
            "SELECT " SCREENING_JSON " FROM s");
TRM_DB_STMT(stmt_screening_list, 1,
            "SELECT coalesce(jsonb_agg(" SCREENING_JSON " || CASE WHEN n.sealed IS NULL THEN "
            "'{}'::jsonb ELSE jsonb_build_object('note_sealed', encode(n.sealed, 'hex')) END "
            "ORDER BY s.recorded_at DESC, s.id), '[]') FROM screenings s "
            "LEFT JOIN case_notes n ON n.case_id = s.case_id AND n.note_id = s.id "
            "WHERE s.case_id = $1");
TRM_DB_STMT(stmt_screening_labels, 2,
            "SELECT coalesce(jsonb_object_agg(i.code || ':' || i.version, "
            "i.document -> 'labels' -> $2::text), '{}') FROM indicator_sets i "
            "WHERE i.document -> 'labels' -> $2::text IS NOT NULL AND (i.code, i.version) IN "
            "(SELECT s.set_code, s.set_version FROM screenings s WHERE s.case_id = $1)");
/* clang-format on */

enum trm_db_status trm_screening_set_for_case(struct trm_db_conn *c, const char *case_id,
                                              const char *code, json_t **out)
{
    const char *p[] = {case_id, code};
    return trm_db_json_cell(c, &stmt_set_for_case, p, out);
}

enum trm_db_status trm_screening_insert(struct trm_db_conn *c, const struct trm_screening_new *s,
                                        json_t **out)
{
    char version[24];
    snprintf(version, sizeof version, "%ld", s->set_version);
    char *observed = json_dumps(s->observed, JSON_COMPACT);
    char *result = json_dumps(s->result, JSON_COMPACT);
    const char *p[] = {s->id,    s->case_id, s->set_code, version,
                       observed, result,     s->category, s->sealed_note_hex};
    enum trm_db_status st =
        observed && result ? trm_db_json_cell(c, &stmt_screening_insert, p, out) : TRM_DB_ERROR;
    free(observed);
    free(result);
    return st;
}

enum trm_db_status trm_screening_list(struct trm_db_conn *c, const char *case_id, json_t **out)
{
    const char *p[] = {case_id};
    return trm_db_json_cell(c, &stmt_screening_list, p, out);
}

enum trm_db_status trm_screening_labels(struct trm_db_conn *c, const char *case_id,
                                        const char *language, json_t **out)
{
    const char *p[] = {case_id, language};
    return trm_db_json_cell(c, &stmt_screening_labels, p, out);
}
