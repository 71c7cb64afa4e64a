/* The service store (see service_store.h). */
#include "trm/service_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const trm_service_types[] = {
    "accommodation", "medical",   "psychological",    "legal", "interpretation", "education",
    "employment",    "financial", "return_reception", NULL};
const char *const trm_service_statuses[] = {"planned", "ongoing",     "completed",
                                            "refused", "unavailable", NULL};

/* clang-format off */
TRM_DB_STMT(stmt_record, 11,
            "SELECT trm_service_record($1, $2, $3, $4, $5::uuid, $6::uuid, $7::date, $8::date, "
            "$9::date, $10, $11)");
TRM_DB_STMT(stmt_change, 11,
            "SELECT trm_service_change($1, $2, $3::integer, $4::text[], $5, $6::uuid, $7::date, "
            "$8::date, $9::date, $10, $11)");
TRM_DB_STMT(stmt_get, 2,
            "SELECT trm_service_json(s) FROM case_services s WHERE s.case_id = $1 AND s.id = $2");
TRM_DB_STMT(stmt_list, 4,
            "SELECT coalesce(jsonb_agg(trm_service_json(s) ORDER BY s.recorded_at, s.id), '[]') "
            "FROM (SELECT * FROM case_services s WHERE s.case_id = $1 "
            "AND ($2::timestamptz IS NULL OR (s.recorded_at, s.id) > ($2::timestamptz, $3::uuid)) "
            "ORDER BY s.recorded_at, s.id LIMIT $4::integer) s");
/* clang-format on */

bool trm_record_outcome_parse(json_t *answer, enum trm_record_outcome *out)
{
    static const struct {
        const char *word;
        enum trm_record_outcome outcome;
    } words[] = {{"ok", TRM_RECORD_OK},
                 {"not_found", TRM_RECORD_NOT_FOUND},
                 {"no_grant", TRM_RECORD_NO_GRANT},
                 {"provider", TRM_RECORD_PROVIDER},
                 {"referral", TRM_RECORD_REFERRAL},
                 {"stale", TRM_RECORD_STALE},
                 {"not_writer", TRM_RECORD_NOT_WRITER},
                 {"dates", TRM_RECORD_DATES}};
    const char *w = json_string_value(json_object_get(answer, "outcome"));
    for (size_t i = 0; w && i < sizeof words / sizeof words[0]; i++) {
        if (strcmp(w, words[i].word) == 0) {
            *out = words[i].outcome;
            return true;
        }
    }
    return false;
}

/* Runs a function answering {"outcome", member}: the outcome parsed, *out the member. */
static enum trm_db_status outcome_call(struct trm_db_conn *c, struct trm_db_stmt *st,
                                       const char *const *p, const char *member,
                                       enum trm_record_outcome *outcome, json_t **out)
{
    json_t *answer = NULL;
    *out = NULL;
    enum trm_db_status s = trm_db_json_cell(c, st, p, &answer);
    if (s == TRM_DB_OK && !trm_record_outcome_parse(answer, outcome))
        s = TRM_DB_ERROR; /* a word this store does not know: a schema mismatch */
    if (s == TRM_DB_OK && *outcome == TRM_RECORD_OK) {
        *out = json_incref(json_object_get(answer, member));
        if (*out == NULL)
            s = TRM_DB_ERROR;
    }
    json_decref(answer);
    return s;
}

enum trm_db_status trm_service_record(struct trm_db_conn *c, const char *id, const char *case_id,
                                      const char *type, const char *referral_id,
                                      const struct trm_service_values *v,
                                      enum trm_record_outcome *outcome, json_t **out)
{
    const char *p[] = {id,
                       case_id,
                       type,
                       v->status,
                       v->provider_agency_id,
                       referral_id,
                       v->referred_on,
                       v->started_on,
                       v->ended_on,
                       v->sealed_note,
                       v->note_category};
    return outcome_call(c, &stmt_record, p, "service", outcome, out);
}

enum trm_db_status trm_service_change(struct trm_db_conn *c, const char *case_id, const char *id,
                                      long version, json_t *fields,
                                      const struct trm_service_values *v,
                                      enum trm_record_outcome *outcome, json_t **out)
{
    char ver[24];
    snprintf(ver, sizeof ver, "%ld", version);
    char *names = trm_db_words_literal(fields);
    if (names == NULL)
        return TRM_DB_ERROR;
    const char *p[] = {case_id,
                       id,
                       ver,
                       names,
                       v->status,
                       v->provider_agency_id,
                       v->referred_on,
                       v->started_on,
                       v->ended_on,
                       v->sealed_note,
                       v->note_category};
    enum trm_db_status s = outcome_call(c, &stmt_change, p, "service", outcome, out);
    free(names);
    return s;
}

enum trm_db_status trm_service_get(struct trm_db_conn *c, const char *case_id, const char *id,
                                   json_t **out)
{
    const char *p[] = {case_id, id};
    return trm_db_json_cell(c, &stmt_get, p, out);
}

enum trm_db_status trm_service_list(struct trm_db_conn *c, const char *case_id,
                                    const char *after_at, const char *after_id, unsigned limit,
                                    json_t **out)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%u", limit);
    const char *p[] = {case_id, after_at, after_id, lim};
    return trm_db_json_cell(c, &stmt_list, p, out);
}
