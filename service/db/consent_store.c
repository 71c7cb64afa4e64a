/* The consent store (see consent_store.h): consents of a case as the person gave them, and
 * their end (withdrawn or expired) with what rests on them. */
#include "trm/consent_store.h"
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
#define CONSENT_JSON                                                                        \
    "jsonb_build_object('id', id, 'case_id', case_id, 'kind', kind, "                       \
    "'categories', categories, 'recipients', jsonb_build_object("                           \
    "  'agency_ids', recipient_agency_ids, 'countries', recipient_countries), "             \
    "'given_at', " TRM_SQL_TIME("given_at") ", 'expires_at', " TRM_SQL_TIME("expires_at") ", " \
    "'withdrawn_at', " TRM_SQL_TIME("withdrawn_at") ", 'reason_category', reason_category, " \
    "'recorded_by', recorded_by, 'recorded_at', " TRM_SQL_TIME("recorded_at") ")"
TRM_DB_STMT(stmt_consent_insert, 8,
            "WITH c AS (INSERT INTO consents (id, case_id, kind, categories, "
            "recipient_agency_ids, recipient_countries, given_at, expires_at, recorded_by) "
            "SELECT $1, $2, $3, $4::text[], $5::uuid[], $6::text[], $7::timestamptz, "
            "  $8::timestamptz, trm_ctx_user() WHERE EXISTS (SELECT 1 FROM cases WHERE id = $2 AND "
            "owner_agency_id = trm_ctx_agency()) "
            "RETURNING *) SELECT " CONSENT_JSON " FROM c");
/* Consents, assessments and guardians are the owning agency's: a recipient of a referral
 * gets 404 (not an error from the row-level security check). */
TRM_DB_STMT(stmt_consent_withdraw, 4, "SELECT trm_consent_withdraw($1, $2, $3, $4)");
TRM_DB_STMT(stmt_consents_due, 1,
            "SELECT consent_id, owner_agency_id FROM trm_consents_due($1::integer)");
TRM_DB_STMT(stmt_consent_expire, 1, "SELECT trm_consent_expire($1)");
TRM_DB_STMT(stmt_consent_list, 1,
            "SELECT coalesce(jsonb_agg(" CONSENT_JSON " ORDER BY recorded_at, id), '[]') "
            "FROM consents WHERE case_id = $1");
/* clang-format on */

/* A PostgreSQL array literal from a JSON array of plain words or ids (validated). */
enum trm_db_status trm_consent_insert(struct trm_db_conn *c, const struct trm_consent_new *n,
                                      json_t **out)
{
    char *cats = trm_db_words_literal(n->categories),
         *agencies = trm_db_words_literal(n->agency_ids),
         *countries = trm_db_words_literal(n->countries);
    const char *p[] = {n->id,    n->case_id, n->kind,     cats,
                       agencies, countries,  n->given_at, n->expires_at};
    enum trm_db_status s = trm_db_json_cell(c, &stmt_consent_insert, p, out);
    free(cats);
    free(agencies);
    free(countries);
    return s;
}

enum trm_db_status trm_consent_withdraw(struct trm_db_conn *c, const char *case_id, const char *id,
                                        const char *sealed_reason_hex, const char *reason_category,
                                        json_t **out)
{
    const char *p[] = {case_id, id, sealed_reason_hex, reason_category};
    return trm_db_json_cell(c, &stmt_consent_withdraw, p, out);
}

enum trm_db_status trm_consents_due(struct trm_db_conn *c, struct trm_consent_due *out,
                                    unsigned cap, unsigned *n)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%u", cap);
    const char *p[] = {lim};
    static const struct trm_db_col due_cols[] = {
        TRM_DB_FIELD(TRM_DB_TEXT, struct trm_consent_due, consent_id),
        TRM_DB_FIELD(TRM_DB_TEXT, struct trm_consent_due, owner_agency_id),
        {0},
    };
    return trm_db_list(c, &stmt_consents_due, p, due_cols, out, sizeof *out, cap, n);
}

enum trm_db_status trm_consent_expire(struct trm_db_conn *c, const char *id, json_t **crossing)
{
    const char *p[] = {id};
    enum trm_db_status s = trm_db_json_cell(c, &stmt_consent_expire, p, crossing);
    if (s == TRM_DB_NOT_FOUND) { /* processed meanwhile */
        *crossing = NULL;
        s = TRM_DB_OK;
    }
    return s;
}

enum trm_db_status trm_consent_list(struct trm_db_conn *c, const char *case_id, json_t **out)
{
    const char *p[] = {case_id};
    return trm_db_json_cell(c, &stmt_consent_list, p, out);
}
