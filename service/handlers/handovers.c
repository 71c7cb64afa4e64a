/* The handover log for auditors: listing, verification of the whole chain and its signed
 * checkpoints, export as NDJSON for offline verification; the signing key; and who read a
 * case's personal data. */
#include "handlers.h"

#include "trm/federation_store.h"

#include "trm/handover.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/referrals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 1000
#define EXPORT_MAX 200000

static const char *const actions[] = {
    "offer", "accept", "decline", "withdraw", "expire", "consent_withdrawal", NULL};

static bool time_ok(const char *s)
{
    /* YYYY-MM-DD or an RFC 3339 UTC time; PostgreSQL parses it after this shape check. */
    size_t n = s ? strlen(s) : 0;
    return s == NULL ||
           ((n == 10 || n == 20) && s[4] == '-' && s[7] == '-' && strspn(s, "0123456789-:TZ") == n);
}

struct list_args {
    struct trm_handover_filter f;
    json_t *out;
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct list_args *x = arg;
    json_decref(x->out);
    return trm_handover_list(c, &x->f, &x->out);
}

TRM_HANDLER(trm_handle_handovers_list)
{
    struct list_args x = {0};
    json_t *after = NULL;
    x.f.from = trm_request_query(req, "from");
    x.f.to = trm_request_query(req, "to");
    if (!trm_http_query_uuid(req, res, "case_id", &x.f.case_id) ||
        !trm_http_query_uuid(req, res, "agency_id", &x.f.agency_id) ||
        !trm_http_query_country(req, res, "country", &x.f.country) ||
        !trm_http_query_enum(req, res, "action", actions, &x.f.action) ||
        !trm_http_page(req, res, trm_app_keys(app), &x.f.limit, &after))
        return;
    if (!time_ok(x.f.from) || !time_ok(x.f.to)) {
        json_decref(after);
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                             "from and to must be dates (YYYY-MM-DD) or UTC times.");
        return;
    }
    x.f.after_seq = json_integer_value(json_array_get(after, 0));
    json_decref(after);
    unsigned limit = x.f.limit;
    x.f.limit++;
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, TRM_DB_READ_COMMITTED, list_tx, &x);
    if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
        return;
    }
    char *next = NULL;
    if (json_array_size(x.out) > limit) {
        json_array_remove(x.out, limit);
        json_t *key = json_pack("[O]", json_object_get(json_array_get(x.out, limit - 1), "seq"));
        next = trm_http_cursor_encode(trm_app_keys(app), key);
        json_decref(key);
    }
    size_t i;
    json_t *e;
    json_array_foreach(x.out, i, e) json_object_del(e, "type");
    trm_http_list(res, x.out, next);
}

/* Walks the chain and the checkpoints in order, feeding a checker and (for export) a text
 * buffer of NDJSON lines. */
#define MAX_PEERS 64

struct walk {
    struct trm_chain_check check;
    struct trm_peer_key peers[MAX_PEERS]; /* registered peers: their signatures are checked */
    json_t *peer_list;
    uint8_t pk[TRM_SIGN_PUBLIC_BYTES];
    const char *from, *to; /* export range on `at` (string order of RFC 3339 UTC) */
    char *text;
    size_t len, cap;
    bool export, too_big, head_ok;
};

static void emit(struct walk *w, json_t *item)
{
    if (!w->export || w->too_big)
        return;
    char *line = json_dumps(item, JSON_COMPACT);
    size_t n = line ? strlen(line) : 0;
    if (w->len + n + 2 > w->cap) {
        size_t cap = (w->cap + n + 2) * 2;
        char *t = cap < 64u << 20 ? realloc(w->text, cap) : NULL;
        if (t == NULL) {
            w->too_big = true;
            free(line);
            return;
        }
        w->text = t;
        w->cap = cap;
    }
    memcpy(w->text + w->len, line, n);
    w->len += n;
    w->text[w->len++] = '\n';
    w->text[w->len] = '\0';
    free(line);
}

static bool in_range(const struct walk *w, json_t *entry)
{
    const char *at = json_string_value(json_object_get(entry, "at"));
    return at && (w->from == NULL || strcmp(at, w->from) >= 0) &&
           (w->to == NULL || strcmp(at, w->to) < 0);
}

static enum trm_db_status walk_tx(struct trm_db_conn *c, void *arg)
{
    struct walk *w = arg;
    long long after = 0, cp_after = 0, head_seq = 0, cp_seq;
    long age;
    uint8_t head[TRM_HASH_BYTES];
    enum trm_db_status st = trm_handover_head(c, &head_seq, head, &cp_seq, &age);
    json_t *entries = NULL, *cps = NULL;
    size_t ci = 0;
    while (st == TRM_DB_OK) {
        json_decref(entries);
        entries = NULL;
        st = trm_handover_chain(c, after, BATCH, &entries);
        if (st != TRM_DB_OK || json_array_size(entries) == 0)
            break;
        size_t i;
        json_t *e;
        json_array_foreach(entries, i, e)
        {
            after = json_integer_value(json_object_get(e, "seq"));
            trm_chain_feed(&w->check, e);
            if (in_range(w, e))
                emit(w, e);
            /* The checkpoints sealing this entry follow it. */
            while (st == TRM_DB_OK) {
                if (cps == NULL || ci == json_array_size(cps)) {
                    json_decref(cps);
                    cps = NULL;
                    ci = 0;
                    st = trm_handover_checkpoints(c, cp_after, BATCH, &cps);
                    if (st != TRM_DB_OK || json_array_size(cps) == 0)
                        break;
                }
                json_t *k = json_array_get(cps, ci);
                if (json_integer_value(json_object_get(k, "seq")) > after)
                    break;
                cp_after = json_integer_value(json_object_get(k, "seq"));
                trm_chain_feed(&w->check, k);
                if (in_range(w, e))
                    emit(w, k);
                ci++;
            }
        }
    }
    json_decref(entries);
    json_decref(cps);
    /* The newest entries may wait for their checkpoint: the head vouches for them here. */
    if (st == TRM_DB_OK && !w->export && head_seq > 0)
        trm_chain_finish(&w->check);
    /* A removed tail leaves the head pointing past the last entry. */
    w->head_ok = st != TRM_DB_OK || w->check.bad_seq ||
                 (w->check.last_seq == head_seq &&
                  (head_seq == 0 || memcmp(w->check.last_hash, head, TRM_HASH_BYTES) == 0));
    if (!w->head_ok && w->check.bad_seq == 0) {
        w->check.bad_seq = w->check.last_seq + 1;
        snprintf(w->check.reason, sizeof w->check.reason,
                 "the chain ends before its recorded head (entries were removed)");
    }
    return st;
}

static enum trm_db_status peers_tx(struct trm_db_conn *c, void *arg)
{
    struct walk *w = arg;
    json_decref(w->peer_list);
    w->peer_list = NULL;
    return trm_fed_peer_list(c, &w->peer_list);
}

/* The signing keys of registered peers, so their receipts and packages in version-2 entries
 * are checked too (the strings point into w->peer_list). */
static void load_peers(struct trm_app *app, struct walk *w)
{
    size_t i;
    json_t *p;
    if (trm_db_run(app->db, peers_tx, w) != TRM_DB_OK)
        return;
    json_array_foreach(w->peer_list, i, p)
    {
        const char *key = json_string_value(json_object_get(p, "signing_key"));
        if (w->check.n_peers == MAX_PEERS || key == NULL || strlen(key) != 64 ||
            !trm_hex_decode(key, w->peers[w->check.n_peers].key, TRM_SIGN_PUBLIC_BYTES))
            continue;
        w->peers[w->check.n_peers++].instance_id =
            json_string_value(json_object_get(p, "instance_id"));
    }
    w->check.peers = w->peers;
}

static bool walk(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                 struct walk *w)
{
    char key_id[17];
    trm_signing_public(trm_app_keys(app), w->pk, key_id);
    w->check.public_key = w->pk;
    load_peers(app, w);
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, TRM_DB_SNAPSHOT, walk_tx, w);
    trm_chain_free(&w->check);
    json_decref(w->peer_list);
    w->peer_list = NULL;
    if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    return st == TRM_DB_OK;
}

TRM_HANDLER(trm_handle_handovers_verify)
{
    struct walk w = {.check.allow_unsigned_tail = true};
    if (!walk(app, req, res, &w))
        return;
    if (w.check.bad_seq)
        trm_response_json(res, 200,
                          json_pack("{s:b, s:I, s:I, s:s}", "ok", 0, "entries",
                                    (json_int_t)w.check.entries, "first_bad_seq",
                                    (json_int_t)w.check.bad_seq, "reason", w.check.reason));
    else
        trm_response_json(res, 200,
                          json_pack("{s:b, s:I, s:I, s:I}", "ok", 1, "entries",
                                    (json_int_t)w.check.entries, "checkpoints",
                                    (json_int_t)w.check.checkpoints, "peer_signatures",
                                    (json_int_t)w.check.peer_signatures_checked));
}

TRM_HANDLER(trm_handle_handovers_export)
{
    struct walk w = {.export = true};
    w.from = trm_request_query(req, "from");
    w.to = trm_request_query(req, "to");
    if (!time_ok(w.from) || !time_ok(w.to)) {
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                             "from and to must be dates (YYYY-MM-DD) or UTC times.");
        return;
    }
    if (!walk(app, req, res, &w)) {
        free(w.text);
        return;
    }
    if (w.too_big) {
        free(w.text);
        trm_response_problem(res, req, TRM_E_PAYLOAD_TOO_LARGE,
                             "The export is too large: narrow it with from and to.");
        return;
    }
    res->status = 200;
    res->content_type = "application/x-ndjson";
    res->body = w.text ? w.text : calloc(1, 1);
    res->body_len = w.len;
}

TRM_HANDLER(trm_handle_signing_key)
{
    (void)req;
    uint8_t pk[TRM_SIGN_PUBLIC_BYTES];
    char key_id[17], hex[2 * TRM_SIGN_PUBLIC_BYTES + 1];
    trm_signing_public(trm_app_keys(app), pk, key_id);
    trm_hex_encode(pk, sizeof pk, hex);
    trm_response_json(
        res, 200,
        json_pack("{s:s, s:s, s:s}", "algorithm", "ed25519", "key_id", key_id, "public_key", hex));
}

struct access_args {
    const char *case_id;
    json_t *out;
};

static enum trm_db_status access_tx(struct trm_db_conn *c, void *arg)
{
    struct access_args *x = arg;
    json_decref(x->out);
    return trm_access_log_for_case(c, x->case_id, &x->out);
}

TRM_HANDLER(trm_handle_case_access_log)
{
    char id[37];
    if (!trm_http_uuid_param(req, res, 0, id))
        return;
    struct access_args x = {id, NULL};
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, TRM_DB_READ_COMMITTED, access_tx, &x);
    if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else
        trm_response_json(res, 200, json_pack("{s:o}", "items", x.out));
}
