/* The handover-log store (see handover_store.h): entries as the caller may see them, the
 * whole chain for verification, the head and its signed checkpoints. */
#include "trm/handover_store.h"
#include "trm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
/* Entries as JSON: trm_handover_entry_json() in sql/migrations/0017_handover_log_scope.sql. */
TRM_DB_STMT(stmt_handover_list, 8,
            "SELECT coalesce(jsonb_agg(j ORDER BY seq), '[]') FROM ("
            "SELECT l.seq, trm_handover_entry_json(l) - 'type' AS j FROM handover_log l "
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
            "SELECT h.seq, encode(h.hash, 'hex') AS hash, coalesce(k.seq, 0) AS checkpoint_seq, "
            "coalesce(floor(extract(epoch FROM now() - k.at::timestamptz))::bigint, -1) "
            "AS checkpoint_age_s "
            "FROM handover_head h LEFT JOIN LATERAL (SELECT seq, at FROM handover_checkpoints "
            "ORDER BY seq DESC LIMIT 1) k ON true");
/* The seqs of the first and last entries of a range on `at`, as the caller may see them. */
TRM_DB_STMT(stmt_range, 2,
            "SELECT coalesce(min(seq), 0) AS first, coalesce(max(seq), 0) AS last "
            "FROM handover_log "
            "WHERE ($1::timestamptz IS NULL OR at::timestamptz >= $1) "
            "AND ($2::timestamptz IS NULL OR at::timestamptz < $2)");
TRM_DB_STMT(stmt_seal_basis, 1, "SELECT trm_handover_seal_basis($1::bigint)");
TRM_DB_STMT(stmt_checkpoint_add, 5,
            "INSERT INTO handover_checkpoints (seq, head_hash, at, key_id, signature) "
            "VALUES ($1::bigint, decode($2, 'hex'), $3, $4, decode($5, 'hex')) "
            "ON CONFLICT (seq) DO NOTHING");
/* clang-format on */

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
    struct head {
        long long seq, checkpoint_seq;
        long checkpoint_age_s;
        uint8_t hash[TRM_HASH_BYTES];
    } h = {0};
    static const struct trm_db_col cols[] = {
        TRM_DB_FIELD(TRM_DB_LLONG, struct head, seq),
        TRM_DB_FIELD(TRM_DB_HEX, struct head, hash),
        TRM_DB_FIELD(TRM_DB_LLONG, struct head, checkpoint_seq),
        TRM_DB_FIELD(TRM_DB_LONG, struct head, checkpoint_age_s),
        {0},
    };
    enum trm_db_status s = trm_db_get(c, &stmt_head, NULL, cols, &h);
    *seq = h.seq;
    memcpy(hash, h.hash, TRM_HASH_BYTES);
    *checkpoint_seq = h.checkpoint_seq;
    *checkpoint_age_s = h.checkpoint_age_s;
    return s == TRM_DB_NOT_FOUND ? TRM_DB_ERROR : s; /* the head is one row, always */
}

enum trm_db_status trm_handover_range(struct trm_db_conn *c, const char *from, const char *to,
                                      long long *first, long long *last)
{
    const char *p[] = {from, to};
    struct range {
        long long first, last;
    } g = {0};
    static const struct trm_db_col cols[] = {
        TRM_DB_FIELD(TRM_DB_LLONG, struct range, first),
        TRM_DB_FIELD(TRM_DB_LLONG, struct range, last),
        {0},
    };
    enum trm_db_status s = trm_db_get(c, &stmt_range, p, cols, &g);
    *first = g.first;
    *last = g.last;
    return s == TRM_DB_NOT_FOUND ? TRM_DB_ERROR : s; /* an aggregate: one row, always */
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
    return trm_db_do(c, &stmt_checkpoint_add, p);
}
