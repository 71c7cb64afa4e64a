/* The handover-log verifier (trmctl verify-log and GET /v1/handovers/verify) against a real
 * signed chain: every way of rewriting an export fails, with the first bad seq named. The
 * review's attack (entry 1 changed, hashes recomputed, the checkpoint moved or deleted) is
 * reproduced exactly. */
#include "check_run.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trm/handover.h"
#include "trm/keyring.h"
#include "trm/util.h"

#define N 5
#define MAX_ITEMS 32

static struct trm_keyring *ours, *theirs;
static uint8_t ours_pk[TRM_SIGN_PUBLIC_BYTES];

/* The chain: N entries, each field its own string so a test can change one. */
struct entry {
    char at[40], to_country[3], handling_code[3];
    struct trm_handover_entry e;
};
static struct entry chain[N + 1]; /* chain[1..N] */

static struct trm_keyring *keyring(char fill)
{
    char hex[65], text[1024], err[128];
    memset(hex, fill, 64);
    hex[64] = '\0';
    snprintf(text, sizeof text, "index %s\ntoken %s\nsigning %s\nkek k1 %s\n", hex, hex, hex, hex);
    struct trm_keyring *k = NULL;
    ck_assert_msg(trm_keyring_parse(&k, text, strlen(text), err, sizeof err), "%s", err);
    return k;
}

/* Recomputes the hashes of entries from..N, each chained to the one before (what someone
 * who rewrites the log without the signing key can do). */
static void rehash(int from)
{
    for (int i = from; i <= N; i++) {
        struct trm_handover_entry *e = &chain[i].e;
        if (i == 1)
            memset(e->prev_hash, 0, TRM_HASH_BYTES);
        else
            memcpy(e->prev_hash, chain[i - 1].e.hash, TRM_HASH_BYTES);
        trm_handover_hash(e, e->hash);
    }
}

/* After entries were moved around: each entry's strings are its own again and its seq is its
 * position. */
static void renumber(void)
{
    for (int i = 1; i <= N; i++) {
        chain[i].e.seq = i;
        chain[i].e.at = chain[i].at;
        chain[i].e.to_country = chain[i].to_country;
        chain[i].e.handling_code = chain[i].handling_code;
    }
}

static void build_chain(void)
{
    for (int i = 1; i <= N; i++) {
        struct entry *x = &chain[i];
        snprintf(x->at, sizeof x->at, "2026-11-22T10:00:0%d.000000Z", i);
        snprintf(x->to_country, sizeof x->to_country, "PH");
        snprintf(x->handling_code, sizeof x->handling_code, "H2");
        x->e = (struct trm_handover_entry){
            .seq = i,
            .at = x->at,
            .case_id = "6f1c2a8e-1111-4a2b-9c3d-0123456789ab",
            .referral_id = "6f1c2a8e-2222-4a2b-9c3d-0123456789ab",
            .action = i % 2 ? "offer" : "accept",
            .from_agency_id = "6f1c2a8e-3333-4a2b-9c3d-0123456789ab",
            .to_agency_id = "6f1c2a8e-4444-4a2b-9c3d-0123456789ab",
            .from_country = "SE",
            .to_country = x->to_country,
            .actor_user_id = "6f1c2a8e-5555-4a2b-9c3d-0123456789ab",
            .categories = "identity,contact",
            .legal_basis = "consent",
            .handling_code = x->handling_code,
            .consent_id = "6f1c2a8e-6666-4a2b-9c3d-0123456789ab",
        };
    }
    rehash(1);
}

static void setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
    ours = keyring('1');
    theirs = keyring('2');
    char key_id[17];
    trm_signing_public(ours, ours_pk, key_id);
    build_chain();
}

static void teardown(void)
{
    trm_keyring_free(ours);
    trm_keyring_free(theirs);
}

static char *hex(const uint8_t h[TRM_HASH_BYTES])
{
    static _Thread_local char buf[4][2 * TRM_HASH_BYTES + 1];
    static _Thread_local int next;
    char *out = buf[next++ % 4];
    trm_hex_encode(h, TRM_HASH_BYTES, out);
    return out;
}

static json_t *entry(int i)
{
    const struct trm_handover_entry *e = &chain[i].e;
    return json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s, s], s:s, "
                     "s:s, s:s, s:s, s:s}",
                     "type", "entry", "seq", (json_int_t)e->seq, "at", e->at, "case_id", e->case_id,
                     "referral_id", e->referral_id, "action", e->action, "from_agency_id",
                     e->from_agency_id, "to_agency_id", e->to_agency_id, "from_country",
                     e->from_country, "to_country", e->to_country, "actor_user_id",
                     e->actor_user_id, "categories", "identity", "contact", "legal_basis",
                     e->legal_basis, "handling_code", e->handling_code, "consent_id", e->consent_id,
                     "prev_hash", hex(e->prev_hash), "hash", hex(e->hash));
}

/* Entry i as an auditor outside its scope sees it. */
static json_t *link_of(int i)
{
    const struct trm_handover_entry *e = &chain[i].e;
    return json_pack("{s:s, s:I, s:s, s:s}", "type", "link", "seq", (json_int_t)e->seq, "prev_hash",
                     hex(e->prev_hash), "hash", hex(e->hash));
}

/* A checkpoint over head at seq, signed by kr, claiming key_id (NULL: kr's own). */
static json_t *checkpoint_over(const struct trm_keyring *kr, long long seq,
                               const uint8_t head[TRM_HASH_BYTES], const char *key_id)
{
    uint8_t pk[TRM_SIGN_PUBLIC_BYTES], sig[TRM_SIGNATURE_BYTES];
    char own_id[17], sig_hex[2 * TRM_SIGNATURE_BYTES + 1];
    const char *at = "2026-11-22T10:01:00Z";
    trm_signing_public(kr, pk, own_id);
    trm_checkpoint_sign(kr, seq, head, at, sig);
    trm_hex_encode(sig, sizeof sig, sig_hex);
    return json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "type", "checkpoint", "seq", (json_int_t)seq,
                     "head_hash", hex(head), "at", at, "key_id", key_id ? key_id : own_id,
                     "signature", sig_hex);
}

/* A checkpoint over entry i as the chain is now. */
static json_t *checkpoint(int i)
{
    return checkpoint_over(ours, i, chain[i].e.hash, NULL);
}

/* A stream of items (the lines of an export), consumed by verify(). */
struct stream {
    json_t *items[MAX_ITEMS];
    size_t n;
};

static void add(struct stream *s, json_t *item)
{
    ck_assert_uint_lt(s->n, MAX_ITEMS);
    s->items[s->n++] = item;
}

/* Entries from..to with a checkpoint after each seq listed in sealed (0-terminated). */
static void entries(struct stream *s, int from, int to, const int *sealed)
{
    for (int i = from; i <= to; i++) {
        add(s, entry(i));
        for (const int *k = sealed; *k; k++)
            if (*k == i)
                add(s, checkpoint(i));
    }
}

/* Feeds every item and finishes; the result and counts are left in c. */
static bool verify(struct stream *s, bool allow_unsigned_tail, struct trm_chain_check *c)
{
    *c =
        (struct trm_chain_check){.public_key = ours_pk, .allow_unsigned_tail = allow_unsigned_tail};
    bool ok = true;
    for (size_t i = 0; i < s->n; i++) {
        ok = ok && trm_chain_feed(c, s->items[i]);
        json_decref(s->items[i]);
    }
    s->n = 0;
    ok = ok && trm_chain_finish(c);
    trm_chain_free(c);
    return ok;
}

static void assert_fails_at(struct stream *s, long long seq, bool allow_unsigned_tail)
{
    struct trm_chain_check c;
    ck_assert_msg(!verify(s, allow_unsigned_tail, &c), "a rewritten export verified");
    ck_assert_msg(c.bad_seq == seq, "first bad seq %lld (%s), expected %lld", c.bad_seq, c.reason,
                  seq);
}

static const int at_end[] = {N, 0}, at_3_and_end[] = {3, N, 0}, none[] = {0};

START_TEST(a_real_export_verifies)
{
    struct stream s = {0};
    struct trm_chain_check c;
    entries(&s, 1, N, at_3_and_end);
    ck_assert_msg(verify(&s, false, &c), "%s", c.reason);
    ck_assert_int_eq(c.entries, N);
    ck_assert_int_eq(c.links, 0);
    ck_assert_int_eq(c.checkpoints, 2);
    ck_assert_int_eq(c.unsigned_tail, 0);
    ck_assert_int_eq(c.first_seq, 1);
    ck_assert_int_eq(c.last_seq, N);
    /* Where a checkpoint stands in the stream does not matter, only what it seals. */
    add(&s, checkpoint(N));
    add(&s, checkpoint(3));
    entries(&s, 1, N, none);
    ck_assert_msg(verify(&s, false, &c), "%s", c.reason);
    ck_assert_int_eq(c.checkpoints, 2);
}
END_TEST

/* The review's attack: a 2-entry export with one checkpoint; to_country of entry 1 changed
 * and both hashes recomputed; the checkpoint left, moved to the top, moved after entry 1, or
 * deleted. */
START_TEST(the_reviewed_rewrite_fails_wherever_the_checkpoint_is)
{
    for (int where = 0; where < 4; where++) {
        build_chain();
        json_t *cp = checkpoint(2); /* signed over the true chain */
        snprintf(chain[1].to_country, sizeof chain[1].to_country, "SE");
        rehash(1);
        struct stream s = {0};
        if (where == 1)
            add(&s, json_incref(cp));
        add(&s, entry(1));
        if (where == 2)
            add(&s, json_incref(cp));
        add(&s, entry(2));
        if (where == 0)
            add(&s, json_incref(cp));
        json_decref(cp);
        /* Deleted (where 3): the export ends without a checkpoint over its last entry. */
        assert_fails_at(&s, where == 3 ? 1 : 2, false);
    }
    build_chain();
}
END_TEST

START_TEST(a_changed_entry_fails)
{
    struct stream s = {0};
    snprintf(chain[3].handling_code, sizeof chain[3].handling_code, "H0");
    entries(&s, 1, N, at_3_and_end);
    assert_fails_at(&s, 3, false);
    /* ... and with the hashes recomputed, the checkpoint over it no longer matches, wherever
     * it stands. */
    build_chain();
    json_t *cp3 = checkpoint(3), *cp5 = checkpoint(N);
    snprintf(chain[2].handling_code, sizeof chain[2].handling_code, "H0");
    rehash(2);
    add(&s, cp3);
    add(&s, cp5);
    entries(&s, 1, N, none);
    assert_fails_at(&s, 3, false);
    build_chain();
}
END_TEST

START_TEST(a_deleted_entry_fails)
{
    struct stream s = {0};
    entries(&s, 1, 2, none);
    entries(&s, 4, N, at_end);
    assert_fails_at(&s, 3, false);
    /* Deleted, the rest renumbered and rehashed, the checkpoints moved to the top. */
    json_t *cp3 = checkpoint(3), *cp4 = checkpoint(4);
    for (int i = 3; i < N; i++)
        chain[i] = chain[i + 1];
    renumber();
    rehash(3);
    add(&s, cp3);
    add(&s, cp4);
    entries(&s, 1, N - 1, none);
    assert_fails_at(&s, 3, false);
    build_chain();
}
END_TEST

START_TEST(an_inserted_entry_fails)
{
    /* An entry slipped in after 2, the rest renumbered and rehashed: the checkpoints signed
     * over the true chain no longer match. */
    json_t *cp3 = checkpoint(3), *cp5 = checkpoint(N);
    for (int i = N; i > 3; i--)
        chain[i] = chain[i - 1];
    chain[3].e.action = "withdraw";
    renumber();
    rehash(3);
    struct stream s = {0};
    add(&s, cp3);
    add(&s, cp5);
    entries(&s, 1, N, none);
    assert_fails_at(&s, 3, false);
    build_chain();
    /* Inserted without renumbering: the sequence repeats. */
    entries(&s, 1, 3, none);
    entries(&s, 3, N, at_end);
    assert_fails_at(&s, 4, false);
}
END_TEST

START_TEST(reordered_entries_fail)
{
    struct stream s = {0};
    entries(&s, 1, 2, none);
    add(&s, entry(4));
    add(&s, entry(3));
    add(&s, entry(5));
    add(&s, checkpoint(N));
    assert_fails_at(&s, 3, false);
    /* Swapped, renumbered and rehashed, the checkpoints moved to the top. */
    json_t *cp3 = checkpoint(3), *cp5 = checkpoint(N);
    struct entry third = chain[3];
    chain[3] = chain[4];
    chain[4] = third;
    renumber();
    rehash(3);
    add(&s, cp3);
    add(&s, cp5);
    entries(&s, 1, N, none);
    assert_fails_at(&s, 3, false);
    build_chain();
}
END_TEST

START_TEST(a_dropped_prefix_fails)
{
    struct stream s = {0};
    entries(&s, 2, N, at_3_and_end);
    assert_fails_at(&s, 2, false);
}
END_TEST

START_TEST(a_dropped_suffix_fails)
{
    struct stream s = {0};
    /* The last entry gone, its checkpoint kept: a checkpoint over an entry not there. */
    entries(&s, 1, N - 1, at_3_and_end);
    add(&s, checkpoint(N));
    assert_fails_at(&s, N, false);
    /* Both gone: the export no longer ends with a checkpoint over its last entry. */
    entries(&s, 1, N - 1, at_3_and_end);
    assert_fails_at(&s, 4, false);
}
END_TEST

START_TEST(a_missing_checkpoint_fails_unless_an_unsigned_tail_is_allowed)
{
    struct stream s = {0};
    entries(&s, 1, N, (const int[]){3, 0});
    assert_fails_at(&s, 4, false);
    struct trm_chain_check c;
    entries(&s, 1, N, (const int[]){3, 0});
    ck_assert_msg(verify(&s, true, &c), "%s", c.reason);
    ck_assert_int_eq(c.unsigned_tail, 2);
    /* No checkpoint at all. */
    entries(&s, 1, N, none);
    assert_fails_at(&s, 1, false);
    entries(&s, 1, N, none);
    ck_assert_msg(verify(&s, true, &c), "%s", c.reason);
    ck_assert_int_eq(c.unsigned_tail, N);
}
END_TEST

START_TEST(a_checkpoint_by_an_unknown_key_fails)
{
    struct stream s = {0};
    entries(&s, 1, N - 1, at_3_and_end);
    add(&s, entry(N));
    add(&s, checkpoint_over(theirs, N, chain[N].e.hash, NULL));
    assert_fails_at(&s, N, false);
    /* Signed by our key but claiming another key id. */
    entries(&s, 1, N, at_3_and_end);
    add(&s, checkpoint_over(ours, N, chain[N].e.hash, "0011223344556677"));
    assert_fails_at(&s, N, false);
}
END_TEST

START_TEST(a_misplaced_checkpoint_fails)
{
    /* A genuine checkpoint over entry 3 presented as sealing entry 5 (its seq and head are
     * signed: changing either breaks the signature). */
    struct stream s = {0};
    entries(&s, 1, N, none);
    json_t *cp = checkpoint(3);
    json_object_set_new(cp, "seq", json_integer(N));
    add(&s, cp);
    assert_fails_at(&s, N, false);
    entries(&s, 1, N, none);
    cp = checkpoint(3);
    json_object_set_new(cp, "head_hash", json_string(hex(chain[N].e.hash)));
    add(&s, cp);
    assert_fails_at(&s, 3, false);
    /* A checkpoint over an entry before the export's start. */
    add(&s, checkpoint(1));
    add(&s, checkpoint(2));
    entries(&s, 3, N, at_end);
    assert_fails_at(&s, 1, false);
}
END_TEST

START_TEST(an_export_from_the_middle_needs_the_checkpoint_before_it)
{
    struct stream s = {0};
    struct trm_chain_check c;
    add(&s, checkpoint(2));
    entries(&s, 3, N, at_end);
    ck_assert_msg(verify(&s, false, &c), "%s", c.reason);
    ck_assert_int_eq(c.first_seq, 3);
    ck_assert_int_eq(c.entries, N - 2);
    /* Wherever it stands. */
    entries(&s, 3, N, at_end);
    add(&s, checkpoint(2));
    ck_assert_msg(verify(&s, false, &c), "%s", c.reason);
    /* Without it the first prev_hash is anyone's word. */
    entries(&s, 3, N, at_end);
    assert_fails_at(&s, 3, false);
    entries(&s, 3, N, at_end);
    assert_fails_at(&s, 3, true);
    /* A first entry that does not follow it. */
    add(&s, checkpoint(2));
    json_t *e3 = entry(3);
    json_object_set_new(e3, "prev_hash", json_string(hex(chain[1].e.hash)));
    add(&s, e3);
    entries(&s, 4, N, at_end);
    assert_fails_at(&s, 3, false);
}
END_TEST

START_TEST(links_keep_the_chain_without_the_entry)
{
    struct stream s = {0};
    struct trm_chain_check c;
    add(&s, entry(1));
    add(&s, link_of(2));
    add(&s, link_of(3));
    entries(&s, 4, N, at_end);
    ck_assert_msg(verify(&s, false, &c), "%s", c.reason);
    ck_assert_int_eq(c.entries, N - 2);
    ck_assert_int_eq(c.links, 2);
    /* A link at either end, and under a checkpoint. */
    add(&s, link_of(1));
    entries(&s, 2, N - 1, none);
    add(&s, link_of(N));
    add(&s, checkpoint(N));
    ck_assert_msg(verify(&s, false, &c), "%s", c.reason);
    ck_assert_int_eq(c.links, 2);
    /* A link whose hash was changed breaks the next prev_hash. */
    add(&s, entry(1));
    json_t *l = link_of(2);
    json_object_set_new(l, "hash", json_string(hex(chain[1].e.hash)));
    add(&s, l);
    entries(&s, 3, N, at_end);
    assert_fails_at(&s, 3, false);
    /* A link that claims a rewritten last entry: the checkpoint does not match. */
    entries(&s, 1, N - 1, none);
    l = link_of(N);
    json_object_set_new(l, "hash", json_string(hex(chain[1].e.hash)));
    add(&s, l);
    add(&s, checkpoint(N));
    assert_fails_at(&s, N, false);
    /* A link carries nothing but its seq and hashes. */
    add(&s, entry(1));
    l = link_of(2);
    json_object_set_new(l, "case_id", json_string("6f1c2a8e-1111-4a2b-9c3d-0123456789ab"));
    add(&s, l);
    entries(&s, 3, N, at_end);
    assert_fails_at(&s, 2, false);
}
END_TEST

START_TEST(nothing_or_nonsense_fails)
{
    struct stream s = {0};
    struct trm_chain_check c;
    ck_assert(!verify(&s, true, &c));
    ck_assert_int_ne(c.bad_seq, 0);
    /* A sequence number at the edge of the integers: no overflow, just refused. */
    json_t *e = entry(1);
    json_object_set_new(e, "seq", json_integer(INT64_MAX));
    add(&s, e);
    ck_assert(!verify(&s, true, &c));
    add(&s, checkpoint(1));
    json_object_set_new(s.items[0], "seq", json_integer(INT64_MAX));
    entries(&s, 1, 1, none);
    ck_assert(!verify(&s, true, &c));
    add(&s, json_pack("{s:s}", "type", "comment"));
    ck_assert(!verify(&s, true, &c));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("handover");
    TCase *tc = tcase_create("verifier");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_real_export_verifies);
    tcase_add_test(tc, the_reviewed_rewrite_fails_wherever_the_checkpoint_is);
    tcase_add_test(tc, a_changed_entry_fails);
    tcase_add_test(tc, a_deleted_entry_fails);
    tcase_add_test(tc, an_inserted_entry_fails);
    tcase_add_test(tc, reordered_entries_fail);
    tcase_add_test(tc, a_dropped_prefix_fails);
    tcase_add_test(tc, a_dropped_suffix_fails);
    tcase_add_test(tc, a_missing_checkpoint_fails_unless_an_unsigned_tail_is_allowed);
    tcase_add_test(tc, a_checkpoint_by_an_unknown_key_fails);
    tcase_add_test(tc, a_misplaced_checkpoint_fails);
    tcase_add_test(tc, an_export_from_the_middle_needs_the_checkpoint_before_it);
    tcase_add_test(tc, links_keep_the_chain_without_the_entry);
    tcase_add_test(tc, nothing_or_nonsense_fails);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
