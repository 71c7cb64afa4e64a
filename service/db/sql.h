/* SQL fragments shared by the stores, in one place (the database layer's only): how a time
 * is written, and what a case summary is made of. */
#ifndef TRM_DB_SQL_H
#define TRM_DB_SQL_H

/* clang-format off */

/* A timestamptz as the API shows it: RFC 3339 in UTC, to the second. */
#define TRM_SQL_TIME(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
/* The same with microseconds, for the times a list cursor carries (created_at): a cursor must
 * name exactly the row it was made from. */
#define TRM_SQL_TIME_US(col)                                                                 \
    "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* A case's tracks as trm_case_tracks(c.id) gives them, as a subquery: calling that (volatile)
 * function costs about 100 us a row, which made a list of 50 take 5 ms in the database. Only
 * trm_case_create's result needs the function, to see the tracks the same statement has just
 * written. */
#define TRM_SQL_CASE_TRACKS                                                                  \
    "(SELECT coalesce(jsonb_object_agg(ct.track, jsonb_build_object('state', ct.state, "     \
    "'phase', sp.phase, 'entered_at', " TRM_SQL_TIME("ct.entered_at") ", "                   \
    "'due_at', " TRM_SQL_TIME("ct.due_at") ")), '{}') FROM case_tracks ct "                   \
    "LEFT JOIN sop_state_phases sp ON sp.sop_id = c.sop_id AND sp.track = ct.track "        \
    "AND sp.state = ct.state WHERE ct.case_id = c.id)"

/* Where a case transferred to another instance went (ids and a reference, nothing personal),
 * as JSON text, of a row t of cases; NULL for a case that was not. */
#define TRM_SQL_CASE_TRANSFER(t)                                                             \
    "CASE WHEN " t ".transferred_out_at IS NOT NULL THEN jsonb_build_object('instance', "     \
    t ".transferred_to_instance, 'remote_case_id', " t ".transferred_remote_case_id, "        \
    "'remote_reference', " t ".transferred_remote_reference, 'at', "                          \
    TRM_SQL_TIME(t ".transferred_out_at") ")::text END"

/* The columns of a case summary (struct trm_case_summary) but its tracks, of a row c whose
 * identified_month is `month` (a date in cases, already text in trm_case_read's rows), whose
 * transfer is `transfer` (TRM_SQL_CASE_TRANSFER of a row of cases), whose assignee is
 * `assignee` (a uuid) and whose region and sector are `region` and `sector`. */
#define TRM_SQL_CASE_SUMMARY_OF(month, transfer, assignee, region, sector)                   \
    "c.id, c.reference, c.country, c.owner_agency_id, c.sex, c.age_band, c.citizenship, "    \
    "c.exploitation_forms, " month " AS identified_month, "                                  \
    "coalesce(" region ", '') AS identified_region, "                                        \
    "coalesce(" sector ", '') AS economic_sector, c.version, "                               \
    TRM_SQL_TIME_US("c.created_at") " AS created_at, "                                       \
    TRM_SQL_TIME_US("c.updated_at") " AS updated_at, "                                       \
    "coalesce(" TRM_SQL_TIME_US("c.personal_data_erased_at") ", '') AS erased_at, "          \
    "coalesce(c.sop_id::text, '') AS sop_id, "                                               \
    "coalesce(" transfer ", '') AS transferred_out, "                                        \
    "coalesce((" assignee ")::text, '') AS assigned_to, "
#define TRM_SQL_CASE_SUMMARY_BASE                                                            \
    TRM_SQL_CASE_SUMMARY_OF("to_char(c.identified_month, 'YYYY-MM')", TRM_SQL_CASE_TRANSFER("c"), \
                            "c.assigned_to", "c.identified_region", "c.economic_sector")
/* Every column of a case summary, of a row c of cases. */
#define TRM_SQL_CASE_SUMMARY TRM_SQL_CASE_SUMMARY_BASE TRM_SQL_CASE_TRACKS " AS tracks"

/* A case summary as the list answers it, column by column in the order of
 * trm_case_summary_json (cases/case_json.c), each ready to go into JSON as it is: the times
 * formatted, the forms, tracks and transfer already JSON (or NULL). trm_case_list writes the
 * items from them without a JSON library: building fifty JSON documents and writing them
 * out again was most of trmd's work for a list, and building them in SQL (json_build_object)
 * cost PostgreSQL a sixth of the list's time. tests/integration/test_cases.c checks every
 * item against the summary endpoint. Of a row c of cases, joined to t
 * (TRM_SQL_CASE_ITEM_TRACKS). */
#define TRM_SQL_CASE_ITEM                                                                    \
    "c.id, c.reference, c.country, c.owner_agency_id, coalesce(c.sex, ''), "                  \
    "coalesce(c.age_band, ''), coalesce(c.citizenship, ''), "                                 \
    "coalesce(to_json(c.exploitation_forms), '[]'::json), "                                   \
    "coalesce(to_char(c.identified_month, 'YYYY-MM'), ''), c.version, "                       \
    TRM_SQL_TIME_US("c.created_at") ", " TRM_SQL_TIME_US("c.updated_at") ", "                 \
    TRM_SQL_TIME_US("c.personal_data_erased_at") ", c.sop_id, t.state, t.due_at, "            \
    "coalesce(t.tracks, '{}'::json), "                                                        \
    "CASE WHEN c.transferred_out_at IS NOT NULL THEN json_build_object("                      \
    "'at', " TRM_SQL_TIME("c.transferred_out_at") ", 'instance', c.transferred_to_instance, " \
    "'remote_case_id', c.transferred_remote_case_id, "                                        \
    "'remote_reference', c.transferred_remote_reference) END, c.assigned_to, "               \
    "c.identified_region, c.economic_sector"
/* The tracks of a row c, the main track's state and the earliest deadline, for
 * TRM_SQL_CASE_ITEM: "FROM cases c " TRM_SQL_CASE_ITEM_TRACKS. */
#define TRM_SQL_CASE_ITEM_TRACKS                                                             \
    "LEFT JOIN LATERAL (SELECT json_object_agg(ct.track, json_build_object("                  \
    "'phase', sp.phase, 'state', ct.state, 'due_at', " TRM_SQL_TIME("ct.due_at") ", "         \
    "'entered_at', " TRM_SQL_TIME("ct.entered_at") ") "                                       \
    "ORDER BY length(ct.track), ct.track COLLATE \"C\") AS tracks, "                          \
    "max(ct.state) FILTER (WHERE ct.track = 'main') AS state, "                               \
    TRM_SQL_TIME("min(ct.due_at)") " AS due_at "                                              \
    "FROM case_tracks ct LEFT JOIN sop_state_phases sp ON sp.sop_id = c.sop_id "             \
    "AND sp.track = ct.track AND sp.state = ct.state WHERE ct.case_id = c.id) t ON true "

/* clang-format on */

#endif
