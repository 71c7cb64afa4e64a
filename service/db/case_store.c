/* The case store: cases, their wrapped data keys, sealed fields, blind indexes and first
 * timeline events. Row-level security decides what the caller sees. */
#include "trm/case_store.h"
#include "trm/event_store.h"
#include "trm/text_buf.h"
#include "sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
TRM_DB_STMT(stmt_case_create, 17,
            "SELECT " TRM_SQL_CASE_SUMMARY_BASE "trm_case_tracks(c.id) AS tracks "
            "FROM trm_case_create($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, "
            "$15, $16, $17) c");
/* trm_case_read's row c has what it decides about (the fields opened); the rest of the
 * summary is the case's row t, read once. */
TRM_DB_STMT(stmt_case_read, 4,
            "SELECT " TRM_SQL_CASE_SUMMARY_OF("c.identified_month", TRM_SQL_CASE_TRANSFER("t"),
                                              "t.assigned_to", "t.identified_region",
                                              "t.economic_sector") TRM_SQL_CASE_TRACKS
            " AS tracks, c.kek_id IS NOT NULL AS has_key, c.kek_id, c.dek_version, "
            "c.wrapped_dek, c.fields FROM trm_case_read($1, $2, $3, $4::text[]) c "
            "LEFT JOIN cases t ON t.id = c.id");
TRM_DB_STMT(stmt_case_list, 12,
            "SELECT " TRM_SQL_CASE_ITEM " FROM cases c " TRM_SQL_CASE_ITEM_TRACKS
            "WHERE ($1::uuid IS NULL OR c.owner_agency_id = $1) "
            "AND ($2::text IS NULL OR c.citizenship = $2) "
            "AND ($3::text IS NULL OR c.exploitation_forms @> ARRAY[$3::text]) "
            "AND ($4::timestamptz IS NULL OR c.created_at >= $4) "
            "AND ($5::timestamptz IS NULL OR c.created_at < $5) "
            "AND ($6::timestamptz IS NULL OR (c.created_at, c.id) < ($6, $7::uuid)) "
            "AND ($9::text IS NULL OR EXISTS (SELECT 1 FROM case_tracks t WHERE t.case_id = c.id "
            "     AND t.track = 'main' AND t.state = $9)) "
            "AND ($10::boolean IS NOT TRUE OR EXISTS (SELECT 1 FROM case_tracks t "
            "     WHERE t.case_id = c.id AND t.due_at < now())) "
            "AND ($11::uuid IS NULL OR c.assigned_to = $11::uuid) "
            "AND ($12::boolean IS NOT TRUE OR c.assigned_to IS NULL) "
            "ORDER BY c.created_at DESC, c.id DESC LIMIT $8");
TRM_DB_STMT(stmt_case_search, 4,
            "SELECT " TRM_SQL_CASE_SUMMARY ", m.n FROM "
            "(SELECT b.case_id, count(DISTINCT b.kind) AS n FROM case_blind_index b "
            " JOIN unnest($1::smallint[], $2::bigint[]) AS q (kind, value) "
            "   ON b.kind = q.kind AND b.value = q.value AND b.bits = $3 GROUP BY b.case_id) m "
            "JOIN cases c ON c.id = m.case_id "
            "ORDER BY m.n DESC, c.created_at DESC LIMIT $4");
TRM_DB_STMT(stmt_case_bump, 9,
            "UPDATE cases c SET version = version + 1, updated_at = now(), "
            "identified_region = CASE WHEN $8::text IS NULL THEN identified_region "
            "                         ELSE nullif($8::text, '') END, "
            "economic_sector = CASE WHEN $9::text IS NULL THEN economic_sector "
            "                       ELSE nullif($9::text, '') END, "
            "sex = coalesce($3::text, sex), age_band = coalesce($4::text, age_band), "
            "citizenship = coalesce($5::text, citizenship), "
            "identified_month = coalesce(($6::text || '-01')::date, identified_month), "
            "exploitation_forms = coalesce($7::text[], exploitation_forms) "
            "WHERE id = $1 AND version = $2::integer "
            "AND ($5::text IS NULL OR $5::text = 'unknown' "
            "     OR EXISTS (SELECT 1 FROM countries WHERE code = $5::text)) "
            "RETURNING " TRM_SQL_CASE_SUMMARY);
TRM_DB_STMT(stmt_case_summary, 1, "SELECT " TRM_SQL_CASE_SUMMARY " FROM cases c WHERE c.id = $1");
TRM_DB_STMT(stmt_case_exists, 1, "SELECT version FROM cases WHERE id = $1");
TRM_DB_STMT(stmt_field_put, 4,
            "INSERT INTO case_personal (case_id, category, field, sealed) "
            "VALUES ($1, $2, $3, decode($4, 'hex')) "
            "ON CONFLICT (case_id, category, field) DO UPDATE SET sealed = excluded.sealed");
TRM_DB_STMT(stmt_field_drop, 3,
            "DELETE FROM case_personal WHERE case_id = $1 AND category = $2 AND field = $3");
TRM_DB_STMT(stmt_index_clear, 1, "DELETE FROM case_blind_index WHERE case_id = $1");
TRM_DB_STMT(stmt_index_add, 4,
            "INSERT INTO case_blind_index (case_id, kind, bits, value) "
            "SELECT DISTINCT $1::uuid, k, $4::smallint, v "
            "FROM unnest($2::smallint[], $3::bigint[]) AS u (k, v)");
TRM_DB_STMT(stmt_case_erase, 2, "SELECT trm_case_erase($1, $2)");
/* clang-format on */

/* The columns of a summary, in a struct at prefix (empty, or "summary." in a record). */
#define SUMMARY_COLS(type, at)                                                                     \
    TRM_DB_COL(TRM_DB_TEXT, type, at id, "id"),                                                    \
        TRM_DB_COL(TRM_DB_TEXT, type, at reference, "reference"),                                  \
        TRM_DB_COL(TRM_DB_TEXT, type, at country, "country"),                                      \
        TRM_DB_COL(TRM_DB_TEXT, type, at owner_agency_id, "owner_agency_id"),                      \
        TRM_DB_COL(TRM_DB_TEXT, type, at sex, "sex"),                                              \
        TRM_DB_COL(TRM_DB_TEXT, type, at age_band, "age_band"),                                    \
        TRM_DB_COL(TRM_DB_TEXT, type, at citizenship, "citizenship"),                              \
        TRM_DB_COL(TRM_DB_TEXT, type, at forms, "exploitation_forms"),                             \
        TRM_DB_COL(TRM_DB_TEXT, type, at identified_month, "identified_month"),                    \
        TRM_DB_COL(TRM_DB_TEXT, type, at identified_region, "identified_region"),                  \
        TRM_DB_COL(TRM_DB_TEXT, type, at economic_sector, "economic_sector"),                      \
        TRM_DB_COL(TRM_DB_LONG, type, at version, "version"),                                      \
        TRM_DB_COL(TRM_DB_TEXT, type, at created_at, "created_at"),                                \
        TRM_DB_COL(TRM_DB_TEXT, type, at updated_at, "updated_at"),                                \
        TRM_DB_COL(TRM_DB_TEXT, type, at erased_at, "erased_at"),                                  \
        TRM_DB_COL(TRM_DB_TEXT, type, at sop_id, "sop_id"),                                        \
        TRM_DB_COL(TRM_DB_TEXT, type, at transferred_out, "transferred_out"),                      \
        TRM_DB_COL(TRM_DB_TEXT, type, at assigned_to, "assigned_to"),                              \
        TRM_DB_COL(TRM_DB_TEXT, type, at tracks, "tracks")

static const struct trm_db_col summary_cols[] = {SUMMARY_COLS(struct trm_case_summary, ), {0}};

/* A record: the summary, the wrapped key (has_key false without one) and the sealed fields
 * (read on their own: JSON). */
static const struct trm_db_col record_cols[] = {
    SUMMARY_COLS(struct trm_case_record, summary.),
    TRM_DB_FIELD(TRM_DB_BOOL, struct trm_case_record, has_key),
    TRM_DB_FIELD(TRM_DB_TEXT, struct trm_case_record, kek_id),
    TRM_DB_FIELD(TRM_DB_UINT, struct trm_case_record, dek_version),
    TRM_DB_COL(TRM_DB_HEX, struct trm_case_record, wrapped, "wrapped_dek"),
    {0},
};

static const struct trm_db_col match_cols[] = {{"n", TRM_DB_INT, 0, sizeof(int)}, {0}};

/* A PostgreSQL array literal of plain words (validated enum values or names). */
/* Appends a quoted or bare element to a growing array literal. */
struct lit {
    char *s;
    size_t len, cap;
};

static void lit_add(struct lit *l, const char *v)
{
    size_t need = strlen(v) + 4;
    if (l->len + need + 2 > l->cap) {
        size_t cap = (l->cap + need) * 2 + 64;
        char *s = realloc(l->s, cap);
        if (s == NULL)
            return;
        l->s = s;
        l->cap = cap;
    }
    if (l->len == 0)
        l->s[l->len++] = '{';
    else
        l->s[l->len++] = ',';
    l->len += (size_t)snprintf(l->s + l->len, l->cap - l->len, "%s", v);
    l->s[l->len] = '\0';
}

static char *lit_end(struct lit *l)
{
    if (l->len == 0)
        return strdup("{}");
    lit_add(l, "");
    l->s[l->len - 1] = '}';
    return l->s;
}

static void index_literals(const struct trm_sealed_person *p, char **kinds, char **values)
{
    struct lit k = {0}, v = {0};
    char num[24];
    for (size_t i = 0; p && i < p->n_index; i++) {
        snprintf(num, sizeof num, "%d", p->index_kinds[i]);
        lit_add(&k, num);
        snprintf(num, sizeof num, "%u", p->index_values[i]);
        lit_add(&v, num);
    }
    *kinds = lit_end(&k);
    *values = lit_end(&v);
}

enum trm_db_status trm_case_insert(struct trm_db_conn *c, const struct trm_case_new *n,
                                   struct trm_case_summary *out)
{
    struct lit cats = {0}, fields = {0}, sealed = {0};
    for (size_t i = 0; i < n->person->n; i++) {
        lit_add(&cats, n->person->fields[i].category);
        lit_add(&fields, n->person->fields[i].field);
        lit_add(&sealed, n->person->fields[i].hex);
    }
    char *cats_s = lit_end(&cats), *fields_s = lit_end(&fields), *sealed_s = lit_end(&sealed);
    char *kinds_s, *values_s;
    index_literals(n->person, &kinds_s, &values_s);
    char *forms = trm_db_words_literal(n->forms);
    char month[16], wrapped[2 * TRM_WRAPPED_DEK_BYTES + 1], bits[8];
    snprintf(month, sizeof month, "%s-01", n->month);
    snprintf(bits, sizeof bits, "%u", n->bits);
    trm_hex_encode(n->wrapped, TRM_WRAPPED_DEK_BYTES, wrapped);
    const char *p[] = {n->id,   n->country, n->sex,  n->age_band, n->citizenship, forms,
                       month,   n->kek_id,  wrapped, cats_s,      fields_s,       sealed_s,
                       kinds_s, values_s,   bits,    n->region,   n->sector};
    enum trm_db_status st;
    PGresult *r = trm_db_exec(c, &stmt_case_create, p, &st);
    if (st == TRM_DB_OK && trm_db_one(r, summary_cols, out) != TRM_DB_OK)
        st = TRM_DB_ERROR;
    PQclear(r);
    free(cats_s);
    free(fields_s);
    free(sealed_s);
    free(kinds_s);
    free(values_s);
    free(forms);
    return st;
}

enum trm_db_status trm_case_summary_get(struct trm_db_conn *c, const char *id,
                                        struct trm_case_summary *out)
{
    const char *p[] = {id};
    return trm_db_get(c, &stmt_case_summary, p, summary_cols, out);
}

enum trm_db_status trm_case_summary_after(struct trm_db_conn *c, struct trm_db_stmt *change,
                                          const char *const *params, const char *id,
                                          struct trm_case_summary *out)
{
    const char *p[] = {id};
    struct trm_db_call calls[] = {{change, params, NULL}, {&stmt_case_summary, p, NULL}};
    enum trm_db_status st = trm_db_exec_batch(c, calls, 2);
    if (st == TRM_DB_OK && PQgetvalue(calls[0].result, 0, 0)[0] != 't')
        st = TRM_DB_CONFLICT;
    if (st == TRM_DB_OK)
        st = trm_db_one(calls[1].result, summary_cols, out);
    PQclear(calls[0].result);
    PQclear(calls[1].result);
    return st;
}

enum trm_db_status trm_case_read(struct trm_db_conn *c, const char *id, const char *request_id,
                                 const char *purpose, const char *const *categories,
                                 struct trm_case_record *out)
{
    memset(out, 0, sizeof *out);
    char *cats = NULL;
    if (categories) {
        json_t *words = json_array();
        for (size_t i = 0; categories[i]; i++)
            json_array_append_new(words, json_string(categories[i]));
        cats = trm_db_words_literal(words);
        json_decref(words);
    }
    const char *p[] = {id, request_id, purpose, cats};
    enum trm_db_status st;
    PGresult *r = trm_db_exec(c, &stmt_case_read, p, &st);
    const char *fields = NULL;
    static const struct trm_db_col fields_col[] = {{"fields", TRM_DB_STR, 0, sizeof(char *)}, {0}};
    if (st == TRM_DB_OK)
        st = trm_db_one(r, record_cols, out);
    if (st == TRM_DB_OK && trm_db_one(r, fields_col, &fields) == TRM_DB_OK)
        out->fields = json_loads(fields, 0, NULL);
    if (st == TRM_DB_OK && out->fields == NULL)
        st = TRM_DB_ERROR;
    PQclear(r);
    free(cats);
    return st;
}

void trm_case_record_free(struct trm_case_record *r)
{
    json_decref(r->fields);
    r->fields = NULL;
}

/* The members of a list item, in the order of TRM_SQL_CASE_ITEM's columns; '"' marks a
 * string, 'n' a number, 'j' JSON as the database wrote it; a NULL is null. */
static const struct {
    const char *name;
    char kind;
} item_members[] = {
    {"id", '"'},
    {"reference", '"'},
    {"country", '"'},
    {"owner_agency_id", '"'},
    {"sex", '"'},
    {"age_band", '"'},
    {"citizenship", '"'},
    {"exploitation_forms", 'j'},
    {"identified_month", '"'},
    {"version", 'n'},
    {"created_at", '"'},
    {"updated_at", '"'},
    {"personal_data_erased_at", '"'},
    {"sop_id", '"'},
    {"state", '"'},
    {"due_at", '"'},
    {"tracks", 'j'},
    {"transferred_out", 'j'},
    {"assigned_to", '"'},
    {"identified_region", '"'},
    {"economic_sector", '"'},
};
enum { ITEM_CREATED_AT = 10 };

static void write_item(struct trm_text_buf *b, const PGresult *r, int row, bool comma)
{
    trm_tb_adds(b, comma ? ",{" : "{");
    for (int i = 0; i < (int)(sizeof item_members / sizeof item_members[0]); i++) {
        if (i > 0)
            trm_tb_add(b, ",", 1);
        trm_tb_json_string(b, item_members[i].name);
        trm_tb_add(b, ":", 1);
        const char *v = PQgetisnull(r, row, i) ? NULL : PQgetvalue(r, row, i);
        if (v == NULL)
            trm_tb_add(b, "null", 4);
        else if (item_members[i].kind == '"')
            trm_tb_json_string(b, v);
        else
            trm_tb_add(b, v, (size_t)PQgetlength(r, row, i));
    }
    trm_tb_add(b, "}", 1);
}

enum trm_db_status trm_case_list(struct trm_db_conn *c, const struct trm_case_filter *f,
                                 struct trm_case_page *out)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%u", f->limit + 1);
    const char *p[] = {f->owner_agency_id,
                       f->citizenship,
                       f->exploitation_form,
                       f->from,
                       f->to,
                       f->after_created,
                       f->after_id,
                       limit,
                       f->state,
                       f->overdue ? "t" : NULL,
                       f->assigned_to,
                       f->unassigned ? "t" : NULL};
    enum trm_db_status st;
    PGresult *r = trm_db_exec(c, &stmt_case_list, p, &st);
    free(out->items);
    memset(out, 0, sizeof *out);
    if (st != TRM_DB_OK) {
        PQclear(r);
        return st;
    }
    int rows = PQntuples(r), shown = rows > (int)f->limit ? (int)f->limit : rows;
    struct trm_text_buf b = {0};
    trm_tb_add(&b, "[", 1);
    for (int i = 0; i < shown; i++)
        write_item(&b, r, i, i > 0);
    trm_tb_add(&b, "]", 1);
    out->items = trm_tb_take(&b);
    out->more = rows > shown;
    if (shown > 0) {
        trm_strlcpy(out->last_created, PQgetvalue(r, shown - 1, ITEM_CREATED_AT),
                    sizeof out->last_created);
        trm_strlcpy(out->last_id, PQgetvalue(r, shown - 1, 0), sizeof out->last_id);
    }
    if (out->items == NULL)
        st = TRM_DB_ERROR;
    PQclear(r);
    return st;
}

enum trm_db_status trm_case_search(struct trm_db_conn *c, const int *kinds, const uint32_t *values,
                                   size_t n_values, unsigned bits, struct trm_case_summary *out,
                                   int *matches, unsigned cap, unsigned *n)
{
    struct trm_sealed_person idx = {.n_index = n_values};
    for (size_t i = 0; i < n_values && i < 24; i++) {
        idx.index_kinds[i] = kinds[i];
        idx.index_values[i] = values[i];
    }
    char *kinds_s, *values_s, bits_s[8], limit[16];
    index_literals(&idx, &kinds_s, &values_s);
    snprintf(bits_s, sizeof bits_s, "%u", bits);
    snprintf(limit, sizeof limit, "%u", cap);
    const char *p[] = {kinds_s, values_s, bits_s, limit};
    enum trm_db_status st;
    PGresult *r = trm_db_exec(c, &stmt_case_search, p, &st);
    unsigned n_matches = 0;
    *n = 0;
    if (st == TRM_DB_OK)
        st = trm_db_rows(r, summary_cols, out, sizeof *out, cap, n);
    if (st == TRM_DB_OK)
        st = trm_db_rows(r, match_cols, matches, sizeof *matches, cap, &n_matches);
    PQclear(r);
    free(kinds_s);
    free(values_s);
    return st;
}

/* Writes the changed fields, drops the removed ones, replaces the indexes, notes the event. */
static enum trm_db_status apply_fields(struct trm_db_conn *c, const struct trm_case_change *ch)
{
    enum trm_db_status st = TRM_DB_OK;
    for (size_t i = 0; st == TRM_DB_OK && ch->set && i < ch->set->n; i++) {
        const char *p[] = {ch->id, ch->set->fields[i].category, ch->set->fields[i].field,
                           ch->set->fields[i].hex};
        st = trm_db_do(c, &stmt_field_put, p);
    }
    for (size_t i = 0; st == TRM_DB_OK && ch->removed && ch->removed[i]; i++) {
        char category[48];
        const char *dot = strchr(ch->removed[i], '.');
        if (dot == NULL || (size_t)(dot - ch->removed[i]) >= sizeof category)
            continue;
        memcpy(category, ch->removed[i], (size_t)(dot - ch->removed[i]));
        category[dot - ch->removed[i]] = '\0';
        const char *p[] = {ch->id, category, dot + 1};
        st = trm_db_do(c, &stmt_field_drop, p);
    }
    if (st == TRM_DB_OK && ch->index) {
        const char *q[] = {ch->id};
        st = trm_db_do(c, &stmt_index_clear, q);
        char *kinds_s, *values_s, bits[8];
        index_literals(ch->index, &kinds_s, &values_s);
        snprintf(bits, sizeof bits, "%u", ch->bits);
        const char *p[] = {ch->id, kinds_s, values_s, bits};
        if (st == TRM_DB_OK)
            st = trm_db_do(c, &stmt_index_add, p);
        free(kinds_s);
        free(values_s);
    }
    return st;
}

enum trm_db_status trm_case_update(struct trm_db_conn *c, const struct trm_case_change *ch,
                                   struct trm_case_summary *out)
{
    char version[24];
    snprintf(version, sizeof version, "%ld", ch->expected_version);
    char *forms = ch->forms ? trm_db_words_literal(ch->forms) : NULL;
    const char *p[] = {ch->id,    version, ch->sex,    ch->age_band, ch->citizenship,
                       ch->month, forms,   ch->region, ch->sector};
    enum trm_db_status st;
    PGresult *r = trm_db_exec(c, &stmt_case_bump, (const char *const *)p, &st);
    free(forms);
    if (st == TRM_DB_OK)
        st = trm_db_one(r, summary_cols, out);
    if (st == TRM_DB_NOT_FOUND) /* no row changed: gone, not ours, or changed meanwhile */
        st = TRM_DB_CONFLICT;
    PQclear(r);
    if (st == TRM_DB_CONFLICT) {
        /* Tell "gone or not yours" (NOT_FOUND) from "changed meanwhile" (CONFLICT). */
        const char *q[] = {ch->id};
        r = trm_db_exec(c, &stmt_case_exists, q, &st);
        st = st != TRM_DB_OK ? st : PQntuples(r) == 0 ? TRM_DB_NOT_FOUND : TRM_DB_CONFLICT;
        PQclear(r);
        return st;
    }
    if (st == TRM_DB_OK)
        st = apply_fields(c, ch);
    if (st == TRM_DB_OK) {
        json_t *d = json_pack("{s:O}", "fields", ch->changed_names);
        st = trm_case_event_add(c, ch->id, "fields_changed", d);
        json_decref(d);
    }
    return st;
}

enum trm_db_status trm_case_erase(struct trm_db_conn *c, const char *id, const char *reason,
                                  json_t **crossing)
{
    const char *p[] = {id, reason};
    return trm_db_json_cell(c, &stmt_case_erase, p, crossing);
}
