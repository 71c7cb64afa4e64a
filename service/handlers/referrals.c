/* /v1/cases/{id}/referrals and /v1/referrals: offering a case to another agency (in this
 * country or another), the recipient's inbox, and the answers. The recipient sees a minimal
 * summary before accepting, then exactly the offered categories while the consent stands
 * (its grant, written by the acceptance). A transfer's new custodian gets the case under a
 * fresh data key holding only the consented categories (trm_case_transfer_rekey). */
#include "handlers.h"

#include "trm/access_log_store.h"
#include "trm/cases.h"
#include "trm/federation_ops.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/referral_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The unmet conditions of an offer in words a caseworker understands (bit i is row i). */
static const struct {
    const char *guard, *message;
} unmet_words[TRM_OFFER_CONDITIONS] = {
    {"erased", "The case's personal data is erased: nothing can be shared."},
    {"recipient", "The recipient is not an active agency other than yours."},
    {"consent", "A data-sharing consent of this case must be named (consent_id)."},
    {"consent", "The consent was withdrawn, has expired or is not yet given."},
    {"consent", "The consent does not cover every category offered."},
    {"consent", "The consent does not cover this agency or its country."},
    {"reason", "Without consent, give the reason for sharing."},
    {"vital_interest", "Sharing for a vital interest needs a coordinator."},
    {"note", "The note's category must be one of the offered categories: only who may open those "
             "may read it."},
};

static json_t *unmet_json(unsigned unmet)
{
    json_t *out = json_array();
    for (unsigned k = 0; k < TRM_OFFER_CONDITIONS; k++)
        if (unmet & (1u << k))
            json_array_append_new(out, json_pack("{s:s, s:s}", "guard", unmet_words[k].guard,
                                                 "message", unmet_words[k].message));
    return out;
}

/* Why an offer or an answer is refused, besides the common reasons (sealing). */
enum {
    OFFER_UNMET = TRM_WHY_OWN,
    FED_DISABLED,            /* the referral would cross to a peer: federation is not set up */
    FED_PEER_INACTIVE,       /* ... the recipient's instance is not an active peer */
    FED_DOCUMENTS_TOO_LARGE, /* ... the offered documents do not fit a package */
    ANSWER_NOT_FOUND,        /* the answers trm_referral_answer refuses, one each */
    ANSWER_ANSWERED,
    ANSWER_EXPIRED,
    ANSWER_CONSENT_WITHDRAWN,
    ANSWER_NOT_SENDER,
    ANSWER_NOT_RECIPIENT,
};

/* Why an offer or answer cannot cross to another instance. */
static int federation_why(enum trm_fed_block block)
{
    return block == TRM_FED_PEER_INACTIVE         ? FED_PEER_INACTIVE
           : block == TRM_FED_DOCUMENTS_TOO_LARGE ? FED_DOCUMENTS_TOO_LARGE
                                                  : FED_DISABLED;
}

#define FEDERATION_OUTCOMES                                                                        \
    TRM_WHEN_REFUSED(FED_PEER_INACTIVE, TRM_E_CONFLICT,                                            \
                     "The recipient's instance is not an active peer of this one."),               \
        TRM_WHEN_REFUSED(FED_DISABLED, TRM_E_CONFLICT,                                             \
                         "Federation with other instances is not set up here (trmctl instance "    \
                         "init)."),                                                                \
        TRM_WHEN_REFUSED(FED_DOCUMENTS_TOO_LARGE, TRM_E_CONFLICT,                                  \
                         "The documents of the offered categories are too large together to "      \
                         "travel to a peer instance (at most 384 KiB); see docs/federation.md.")

struct offer {
    json_t *out; /* first: trm_handler_free_out */
    struct trm_referral_offer o;
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
    const char *note, *reason, *request_id;
    struct trm_keyring_source *keys;
};

/* Seals free text of the offer under the case key (NULL text: nothing to seal). */
static enum trm_db_status seal_text(struct trm_db_conn *c, struct offer *x, const char *text,
                                    const char *category, const char *part, char **hex)
{
    char name[80];
    snprintf(name, sizeof name, "%s.%s", x->o.id, part);
    struct trm_sealing what = {x->o.case_id, category, "referrals", name};
    json_t *v = text ? json_string(text) : NULL;
    enum trm_seal_outcome outcome;
    enum trm_db_status st = trm_case_seal(c, x->keys, &what, v, hex, &outcome);
    json_decref(v);
    return st == TRM_DB_REFUSED ? trm_refuse_sealing(x, outcome) : st;
}

/* The offer itself, its note and reason sealed; refused with the unmet conditions in words. */
static enum trm_db_status make_offer(struct trm_db_conn *c, struct offer *x, bool *remote)
{
    char *note = NULL, *reason = NULL;
    unsigned unmet = 0;
    enum trm_db_status st = seal_text(c, x, x->note, x->o.note_category, "note", &note);
    if (st == TRM_DB_OK)
        st = seal_text(c, x, x->reason, "narrative", "reason", &reason);
    x->o.sealed_note = note;
    x->o.sealed_reason = reason;
    if (st == TRM_DB_OK)
        st = trm_referral_offer(c, &x->o, &unmet, remote);
    if (st == TRM_DB_OK && unmet != 0)
        st = trm_refuse(x, OFFER_UNMET, unmet_json(unmet));
    free(note);
    free(reason);
    return st;
}

/* The interpreter need for the offer's summary (docs/documents.md, "Language and
 * communication"): when the offer may state it, the sender opens the person's communication
 * (a read of contact, logged as offer_summary) and seals what the summary says of it under
 * the case key, for the parties of the open offer. Nothing when nothing is recorded. */
static enum trm_db_status seal_interpreter(struct trm_db_conn *c, struct offer *x)
{
    if (!trm_offer_states_interpreter(x->o.legal_basis, x->o.categories))
        return TRM_DB_OK;
    static const char *const contact[] = {"contact", NULL};
    struct trm_case_record rec = {0};
    enum trm_db_status st =
        trm_case_read(c, x->o.case_id, x->request_id, "offer_summary", contact, &rec);
    const char *hex = json_string_value(json_object_get(rec.fields, "contact.communication"));
    unsigned char *dek = st == TRM_DB_OK && hex ? trm_case_record_dek(x->keys, &rec) : NULL;
    if (st != TRM_DB_OK || hex == NULL || dek == NULL) {
        trm_case_record_free(&rec);
        return st != TRM_DB_OK || hex == NULL ? st : TRM_DB_ERROR;
    }
    json_t *comm =
        trm_open_json(dek, x->o.case_id, "contact", "communication", rec.dek_version, hex);
    json_t *contact_data = comm ? json_pack("{s:o}", "communication", comm) : NULL;
    json_t *extract = trm_person_interpreter(contact_data);
    char name[80], *sealed = NULL;
    snprintf(name, sizeof name, "%s.interpreter", x->o.id);
    if (extract)
        sealed = trm_seal_json(dek, x->o.case_id, "referrals", name, rec.dek_version, extract);
    st = comm == NULL || (extract && sealed == NULL) ? TRM_DB_ERROR : TRM_DB_OK;
    if (sealed)
        st = trm_referral_interpreter_store(c, x->o.id, sealed);
    free(sealed);
    json_decref(extract);
    json_decref(contact_data);
    trm_dek_free(dek);
    trm_case_record_free(&rec);
    return st;
}

static enum trm_db_status offer_tx(struct trm_db_conn *c, void *arg)
{
    struct offer *x = arg;
    json_decref(x->out);
    x->out = NULL;
    bool remote = false;
    enum trm_fed_block block; /* why an offer to a peer's agency cannot travel */
    enum trm_db_status st = make_offer(c, x, &remote);
    if (st == TRM_DB_OK)
        st = seal_interpreter(c, x);
    if (st == TRM_DB_OK && remote) {
        st = trm_fed_offer_outbound(c, x->keys, x->o.id, x->note, x->request_id, &block);
        if (st == TRM_DB_REFUSED)
            return trm_refuse(x, block != TRM_FED_TRAVELS ? federation_why(block) : OFFER_UNMET,
                              NULL);
    }
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c); /* the answer is a read: COMMIT goes with it */
    st = trm_referral_get(c, x->o.id, &x->out);
    json_object_del(x->out, "sealed_note");
    return st;
}

/* The note's category when the writer names none: narrative if offered, else the first
 * offered category (NULL when nothing is offered: a note cannot go then). */
static const char *default_note_category(json_t *categories)
{
    size_t i;
    json_t *v;
    json_array_foreach(categories, i,
                       v) if (strcmp(json_string_value(v), "narrative") == 0) return "narrative";
    return json_string_value(json_array_get(categories, 0));
}

static const char *offer_ok(const void *arg, const char **field)
{
    const struct offer *x = arg;
    *field = "note";
    return x->note && x->o.note_category == NULL && default_note_category(x->o.categories) == NULL
               ? "a note is personal data: offer the category it belongs to"
               : NULL;
}

static const struct trm_outcome offer_outcomes[] = {
    FEDERATION_OUTCOMES,
    TRM_WHEN_REFUSED_WITH(OFFER_UNMET, TRM_E_CONFLICT, "The offer cannot be made; see unmet.",
                          "unmet"),
    TRM_WHEN(TRM_DB_CONFLICT, TRM_E_CONFLICT,
             "An offer of this case to that agency is open already."),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_referral_create)
{
    static const struct trm_tx tx = {.fn = offer_tx, .outcomes = offer_outcomes};
    struct offer *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL)
        return;
    struct trm_referral_offer *o = &x->o;
    o->expires_in_hours = 72;
    o->urgency = "routine";
    const struct trm_field spec[] = {
        TRM_F_UUID("to_agency_id", &o->to_agency_id, TRM_REQUIRED),
        TRM_F_ENUM("kind", &o->kind, trm_referral_kinds, TRM_REQUIRED),
        TRM_F_ENUM("purpose", &o->purpose, trm_referral_purposes, TRM_REQUIRED),
        TRM_F_ENUMS("categories", &o->categories, TRM_CASE_CATEGORIES, trm_case_categories,
                    TRM_REQUIRED),
        TRM_F_ENUM("legal_basis", &o->legal_basis, trm_legal_bases, TRM_REQUIRED),
        TRM_F_ENUM("handling_code", &o->handling_code, trm_handling_codes, TRM_REQUIRED),
        TRM_F_UUID("consent_id", &o->consent_id),
        TRM_F_ENUM("urgency", &o->urgency, trm_urgencies),
        TRM_F_TEXT("note", &x->note, TRM_TEXT_MAX),
        TRM_F_ENUM("note_category", &o->note_category, trm_case_categories),
        TRM_F_TEXT("reason", &x->reason, TRM_GROUNDS_MAX),
        TRM_F_INT("expires_in_hours", &o->expires_in_hours, 1, TRM_REFERRAL_MAX_HOURS),
        TRM_F_CHECK(offer_ok, x),
        TRM_F_END,
    };
    if (!trm_http_uuid_param(req, res, 0, x->case_id) || !trm_handler_body(req, res, spec, NULL))
        return;
    if (o->note_category == NULL)
        o->note_category = default_note_category(o->categories);
    trm_uuid_v4(x->id);
    o->id = x->id;
    o->case_id = x->case_id;
    x->request_id = req->request_id;
    x->keys = app->keys;
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_http_created_at(res, json_incref(x->out), "/v1/referrals/%s", x->id);
}

struct answer {
    json_t *out; /* first: trm_handler_free_out */
    char id[TRM_UUID_STR_LEN + 1];
    const char *action, *reason;
    struct trm_keyring_source *keys;
    unsigned index_bits;
    struct trm_answer answer;
    char local_case_id[TRM_UUID_STR_LEN + 1]; /* an accepted offer from a peer became this */
};

static void answer_free(void *state)
{
    struct answer *x = state;
    json_decref(x->out);
    json_decref(x->answer.rekey);
}

static int answer_why(enum trm_answer_outcome outcome)
{
    switch (outcome) {
    case TRM_ANSWER_NOT_FOUND:
        return ANSWER_NOT_FOUND;
    case TRM_ANSWER_ANSWERED:
        return ANSWER_ANSWERED;
    case TRM_ANSWER_EXPIRED:
        return ANSWER_EXPIRED;
    case TRM_ANSWER_CONSENT_WITHDRAWN:
        return ANSWER_CONSENT_WITHDRAWN;
    case TRM_ANSWER_NOT_SENDER:
        return ANSWER_NOT_SENDER;
    default:
        return ANSWER_NOT_RECIPIENT;
    }
}

/* The answer, its reason sealed under the offer's case key; an offer from another instance
 * has no case here: its reason travels to the sender in the answer package. */
static enum trm_db_status give_answer(struct trm_db_conn *c, struct answer *x, bool *travels)
{
    char *reason = NULL;
    bool sealed = false;
    json_t *v = x->reason ? json_string(x->reason) : NULL;
    enum trm_db_status st =
        trm_case_seal_for_referral(c, x->keys, x->id, "answer_reason", v, &reason, &sealed);
    json_decref(v);
    *travels = x->reason && !sealed;
    if (st == TRM_DB_OK)
        st = trm_referral_answer(c, x->id, x->action, reason, &x->answer);
    free(reason);
    return st;
}

static enum trm_db_status answer_tx(struct trm_db_conn *c, void *arg)
{
    struct answer *x = arg;
    json_decref(x->out);
    json_decref(x->answer.rekey);
    x->out = x->answer.rekey = NULL;
    bool travels = false;
    enum trm_fed_block block;
    enum trm_db_status st = give_answer(c, x, &travels);
    if (st != TRM_DB_OK)
        return st;
    bool remote = x->answer.outcome == TRM_ANSWER_REMOTE;
    if (!remote && x->answer.outcome != TRM_ANSWER_OK)
        return trm_refuse(x, answer_why(x->answer.outcome), NULL);
    if (travels && !remote) /* a reason about a case whose personal data is erased */
        return trm_refuse(x, TRM_WHY_CASE_ERASED, NULL);
    if (x->answer.rekey) /* an accepted transfer within this instance */
        st = trm_case_transfer_rekey(c, x->keys, x->id, x->answer.rekey);
    if (st == TRM_DB_OK && remote) { /* the answer travels to the peer instance, in this tx */
        st = trm_fed_answer_outbound(c, x->keys, x->id, x->action, x->reason, x->index_bits,
                                     x->local_case_id, &block);
        if (st == TRM_DB_REFUSED)
            return trm_refuse(x, federation_why(block), NULL);
    }
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c); /* the answer is a read: COMMIT goes with it */
    st = trm_referral_get(c, x->id, &x->out);
    json_object_del(x->out, "sealed_note");
    return st;
}

static const struct trm_outcome answer_outcomes[] = {
    TRM_WHEN_REFUSED(TRM_WHY_CASE_ERASED, TRM_E_CASE_ERASED,
                     "The case's personal data is erased: a reason cannot be kept. Answer "
                     "without one."),
    FEDERATION_OUTCOMES,
    TRM_WHEN_REFUSED(ANSWER_NOT_FOUND, TRM_E_NOT_FOUND, "No such referral for your agency."),
    TRM_WHEN_REFUSED(ANSWER_ANSWERED, TRM_E_OFFER_ANSWERED,
                     "This offer has been answered, withdrawn or has expired already."),
    TRM_WHEN_REFUSED(ANSWER_EXPIRED, TRM_E_OFFER_EXPIRED, "This offer has expired."),
    TRM_WHEN_REFUSED(ANSWER_CONSENT_WITHDRAWN, TRM_E_CONSENT_WITHDRAWN,
                     "The consent this offer rests on has been withdrawn or has expired: the "
                     "offer can no longer be accepted."),
    TRM_WHEN_REFUSED(ANSWER_NOT_SENDER, TRM_E_FORBIDDEN,
                     "Only the sending agency may withdraw an offer."),
    TRM_WHEN_REFUSED(ANSWER_NOT_RECIPIENT, TRM_E_FORBIDDEN,
                     "Only the receiving agency may answer an offer."),
    TRM_WHEN_END,
};

static void answer(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                   const char *action)
{
    static const struct trm_tx tx = {.fn = answer_tx, .outcomes = answer_outcomes};
    struct answer *x = trm_handler_state(req, sizeof *x, answer_free);
    if (x == NULL)
        return;
    const struct trm_field spec[] = {TRM_F_TEXT("reason", &x->reason, TRM_SHORT_TEXT_MAX),
                                     TRM_F_END};
    x->action = action;
    x->keys = app->keys;
    x->index_bits = (unsigned)app->config->blind_index_bits;
    if (trm_http_uuid_param(req, res, 0, x->id) &&
        trm_handler_body_optional(req, res, spec, NULL) && trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, json_incref(x->out));
}

TRM_HANDLER(trm_handle_referral_accept)
{
    answer(app, req, res, "accept");
}

TRM_HANDLER(trm_handle_referral_decline)
{
    answer(app, req, res, "decline");
}

TRM_HANDLER(trm_handle_referral_withdraw)
{
    answer(app, req, res, "withdraw");
}

struct one {
    json_t *out; /* first: trm_handler_free_out */
    char id[TRM_UUID_STR_LEN + 1];
    const char *request_id;
    struct trm_keyring_source *keys;
};

/* The offer's note, for a caller who holds its category on the case (the sender; the
 * recipient once it accepted): opened, and the read logged. */
static enum trm_db_status open_note(struct trm_db_conn *c, struct one *x)
{
    const char *hex = json_string_value(json_object_get(x->out, "sealed_note"));
    const char *case_id = json_string_value(json_object_get(x->out, "case_id"));
    const char *category = json_string_value(json_object_get(x->out, "note_category"));
    if (hex == NULL || case_id == NULL || category == NULL)
        return TRM_DB_OK;
    unsigned version = 0;
    enum trm_seal_outcome outcome;
    enum trm_db_status st;
    unsigned char *dek = trm_case_dek(c, x->keys, case_id, category, &version, &outcome, &st);
    if (dek == NULL)
        return st == TRM_DB_REFUSED ? TRM_DB_OK : st;
    char name[80];
    snprintf(name, sizeof name, "%s.note", x->id);
    json_t *note = trm_open_json(dek, case_id, "referrals", name, version, hex);
    trm_dek_free(dek);
    if (note == NULL)
        return TRM_DB_OK; /* sealed under a key that is gone (a transfer re-keyed the case) */
    json_object_set_new(x->out, "note", note);
    json_t *cats = json_pack("[s]", category);
    st = trm_access_log_add(c, case_id, cats, "referral_view", x->request_id);
    json_decref(cats);
    return st;
}

/* The interpreter need, for a party of an open offer that may state it (docs/documents.md):
 * sealed here by the sender (an offer of a case of this instance), or in the package of an
 * offer from a peer instance. Each read is logged (contact, offer_summary). */
static enum trm_db_status open_interpreter(struct trm_db_conn *c, struct one *x)
{
    json_t *summary = json_object_get(x->out, "summary");
    const char *status = json_string_value(json_object_get(x->out, "status"));
    if (!json_is_object(summary) || status == NULL || strcmp(status, "offered") != 0 ||
        !trm_offer_states_interpreter(json_string_value(json_object_get(x->out, "legal_basis")),
                                      json_object_get(x->out, "categories")))
        return TRM_DB_OK;
    json_t *interpreter = NULL;
    enum trm_db_status st;
    if (!json_is_string(json_object_get(x->out, "case_id"))) {
        st = trm_fed_offer_interpreter(c, x->keys, x->id, x->request_id, &interpreter);
    } else {
        struct trm_referral_key key;
        char *hex = NULL, name[80];
        st = trm_referral_interpreter_read(c, x->id, x->request_id, &key, &hex);
        unsigned char *dek =
            key.found ? trm_case_unwrap(x->keys, key.case_id, key.kek_id, key.wrapped) : NULL;
        snprintf(name, sizeof name, "%s.interpreter", x->id);
        if (dek)
            interpreter = trm_open_json(dek, key.case_id, "referrals", name, key.dek_version, hex);
        if (key.found && interpreter == NULL)
            st = TRM_DB_ERROR;
        trm_dek_free(dek);
        free(hex);
    }
    if (interpreter)
        json_object_set_new(summary, "interpreter", interpreter);
    return st;
}

static enum trm_db_status one_tx(struct trm_db_conn *c, void *arg)
{
    struct one *x = arg;
    json_decref(x->out);
    x->out = NULL;
    enum trm_db_status st = trm_referral_get(c, x->id, &x->out);
    if (st == TRM_DB_OK)
        st = open_note(c, x);
    if (st == TRM_DB_OK)
        st = open_interpreter(c, x);
    json_object_del(x->out, "sealed_note");
    return st;
}

TRM_HANDLER(trm_handle_referral_get)
{
    static const struct trm_tx tx = {.fn = one_tx};
    struct one *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL || !trm_http_uuid_param(req, res, 0, x->id))
        return;
    x->request_id = req->request_id;
    x->keys = app->keys;
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, json_incref(x->out));
}

static const char *const directions[] = {"incoming", "outgoing", NULL};
static const char *const statuses[] = {"offered",   "accepted", "declined",
                                       "withdrawn", "expired",  NULL};

struct referral_list {
    json_t *out; /* first: trm_handler_free_out */
    const char *direction, *status;
    struct trm_page page;
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct referral_list *x = arg;
    json_decref(x->out);
    x->out = NULL;
    bool incoming = x->direction == NULL || strcmp(x->direction, "incoming") == 0;
    return trm_referral_list(c, incoming, x->status, trm_page_text(&x->page, 0),
                             trm_page_text(&x->page, 1), trm_page_fetch(&x->page), &x->out);
}

TRM_HANDLER(trm_handle_referrals_list)
{
    static const struct trm_tx tx = {.fn = list_tx};
    static const char *const keys[] = {"created_at", "id", NULL};
    struct referral_list *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL)
        return;
    const struct trm_param params[] = {
        TRM_Q_ENUM("direction", &x->direction, directions),
        TRM_Q_ENUM("status", &x->status, statuses),
        TRM_Q_END,
    };
    if (trm_http_query(req, res, params) && trm_handler_page(app, req, res, "su", &x->page) &&
        trm_handler_tx(app, req, res, &tx, x))
        trm_handler_page_answer(app, res, &x->page, json_incref(x->out), keys);
}
