/* The referral and handover-log store (see referrals.h). */
#include "trm/referrals.h"
#include "trm/util.h"

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

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
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
    "'created_at', " TS("r.created_at") ", 'expires_at', " TS("r.expires_at") ", "       \
    "'answered_at', " TS("r.answered_at") ", 'end_code', r.end_code, "                     \
    "'note_category', r.note_category, 'peer_instance', r.peer_instance, "                \
    "'remote_case_id', r.remote_case_id, 'remote_case_reference', r.remote_case_reference, " \
    "'delivery', (SELECT jsonb_build_object("                                               \
    "  'status', f.status, 'attempts', f.attempts, 'last_error', f.last_error) "          \
    "  FROM federation_packages f WHERE f.referral_id = r.id AND f.direction = 'out' "    \
    "  ORDER BY f.created_at DESC LIMIT 1))"
/* clang-format on */

TRM_DB_STMT(stmt_offer, 14,
            "SELECT to_jsonb(trm_referral_offer($1, $2, $3, $4, $5, $6, $7::text[], $8, $9, "
            "$10::uuid, $11::integer, $12, $13, $14))");
/* Whether the offer just made goes to a peer instance's agency (it marks it so). */
TRM_DB_STMT(stmt_mark_remote, 1, "SELECT trm_fed_mark_remote($1)");
TRM_DB_STMT(stmt_answer, 3, "SELECT trm_referral_answer($1, $2, $3)");
TRM_DB_STMT(stmt_seal_key, 1, "SELECT * FROM trm_referral_seal_key($1)");
TRM_DB_STMT(stmt_rekey, 6, "SELECT trm_case_rekey($1, $2, $3::integer, $4, $5, $6::jsonb)");
/* The referral, with its sealed note when the caller holds an active grant of the note's
 * category on the case (the sender; the recipient once it accepted). */
/* clang-format off */
TRM_DB_STMT(stmt_referral_get, 1,
            "SELECT " REFERRAL_JSON " || jsonb_build_object('sealed_note', CASE WHEN EXISTS ("
            "  SELECT 1 FROM case_grants g WHERE g.case_id = r.case_id "
            "  AND g.agency_id = trm_ctx_agency() AND g.ended_at IS NULL "
            "  AND (g.expires_at IS NULL OR g.expires_at > now()) "
            "  AND r.note_category = ANY (g.categories)) THEN encode(r.sealed_note, 'hex') END) "
            "FROM referrals r JOIN agencies fa ON fa.id = r.from_agency_id "
            "JOIN agencies ta ON ta.id = r.to_agency_id WHERE r.id = $1");
/* clang-format on */
TRM_DB_STMT(
    stmt_referral_list, 5,
    "SELECT coalesce(jsonb_agg(j ORDER BY created_at DESC, id DESC), '[]') FROM ("
    "SELECT " REFERRAL_JSON " AS j, r.created_at, r.id FROM referrals r "
    "JOIN agencies fa ON fa.id = r.from_agency_id JOIN agencies ta ON ta.id = r.to_agency_id "
    "WHERE (CASE WHEN $1::boolean THEN r.to_agency_id ELSE r.from_agency_id END) = "
    "  trm_ctx_agency() AND ($2::text IS NULL OR r.status = $2) "
    "AND ($3::timestamptz IS NULL OR (r.created_at, r.id) < ($3, $4::uuid)) "
    "ORDER BY r.created_at DESC, r.id DESC LIMIT $5::integer) x");
TRM_DB_STMT(stmt_expire, 0, "SELECT trm_referrals_expire()");
/* Entries as JSON: trm_handover_entry_json() in sql/migrations/0017_handover_log_scope.sql. */
TRM_DB_STMT(stmt_handover_list, 8,
            "SELECT coalesce(jsonb_agg(j ORDER BY seq), '[]') FROM ("
            "SELECT l.seq, trm_handover_entry_json(l) AS j FROM handover_log l "
            "WHERE l.seq > $7::bigint "
            "AND ($1::uuid IS NULL OR l.case_id = $1) "
            "AND ($2::uuid IS NULL OR $2 IN (l.from_agency_id, l.to_agency_id)) "
            "AND ($3::text IS NULL OR $3 IN (l.from_country, l.to_country)) "
            "AND ($4::text IS NULL OR l.action = $4) "
            "AND ($5::timestamptz IS NULL OR l.at::timestamptz >= $5) "
            "AND ($6::timestamptz IS NULL OR l.at::timestamptz < $6) "
            "ORDER BY l.seq LIMIT $8::integer) e");
/* Entries in the caller's scope and links for the rest (trm_handover_chain, 0017). */
TRM_DB_STMT(stmt_chain, 2,
            "SELECT coalesce(jsonb_agg(j ORDER BY n), '[]') "
            "FROM trm_handover_chain($1::bigint, $2::integer) WITH ORDINALITY c(j, n)");
TRM_DB_STMT(stmt_checkpoints, 2,
            "SELECT coalesce(jsonb_agg(jsonb_build_object('type', 'checkpoint', 'seq', seq, "
            "'head_hash', encode(head_hash, 'hex'), 'at', at, 'key_id', key_id, 'signature', "
            "encode(signature, 'hex')) ORDER BY seq), '[]') FROM (SELECT * FROM "
            "handover_checkpoints WHERE seq > $1::bigint ORDER BY seq LIMIT $2::integer) k");
TRM_DB_STMT(stmt_head, 0,
            "SELECT h.seq, encode(h.hash, 'hex'), coalesce(k.seq, 0), "
            "coalesce(floor(extract(epoch FROM now() - k.at::timestamptz))::bigint, -1) "
            "FROM handover_head h LEFT JOIN LATERAL (SELECT seq, at FROM handover_checkpoints "
            "ORDER BY seq DESC LIMIT 1) k ON true");
/* The seqs of the first and last entries of a range on `at`, as the caller may see them. */
TRM_DB_STMT(stmt_range, 2,
            "SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM handover_log "
            "WHERE ($1::timestamptz IS NULL OR at::timestamptz >= $1) "
            "AND ($2::timestamptz IS NULL OR at::timestamptz < $2)");
TRM_DB_STMT(stmt_seal_basis, 1, "SELECT trm_handover_seal_basis($1::bigint)");
TRM_DB_STMT(stmt_checkpoint_add, 5,
            "INSERT INTO handover_checkpoints (seq, head_hash, at, key_id, signature) "
            "VALUES ($1::bigint, decode($2, 'hex'), $3, $4, decode($5, 'hex')) "
            "ON CONFLICT (seq) DO NOTHING");
/* clang-format off */
TRM_DB_STMT(stmt_access_for_case, 1,
            "SELECT coalesce(jsonb_agg(jsonb_build_object("
            "'at', " TS("a.at") ", 'user_id', a.user_id, 'agency_id', a.agency_id, "
            "'country', a.country, 'categories', a.categories, 'purpose', a.purpose, "
            "'request_id', a.request_id, 'token_id', a.token_id, "
            "'token_issued_by_other', a.token_issued_by_other) ORDER BY a.id), '[]') "
            "FROM access_log a WHERE a.case_id = $1");
/* clang-format on */

enum trm_db_status trm_referral_offer(struct trm_db_conn *c, const struct trm_referral_offer *o,
                                      json_t **unmet, bool *remote)
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
    *unmet = NULL;
    *remote = false;
    if (s == TRM_DB_OK && (PQntuples(calls[0].result) != 1 || PQgetisnull(calls[0].result, 0, 0)))
        s = TRM_DB_ERROR;
    if (s == TRM_DB_OK && (*unmet = json_loads(PQgetvalue(calls[0].result, 0, 0), 0, NULL)) == NULL)
        s = TRM_DB_ERROR;
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
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_seal_key, p, &s);
    memset(out, 0, sizeof *out);
    if (s == TRM_DB_OK && PQntuples(r) == 1) {
        out->found = true;
        trm_strlcpy(out->case_id, PQgetvalue(r, 0, 0), sizeof out->case_id);
        trm_strlcpy(out->kek_id, PQgetvalue(r, 0, 1), sizeof out->kek_id);
        out->dek_version = (unsigned)atoi(PQgetvalue(r, 0, 2));
        if (!trm_hex_decode(PQgetvalue(r, 0, 3), out->wrapped, sizeof out->wrapped))
            s = TRM_DB_ERROR;
    }
    PQclear(r);
    return s;
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

enum trm_db_status trm_handover_list(struct trm_db_conn *c, const struct trm_handover_filter *f,
                                     json_t **out)
{
    char after[24], lim[16];
    snprintf(after, sizeof after, "%lld", f->after_seq);
    snprintf(lim, sizeof lim, "%u", f->limit);
    const char *p[] = {f->case_id, f->agency_id, f->country, f->action, f->from, f->to, after, lim};
    return trm_db_json_cell(c, &stmt_handover_list, p, out);
}

enum trm_db_status trm_handover_chain(struct trm_db_conn *c, long long after_seq, unsigned limit,
                                      json_t **out)
{
    char after[24], lim[16];
    snprintf(after, sizeof after, "%lld", after_seq);
    snprintf(lim, sizeof lim, "%u", limit);
    const char *p[] = {after, lim};
    return trm_db_json_cell(c, &stmt_chain, p, out);
}

enum trm_db_status trm_handover_checkpoints(struct trm_db_conn *c, long long after_seq,
                                            unsigned limit, json_t **out)
{
    char after[24], lim[16];
    snprintf(after, sizeof after, "%lld", after_seq);
    snprintf(lim, sizeof lim, "%u", limit);
    const char *p[] = {after, lim};
    return trm_db_json_cell(c, &stmt_checkpoints, p, out);
}

enum trm_db_status trm_handover_head(struct trm_db_conn *c, long long *seq,
                                     uint8_t hash[TRM_HASH_BYTES], long long *checkpoint_seq,
                                     long *checkpoint_age_s)
{
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_head, NULL, &s);
    if (s == TRM_DB_OK && PQntuples(r) == 1) {
        *seq = atoll(PQgetvalue(r, 0, 0));
        if (!trm_hex_decode(PQgetvalue(r, 0, 1), hash, TRM_HASH_BYTES))
            s = TRM_DB_ERROR;
        *checkpoint_seq = atoll(PQgetvalue(r, 0, 2));
        *checkpoint_age_s = atol(PQgetvalue(r, 0, 3));
    } else if (s == TRM_DB_OK) {
        s = TRM_DB_ERROR;
    }
    PQclear(r);
    return s;
}

enum trm_db_status trm_handover_range(struct trm_db_conn *c, const char *from, const char *to,
                                      long long *first, long long *last)
{
    const char *p[] = {from, to};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_range, p, &s);
    *first = *last = 0;
    if (s == TRM_DB_OK && PQntuples(r) == 1) {
        *first = atoll(PQgetvalue(r, 0, 0));
        *last = atoll(PQgetvalue(r, 0, 1));
    } else if (s == TRM_DB_OK) {
        s = TRM_DB_ERROR;
    }
    PQclear(r);
    return s;
}

enum trm_db_status trm_handover_seal_basis(struct trm_db_conn *c, long long seq, json_t **out)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", seq);
    const char *p[] = {s};
    return trm_db_json_cell(c, &stmt_seal_basis, p, out);
}

enum trm_db_status trm_handover_checkpoint_add(struct trm_db_conn *c, long long seq,
                                               const uint8_t hash[TRM_HASH_BYTES], const char *at,
                                               const char *key_id,
                                               const uint8_t sig[TRM_SIGNATURE_BYTES])
{
    char s[24], h[2 * TRM_HASH_BYTES + 1], g[2 * TRM_SIGNATURE_BYTES + 1];
    snprintf(s, sizeof s, "%lld", seq);
    trm_hex_encode(hash, TRM_HASH_BYTES, h);
    trm_hex_encode(sig, TRM_SIGNATURE_BYTES, g);
    const char *p[] = {s, h, at, key_id, g};
    enum trm_db_status st;
    PQclear(trm_db_exec(c, &stmt_checkpoint_add, p, &st));
    return st;
}

enum trm_db_status trm_access_log_for_case(struct trm_db_conn *c, const char *case_id, json_t **out)
{
    const char *p[] = {case_id};
    return trm_db_json_cell(c, &stmt_access_for_case, p, out);
}
