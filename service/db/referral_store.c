/* The referral store (see referral_store.h). */
#include "trm/referral_store.h"
#include "trm/util.h"
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const trm_referral_kinds[] = {"referral", "transfer", NULL};
const char *const trm_legal_bases[] = {"consent", "vital_interest", "legal_obligation", NULL};
const char *const trm_handling_codes[] = {"H0", "H1", "H2", "H3", NULL};
const char *const trm_urgencies[] = {"routine", "urgent", "emergency", NULL};
const char *const trm_referral_purposes[] = {"accommodation", "medical",        "psychological",
                                             "legal",         "interpretation", "return_reception",
                                             "investigation", "other",          NULL};

/* clang-format off */
#define REFERRAL_JSON                                                                      \
    "jsonb_build_object('id', r.id, 'case_id', r.case_id, 'kind', r.kind, "               \
    "'from_agency_id', r.from_agency_id, 'from_agency_name', fa.name, "                   \
    "'to_agency_id', r.to_agency_id, 'to_agency_name', ta.name, "                         \
    "'from_country', r.from_country, 'to_country', r.to_country, 'purpose', r.purpose, "  \
    "'urgency', r.urgency, 'categories', r.categories, 'legal_basis', r.legal_basis, "    \
    "'handling_code', r.handling_code, 'consent_id', r.consent_id, 'flagged', r.flagged, " \
    "'summary', jsonb_build_object('sex', r.sex, 'age_band', r.age_band, "                \
    "  'citizenship', r.citizenship), 'status', r.status, "                               \
    "'created_at', " TRM_SQL_TIME_US("r.created_at") ", "                                \
    "'expires_at', " TRM_SQL_TIME_US("r.expires_at") ", "                                \
    "'answered_at', " TRM_SQL_TIME_US("r.answered_at") ", 'end_code', r.end_code, "      \
    "'note_category', r.note_category, 'peer_instance', r.peer_instance, "                \
    "'remote_case_id', r.remote_case_id, 'remote_case_reference', r.remote_case_reference, " \
    "'delivery', (SELECT jsonb_build_object("                                               \
    "  'status', f.status, 'attempts', f.attempts, 'last_error', f.last_error) "          \
    "  FROM federation_packages f WHERE f.referral_id = r.id AND f.direction = 'out' "    \
    "  ORDER BY f.created_at DESC LIMIT 1))"

TRM_DB_STMT(stmt_offer, 14,
            "SELECT to_jsonb(trm_referral_offer($1, $2, $3, $4, $5, $6, $7::text[], $8, $9, "
            "$10::uuid, $11::integer, $12, $13, $14))");
/* Whether the offer just made goes to a peer instance's agency (it marks it so). */
TRM_DB_STMT(stmt_mark_remote, 1, "SELECT trm_fed_mark_remote($1)");
TRM_DB_STMT(stmt_answer, 3, "SELECT trm_referral_answer($1, $2, $3)");
TRM_DB_STMT(stmt_seal_key, 1,
            "SELECT case_id, kek_id, dek_version, wrapped_dek FROM trm_referral_seal_key($1)");
TRM_DB_STMT(stmt_rekey, 6, "SELECT trm_case_rekey($1, $2, $3::integer, $4, $5, $6::jsonb)");
/* The referral, with its sealed note when the caller holds an active grant of the note's
 * category on the case (the sender; the recipient once it accepted). */
TRM_DB_STMT(stmt_referral_get, 1,
            "SELECT " REFERRAL_JSON " || jsonb_build_object('sealed_note', CASE WHEN EXISTS ("
            "  SELECT 1 FROM case_grants g WHERE g.case_id = r.case_id "
            "  AND g.agency_id = trm_ctx_agency() AND g.ended_at IS NULL "
            "  AND (g.expires_at IS NULL OR g.expires_at > now()) "
            "  AND r.note_category = ANY (g.categories)) THEN encode(r.sealed_note, 'hex') END) "
            "FROM referrals r JOIN agencies fa ON fa.id = r.from_agency_id "
            "JOIN agencies ta ON ta.id = r.to_agency_id WHERE r.id = $1");
TRM_DB_STMT(stmt_referral_list, 5,
            "SELECT coalesce(jsonb_agg(j ORDER BY created_at DESC, id DESC), '[]') FROM ("
            "SELECT " REFERRAL_JSON " AS j, r.created_at, r.id FROM referrals r "
            "JOIN agencies fa ON fa.id = r.from_agency_id "
            "JOIN agencies ta ON ta.id = r.to_agency_id "
            "WHERE (CASE WHEN $1::boolean THEN r.to_agency_id ELSE r.from_agency_id END) = "
            "  trm_ctx_agency() AND ($2::text IS NULL OR r.status = $2) "
            "AND ($3::timestamptz IS NULL OR (r.created_at, r.id) < ($3, $4::uuid)) "
            "ORDER BY r.created_at DESC, r.id DESC LIMIT $5::integer) x");
TRM_DB_STMT(stmt_expire, 0, "SELECT trm_referrals_expire()");
/* clang-format on */

/* The codes trm_referral_offer returns, one per condition (bit i is code i). */
static const char *const unmet_codes[TRM_OFFER_CONDITIONS] = {
    "personal_data_erased", "recipient",         "consent_missing", "consent_not_in_force",
    "consent_categories",   "consent_recipient", "reason",          "vital_interest_role",
    "note_category",
};

/* The unmet conditions from their codes; false for a code this table does not know. */
static bool parse_unmet(json_t *codes, unsigned *unmet)
{
    size_t i;
    json_t *c;
    *unmet = 0;
    json_array_foreach(codes, i, c)
    {
        unsigned k = 0;
        while (k < TRM_OFFER_CONDITIONS &&
               !(json_is_string(c) && strcmp(json_string_value(c), unmet_codes[k]) == 0))
            k++;
        if (k == TRM_OFFER_CONDITIONS)
            return false;
        *unmet |= 1u << k;
    }
    return json_is_array(codes);
}

enum trm_db_status trm_referral_offer(struct trm_db_conn *c, const struct trm_referral_offer *o,
                                      unsigned *unmet, bool *remote)
{
    char hours[24], *cats = trm_db_words_literal(o->categories);
    snprintf(hours, sizeof hours, "%ld", o->expires_in_hours);
    const char *p[] = {
        o->id,      o->case_id,     o->to_agency_id,  o->kind,          o->purpose,
        o->urgency, cats,           o->legal_basis,   o->handling_code, o->consent_id,
        hours,      o->sealed_note, o->note_category, o->sealed_reason};
    const char *q[] = {o->id};
    /* One round trip: the offer, then whether it crosses to a peer instance (false when the
     * offer was refused and nothing was inserted). */
    struct trm_db_call calls[] = {{&stmt_offer, p, NULL}, {&stmt_mark_remote, q, NULL}};
    enum trm_db_status s = trm_db_exec_batch(c, calls, 2);
    json_t *codes = NULL;
    *unmet = 0;
    *remote = false;
    if (s == TRM_DB_OK && (PQntuples(calls[0].result) != 1 || PQgetisnull(calls[0].result, 0, 0)))
        s = TRM_DB_ERROR;
    if (s == TRM_DB_OK)
        codes = json_loads(PQgetvalue(calls[0].result, 0, 0), 0, NULL);
    if (s == TRM_DB_OK && !parse_unmet(codes, unmet))
        s = TRM_DB_ERROR; /* the function and this table disagree: a schema mismatch */
    json_decref(codes);
    if (s == TRM_DB_OK)
        *remote = PQntuples(calls[1].result) == 1 && PQgetvalue(calls[1].result, 0, 0)[0] == 't';
    PQclear(calls[0].result);
    PQclear(calls[1].result);
    free(cats);
    return s;
}

static const struct {
    const char *word;
    enum trm_answer_outcome outcome;
} answer_words[] = {
    {"ok", TRM_ANSWER_OK},
    {"remote", TRM_ANSWER_REMOTE},
    {"not_found", TRM_ANSWER_NOT_FOUND},
    {"answered", TRM_ANSWER_ANSWERED},
    {"expired", TRM_ANSWER_EXPIRED},
    {"not_recipient", TRM_ANSWER_NOT_RECIPIENT},
    {"not_sender", TRM_ANSWER_NOT_SENDER},
    {"consent_withdrawn", TRM_ANSWER_CONSENT_WITHDRAWN},
};

enum trm_db_status trm_referral_answer(struct trm_db_conn *c, const char *id, const char *action,
                                       const char *sealed_reason, struct trm_answer *out)
{
    const char *p[] = {id, action, sealed_reason};
    json_t *j = NULL;
    enum trm_db_status s = trm_db_json_cell(c, &stmt_answer, p, &j);
    memset(out, 0, sizeof *out);
    const char *word = json_string_value(json_object_get(j, "outcome"));
    size_t i = 0;
    while (word && i < sizeof answer_words / sizeof answer_words[0] &&
           strcmp(word, answer_words[i].word) != 0)
        i++;
    if (s == TRM_DB_OK && (word == NULL || i == sizeof answer_words / sizeof answer_words[0]))
        s = TRM_DB_ERROR; /* the function and this table disagree: a schema mismatch */
    if (s == TRM_DB_OK) {
        out->outcome = answer_words[i].outcome;
        trm_strlcpy(out->case_id, json_string_value(json_object_get(j, "case_id")) ?: "",
                    sizeof out->case_id);
        json_t *rekey = json_object_get(j, "rekey");
        out->rekey = json_is_object(rekey) ? json_incref(rekey) : NULL;
    }
    json_decref(j);
    return s;
}

enum trm_db_status trm_referral_seal_key(struct trm_db_conn *c, const char *id,
                                         struct trm_referral_key *out)
{
    const char *p[] = {id};
    static const struct trm_db_col cols[] = {
        TRM_DB_FIELD(TRM_DB_TEXT, struct trm_referral_key, case_id),
        TRM_DB_FIELD(TRM_DB_TEXT, struct trm_referral_key, kek_id),
        TRM_DB_FIELD(TRM_DB_UINT, struct trm_referral_key, dek_version),
        TRM_DB_COL(TRM_DB_HEX, struct trm_referral_key, wrapped, "wrapped_dek"),
        {0},
    };
    memset(out, 0, sizeof *out);
    enum trm_db_status s = trm_db_get(c, &stmt_seal_key, p, cols, out);
    out->found = s == TRM_DB_OK;
    return s == TRM_DB_NOT_FOUND ? TRM_DB_OK : s;
}

enum trm_db_status trm_case_rekey_store(struct trm_db_conn *c, const char *case_id,
                                        const char *referral_id, unsigned old_version,
                                        const char *kek_id, const char *wrapped_hex, json_t *items)
{
    char v[16];
    snprintf(v, sizeof v, "%u", old_version);
    char *text = json_dumps(items, JSON_COMPACT);
    const char *p[] = {case_id, referral_id, v, kek_id, wrapped_hex, text};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_rekey, p, &s);
    if (s == TRM_DB_OK && PQgetvalue(r, 0, 0)[0] != 't')
        s = TRM_DB_CONFLICT;
    PQclear(r);
    free(text);
    return s;
}

enum trm_db_status trm_referral_get(struct trm_db_conn *c, const char *id, json_t **out)
{
    const char *p[] = {id};
    return trm_db_json_cell(c, &stmt_referral_get, p, out);
}

enum trm_db_status trm_referral_list(struct trm_db_conn *c, bool incoming, const char *status,
                                     const char *before_created, const char *before_id,
                                     unsigned limit, json_t **out)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%u", limit);
    const char *p[] = {incoming ? "t" : "f", status, before_created, before_id, lim};
    return trm_db_json_cell(c, &stmt_referral_list, p, out);
}

enum trm_db_status trm_referrals_expire(struct trm_db_conn *c, long *n)
{
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_expire, NULL, &s);
    *n = s == TRM_DB_OK ? atol(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return s;
}
