/* Packages arriving at our inbox, and signed requests from peers. A package is accepted only
 * from a registered, active peer whose key signed it, addressed to this instance, not
 * expired, and new: a duplicate delivery is answered with the receipt it got the first time,
 * and a known package id with other content is refused. Nothing is stored otherwise. */
#include "trm/app.h"
#include "trm/cases.h"
#include "trm/federation_ops.h"
#include "trm/federation_store.h"
#include "trm/keyring.h"
#include "trm/referral_store.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *field(const struct trm_fed_package *p, enum trm_fed_field f)
{
    return p->h.v[f];
}

/* Whether word is one of the comma-separated words of list. */
static bool in_words(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

/* An offer's payload must open with the peer's box key and hold a person of exactly the
 * announced package; it is checked and forgotten (it stays sealed at rest). */
static bool offer_payload_ok(const struct trm_keyring *kr, const struct trm_fed_peer *peer,
                             const struct trm_fed_package *p)
{
    char *plain = p->payload ? trm_fed_open(kr, peer->box_key, p->payload, p->payload_len) : NULL;
    if (plain == NULL)
        return false;
    json_t *doc = json_loads(plain, JSON_REJECT_DUPLICATES, NULL);
    sodium_memzero(plain, strlen(plain));
    free(plain);
    json_t *person = json_object_get(doc, "person"), *errors = json_array();
    json_t *note = json_object_get(doc, "note"),
           *note_category = json_object_get(doc, "note_category"),
           *docs = json_object_get(doc, "documents");
    const char *id = json_string_value(json_object_get(doc, "package_id"));
    /* Documents, when there are any (version 3), are of the offered categories. */
    const char *cats[TRM_CASE_CATEGORIES + 1] = {0};
    char words[128];
    char *save = NULL;
    size_t n = 0;
    trm_strlcpy(words, field(p, TRM_FED_CATEGORIES), sizeof words);
    for (char *t = strtok_r(words, ",", &save); t && n < TRM_CASE_CATEGORIES;
         t = strtok_r(NULL, ",", &save))
        cats[n++] = t;
    bool docs_ok = docs == NULL || (p->h.version >= 3 && trm_fed_documents_ok(docs, cats));
    size_t members = 2 + (docs != NULL);
    /* The note, when there is one, is text of one of the offered categories. */
    bool note_ok =
        note == NULL
            ? note_category == NULL && json_object_size(doc) == members
            : json_is_string(note) && json_string_length(note) <= TRM_TEXT_MAX &&
                  trm_json_text_ok(json_string_value(note)) && json_is_string(note_category) &&
                  in_words(field(p, TRM_FED_CATEGORIES), json_string_value(note_category)) &&
                  json_object_size(doc) == members + 2;
    bool ok = note_ok && docs_ok && json_is_object(person) && id &&
              strcmp(id, field(p, TRM_FED_PACKAGE_ID)) == 0 &&
              trm_json_check(person, trm_person_spec, "/person", errors);
    /* Only the offered categories may travel. */
    const char *key;
    json_t *v;
    json_object_foreach(person, key, v)
    {
        (void)v;
        ok = ok && in_words(field(p, TRM_FED_CATEGORIES), key);
    }
    json_decref(errors);
    json_decref(doc);
    return ok;
}

/* An answer's payload, when it has one, opens with the peer's box key and holds exactly the
 * package's id and a reason (text of at most TRM_SHORT_TEXT_MAX bytes). */
static bool answer_payload_ok(const struct trm_keyring *kr, const struct trm_fed_peer *peer,
                              const struct trm_fed_package *p)
{
    if (p->payload == NULL)
        return true;
    char *plain = trm_fed_open(kr, peer->box_key, p->payload, p->payload_len);
    if (plain == NULL)
        return false;
    json_t *doc = json_loads(plain, JSON_REJECT_DUPLICATES, NULL);
    sodium_memzero(plain, strlen(plain));
    free(plain);
    const char *id = json_string_value(json_object_get(doc, "package_id"));
    json_t *reason = json_object_get(doc, "reason");
    bool ok = json_object_size(doc) == 2 && id && strcmp(id, field(p, TRM_FED_PACKAGE_ID)) == 0 &&
              json_is_string(reason) && json_string_length(reason) >= 1 &&
              json_string_length(reason) <= TRM_SHORT_TEXT_MAX &&
              trm_json_text_ok(json_string_value(reason));
    json_decref(doc);
    return ok;
}

static enum trm_fed_inbox_result type_checks(const struct trm_keyring *kr,
                                             const struct trm_fed_peer *peer,
                                             const struct trm_fed_package *p, char *why, size_t len)
{
    static const char *const kinds[] = {"referral", "transfer", NULL};
    static const char *const actions[] = {"accept", "decline", "withdraw", "consent_withdrawal",
                                          NULL};
    const char *type = field(p, TRM_FED_TYPE);
    if (strcmp(type, "offer") == 0) {
        time_t expires = 0;
        if (!trm_str_in(field(p, TRM_FED_KIND), kinds) || *field(p, TRM_FED_EXPIRES_AT) == '\0' ||
            *field(p, TRM_FED_ACTION) != '\0') {
            snprintf(why, len, "an offer needs kind and expires_at, and no action");
            return TRM_FED_IN_INVALID;
        }
        bool dated = trm_fed_time_parse(field(p, TRM_FED_EXPIRES_AT), &expires);
        if (dated && expires <= time(NULL)) {
            snprintf(why, len, "the offer expired before it arrived");
            return TRM_FED_IN_EXPIRED;
        }
        /* No offer stays open longer than ours may (an hour of slack for the clocks). */
        if (!dated || expires > time(NULL) + (time_t)TRM_REFERRAL_MAX_HOURS * 3600 + 3600) {
            snprintf(why, len, "expires_at is further ahead than an offer may stay open");
            return TRM_FED_IN_INVALID;
        }
        if (!trm_str_in(field(p, TRM_FED_PURPOSE), trm_referral_purposes)) {
            snprintf(why, len, "purpose is not one of the purpose codes");
            return TRM_FED_IN_INVALID;
        }
        if (!offer_payload_ok(kr, peer, p)) {
            snprintf(why, len,
                     "the payload does not open with the sender's key or is not a "
                     "person of the offered categories");
            return TRM_FED_IN_INVALID;
        }
        return TRM_FED_IN_OK;
    }
    if (strcmp(type, "answer") == 0 && trm_str_in(field(p, TRM_FED_ACTION), actions) &&
        *field(p, TRM_FED_IN_REPLY_TO) != '\0') {
        if (answer_payload_ok(kr, peer, p))
            return TRM_FED_IN_OK;
        snprintf(why, len,
                 "an answer's payload must open with the sender's key and hold only its "
                 "reason");
        return TRM_FED_IN_INVALID;
    }
    snprintf(why, len, "type must be offer or answer (an answer with action and in_reply_to)");
    return TRM_FED_IN_INVALID;
}

struct lookup {
    const char *peer_id;
    struct trm_fed_identity me;
    struct trm_fed_peer peer;
    enum trm_db_status me_st, peer_st;
};

static enum trm_db_status lookup_tx(struct trm_db_conn *c, void *arg)
{
    struct lookup *x = arg;
    x->me_st = trm_fed_identity_get(c, &x->me);
    if (x->me_st != TRM_DB_OK && x->me_st != TRM_DB_NOT_FOUND)
        return x->me_st;
    x->peer_st = trm_fed_peer_get(c, x->peer_id, &x->peer);
    return x->peer_st == TRM_DB_NOT_FOUND ? TRM_DB_OK : x->peer_st;
}

struct store {
    const struct trm_fed_package *p;
    const struct trm_keyring *kr;
    const char *me;
    json_t *receipt;
    bool duplicate, replayed;
    enum trm_fed_received received;
};

static enum trm_db_status store_tx(struct trm_db_conn *c, void *arg)
{
    struct store *x = arg;
    json_decref(x->receipt);
    x->receipt = NULL;
    x->duplicate = x->replayed = false;
    x->received = TRM_FED_RECEIVED;
    bool found, incoming;
    uint8_t hash[TRM_FED_HASH_BYTES];
    enum trm_db_status st =
        trm_fed_seen(c, field(x->p, TRM_FED_PACKAGE_ID), &found, &incoming, hash, &x->receipt);
    if (st != TRM_DB_OK || found) {
        x->duplicate =
            found && incoming && memcmp(hash, x->p->hash, sizeof hash) == 0 && x->receipt != NULL;
        x->replayed = found && !x->duplicate;
        return st;
    }
    char now[32];
    trm_time_rfc3339(time(NULL), now);
    x->receipt =
        trm_fed_receipt_build(x->kr, field(x->p, TRM_FED_PACKAGE_ID), x->p->hash, now, x->me);
    st = trm_fed_receive(c, x->p, x->receipt, &x->received);
    return st == TRM_DB_OK && x->received != TRM_FED_RECEIVED ? TRM_DB_REFUSED : st;
}

static enum trm_fed_inbox_result store(struct trm_app *app, const struct trm_fed_package *p,
                                       const char *me, json_t **receipt, char *why, size_t len)
{
    struct store x = {.p = p, .kr = trm_app_keys(app), .me = me};
    enum trm_db_status st = trm_db_tx_run(app->db, NULL, false, store_tx, &x);
    /* Two deliveries of one package at once: the loser finds the winner's receipt. */
    if (st == TRM_DB_CONFLICT)
        st = trm_db_tx_run(app->db, NULL, false, store_tx, &x);
    enum trm_fed_inbox_result r = TRM_FED_IN_OK;
    if (st == TRM_DB_OK && x.replayed) {
        snprintf(why, len, "this package id was used before with other content");
        r = TRM_FED_IN_REPLAYED;
    } else if (st == TRM_DB_REFUSED) {
        snprintf(why, len, "refused here: %s", trm_fed_received_word(x.received));
        r = TRM_FED_IN_REFUSED;
    } else if (st == TRM_DB_INVALID) {
        snprintf(why, len, "the header's agency or country is not acceptable here");
        r = TRM_FED_IN_REFUSED;
    } else if (st != TRM_DB_OK) {
        r = st == TRM_DB_UNAVAILABLE ? TRM_FED_IN_UNAVAILABLE : TRM_FED_IN_ERROR;
    }
    if (r == TRM_FED_IN_OK) {
        *receipt = x.receipt;
        x.receipt = NULL;
    }
    json_decref(x.receipt);
    return r;
}

enum trm_fed_inbox_result trm_fed_inbox(struct trm_app *app, json_t *doc, json_t **receipt,
                                        char *why, size_t whylen)
{
    struct trm_fed_package p;
    *receipt = NULL;
    if (!trm_fed_package_parse(doc, &p, why, whylen))
        return TRM_FED_IN_INVALID;
    struct lookup x = {.peer_id = field(&p, TRM_FED_SENDER_INSTANCE)};
    enum trm_fed_inbox_result r = TRM_FED_IN_OK;
    enum trm_db_status st = trm_db_run(app->db, lookup_tx, &x);
    if (st != TRM_DB_OK) {
        r = st == TRM_DB_UNAVAILABLE ? TRM_FED_IN_UNAVAILABLE : TRM_FED_IN_ERROR;
    } else if (x.me_st == TRM_DB_NOT_FOUND || !trm_keyring_box_secret(trm_app_keys(app))) {
        snprintf(why, whylen, "federation is not set up on this instance");
        r = TRM_FED_IN_DISABLED;
    } else if (x.peer_st == TRM_DB_NOT_FOUND || !x.peer.active) {
        snprintf(why, whylen, "the sending instance is not a registered peer");
        r = TRM_FED_IN_UNKNOWN_PEER;
    } else if (!trm_fed_verify_package(x.peer.signing_key, p.hash, p.signature)) {
        snprintf(why, whylen, "the signature does not verify with the sender's registered key");
        r = TRM_FED_IN_BAD_SIGNATURE;
    } else if (strcmp(field(&p, TRM_FED_RECIPIENT_INSTANCE), x.me.instance_id) != 0) {
        snprintf(why, whylen, "the package is addressed to another instance");
        r = TRM_FED_IN_MISDIRECTED;
    } else {
        r = type_checks(trm_app_keys(app), &x.peer, &p, why, whylen);
    }
    if (r == TRM_FED_IN_OK)
        r = store(app, &p, x.me.instance_id, receipt, why, whylen);
    trm_fed_package_free(&p);
    return r;
}

struct peer_lookup {
    const char *id;
    struct trm_fed_peer peer;
};

static enum trm_db_status peer_tx(struct trm_db_conn *c, void *arg)
{
    struct peer_lookup *x = arg;
    return trm_fed_peer_get(c, x->id, &x->peer);
}

bool trm_fed_request_verify(struct trm_app *app, const char *method, const char *path,
                            const char *instance, const char *unix_time, const char *signature,
                            char *why, size_t whylen)
{
    long t = 0;
    uint8_t sig[TRM_FED_SIG_BYTES];
    if (!instance || !unix_time || !signature || !trm_fed_instance_id_ok(instance) ||
        !trm_parse_long(unix_time, 0, 1L << 40, &t) || strlen(signature) != 2 * sizeof sig ||
        !trm_hex_decode(signature, sig, sizeof sig)) {
        snprintf(why, whylen, "send Trm-Instance, Trm-Time and Trm-Signature");
        return false;
    }
    long skew = labs((long)time(NULL) - t);
    if (skew > app->config->federation_clock_skew_s) {
        snprintf(why, whylen, "Trm-Time is too far from this instance's clock");
        return false;
    }
    struct peer_lookup x = {.id = instance};
    enum trm_db_status st = trm_db_run(app->db, peer_tx, &x);
    if (st != TRM_DB_OK || !x.peer.active ||
        !trm_fed_verify_request(x.peer.signing_key, method, path, unix_time, instance, sig)) {
        snprintf(why, whylen, "not a signed request of a registered peer");
        return false;
    }
    return true;
}
