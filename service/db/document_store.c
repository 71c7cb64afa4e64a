/* The document store (see document_store.h): staged uploads, their chunks, stored documents
 * and their deletion, through the functions of migration 0025 and row-level security. */
#include "trm/document_store.h"
#include "trm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
#define DOC_JSON(d) "trm_document_json(" d ")"
TRM_DB_STMT(stmt_begin, 8,
            "SELECT trm_document_begin($1, $2, $3, $4, $5, $6, $7::bigint, $8::bigint) "
            "AS outcome");
TRM_DB_STMT(stmt_chunk_put, 3,
            "INSERT INTO document_chunks (document_id, seq, sealed) "
            "VALUES ($1, $2::integer, decode($3, 'hex'))");
TRM_DB_STMT(stmt_store, 5,
            "SELECT trm_document_store($1, $2::bigint, $3::integer, $4, $5::bigint) AS answer");
TRM_DB_STMT(stmt_abort, 1, "DELETE FROM documents WHERE id = $1 AND uploaded_at IS NULL");
TRM_DB_STMT(stmt_list, 4,
            "SELECT coalesce(jsonb_agg(j ORDER BY at, id), '[]') AS items FROM ("
            "SELECT " DOC_JSON("d") " || jsonb_build_object("
            "'sealed_meta', encode(d.sealed_meta, 'hex')) AS j, d.uploaded_at AS at, d.id "
            "FROM documents d WHERE d.case_id = $1 AND d.uploaded_at IS NOT NULL "
            "AND ($2::timestamptz IS NULL OR (d.uploaded_at, d.id) > ($2, $3::uuid)) "
            "ORDER BY d.uploaded_at, d.id LIMIT $4::integer) x");
/* The same page with what opens the content too (the subject-access bundle's). */
TRM_DB_STMT(stmt_list_sealed, 4,
            "SELECT coalesce(jsonb_agg(j ORDER BY at, id), '[]') AS items FROM ("
            "SELECT " DOC_JSON("d") " || jsonb_build_object("
            "'sealed_meta', encode(d.sealed_meta, 'hex'), "
            "'sealed_key', encode(d.sealed_key, 'hex'), 'chunks', d.chunks) AS j, "
            "d.uploaded_at AS at, d.id "
            "FROM documents d WHERE d.case_id = $1 AND d.uploaded_at IS NOT NULL "
            "AND ($2::timestamptz IS NULL OR (d.uploaded_at, d.id) > ($2, $3::uuid)) "
            "ORDER BY d.uploaded_at, d.id LIMIT $4::integer) x");
TRM_DB_STMT(stmt_get, 2,
            "SELECT " DOC_JSON("d") " || jsonb_build_object("
            "'sealed_meta', encode(d.sealed_meta, 'hex'), "
            "'sealed_key', encode(d.sealed_key, 'hex'), 'chunks', d.chunks) AS document "
            "FROM documents d WHERE d.case_id = $1 AND d.id = $2 AND d.uploaded_at IS NOT NULL");
TRM_DB_STMT(stmt_chunk_get, 2,
            "SELECT encode(sealed, 'hex') AS sealed FROM document_chunks "
            "WHERE document_id = $1 AND seq = $2::integer");
TRM_DB_STMT(stmt_delete, 3, "SELECT trm_document_delete($1, $2, $3) AS outcome");
TRM_DB_STMT(stmt_abandoned, 1, "SELECT trm_documents_abandoned_drop($1::integer) AS gone");
/* clang-format on */

static const struct {
    const char *word;
    enum trm_doc_outcome outcome;
} outcome_words[] = {
    {"ok", TRM_DOC_OK},
    {"not_found", TRM_DOC_NOT_FOUND},
    {"erased", TRM_DOC_ERASED},
    {"not_granted", TRM_DOC_NOT_GRANTED},
    {"case_full", TRM_DOC_CASE_FULL},
    {"incomplete", TRM_DOC_INCOMPLETE},
    {"not_owner", TRM_DOC_NOT_OWNER},
};

/* A word our functions answer, as an outcome; a word we do not know is a schema mismatch. */
static enum trm_db_status outcome_of(const char *word, enum trm_doc_outcome *out)
{
    for (size_t i = 0; word && i < sizeof outcome_words / sizeof outcome_words[0]; i++) {
        if (strcmp(word, outcome_words[i].word) == 0) {
            *out = outcome_words[i].outcome;
            return TRM_DB_OK;
        }
    }
    return TRM_DB_ERROR;
}

/* What one of our functions answered, in a word. */
struct answer_word {
    char outcome[16];
};
static const struct trm_db_col word_cols[] = {
    TRM_DB_FIELD(TRM_DB_TEXT, struct answer_word, outcome),
    {0},
};

/* Runs stmt and reads its one outcome word (column "outcome"). */
static enum trm_db_status outcome_cell(struct trm_db_conn *c, struct trm_db_stmt *stmt,
                                       const char *const *p, enum trm_doc_outcome *outcome)
{
    struct answer_word w = {{0}};
    enum trm_db_status st = trm_db_get(c, stmt, p, word_cols, &w);
    return st == TRM_DB_OK ? outcome_of(w.outcome, outcome) : st;
}

enum trm_db_status trm_document_begin(struct trm_db_conn *c, const struct trm_doc_begin *b,
                                      enum trm_doc_outcome *outcome)
{
    char declared[24], limit[24];
    snprintf(declared, sizeof declared, "%llu", (unsigned long long)b->declared);
    snprintf(limit, sizeof limit, "%llu", (unsigned long long)b->case_limit);
    const char *p[] = {b->id,         b->case_id,        b->category, b->kind,
                       b->media_type, b->sealed_key_hex, declared,    limit};
    return outcome_cell(c, &stmt_begin, p, outcome);
}

enum trm_db_status trm_document_chunk_put(struct trm_db_conn *c, const char *id, uint32_t seq,
                                          const char *sealed_hex)
{
    char n[16];
    snprintf(n, sizeof n, "%u", (unsigned)seq);
    const char *p[] = {id, n, sealed_hex};
    return trm_db_do(c, &stmt_chunk_put, p);
}

enum trm_db_status trm_document_store(struct trm_db_conn *c, const char *id, uint64_t size,
                                      uint32_t chunks, const char *sealed_meta_hex,
                                      uint64_t case_limit, enum trm_doc_outcome *outcome,
                                      json_t **doc)
{
    char s[24], n[16], limit[24];
    snprintf(s, sizeof s, "%llu", (unsigned long long)size);
    snprintf(n, sizeof n, "%u", (unsigned)chunks);
    snprintf(limit, sizeof limit, "%llu", (unsigned long long)case_limit);
    const char *p[] = {id, s, n, sealed_meta_hex, limit};
    json_t *answer = NULL;
    *doc = NULL;
    enum trm_db_status st = trm_db_json_cell(c, &stmt_store, p, &answer);
    if (st == TRM_DB_OK)
        st = outcome_of(json_string_value(json_object_get(answer, "outcome")), outcome);
    if (st == TRM_DB_OK && *outcome == TRM_DOC_OK) {
        *doc = json_incref(json_object_get(answer, "document"));
        if (!json_is_object(*doc))
            st = TRM_DB_ERROR;
    }
    json_decref(answer);
    return st;
}

enum trm_db_status trm_document_abort(struct trm_db_conn *c, const char *id)
{
    const char *p[] = {id};
    return trm_db_do(c, &stmt_abort, p);
}

enum trm_db_status trm_document_list(struct trm_db_conn *c, const char *case_id,
                                     const char *after_at, const char *after_id, unsigned limit,
                                     json_t **items)
{
    char n[16];
    snprintf(n, sizeof n, "%u", limit);
    const char *p[] = {case_id, after_at, after_id, n};
    return trm_db_json_cell(c, &stmt_list, p, items);
}

enum trm_db_status trm_document_list_sealed(struct trm_db_conn *c, const char *case_id,
                                            const char *after_at, const char *after_id,
                                            unsigned limit, json_t **items)
{
    char n[16];
    snprintf(n, sizeof n, "%u", limit);
    const char *p[] = {case_id, after_at, after_id, n};
    return trm_db_json_cell(c, &stmt_list_sealed, p, items);
}

enum trm_db_status trm_document_get(struct trm_db_conn *c, const char *case_id, const char *id,
                                    json_t **doc)
{
    const char *p[] = {case_id, id};
    return trm_db_json_cell(c, &stmt_get, p, doc);
}

struct chunk_row {
    const char *sealed;
};
static const struct trm_db_col chunk_cols[] = {
    TRM_DB_FIELD(TRM_DB_STR, struct chunk_row, sealed),
    {0},
};

enum trm_db_status trm_document_chunk_get(struct trm_db_conn *c, const char *id, uint32_t seq,
                                          uint8_t *out, size_t cap, size_t *len)
{
    char n[16];
    snprintf(n, sizeof n, "%u", (unsigned)seq);
    const char *p[] = {id, n};
    enum trm_db_status st;
    struct chunk_row row = {NULL};
    PGresult *r = trm_db_exec(c, &stmt_chunk_get, p, &st);
    if (st == TRM_DB_OK)
        st = trm_db_one(r, chunk_cols, &row);
    size_t hex_len = row.sealed ? strlen(row.sealed) : 0;
    *len = hex_len / 2;
    if (st == TRM_DB_OK && (row.sealed == NULL || hex_len % 2 != 0 || *len > cap ||
                            !trm_hex_decode(row.sealed, out, *len)))
        st = TRM_DB_ERROR;
    PQclear(r);
    return st;
}

enum trm_db_status trm_document_delete(struct trm_db_conn *c, const char *case_id, const char *id,
                                       const char *reason, enum trm_doc_outcome *outcome)
{
    const char *p[] = {case_id, id, reason};
    return outcome_cell(c, &stmt_delete, p, outcome);
}

struct gone_row {
    long gone;
};
static const struct trm_db_col gone_cols[] = {
    TRM_DB_FIELD(TRM_DB_LONG, struct gone_row, gone),
    {0},
};

enum trm_db_status trm_documents_abandoned_drop(struct trm_db_conn *c, long age_s, long *n)
{
    char a[24];
    snprintf(a, sizeof a, "%ld", age_s);
    const char *p[] = {a};
    struct gone_row row = {0};
    enum trm_db_status st = trm_db_get(c, &stmt_abandoned, p, gone_cols, &row);
    *n = row.gone;
    return st;
}
