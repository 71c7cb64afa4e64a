/* The handover log for auditors: listing, verification of the whole chain and its signed
 * checkpoints, export as NDJSON for offline verification; the signing key; and who read a
 * case's personal data. */
#include "handlers.h"

#include "trm/checkpoints.h"
#include "trm/federation.h"
#include "trm/federation_store.h"
#include "trm/handover.h"
#include "trm/json_spec.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/referrals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 1000

static const char *const actions[] = {
    "offer", "accept", "decline", "withdraw", "expire", "consent_withdrawal", NULL};

/* YYYY-MM-DD or an RFC 3339 UTC time to the second, a real one (PostgreSQL parses it). */
static bool time_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return s == NULL || (strspn(s, "0123456789-:TZ") == n &&
                         (trm_json_is_date(s) || (n == 20 && trm_fed_time_parse(s, NULL))));
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

/* The chain from first to last as the caller may see it (entries in scope, links for the
 * rest) with the checkpoints over it, each after the entry it seals and the one over the
 * entry before first at the top; fed to a verifier (verify) or written as NDJSON (export). */
#define MAX_PEERS 64

struct walk {
    struct trm_chain_check check;
    struct trm_peer_key peers[MAX_PEERS]; /* registered peers: their signatures are checked */
    json_t *peer_list;
    uint8_t pk[TRM_SIGN_PUBLIC_BYTES];
    const struct trm_keyring *kr;
    const char *from, *to; /* export: the range asked for, on `at` */
    long long first, last; /* the seqs walked */
    json_t *cps;           /* the current batch of checkpoints */
    size_t ci;
    long long cp_after;
    long long cp_seq; /* verify: the newest checkpoint (0: none) and its age in seconds */
    long cp_age;
    bool cps_done;
    char *text;
    size_t len, cap;
    bool export, too_big;
};

static void emit(struct walk *w, json_t *item)
{
    if (w->too_big)
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

static void item(struct walk *w, json_t *j)
{
    if (w->export)
        emit(w, j);
    else
        trm_chain_feed(&w->check, j);
}

static long long seq_of(json_t *j)
{
    return json_integer_value(json_object_get(j, "seq"));
}

/* The checkpoints over entries up to seq, in order (fetched in batches; in one snapshot, a
 * batch that comes back empty is the end). */
static enum trm_db_status checkpoints_through(struct trm_db_conn *c, struct walk *w, long long seq)
{
    while (!w->cps_done) {
        if (w->ci == json_array_size(w->cps)) {
            json_decref(w->cps);
            w->cps = NULL;
            w->ci = 0;
            enum trm_db_status st = trm_handover_checkpoints(c, w->cp_after, BATCH, &w->cps);
            if (st != TRM_DB_OK)
                return st;
            w->cps_done = json_array_size(w->cps) == 0;
            continue;
        }
        json_t *k = json_array_get(w->cps, w->ci);
        if (seq_of(k) > seq)
            break;
        w->cp_after = seq_of(k);
        item(w, k);
        w->ci++;
    }
    return TRM_DB_OK;
}

static enum trm_db_status walk_chain(struct trm_db_conn *c, struct walk *w)
{
    long long after = w->first - 1;
    json_t *entries = NULL;
    w->cp_after = w->first - 2;
    w->cps_done = false;
    enum trm_db_status st = checkpoints_through(c, w, w->first - 1);
    while (st == TRM_DB_OK && after < w->last && !w->check.bad_seq) {
        json_decref(entries);
        entries = NULL;
        long long want = w->last - after;
        st = trm_handover_chain(c, after, want < BATCH ? (unsigned)want : BATCH, &entries);
        if (st != TRM_DB_OK || json_array_size(entries) == 0)
            break;
        size_t i;
        json_t *e;
        json_array_foreach(entries, i, e)
        {
            after = seq_of(e);
            item(w, e);
            if ((st = checkpoints_through(c, w, after)) != TRM_DB_OK)
                break;
        }
    }
    /* Checkpoints over entries that are not there (a tail cut off) are part of the answer. */
    if (st == TRM_DB_OK && !w->check.bad_seq)
        st = checkpoints_through(c, w, w->last);
    json_decref(entries);
    json_decref(w->cps);
    w->cps = NULL;
    w->ci = 0;
    return st;
}

/* Starts a fresh verifier (the transaction may run again). */
static void check_reset(struct walk *w)
{
    struct trm_chain_check fresh = {.public_key = w->pk,
                                    .peers = w->peers,
                                    .n_peers = w->check.n_peers,
                                    .allow_unsigned_tail = true};
    trm_chain_free(&w->check);
    w->check = fresh;
}

/* The whole chain, and whatever checkpoints there are (also over entries that are gone), in
 * one snapshot with the recorded head: the newest entries may wait for their checkpoint, the
 * head vouches for them, and a removed tail leaves the head pointing past the last entry. */
static enum trm_db_status verify_tx(struct trm_db_conn *c, void *arg)
{
    struct walk *w = arg;
    long long head_seq = 0;
    uint8_t head[TRM_HASH_BYTES];
    check_reset(w);
    enum trm_db_status st = trm_handover_head(c, &head_seq, head, &w->cp_seq, &w->cp_age);
    w->first = 1;
    w->last = TRM_HANDOVER_SEQ_MAX;
    if (st == TRM_DB_OK)
        st = walk_chain(c, w);
    if (st != TRM_DB_OK || w->check.bad_seq)
        return st;
    if (!w->check.first_seq && w->cp_after > 0) {
        w->check.bad_seq = 1;
        snprintf(w->check.reason, sizeof w->check.reason, "%s",
                 "the log holds no entries, but checkpoints seal some (entries were removed)");
        return st;
    }
    if (w->check.first_seq && !trm_chain_finish(&w->check))
        return st;
    if (w->check.last_seq != head_seq ||
        (head_seq > 0 && memcmp(w->check.last_hash, head, TRM_HASH_BYTES) != 0)) {
        w->check.bad_seq = w->check.last_seq + 1;
        snprintf(w->check.reason, sizeof w->check.reason, "%s",
                 w->check.last_seq < head_seq
                     ? "the chain ends before its recorded head (entries were removed)"
                     : "the chain does not end at its recorded head");
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
}

TRM_HANDLER(trm_handle_handovers_verify)
{
    struct walk w = {0};
    char key_id[17];
    trm_signing_public(trm_app_keys(app), w.pk, key_id);
    load_peers(app, &w);
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, TRM_DB_SNAPSHOT, verify_tx, &w);
    trm_chain_free(&w.check);
    json_decref(w.peer_list);
    const struct trm_chain_check *k = &w.check;
    if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
        return;
    }
    json_t *out;
    if (k->bad_seq)
        out = json_pack("{s:b, s:I, s:I, s:I, s:s}", "ok", 0, "entries", (json_int_t)k->entries,
                        "links", (json_int_t)k->links, "first_bad_seq", (json_int_t)k->bad_seq,
                        "reason", k->reason);
    else
        out = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "ok", 1, "entries",
                        (json_int_t)k->entries, "links", (json_int_t)k->links, "checkpoints",
                        (json_int_t)k->checkpoints, "unsigned_tail", (json_int_t)k->unsigned_tail,
                        "peer_signatures", (json_int_t)k->peer_signatures_checked);
    /* The newest signed checkpoint, so a reader sees how much of the chain is sealed. */
    json_object_set_new(out, "last_checkpoint",
                        w.cp_seq > 0 ? json_pack("{s:I, s:I, s:s}", "seq", (json_int_t)w.cp_seq,
                                                 "age_s", (json_int_t)w.cp_age, "key_id", key_id)
                                     : json_null());
    trm_response_json(res, 200, out);
}

/* The export's range, and the checkpoints it must start after and end with, signed where
 * missing (a write, so before the export's read-only snapshot). Without from and to, the
 * whole chain; with them, from the first to the last entry the caller sees in full in that
 * range (so nothing tells when an entry outside the scope was made). */
static enum trm_db_status seal_tx(struct trm_db_conn *c, void *arg)
{
    struct walk *w = arg;
    enum trm_seal outcome;
    enum trm_db_status st;
    if (w->from == NULL && w->to == NULL) {
        long long cp_seq;
        long age;
        uint8_t head[TRM_HASH_BYTES];
        st = trm_handover_head(c, &w->last, head, &cp_seq, &age);
        w->first = w->last > 0;
    } else {
        st = trm_handover_range(c, w->from, w->to, &w->first, &w->last);
    }
    if (st == TRM_DB_OK && w->last > 0)
        st = trm_checkpoint_seal(c, w->kr, w->last, &outcome);
    if (st == TRM_DB_OK && w->first > 1)
        st = trm_checkpoint_seal(c, w->kr, w->first - 1, &outcome);
    return st;
}

static enum trm_db_status export_tx(struct trm_db_conn *c, void *arg)
{
    struct walk *w = arg;
    w->len = 0;
    w->too_big = false;
    return walk_chain(c, w);
}

TRM_HANDLER(trm_handle_handovers_export)
{
    struct walk w = {.export = true, .kr = trm_app_keys(app)};
    w.from = trm_request_query(req, "from");
    w.to = trm_request_query(req, "to");
    if (!time_ok(w.from) || !time_ok(w.to)) {
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                             "from and to must be dates (YYYY-MM-DD) or UTC times.");
        return;
    }
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, TRM_DB_READ_COMMITTED, seal_tx, &w);
    if (st == TRM_DB_OK && w.last > 0)
        st = trm_db_tx_run(app->db, &ctx, TRM_DB_SNAPSHOT, export_tx, &w);
    if (st != TRM_DB_OK || w.too_big) {
        free(w.text);
        if (st != TRM_DB_OK)
            trm_http_db_problem(req, res, st);
        else
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
