/* /v1/cases/{id}/referrals and /v1/referrals: offering a case to another agency (in this
 * country or another), the recipient's inbox, and the answers. The recipient sees a minimal
 * summary before accepting, then exactly the offered categories while the consent stands
 * (its grant, written by the acceptance). A transfer's new custodian gets the case under a
 * fresh data key holding only the consented categories (re_key below). */
#include "handlers.h"

#include "trm/cases.h"
#include "trm/federation_ops.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/referral_store.h"
#include "trm/access_log_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In words a caseworker understands. */
static const struct {
    const char *code, *guard, *message;
} unmet_words[] = {
    {"personal_data_erased", "erased",
     "The case's personal data is erased: nothing can be shared."},
    {"recipient", "recipient", "The recipient is not an active agency other than yours."},
    {"consent_missing", "consent",
     "A data-sharing consent of this case must be named (consent_id)."},
    {"consent_not_in_force", "consent",
     "The consent was withdrawn, has expired or is not yet given."},
    {"consent_categories", "consent", "The consent does not cover every category offered."},
    {"consent_recipient", "consent", "The consent does not cover this agency or its country."},
    {"reason", "reason", "Without consent, give the reason for sharing."},
    {"vital_interest_role", "vital_interest", "Sharing for a vital interest needs a coordinator."},
    {"note_category", "note",
     "The note's category must be one of the offered categories: only who may open those may "
     "read it."},
};

static json_t *unmet_json(json_t *codes)
{
    json_t *out = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(codes, i, c)
    {
        for (size_t k = 0; k < sizeof unmet_words / sizeof unmet_words[0]; k++)
            if (strcmp(json_string_value(c), unmet_words[k].code) == 0)
                json_array_append_new(out, json_pack("{s:s, s:s}", "guard", unmet_words[k].guard,
                                                     "message", unmet_words[k].message));
    }
    return out;
}

struct offer_args {
    struct trm_referral_offer o;
    const char *note, *reason, *request_id;
    struct trm_keyring_source *keys;
    json_t *unmet, *out;
    enum trm_seal_outcome sealing;
    char fed_why[32]; /* why an offer to a peer's agency cannot travel */
};

/* Why an offer or answer cannot cross to another instance, in words. */
static const char *federation_words(const char *why)
{
    return strcmp(why, "peer_inactive") == 0
               ? "The recipient's instance is not an active peer of this one."
               : "Federation with other instances is not set up here (trmctl instance init).";
}

/* Seals free text of the offer under the case key (NULL text: nothing to seal). */
static enum trm_db_status seal_text(struct trm_db_conn *c, struct offer_args *x, const char *text,
                                    const char *category, const char *part, char **hex)
{
    char name[80];
    snprintf(name, sizeof name, "%s.%s", x->o.id, part);
    struct trm_sealing what = {x->o.case_id, category, "referrals", name};
    json_t *v = text ? json_string(text) : NULL;
    enum trm_db_status st = trm_case_seal(c, x->keys, &what, v, hex, &x->sealing);
    json_decref(v);
    return st;
}

static enum trm_db_status offer_tx(struct trm_db_conn *c, void *arg)
{
    struct offer_args *x = arg;
    json_decref(x->unmet);
    json_decref(x->out);
    x->unmet = x->out = NULL;
    char *note = NULL, *reason = NULL;
    enum trm_db_status st = seal_text(c, x, x->note, x->o.note_category, "note", &note);
    if (st == TRM_DB_OK)
        st = seal_text(c, x, x->reason, "narrative", "reason", &reason);
    x->o.sealed_note = note;
    x->o.sealed_reason = reason;
    bool remote = false;
    if (st == TRM_DB_OK)
        st = trm_referral_offer(c, &x->o, &x->unmet, &remote);
    if (st == TRM_DB_OK && json_array_size(x->unmet) > 0)
        st = TRM_DB_REFUSED;
    if (st == TRM_DB_OK && remote)
        st = trm_fed_offer_outbound(c, x->keys, x->o.id, x->note, x->request_id, x->fed_why);
    if (st == TRM_DB_OK) {
        trm_db_commit_with_next(c); /* the answer is a read: COMMIT goes with it */
        st = trm_referral_get(c, x->o.id, &x->out);
    }
    free(note);
    free(reason);
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

TRM_HANDLER(trm_handle_referral_create)
{
    char case_id[37], id[37], location[80];
    struct offer_args x = {.keys = app->keys, .request_id = req->request_id};
    x.o.expires_in_hours = 72;
    x.o.urgency = "routine";
    const struct trm_field spec[] = {
        {.name = "to_agency_id",
         .type = TRM_FIELD_UUID,
         .dest = &x.o.to_agency_id,
         .required = true},
        {.name = "kind",
         .type = TRM_FIELD_ENUM,
         .dest = &x.o.kind,
         .required = true,
         .allowed = trm_referral_kinds},
        {.name = "purpose",
         .type = TRM_FIELD_ENUM,
         .dest = &x.o.purpose,
         .required = true,
         .allowed = trm_referral_purposes},
        {.name = "categories",
         .type = TRM_FIELD_ENUM_ARRAY,
         .dest = &x.o.categories,
         .required = true,
         .max_len = 5,
         .allowed = trm_case_categories},
        {.name = "legal_basis",
         .type = TRM_FIELD_ENUM,
         .dest = &x.o.legal_basis,
         .required = true,
         .allowed = trm_legal_bases},
        {.name = "handling_code",
         .type = TRM_FIELD_ENUM,
         .dest = &x.o.handling_code,
         .required = true,
         .allowed = trm_handling_codes},
        {.name = "consent_id", .type = TRM_FIELD_UUID, .dest = &x.o.consent_id},
        {.name = "urgency", .type = TRM_FIELD_ENUM, .dest = &x.o.urgency, .allowed = trm_urgencies},
        {.name = "note", .type = TRM_FIELD_STRING, .dest = &x.note, .max_len = 5000, .min_len = 1},
        {.name = "note_category",
         .type = TRM_FIELD_ENUM,
         .dest = &x.o.note_category,
         .allowed = trm_case_categories},
        {.name = "reason",
         .type = TRM_FIELD_STRING,
         .dest = &x.reason,
         .max_len = 1000,
         .min_len = 1},
        {.name = "expires_in_hours",
         .type = TRM_FIELD_INT,
         .dest = &x.o.expires_in_hours,
         .min = 1,
         .max = TRM_REFERRAL_MAX_HOURS},
        {0},
    };
    json_t *doc = NULL;
    if (!trm_http_uuid_param(req, res, 0, case_id) || !trm_http_json_body(req, res, spec, &doc))
        return;
    if (x.o.note_category == NULL)
        x.o.note_category = default_note_category(x.o.categories);
    if (x.note && x.o.note_category == NULL) {
        trm_http_field_problem(req, res, "/note",
                               "a note is personal data: offer the category it belongs to");
        json_decref(doc);
        return;
    }
    trm_uuid_v4(id);
    x.o.id = id;
    x.o.case_id = case_id;
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, offer_tx, &x);
    if (st == TRM_DB_REFUSED && x.sealing != TRM_SEAL_OK) {
        trm_http_seal_problem(req, res, x.sealing);
    } else if (st == TRM_DB_REFUSED && x.fed_why[0] != '\0') {
        trm_response_problem(res, req, TRM_E_CONFLICT, federation_words(x.fed_why));
    } else if (st == TRM_DB_REFUSED) {
        trm_response_problem_ext(res, req, TRM_E_CONFLICT, "The offer cannot be made; see unmet.",
                                 "unmet", unmet_json(x.unmet));
    } else if (st == TRM_DB_CONFLICT) {
        trm_response_problem(res, req, TRM_E_CONFLICT,
                             "An offer of this case to that agency is open already.");
    } else if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
    } else {
        snprintf(location, sizeof location, "/v1/referrals/%s", id);
        json_object_del(x.out, "sealed_note");
        trm_http_created(res, location, x.out);
        x.out = NULL;
    }
    json_decref(x.unmet);
    json_decref(x.out);
    json_decref(doc);
}

struct answer_args {
    const char *id, *action, *reason;
    struct trm_keyring_source *keys;
    unsigned index_bits;
    struct trm_answer answer;
    enum trm_seal_outcome sealing;
    char fed_why[32];
    char local_case_id[37]; /* an accepted offer from another instance became this case */
    json_t *out;
};

static enum trm_db_status answer_tx(struct trm_db_conn *c, void *arg)
{
    struct answer_args *x = arg;
    json_decref(x->out);
    json_decref(x->answer.rekey);
    x->out = x->answer.rekey = NULL;
    x->sealing = TRM_SEAL_OK;
    char *reason = NULL;
    bool sealed = false;
    json_t *v = x->reason ? json_string(x->reason) : NULL;
    /* An offer from another instance has no case here: its reason travels to the sender in
     * the answer package. */
    enum trm_db_status st =
        trm_case_seal_for_referral(c, x->keys, x->id, "answer_reason", v, &reason, &sealed);
    json_decref(v);
    bool travels = x->reason && !sealed;
    if (st == TRM_DB_OK)
        st = trm_referral_answer(c, x->id, x->action, reason, &x->answer);
    free(reason);
    if (st != TRM_DB_OK)
        return st;
    bool remote = x->answer.outcome == TRM_ANSWER_REMOTE;
    if (!remote && x->answer.outcome != TRM_ANSWER_OK)
        return TRM_DB_REFUSED;
    if (travels && !remote) {
        /* A reason about a case whose personal data is erased has no key to be sealed with. */
        x->sealing = TRM_SEAL_ERASED;
        return TRM_DB_REFUSED;
    }
    if (x->answer.rekey) /* an accepted transfer within this instance */
        st = trm_case_transfer_rekey(c, x->keys, x->id, x->answer.rekey);
    if (st == TRM_DB_OK && remote) /* the answer travels to the peer instance, in this tx */
        st = trm_fed_answer_outbound(c, x->keys, x->id, x->action, x->reason, x->index_bits,
                                     x->local_case_id, x->fed_why);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c); /* the answer is a read: COMMIT goes with it */
    return trm_referral_get(c, x->id, &x->out);
}

/* The problem for an answer the database refused. */
static void answer_refused(const struct trm_request *req, struct trm_response *res,
                           const struct answer_args *x)
{
    switch (x->answer.outcome) {
    case TRM_ANSWER_NOT_FOUND:
        trm_response_problem(res, req, TRM_E_NOT_FOUND, "No such referral for your agency.");
        return;
    case TRM_ANSWER_ANSWERED:
        trm_response_problem(res, req, TRM_E_OFFER_ANSWERED,
                             "This offer has been answered, withdrawn or has expired already.");
        return;
    case TRM_ANSWER_EXPIRED:
        trm_response_problem(res, req, TRM_E_OFFER_EXPIRED, "This offer has expired.");
        return;
    case TRM_ANSWER_CONSENT_WITHDRAWN:
        trm_response_problem(res, req, TRM_E_CONSENT_WITHDRAWN,
                             "The consent this offer rests on has been withdrawn or has "
                             "expired: the offer can no longer be accepted.");
        return;
    case TRM_ANSWER_NOT_SENDER:
        trm_response_problem(res, req, TRM_E_FORBIDDEN,
                             "Only the sending agency may withdraw an offer.");
        return;
    default:
        trm_response_problem(res, req, TRM_E_FORBIDDEN,
                             "Only the receiving agency may answer an offer.");
    }
}

static void answer(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                   const char *action)
{
    char id[37];
    const char *reason = NULL;
    const struct trm_field spec[] = {
        {.name = "reason", .type = TRM_FIELD_STRING, .dest = &reason, .max_len = 500, .min_len = 1},
        {0},
    };
    json_t *doc = NULL;
    if (!trm_http_uuid_param(req, res, 0, id) || !trm_http_json_body_optional(req, res, spec, &doc))
        return;
    struct answer_args x = {.id = id,
                            .action = action,
                            .reason = reason,
                            .keys = app->keys,
                            .index_bits = (unsigned)app->config->blind_index_bits};
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, answer_tx, &x);
    if (st == TRM_DB_OK) {
        json_object_del(x.out, "sealed_note");
        trm_response_json(res, 200, x.out);
        x.out = NULL;
    } else if (st != TRM_DB_REFUSED) {
        trm_http_db_problem(req, res, st);
    } else if (x.sealing != TRM_SEAL_OK) {
        trm_response_problem(res, req, TRM_E_CASE_ERASED,
                             "The case's personal data is erased: a reason cannot be kept. "
                             "Answer without one.");
    } else if (x.fed_why[0] != '\0') {
        trm_response_problem(res, req, TRM_E_CONFLICT, federation_words(x.fed_why));
    } else {
        answer_refused(req, res, &x);
    }
    json_decref(x.out);
    json_decref(x.answer.rekey);
    json_decref(doc);
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

struct one_args {
    const char *id, *request_id;
    struct trm_keyring_source *keys;
    json_t *out;
};

/* The offer's note, for a caller who holds its category on the case (the sender; the
 * recipient once it accepted): opened, and the read logged. */
static enum trm_db_status open_note(struct trm_db_conn *c, struct one_args *x)
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

static enum trm_db_status one_tx(struct trm_db_conn *c, void *arg)
{
    struct one_args *x = arg;
    json_decref(x->out);
    x->out = NULL;
    enum trm_db_status st = trm_referral_get(c, x->id, &x->out);
    if (st == TRM_DB_OK)
        st = open_note(c, x);
    json_object_del(x->out, "sealed_note");
    return st;
}

TRM_HANDLER(trm_handle_referral_get)
{
    char id[37];
    if (!trm_http_uuid_param(req, res, 0, id))
        return;
    struct one_args x = {id, req->request_id, app->keys, NULL};
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, one_tx, &x);
    if (st != TRM_DB_OK) {
        json_decref(x.out);
        trm_http_db_problem(req, res, st);
    } else {
        trm_response_json(res, 200, x.out);
    }
}

static const char *const directions[] = {"incoming", "outgoing", NULL};
static const char *const statuses[] = {"offered",   "accepted", "declined",
                                       "withdrawn", "expired",  NULL};

struct list_args {
    bool incoming;
    const char *status, *before_created, *before_id;
    unsigned limit;
    json_t *out;
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct list_args *x = arg;
    json_decref(x->out);
    return trm_referral_list(c, x->incoming, x->status, x->before_created, x->before_id,
                             x->limit + 1, &x->out);
}

TRM_HANDLER(trm_handle_referrals_list)
{
    const char *direction = NULL;
    struct list_args x = {0};
    json_t *after = NULL;
    if (!trm_http_query_enum(req, res, "direction", directions, &direction) ||
        !trm_http_query_enum(req, res, "status", statuses, &x.status) ||
        !trm_http_page(req, res, trm_app_keys(app), &x.limit, &after))
        return;
    x.incoming = direction == NULL || strcmp(direction, "incoming") == 0;
    x.before_created = json_string_value(json_array_get(after, 0));
    x.before_id = json_string_value(json_array_get(after, 1));
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, list_tx, &x);
    json_decref(after);
    if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
        return;
    }
    char *next = NULL;
    if (json_array_size(x.out) > x.limit) {
        json_array_remove(x.out, x.limit);
        json_t *last = json_array_get(x.out, x.limit - 1);
        json_t *key =
            json_pack("[O, O]", json_object_get(last, "created_at"), json_object_get(last, "id"));
        next = trm_http_cursor_encode(trm_app_keys(app), key);
        json_decref(key);
    }
    trm_http_list(res, x.out, next);
}
