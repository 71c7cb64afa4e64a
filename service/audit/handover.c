/* Handover-log hashing, checkpoint signatures and chain verification (see handover.h). The
 * encoding must match trm_handover_encoding() in sql/migrations/0006_referrals.sql. */
#include "trm/handover.h"
#include "trm/federation.h"
#include "trm/hash_parts.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void trm_handover_hash(const struct trm_handover_entry *e, uint8_t out[TRM_HASH_BYTES])
{
    crypto_hash_sha256_state st;
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", e->seq);
    bool v3 = e->reason != NULL, v2 = e->package_hash != NULL || v3;
    crypto_hash_sha256_init(&st);
    trm_hash_put_str(&st, v3 ? "trm-handover-v3" : v2 ? "trm-handover-v2" : "trm-handover-v1");
    trm_hash_put_str(&st, seq);
    trm_hash_put_str(&st, e->at);
    trm_hash_put_str(&st, e->case_id);
    trm_hash_put_str(&st, e->referral_id);
    trm_hash_put_str(&st, e->action);
    trm_hash_put_str(&st, e->from_agency_id);
    trm_hash_put_str(&st, e->to_agency_id);
    trm_hash_put_str(&st, e->from_country);
    trm_hash_put_str(&st, e->to_country);
    trm_hash_put_str(&st, e->actor_user_id);
    trm_hash_put_str(&st, e->categories);
    trm_hash_put_str(&st, e->legal_basis);
    trm_hash_put_str(&st, e->handling_code);
    trm_hash_put_str(&st, e->consent_id);
    if (v2) {
        trm_hash_put_str(&st, e->package_id);
        trm_hash_put_str(&st, e->package_hash);
        trm_hash_put_str(&st, e->peer_instance);
        trm_hash_put_str(&st, e->peer_at);
        trm_hash_put_str(&st, e->peer_signature);
    }
    if (v3)
        trm_hash_put_str(&st, e->reason);
    trm_hash_put(&st, e->prev_hash, TRM_HASH_BYTES);
    crypto_hash_sha256_final(&st, out);
}

static const char *str(json_t *j, const char *k)
{
    json_t *v = json_object_get(j, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool trm_handover_entry_from_json(json_t *j, struct trm_handover_entry *e)
{
    memset(e, 0, sizeof *e);
    json_t *seq = json_object_get(j, "seq");
    if (!json_is_integer(seq))
        return false;
    e->seq = json_integer_value(seq);
    e->at = str(j, "at");
    e->case_id = str(j, "case_id");
    e->referral_id = str(j, "referral_id");
    e->action = str(j, "action");
    e->from_agency_id = str(j, "from_agency_id");
    e->to_agency_id = str(j, "to_agency_id");
    e->from_country = str(j, "from_country");
    e->to_country = str(j, "to_country");
    e->actor_user_id = str(j, "actor_user_id");
    e->legal_basis = str(j, "legal_basis");
    e->handling_code = str(j, "handling_code");
    e->consent_id = str(j, "consent_id");
    e->package_id = str(j, "package_id");
    e->package_hash = str(j, "package_hash");
    e->peer_instance = str(j, "peer_instance");
    e->peer_at = str(j, "peer_at");
    e->peer_signature = str(j, "peer_signature");
    e->reason = str(j, "reason");
    /* Categories travel as a JSON array; they are hashed comma-joined. */
    static _Thread_local char cats[256];
    cats[0] = '\0';
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(j, "categories"), i, c)
    {
        if (!json_is_string(c) || strlen(cats) + strlen(json_string_value(c)) + 2 > sizeof cats)
            return false;
        if (i)
            strcat(cats, ",");
        strcat(cats, json_string_value(c));
    }
    e->categories = cats;
    const char *prev = str(j, "prev_hash"), *hash = str(j, "hash");
    return e->at && e->case_id && e->action && e->from_agency_id && e->to_agency_id &&
           e->from_country && e->to_country && e->legal_basis && e->handling_code && prev && hash &&
           strlen(prev) == 64 && strlen(hash) == 64 &&
           trm_hex_decode(prev, e->prev_hash, TRM_HASH_BYTES) &&
           trm_hex_decode(hash, e->hash, TRM_HASH_BYTES);
}

static void keypair(const struct trm_keyring *kr, uint8_t pk[32], uint8_t sk[64])
{
    crypto_sign_seed_keypair(pk, sk, trm_keyring_signing_seed(kr));
}

void trm_signing_key_id(const uint8_t pk[TRM_SIGN_PUBLIC_BYTES], char key_id[17])
{
    uint8_t h[32];
    crypto_hash_sha256(h, pk, TRM_SIGN_PUBLIC_BYTES);
    trm_hex_encode(h, 8, key_id);
}

void trm_signing_public(const struct trm_keyring *kr, uint8_t pk[TRM_SIGN_PUBLIC_BYTES],
                        char key_id[17])
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    keypair(kr, pk, sk);
    sodium_memzero(sk, sizeof sk);
    trm_signing_key_id(pk, key_id);
}

static void checkpoint_message(long long seq, const uint8_t head[TRM_HASH_BYTES], const char *at,
                               uint8_t digest[32])
{
    crypto_hash_sha256_state st;
    char s[24];
    snprintf(s, sizeof s, "%lld", seq);
    crypto_hash_sha256_init(&st);
    trm_hash_put_str(&st, "trm-checkpoint-v1");
    trm_hash_put_str(&st, s);
    trm_hash_put(&st, head, TRM_HASH_BYTES);
    trm_hash_put_str(&st, at);
    crypto_hash_sha256_final(&st, digest);
}

void trm_checkpoint_sign(const struct trm_keyring *kr, long long seq,
                         const uint8_t head[TRM_HASH_BYTES], const char *at,
                         uint8_t sig[TRM_SIGNATURE_BYTES])
{
    uint8_t pk[32], sk[crypto_sign_SECRETKEYBYTES], digest[32];
    keypair(kr, pk, sk);
    checkpoint_message(seq, head, at, digest);
    crypto_sign_detached(sig, NULL, digest, sizeof digest, sk);
    sodium_memzero(sk, sizeof sk);
}

bool trm_checkpoint_verify(const uint8_t pk[TRM_SIGN_PUBLIC_BYTES], long long seq,
                           const uint8_t head[TRM_HASH_BYTES], const char *at,
                           const uint8_t sig[TRM_SIGNATURE_BYTES])
{
    uint8_t digest[32];
    checkpoint_message(seq, head, at, digest);
    return crypto_sign_verify_detached(sig, digest, sizeof digest, pk) == 0;
}

static bool seq_ok(json_t *seq)
{
    return json_is_integer(seq) && json_integer_value(seq) >= 1 &&
           json_integer_value(seq) <= TRM_HANDOVER_SEQ_MAX;
}

static bool hash_from_json(json_t *j, const char *key, uint8_t out[TRM_HASH_BYTES])
{
    const char *hex = str(j, key);
    return hex && strlen(hex) == 2 * TRM_HASH_BYTES && trm_hex_decode(hex, out, TRM_HASH_BYTES);
}

bool trm_checkpoint_from_json(json_t *j, struct trm_checkpoint *k)
{
    memset(k, 0, sizeof *k);
    json_t *seq = json_object_get(j, "seq");
    const char *sig = str(j, "signature");
    k->at = str(j, "at");
    k->key_id = str(j, "key_id");
    if (!seq_ok(seq) || !k->at || !k->key_id || !sig || strlen(sig) != 2 * TRM_SIGNATURE_BYTES)
        return false;
    k->seq = json_integer_value(seq);
    return hash_from_json(j, "head_hash", k->head) &&
           trm_hex_decode(sig, k->signature, TRM_SIGNATURE_BYTES);
}

bool trm_checkpoint_holds(const uint8_t pk[TRM_SIGN_PUBLIC_BYTES], const struct trm_checkpoint *k)
{
    char key_id[17];
    trm_signing_key_id(pk, key_id);
    return strcmp(k->key_id, key_id) == 0 &&
           trm_checkpoint_verify(pk, k->seq, k->head, k->at, k->signature);
}

/* A checkpoint that came before its entry. */
struct pending {
    long long seq;
    uint8_t head[TRM_HASH_BYTES];
};

struct trm_chain_state {
    uint8_t (*hashes)[TRM_HASH_BYTES]; /* hashes[i]: the entry first_seq + i */
    size_t n, cap;
    uint8_t before[TRM_HASH_BYTES]; /* the hash of first_seq - 1 (the first prev_hash) */
    bool before_sealed;             /* a checkpoint over first_seq - 1 matched */
    long long sealed;               /* the highest seq a matching checkpoint sealed */
    struct pending *heap;           /* waiting checkpoints, a min-heap by seq */
    size_t n_heap, cap_heap;
    char key_id[17];
};

static bool fail(struct trm_chain_check *c, long long seq, const char *why)
{
    c->bad_seq = seq > 0 ? seq : 1;
    snprintf(c->reason, sizeof c->reason, "%s", why);
    return false;
}

static struct trm_chain_state *state(struct trm_chain_check *c)
{
    if (c->state == NULL && (c->state = calloc(1, sizeof *c->state)) != NULL && c->public_key)
        trm_signing_key_id(c->public_key, c->state->key_id);
    return c->state;
}

void trm_chain_free(struct trm_chain_check *c)
{
    if (c->state) {
        free(c->state->hashes);
        free(c->state->heap);
        free(c->state);
        c->state = NULL;
    }
}

/* Doubles an array's capacity when it is full; false when memory runs out. */
static bool grow(void **items, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t want = *cap ? *cap * 2 : 1024;
    void *p = want <= SIZE_MAX / size ? realloc(*items, want * size) : NULL;
    if (p == NULL)
        return false;
    *items = p;
    *cap = want;
    return true;
}

static void heap_swap(struct pending *h, size_t a, size_t b)
{
    struct pending t = h[a];
    h[a] = h[b];
    h[b] = t;
}

static bool hold(struct trm_chain_check *c, const struct trm_checkpoint *k)
{
    struct trm_chain_state *s = c->state;
    if (!grow((void **)&s->heap, &s->cap_heap, s->n_heap, sizeof *s->heap))
        return fail(c, k->seq, "out of memory");
    size_t i = s->n_heap++;
    s->heap[i].seq = k->seq;
    memcpy(s->heap[i].head, k->head, TRM_HASH_BYTES);
    for (; i > 0 && s->heap[(i - 1) / 2].seq > s->heap[i].seq; i = (i - 1) / 2)
        heap_swap(s->heap, i, (i - 1) / 2);
    return true;
}

static struct pending heap_pop(struct trm_chain_state *s)
{
    struct pending top = s->heap[0];
    s->heap[0] = s->heap[--s->n_heap];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < s->n_heap && s->heap[l].seq < s->heap[m].seq)
            m = l;
        if (r < s->n_heap && s->heap[r].seq < s->heap[m].seq)
            m = r;
        if (m == i)
            break;
        heap_swap(s->heap, i, m);
        i = m;
    }
    return top;
}

/* A checkpoint over an entry the chain holds (or the one before its start). */
static bool seal(struct trm_chain_check *c, long long seq, const uint8_t head[TRM_HASH_BYTES])
{
    struct trm_chain_state *s = c->state;
    if (seq < c->first_seq - 1)
        return fail(c, seq, "a checkpoint over an entry before the export's start");
    bool before = seq == c->first_seq - 1;
    const uint8_t *h = before ? s->before : s->hashes[seq - c->first_seq];
    if (memcmp(h, head, TRM_HASH_BYTES) != 0)
        return fail(c, seq,
                    before ? "the first entry does not follow the checkpoint before the export"
                           : "the signed checkpoint over this entry does not match the chain: "
                             "this entry or one before it was changed");
    s->before_sealed |= before;
    if (seq > s->sealed)
        s->sealed = seq;
    c->checkpoints++;
    return true;
}

/* Checks the checkpoints that waited for entries up to last_seq. */
static bool seal_waiting(struct trm_chain_check *c)
{
    struct trm_chain_state *s = c->state;
    while (s->n_heap && s->heap[0].seq <= c->last_seq) {
        struct pending k = heap_pop(s);
        if (!seal(c, k.seq, k.head))
            return false;
    }
    return true;
}

/* The next entry or link: it must follow the previous one (or, first, be the start). */
static bool follows(struct trm_chain_check *c, long long seq, const uint8_t prev[TRM_HASH_BYTES])
{
    static const uint8_t zero[TRM_HASH_BYTES];
    if (c->first_seq && seq != c->last_seq + 1)
        return fail(c, c->last_seq + 1, "missing entry: the sequence has a gap or is out of order");
    if (c->first_seq && memcmp(prev, c->last_hash, TRM_HASH_BYTES) != 0)
        return fail(c, seq, "prev_hash does not match the previous entry's hash");
    if (!c->first_seq && seq == 1 && memcmp(prev, zero, TRM_HASH_BYTES) != 0)
        return fail(c, 1, "the first entry must have an all-zero prev_hash");
    return true;
}

static bool append(struct trm_chain_check *c, long long seq, const uint8_t prev[TRM_HASH_BYTES],
                   const uint8_t hash[TRM_HASH_BYTES])
{
    struct trm_chain_state *s = c->state;
    if (!grow((void **)&s->hashes, &s->cap, s->n, sizeof *s->hashes))
        return fail(c, seq, "out of memory");
    if (!c->first_seq) {
        c->first_seq = seq;
        memcpy(s->before, prev, TRM_HASH_BYTES);
    }
    memcpy(s->hashes[s->n++], hash, TRM_HASH_BYTES);
    c->last_seq = seq;
    memcpy(c->last_hash, hash, TRM_HASH_BYTES);
    return seal_waiting(c);
}

/* The counterpart's signature in a version-2 entry: a receipt it signed, or the package it
 * sent. Checked when its key was given; counted as unchecked otherwise. */
static bool peer_signature_ok(struct trm_chain_check *c, const struct trm_handover_entry *e)
{
    if (e->package_hash == NULL || e->peer_signature == NULL)
        return true;
    const uint8_t *key = NULL;
    for (size_t i = 0; i < c->n_peers && e->peer_instance; i++)
        if (strcmp(c->peers[i].instance_id, e->peer_instance) == 0)
            key = c->peers[i].key;
    if (key == NULL) {
        c->peer_signatures_unchecked++;
        return true;
    }
    uint8_t hash[TRM_FED_HASH_BYTES], sig[TRM_FED_SIG_BYTES];
    if (strlen(e->package_hash) != 2 * sizeof hash || strlen(e->peer_signature) != 2 * sizeof sig ||
        !trm_hex_decode(e->package_hash, hash, sizeof hash) ||
        !trm_hex_decode(e->peer_signature, sig, sizeof sig))
        return false;
    bool ok = strcmp(e->action, "receipt") == 0
                  ? e->package_id && e->peer_at &&
                        trm_fed_verify_receipt(key, e->package_id, hash, e->peer_at,
                                               e->peer_instance, sig)
                  : trm_fed_verify_package(key, hash, sig);
    c->peer_signatures_checked += ok;
    return ok;
}

static bool feed_entry(struct trm_chain_check *c, json_t *item)
{
    struct trm_handover_entry e;
    json_t *seq = json_object_get(item, "seq");
    long long n = seq_ok(seq) ? json_integer_value(seq) : c->last_seq + 1;
    if (!seq_ok(seq) || !trm_handover_entry_from_json(item, &e))
        return fail(c, n, "malformed entry");
    if (!follows(c, e.seq, e.prev_hash))
        return false;
    uint8_t h[TRM_HASH_BYTES];
    trm_handover_hash(&e, h);
    if (memcmp(h, e.hash, TRM_HASH_BYTES) != 0)
        return fail(c, e.seq, "hash does not match the entry's contents");
    if (!peer_signature_ok(c, &e))
        return fail(c, e.seq, "the counterpart instance's signature does not verify");
    c->entries++;
    return append(c, e.seq, e.prev_hash, h);
}

/* An entry outside the reader's scope: its seq and hashes, nothing else. */
static bool feed_link(struct trm_chain_check *c, json_t *item)
{
    json_t *seq = json_object_get(item, "seq");
    long long n = seq_ok(seq) ? json_integer_value(seq) : c->last_seq + 1;
    uint8_t prev[TRM_HASH_BYTES], hash[TRM_HASH_BYTES];
    if (!seq_ok(seq) || json_object_size(item) != 4 || !hash_from_json(item, "prev_hash", prev) ||
        !hash_from_json(item, "hash", hash))
        return fail(c, n, "malformed link (a link has only type, seq, prev_hash and hash)");
    if (!follows(c, n, prev))
        return false;
    c->links++;
    return append(c, n, prev, hash);
}

static bool feed_checkpoint(struct trm_chain_check *c, json_t *item)
{
    struct trm_checkpoint k;
    json_t *seq = json_object_get(item, "seq");
    if (!trm_checkpoint_from_json(item, &k))
        return fail(c, seq_ok(seq) ? json_integer_value(seq) : c->last_seq + 1,
                    "malformed checkpoint");
    if (c->public_key && strcmp(k.key_id, c->state->key_id) != 0)
        return fail(c, k.seq, "checkpoint by an unknown key (its key_id is not the given key's)");
    if (c->public_key && !trm_checkpoint_verify(c->public_key, k.seq, k.head, k.at, k.signature))
        return fail(c, k.seq, "checkpoint signature does not verify");
    /* One that comes before its entry waits for it. */
    if (!c->first_seq || k.seq > c->last_seq)
        return hold(c, &k);
    return seal(c, k.seq, k.head);
}

bool trm_chain_feed(struct trm_chain_check *c, json_t *item)
{
    if (c->bad_seq)
        return false;
    if (state(c) == NULL)
        return fail(c, c->last_seq + 1, "out of memory");
    const char *type = str(item, "type");
    if (type && strcmp(type, "entry") == 0)
        return feed_entry(c, item);
    if (type && strcmp(type, "link") == 0)
        return feed_link(c, item);
    if (type && strcmp(type, "checkpoint") == 0)
        return feed_checkpoint(c, item);
    return fail(c, c->last_seq + 1, "an item that is neither an entry, a link nor a checkpoint");
}

bool trm_chain_finish(struct trm_chain_check *c)
{
    if (c->bad_seq)
        return false;
    if (!c->first_seq)
        return fail(c, 1, "the export holds no entries");
    struct trm_chain_state *s = c->state;
    if (s->n_heap)
        return fail(c, c->last_seq + 1,
                    "a checkpoint over an entry after the export's end: entries were removed "
                    "from its end");
    if (c->first_seq > 1 && !s->before_sealed)
        return fail(c, c->first_seq,
                    "the export starts after entry 1 without the signed checkpoint over the "
                    "entry before its start");
    long long covered = s->sealed > c->first_seq - 1 ? s->sealed : c->first_seq - 1;
    if (covered < c->last_seq && !c->allow_unsigned_tail)
        return fail(c, covered + 1,
                    "no signed checkpoint covers the entries from here to the end (an export "
                    "ends with one over its last entry)");
    c->unsigned_tail = c->last_seq - covered;
    return true;
}
