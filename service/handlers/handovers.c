/* The handover log for auditors: listing, verification of the whole chain and its signed
 * checkpoints, export as NDJSON for offline verification; the signing key; and who read a
 * case's personal data. */
#include "handlers.h"

#include "trm/access_log_store.h"
#include "trm/checkpoints.h"
#include "trm/federation.h"
#include "trm/federation_store.h"
#include "trm/handover.h"
#include "trm/handover_store.h"
#include "trm/http_util.h"
#include "trm/keyring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 1000

static const char *const actions[] = {
    "offer", "accept", "decline", "withdraw", "expire", "consent_withdrawal", NULL};
static const char times[] = "from and to must be dates (YYYY-MM-DD) or UTC times.";

struct list_args {
    json_t *out; /* first */
    struct trm_handover_filter f;
    struct trm_page page;
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct list_args *x = arg;
    json_decref(x->out);
    x->out = NULL;
    return trm_handover_list(c, &x->f, &x->out);
}

TRM_HANDLER(trm_handle_handovers_list)
{
    static const struct trm_tx tx = {.fn = list_tx, .isolation = TRM_DB_READ_COMMITTED};
    static const char *const keys[] = {"seq", NULL};
    struct list_args *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL)
        return;
    const struct trm_param params[] = {
        TRM_Q_UUID("case_id", &x->f.case_id),
        TRM_Q_UUID("agency_id", &x->f.agency_id),
        TRM_Q_COUNTRY("country", &x->f.country),
        TRM_Q_ENUM("action", &x->f.action, actions),
        TRM_Q_TIME("from", &x->f.from, .detail = times),
        TRM_Q_TIME("to", &x->f.to, .detail = times),
        TRM_Q_END,
    };
    if (!trm_http_query(req, res, params) || !trm_handler_page(app, req, res, "i", &x->page))
        return;
    x->f.after_seq = trm_page_number(&x->page, 0);
    x->f.limit = trm_page_fetch(&x->page);
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_handler_page_answer(app, res, &x->page, json_incref(x->out), keys);
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

static void walk_free(void *state)
{
    struct walk *w = state;
    trm_chain_free(&w->check);
    json_decref(w->peer_list);
    json_decref(w->cps);
    free(w->text);
}

TRM_HANDLER(trm_handle_handovers_verify)
{
    static const struct trm_tx tx = {.fn = verify_tx, .isolation = TRM_DB_SNAPSHOT};
    struct walk *w = trm_handler_state(req, sizeof *w, walk_free);
    if (w == NULL)
        return;
    char key_id[17];
    trm_signing_public(trm_app_keys(app), w->pk, key_id);
    load_peers(app, w);
    if (!trm_handler_tx(app, req, res, &tx, w))
        return;
    const struct trm_chain_check *k = &w->check;
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
                        w->cp_seq > 0 ? json_pack("{s:I, s:I, s:s}", "seq", (json_int_t)w->cp_seq,
                                                  "age_s", (json_int_t)w->cp_age, "key_id", key_id)
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
    static const struct trm_tx seal = {.fn = seal_tx, .isolation = TRM_DB_READ_COMMITTED};
    static const struct trm_tx walk = {.fn = export_tx, .isolation = TRM_DB_SNAPSHOT};
    struct walk *w = trm_handler_state(req, sizeof *w, walk_free);
    if (w == NULL)
        return;
    w->export = true;
    w->kr = trm_app_keys(app);
    const struct trm_param params[] = {
        TRM_Q_TIME("from", &w->from, .detail = times),
        TRM_Q_TIME("to", &w->to, .detail = times),
        TRM_Q_END,
    };
    if (!trm_http_query(req, res, params) || !trm_handler_tx(app, req, res, &seal, w) ||
        (w->last > 0 && !trm_handler_tx(app, req, res, &walk, w)))
        return;
    if (w->too_big) {
        trm_response_problem(res, req, TRM_E_PAYLOAD_TOO_LARGE,
                             "The export is too large: narrow it with from and to.");
        return;
    }
    trm_response_text(res, 200, "application/x-ndjson", w->text, w->len);
    w->text = NULL;
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
    json_t *out; /* first */
    char case_id[TRM_UUID_STR_LEN + 1];
};

static enum trm_db_status access_tx(struct trm_db_conn *c, void *arg)
{
    struct access_args *x = arg;
    json_decref(x->out);
    x->out = NULL;
    return trm_access_log_for_case(c, x->case_id, &x->out);
}

TRM_HANDLER(trm_handle_case_access_log)
{
    static const struct trm_tx tx = {.fn = access_tx, .isolation = TRM_DB_READ_COMMITTED};
    struct access_args *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x && trm_http_uuid_param(req, res, 0, x->case_id) && trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, json_pack("{s:O}", "items", x->out));
}
