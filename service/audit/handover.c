/* Handover-log hashing, checkpoint signatures and chain verification (see handover.h). The
 * encoding must match trm_handover_encoding() in sql/migrations/0006_referrals.sql. */
#include "trm/handover.h"
#include "trm/federation.h"
#include "trm/hash_parts.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdio.h>
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

void trm_signing_public(const struct trm_keyring *kr, uint8_t pk[TRM_SIGN_PUBLIC_BYTES],
                        char key_id[17])
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES], h[32];
    keypair(kr, pk, sk);
    sodium_memzero(sk, sizeof sk);
    crypto_hash_sha256(h, pk, TRM_SIGN_PUBLIC_BYTES);
    trm_hex_encode(h, 8, key_id);
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

static bool fail(struct trm_chain_check *c, long long seq, const char *why)
{
    c->bad_seq = seq > 0 ? seq : 1;
    snprintf(c->reason, sizeof c->reason, "%s", why);
    return false;
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
    long long n = json_is_integer(seq) ? json_integer_value(seq) : c->last_seq + 1;
    if (!trm_handover_entry_from_json(item, &e))
        return fail(c, n, "malformed entry");
    if (c->started && e.seq != c->last_seq + 1)
        return fail(c, c->last_seq + 1, "missing entry: the sequence has a gap or is out of order");
    if (c->started && memcmp(e.prev_hash, c->last_hash, TRM_HASH_BYTES) != 0)
        return fail(c, e.seq, "prev_hash does not match the previous entry's hash");
    if (!c->started && e.seq == 1) {
        static const uint8_t zero[TRM_HASH_BYTES];
        if (memcmp(e.prev_hash, zero, TRM_HASH_BYTES) != 0)
            return fail(c, 1, "the first entry must have an all-zero prev_hash");
    }
    uint8_t h[TRM_HASH_BYTES];
    trm_handover_hash(&e, h);
    if (memcmp(h, e.hash, TRM_HASH_BYTES) != 0)
        return fail(c, e.seq, "hash does not match the entry's contents");
    if (!peer_signature_ok(c, &e))
        return fail(c, e.seq, "the counterpart instance's signature does not verify");
    c->started = true;
    c->last_seq = e.seq;
    memcpy(c->last_hash, h, TRM_HASH_BYTES);
    c->recent[0].seq = e.seq;
    memcpy(c->recent[0].hash, h, TRM_HASH_BYTES);
    c->entries++;
    return true;
}

static bool feed_checkpoint(struct trm_chain_check *c, json_t *item)
{
    json_t *seq = json_object_get(item, "seq");
    const char *head = str(item, "head_hash"), *at = str(item, "at"), *sig = str(item, "signature");
    uint8_t h[TRM_HASH_BYTES], s[TRM_SIGNATURE_BYTES];
    long long n = json_is_integer(seq) ? json_integer_value(seq) : 0;
    if (n <= 0 || !head || !at || !sig || strlen(head) != 64 || strlen(sig) != 128 ||
        !trm_hex_decode(head, h, sizeof h) || !trm_hex_decode(sig, s, sizeof s))
        return fail(c, n, "malformed checkpoint");
    if (c->public_key && !trm_checkpoint_verify(c->public_key, n, h, at, s))
        return fail(c, n, "checkpoint signature does not verify");
    /* A checkpoint follows the entry it seals in an export. */
    if (c->started && n == c->recent[0].seq && memcmp(h, c->recent[0].hash, sizeof h) != 0)
        return fail(c, n, "checkpoint head hash differs from the chain");
    c->checkpoints++;
    return true;
}

bool trm_chain_feed(struct trm_chain_check *c, json_t *item)
{
    if (c->bad_seq)
        return false;
    const char *type = str(item, "type");
    if (type && strcmp(type, "entry") == 0)
        return feed_entry(c, item);
    if (type && strcmp(type, "checkpoint") == 0)
        return feed_checkpoint(c, item);
    return fail(c, c->last_seq + 1, "an item that is neither an entry nor a checkpoint");
}
