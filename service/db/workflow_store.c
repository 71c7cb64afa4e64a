/* The case workflow store (see workflow.h). Reads come back as one JSON value per call, so
 * one statement answers one question. */
#include "trm/workflow.h"
#include "trm/cases.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

TRM_DB_STMT(stmt_sop_insert, 7,
            "INSERT INTO sops (id, code, version, country, title, document, loaded_by) "
            "VALUES ($1, $2, $3, nullif($4, ''), $5, $6::jsonb, $7)");
TRM_DB_STMT(stmt_sop_list, 0,
            "SELECT id, code, version, coalesce(country, ''), title, " TS(
                "loaded_at") " FROM sops ORDER BY code, version");
TRM_DB_STMT(stmt_sop_get, 1,
            "SELECT id, code, version, coalesce(country, ''), title, " TS(
                "loaded_at") ", document FROM sops WHERE id = $1");
TRM_DB_STMT(stmt_sop_same, 3,
            "SELECT document = $3::jsonb FROM sops WHERE code = $1 AND version = $2::integer");
TRM_DB_STMT(stmt_facts, 2, "SELECT trm_case_facts($1, $2)");
TRM_DB_STMT(stmt_transition, 9,
            "SELECT trm_case_transition($1, $2::integer, $3, $4, $5, $6::boolean, $7::jsonb, $8, "
            "$9)");
/* The case's wrapped key, whether its personal data is erased, and whether the caller holds
 * an active grant of the category ($2; NULL: of any category). */
TRM_DB_STMT(stmt_case_key, 2,
            "SELECT k.kek_id, k.dek_version, encode(k.wrapped_dek, 'hex'), "
            "c.personal_data_erased_at IS NOT NULL, EXISTS (SELECT 1 FROM case_grants g "
            "WHERE g.case_id = c.id AND g.agency_id = trm_ctx_agency() AND g.ended_at IS NULL "
            "AND (g.expires_at IS NULL OR g.expires_at > now()) AND cardinality(g.categories) > 0 "
            "AND ($2::text IS NULL OR $2 = ANY (g.categories))) "
            "FROM cases c LEFT JOIN case_keys k ON k.case_id = c.id WHERE c.id = $1");
#define CONSENT_JSON                                                                               \
    "jsonb_build_object('id', id, 'case_id', case_id, 'kind', kind, 'categories', categories, "    \
    "'recipients', jsonb_build_object('agency_ids', recipient_agency_ids, 'countries', "           \
    "recipient_countries), 'given_at', " TS("given_at") ", 'expires_at', " TS(                     \
        "expires_at") ", 'withdrawn_at', " TS("withdrawn_at") ", 'reason_category', "              \
                                                              "reason_category, "                  \
                                                              "'recorded_by', recorded_by, "       \
                                                              "'recorded_at', " TS(                \
                                                                  "recorded_at") ")"
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
TRM_DB_STMT(stmt_assessment_insert, 6,
            "WITH a AS (INSERT INTO assessments (id, case_id, kind, outcome, sealed_details, "
            "category, recorded_by) SELECT $1, $2, $3, $4, decode($5, 'hex'), $6, trm_ctx_user() "
            "WHERE EXISTS (SELECT 1 FROM cases WHERE id = $2 AND owner_agency_id = "
            "trm_ctx_agency()) RETURNING *) "
            "SELECT jsonb_build_object('id', id, 'kind', kind, 'outcome', outcome, 'category', "
            "category, 'recorded_by', recorded_by, 'recorded_at', " TS("recorded_at") ") FROM a");
TRM_DB_STMT(
    stmt_assessment_list, 1,
    "SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'kind', kind, 'outcome', "
    "outcome, 'category', category, 'recorded_by', recorded_by, 'recorded_at', " TS(
        "recorded_at") ", 'sealed', encode(sealed_details, 'hex')) "
                       "ORDER BY recorded_at, id), '[]') FROM assessments WHERE case_id = $1");
TRM_DB_STMT(stmt_guardian_insert, 5,
            "WITH g AS (INSERT INTO guardians (id, case_id, appointed_on, sealed, category, "
            "recorded_by) SELECT $1, $2, $3::date, decode($4, 'hex'), $5, trm_ctx_user() "
            "WHERE EXISTS (SELECT 1 FROM cases WHERE id = $2 AND owner_agency_id = "
            "trm_ctx_agency()) RETURNING *) "
            "SELECT jsonb_build_object('id', id, 'appointed_on', appointed_on, 'category', "
            "category, 'recorded_by', recorded_by, 'recorded_at', " TS("recorded_at") ") FROM g");
TRM_DB_STMT(stmt_guardian_list, 1,
            "SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'appointed_on', "
            "appointed_on, 'category', category, 'recorded_by', recorded_by, 'recorded_at', " TS(
                "recorded_at") ", 'sealed', encode(sealed, 'hex')) ORDER BY recorded_at, id), "
                               "'[]') FROM guardians WHERE case_id = $1");
/* A note the caller may not open (row-level security hides its case_notes row) comes back
 * with its note_id and no sealed text. */
TRM_DB_STMT(
    stmt_events, 3,
    "SELECT coalesce(jsonb_agg(jsonb_build_object('id', e.id, 'at', " TS(
        "e.at") ", "
                "'kind', e.kind, 'actor_user_id', e.actor_user_id, 'actor_agency_id', "
                "e.actor_agency_id, 'details', e.details, 'note_id', e.details ->> 'note_id', "
                "'note_category', n.category, 'sealed_note', encode(n.sealed, 'hex')) "
                "ORDER BY e.id), '[]') "
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
TRM_DB_STMT(stmt_access_add, 4,
            "INSERT INTO access_log (user_id, agency_id, country, case_id, categories, purpose, "
            "request_id) SELECT trm_ctx_user(), trm_ctx_agency(), trm_ctx_country(), $1, "
            "$2::text[], $3, $4 WHERE EXISTS (SELECT 1 FROM cases WHERE id = $1)");

/* Runs a statement whose single cell is a JSON value; NOT_FOUND for no row or SQL NULL. */
static void sop_row(struct trm_sop_row *o, const PGresult *r, int i)
{
    trm_strlcpy(o->id, PQgetvalue(r, i, 0), sizeof o->id);
    trm_strlcpy(o->code, PQgetvalue(r, i, 1), sizeof o->code);
    o->version = atol(PQgetvalue(r, i, 2));
    trm_strlcpy(o->country, PQgetvalue(r, i, 3), sizeof o->country);
    trm_strlcpy(o->title, PQgetvalue(r, i, 4), sizeof o->title);
    trm_strlcpy(o->loaded_at, PQgetvalue(r, i, 5), sizeof o->loaded_at);
}

enum trm_db_status trm_sop_insert(struct trm_db_conn *c, const char *id, const struct trm_sop *sop,
                                  json_t *document, const char *loaded_by)
{
    char version[24];
    snprintf(version, sizeof version, "%ld", sop->version);
    char *doc = json_dumps(document, JSON_COMPACT);
    const char *p[] = {id, sop->code, version, sop->country, sop->title, doc, loaded_by};
    enum trm_db_status s;
    PQclear(trm_db_exec(c, &stmt_sop_insert, p, &s));
    free(doc);
    return s;
}

enum trm_db_status trm_sop_existing(struct trm_db_conn *c, const struct trm_sop *sop,
                                    json_t *document, bool *exists, bool *same)
{
    char version[24];
    snprintf(version, sizeof version, "%ld", sop->version);
    char *doc = json_dumps(document, JSON_COMPACT);
    const char *p[] = {sop->code, version, doc};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_sop_same, p, &s);
    *exists = s == TRM_DB_OK && PQntuples(r) == 1;
    *same = *exists && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    free(doc);
    return s;
}

enum trm_db_status trm_sop_list(struct trm_db_conn *c, struct trm_sop_row *out, unsigned cap,
                                unsigned *n)
{
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_sop_list, NULL, &s);
    *n = 0;
    for (int i = 0; s == TRM_DB_OK && i < PQntuples(r) && *n < cap; i++)
        sop_row(&out[(*n)++], r, i);
    PQclear(r);
    return s;
}

enum trm_db_status trm_sop_get(struct trm_db_conn *c, const char *id, struct trm_sop_row *row,
                               json_t **document)
{
    const char *p[] = {id};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_sop_get, p, &s);
    *document = NULL;
    if (s == TRM_DB_OK && PQntuples(r) == 0)
        s = TRM_DB_NOT_FOUND;
    if (s == TRM_DB_OK) {
        sop_row(row, r, 0);
        *document = json_loads(PQgetvalue(r, 0, 6), 0, NULL);
        if (*document == NULL)
            s = TRM_DB_ERROR;
    }
    PQclear(r);
    return s;
}

/* SOP rows never change, so a parsed SOP may be kept for the life of the process. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char id[TRM_UUID_STR_LEN + 1];
    struct trm_sop *sop;
} cache[256];
static size_t cache_n;

const struct trm_sop *trm_sop_cached(struct trm_db_conn *c, const char *id)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < cache_n; i++) {
        if (strcmp(cache[i].id, id) == 0) {
            pthread_mutex_unlock(&cache_lock);
            return cache[i].sop;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    struct trm_sop_row row;
    json_t *doc = NULL, *errors = json_array();
    struct trm_sop *sop = NULL;
    if (trm_sop_get(c, id, &row, &doc) == TRM_DB_OK)
        sop = trm_sop_parse(doc, errors);
    json_decref(doc);
    json_decref(errors);
    if (sop == NULL)
        return NULL;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < cache_n; i++) {
        if (strcmp(cache[i].id, id) == 0) { /* another thread was quicker */
            trm_sop_free(sop);
            sop = cache[i].sop;
            pthread_mutex_unlock(&cache_lock);
            return sop;
        }
    }
    if (cache_n < sizeof cache / sizeof cache[0]) {
        trm_strlcpy(cache[cache_n].id, id, sizeof cache[cache_n].id);
        cache[cache_n++].sop = sop;
    } else {
        /* Past 256 SOP versions (far beyond practice) the last slot is reused; the parse it
         * held is not freed, because a request may still be using it. */
        cache[cache_n - 1].sop = sop;
        trm_strlcpy(cache[cache_n - 1].id, id, sizeof cache[0].id);
    }
    pthread_mutex_unlock(&cache_lock);
    return sop;
}

enum trm_db_status trm_case_facts_get(struct trm_db_conn *c, const char *case_id, bool lock,
                                      char sop_id[TRM_UUID_STR_LEN + 1], json_t **facts)
{
    const char *p[] = {case_id, lock ? "t" : "f"};
    enum trm_db_status s = trm_db_json_cell(c, &stmt_facts, p, facts);
    const char *sid = json_string_value(json_object_get(*facts, "sop_id"));
    if (s == TRM_DB_OK && sid == NULL)
        s = TRM_DB_ERROR; /* a case without a SOP: created before the engine existed */
    if (s == TRM_DB_OK)
        trm_strlcpy(sop_id, sid, TRM_UUID_STR_LEN + 1);
    return s;
}

static unsigned mask_of(json_t *arr, const char *const *names)
{
    unsigned m = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        for (unsigned k = 0; names[k]; k++)
            if (json_is_string(v) && strcmp(json_string_value(v), names[k]) == 0)
                m |= 1u << k;
    }
    return m;
}

void trm_case_facts_from_json(const struct trm_sop *sop, json_t *j, struct trm_case_facts *f)
{
    memset(f, 0, sizeof *f);
    trm_strlcpy(f->age_band, json_string_value(json_object_get(j, "age_band")) ?: "",
                sizeof f->age_band);
    f->version = (long)json_integer_value(json_object_get(j, "version"));
    f->erased = json_is_true(json_object_get(j, "erased"));
    f->consents = mask_of(json_object_get(j, "consents"), trm_consent_kinds);
    f->categories = mask_of(json_object_get(j, "categories"), trm_case_categories);
    f->guardians = (int)json_integer_value(json_object_get(j, "guardians"));
    const char *screening = json_string_value(json_object_get(j, "screening"));
    f->screening = screening == NULL                    ? TRM_SCREENING_NONE
                   : strcmp(screening, "positive") == 0 ? TRM_SCREENING_POSITIVE
                                                        : TRM_SCREENING_NEGATIVE;
    const char *kind;
    json_t *v;
    json_object_foreach(json_object_get(j, "assessments"), kind, v)
    {
        if (f->n_latest == (int)(sizeof f->latest / sizeof f->latest[0]))
            break;
        trm_strlcpy(f->latest[f->n_latest].kind, kind, sizeof f->latest[0].kind);
        trm_strlcpy(f->latest[f->n_latest].outcome, json_string_value(v) ?: "",
                    sizeof f->latest[0].outcome);
        f->n_latest++;
    }
    json_t *tracks = json_object_get(j, "tracks");
    for (int t = 0; t < sop->n_tracks; t++) {
        json_t *tr = json_object_get(tracks, sop->tracks[t].name);
        trm_strlcpy(f->states[t], json_string_value(json_object_get(tr, "state")) ?: "",
                    sizeof f->states[t]);
        f->seconds_in_state[t] = (long)json_integer_value(json_object_get(tr, "seconds"));
    }
}

enum trm_db_status trm_case_transition_apply(struct trm_db_conn *c, const char *case_id,
                                             long version, const struct trm_sop *sop,
                                             const struct trm_sop_transition *t, json_t *details,
                                             const char *sealed_note_hex, const char *note_category,
                                             struct trm_case_summary *summary)
{
    char v[24];
    snprintf(v, sizeof v, "%ld", version);
    char *d = json_dumps(details, JSON_COMPACT);
    const struct trm_sop_state *to = &sop->states[t->to];
    const char *p[] = {case_id,
                       v,
                       sop->tracks[t->track].name,
                       NULL, /* from: set below */
                       to->name,
                       to->terminal ? "t" : "f",
                       d,
                       sealed_note_hex,
                       note_category};
    /* The from state is the track's current one, which the facts named in details. */
    p[3] = json_string_value(json_object_get(details, "from_state"));
    enum trm_db_status s = trm_case_summary_after(c, &stmt_transition, p, case_id, summary);
    free(d);
    return s;
}

enum trm_db_status trm_case_key_get(struct trm_db_conn *c, const char *case_id,
                                    const char *category, struct trm_case_key *out)
{
    const char *p[] = {case_id, category};
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_case_key, p, &s);
    memset(out, 0, sizeof *out);
    if (s == TRM_DB_OK && PQntuples(r) == 0)
        s = TRM_DB_NOT_FOUND;
    if (s == TRM_DB_OK) {
        out->erased = PQgetvalue(r, 0, 3)[0] == 't';
        out->held = PQgetvalue(r, 0, 4)[0] == 't' && !PQgetisnull(r, 0, 0);
    }
    if (s == TRM_DB_OK && out->held) {
        trm_strlcpy(out->kek_id, PQgetvalue(r, 0, 0), sizeof out->kek_id);
        out->dek_version = (unsigned)atoi(PQgetvalue(r, 0, 1));
        if (!trm_hex_decode(PQgetvalue(r, 0, 2), out->wrapped, sizeof out->wrapped))
            s = TRM_DB_ERROR;
    }
    PQclear(r);
    return s;
}

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
    enum trm_db_status s;
    PGresult *r = trm_db_exec(c, &stmt_consents_due, p, &s);
    *n = 0;
    for (int i = 0; s == TRM_DB_OK && i < PQntuples(r) && *n < cap; i++, (*n)++) {
        trm_strlcpy(out[*n].consent_id, PQgetvalue(r, i, 0), sizeof out[*n].consent_id);
        trm_strlcpy(out[*n].owner_agency_id, PQgetvalue(r, i, 1), sizeof out[*n].owner_agency_id);
    }
    PQclear(r);
    return s;
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

enum trm_db_status trm_assessment_insert(struct trm_db_conn *c, const char *id, const char *case_id,
                                         const char *kind, const char *outcome,
                                         const char *sealed_hex, const char *category, json_t **out)
{
    const char *p[] = {id, case_id, kind, outcome, sealed_hex, category};
    return trm_db_json_cell(c, &stmt_assessment_insert, p, out);
}

enum trm_db_status trm_assessment_list(struct trm_db_conn *c, const char *case_id, json_t **out)
{
    const char *p[] = {case_id};
    return trm_db_json_cell(c, &stmt_assessment_list, p, out);
}

enum trm_db_status trm_guardian_insert(struct trm_db_conn *c, const char *id, const char *case_id,
                                       const char *appointed_on, const char *sealed_hex,
                                       const char *category, json_t **out)
{
    const char *p[] = {id, case_id, appointed_on, sealed_hex, category};
    return trm_db_json_cell(c, &stmt_guardian_insert, p, out);
}

enum trm_db_status trm_guardian_list(struct trm_db_conn *c, const char *case_id, json_t **out)
{
    const char *p[] = {case_id};
    return trm_db_json_cell(c, &stmt_guardian_list, p, out);
}

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
    enum trm_db_status s;
    PQclear(trm_db_exec(c, &stmt_event_add, p, &s));
    free(d);
    return s;
}

enum trm_db_status trm_access_log_add(struct trm_db_conn *c, const char *case_id,
                                      json_t *categories, const char *purpose,
                                      const char *request_id)
{
    char *cats = trm_db_words_literal(categories);
    const char *p[] = {case_id, cats, purpose, request_id};
    enum trm_db_status s;
    PQclear(trm_db_exec(c, &stmt_access_add, p, &s));
    free(cats);
    return s;
}

enum trm_db_status trm_case_event_note(struct trm_db_conn *c, const char *case_id, const char *kind,
                                       const char *note_id, const char *sealed_note_hex,
                                       const char *category)
{
    const char *p[] = {case_id, kind, note_id, sealed_note_hex, category};
    enum trm_db_status s;
    PQclear(trm_db_exec(c, &stmt_event_note, p, &s));
    return s;
}
