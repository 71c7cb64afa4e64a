/* What is recorded on a case besides its fields: consents, assessments, guardians, and the
 * timeline. Assessment details, guardians, timeline notes and consent withdrawal reasons are
 * personal data: each is sealed under the case's key with one of the case's categories, and
 * the caller's grants decide who opens it (a writer may only write a category it holds).
 * Opening them is written to the access log, with the categories opened. */
#include "handlers.h"

#include "trm/access_log_store.h"
#include "trm/assessment_store.h"
#include "trm/cases.h"
#include "trm/consent_store.h"
#include "trm/event_store.h"
#include "trm/federation_ops.h"
#include "trm/guardian_store.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/sop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONSENT_RECIPIENTS_MAX 50 /* agencies, or countries, one consent names */
#define OUTCOME_MAX 64

enum trm_db_status trm_refuse_sealing(void *state, enum trm_seal_outcome outcome)
{
    return trm_refuse(state, outcome == TRM_SEAL_ERASED ? TRM_WHY_CASE_ERASED : TRM_WHY_NOT_GRANTED,
                      NULL);
}

struct consent_create {
    json_t *out; /* first: trm_handler_free_out */
    const char *kind, *given, *expires;
    json_t *cats, *recipients, *agencies, *countries;
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
    struct trm_consent_new n;
};

static enum trm_db_status consent_tx(struct trm_db_conn *c, void *arg)
{
    struct consent_create *x = arg;
    json_decref(x->out);
    x->out = NULL;
    enum trm_db_status st = trm_consent_insert(c, &x->n, &x->out);
    if (st == TRM_DB_OK) {
        json_t *d = json_pack("{s:s, s:s}", "consent_id", x->n.id, "kind", x->n.kind);
        st = trm_case_event_add(c, x->n.case_id, "consent_recorded", d);
        json_decref(d);
    }
    return st;
}

static const char *consent_ok(const void *arg, const char **field)
{
    const struct consent_create *x = arg;
    bool sharing = strcmp(x->kind, "data_sharing") == 0;
    if (trm_json_is_future(x->given))
        return *field = "given_at", "must be a past date or UTC time";
    if (x->expires && strcmp(x->expires, x->given) <= 0)
        return *field = "expires_at", "must be a date or UTC time after given_at";
    if (sharing && json_array_size(x->cats) == 0)
        return *field = "categories", "data sharing needs the categories it covers";
    if (sharing && json_array_size(x->agencies) + json_array_size(x->countries) == 0)
        return *field = "recipients", "data sharing needs the agencies or countries";
    return NULL;
}

TRM_HANDLER(trm_handle_consent_create)
{
    static const struct trm_tx tx = {.fn = consent_tx};
    struct consent_create *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL)
        return;
    const struct trm_field recipients_spec[] = {
        TRM_F_UUIDS("agency_ids", &x->agencies, CONSENT_RECIPIENTS_MAX),
        TRM_F_COUNTRIES("countries", &x->countries, CONSENT_RECIPIENTS_MAX),
        TRM_F_END,
    };
    const struct trm_field spec[] = {
        TRM_F_ENUM("kind", &x->kind, trm_consent_kinds, TRM_REQUIRED),
        TRM_F_ENUMS("categories", &x->cats, TRM_CASE_CATEGORIES, trm_case_categories),
        TRM_F_OBJECT("recipients", &x->recipients, recipients_spec),
        TRM_F_TIME("given_at", &x->given, TRM_REQUIRED,
                   .message = "must be a past date or UTC time"),
        TRM_F_TIME("expires_at", &x->expires,
                   .message = "must be a date or UTC time after given_at"),
        TRM_F_CHECK(consent_ok, x),
        TRM_F_END,
    };
    if (!trm_http_uuid_param(req, res, 0, x->case_id) || !trm_handler_body(req, res, spec, NULL))
        return;
    json_t *empty = trm_request_keep(req, json_array());
    trm_uuid_v4(x->id);
    x->n = (struct trm_consent_new){x->id,
                                    x->case_id,
                                    x->kind,
                                    x->given,
                                    x->expires,
                                    x->cats ? x->cats : empty,
                                    x->agencies ? x->agencies : empty,
                                    x->countries ? x->countries : empty};
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_http_created_at(res, json_incref(x->out), "/v1/cases/%s/consents/%s", x->case_id,
                            x->id);
}

struct consent_withdraw {
    json_t *out; /* first: trm_handler_free_out */
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
    const char *reason, *category;
    struct trm_keyring_source *keys;
};

/* The reason, sealed under the case's key; NULL (and OK) once the personal data is erased:
 * the withdrawal itself is never refused for want of a key. A caller without a grant of the
 * category is not the owner (who holds every category): the consent is not its to withdraw,
 * whether the case went to another agency (a transfer) or was only shared with it. */
static enum trm_db_status seal_reason(struct trm_db_conn *c, struct consent_withdraw *x, char **hex)
{
    char name[64];
    snprintf(name, sizeof name, "%s.withdraw_reason", x->id);
    struct trm_sealing what = {x->case_id, x->category, "consents", name};
    json_t *v = json_string(x->reason);
    enum trm_seal_outcome outcome;
    enum trm_db_status st = trm_case_seal(c, x->keys, &what, v, hex, &outcome);
    json_decref(v);
    if (st == TRM_DB_REFUSED)
        return outcome == TRM_SEAL_ERASED ? TRM_DB_OK : TRM_DB_NOT_FOUND;
    return st;
}

static enum trm_db_status withdraw_tx(struct trm_db_conn *c, void *arg)
{
    struct consent_withdraw *x = arg;
    json_decref(x->out);
    x->out = NULL;
    char *sealed = NULL;
    enum trm_db_status st = seal_reason(c, x, &sealed);
    /* Offers resting on the consent are withdrawn and access resting on it ends, in SQL;
     * peer instances concerned are told, in this transaction. */
    if (st == TRM_DB_OK)
        st = trm_consent_withdraw(c, x->case_id, x->id, sealed, sealed ? x->category : NULL,
                                  &x->out);
    free(sealed);
    if (st == TRM_DB_OK)
        st = trm_fed_consent_ended(c, x->keys, json_object_get(x->out, "crossing"));
    json_object_del(x->out, "crossing");
    return st;
}

static const struct trm_outcome withdraw_outcomes[] = {
    TRM_WHEN(TRM_DB_NOT_FOUND, TRM_E_NOT_FOUND,
             "No such consent on this case, or it is already withdrawn."),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_consent_withdraw)
{
    static const struct trm_tx tx = {.fn = withdraw_tx, .outcomes = withdraw_outcomes};
    struct consent_withdraw *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL)
        return;
    x->category = "narrative";
    x->keys = app->keys;
    const struct trm_field spec[] = {
        TRM_F_STRING("reason", &x->reason, TRM_SHORT_TEXT_MAX, TRM_REQUIRED),
        TRM_F_ENUM("reason_category", &x->category, trm_case_categories),
        TRM_F_END,
    };
    if (trm_http_uuid_param(req, res, 0, x->case_id) && trm_http_uuid_param(req, res, 1, x->id) &&
        trm_handler_body(req, res, spec, NULL) && trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, json_incref(x->out));
}

/* A list of a case's records: {"items": [...]}; an invisible case answers 404, not an empty
 * list. */
struct record_list {
    json_t *out; /* first: trm_handler_free_out */
    char case_id[TRM_UUID_STR_LEN + 1];
    enum trm_db_status (*fn)(struct trm_db_conn *, const char *, json_t **);
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct record_list *x = arg;
    json_decref(x->out);
    struct trm_case_summary s;
    json_t *items = NULL;
    enum trm_db_status st = trm_case_summary_get(c, x->case_id, &s);
    if (st == TRM_DB_OK)
        st = x->fn(c, x->case_id, &items);
    x->out = st == TRM_DB_OK ? json_pack("{s:o}", "items", items) : NULL;
    if (st != TRM_DB_OK)
        json_decref(items);
    return st;
}

TRM_HANDLER(trm_handle_consents_list)
{
    static const struct trm_tx tx = {.fn = list_tx};
    struct record_list *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL)
        return;
    x->fn = trm_consent_list;
    if (trm_http_uuid_param(req, res, 0, x->case_id) && trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, json_incref(x->out));
}

static const char *const risk_outcomes[] = {"low", "medium", "high", NULL};
static const char *const needs_outcomes[] = {"urgent", "standard", "none", NULL};
static const char *const best_interests_outcomes[] = {"return_in_best_interests",
                                                      "return_not_in_best_interests", NULL};

/* The category an assessment's details belong to when the writer names none: needs
 * describe health; a best-interests determination tells the child's story; risk
 * assessments describe the exploitation and who is behind it. */
static const char *assessment_category(const char *kind)
{
    return strcmp(kind, "needs") == 0            ? "health"
           : strcmp(kind, "best_interests") == 0 ? "narrative"
                                                 : "exploitation_details";
}

/* A record with a sealed part: what it is sealed as, and its hex once sealed. */
struct sealed_record {
    struct trm_sealing what;
    json_t *value; /* borrowed from the body (or kept with the request) */
    struct trm_keyring_source *keys;
    char *hex;
};

static enum trm_db_status seal_record(struct trm_db_conn *c, void *state, struct sealed_record *r)
{
    free(r->hex);
    r->hex = NULL;
    enum trm_seal_outcome outcome;
    enum trm_db_status st = trm_case_seal(c, r->keys, &r->what, r->value, &r->hex, &outcome);
    return st == TRM_DB_REFUSED ? trm_refuse_sealing(state, outcome) : st;
}

/* What creating a record with a sealed part holds: the JSON its transaction made, and the
 * sealed part (first in each such state: record_free releases both). */
struct record {
    json_t *out;
    struct sealed_record rec;
};

static void record_free(void *state)
{
    struct record *r = state;
    json_decref(r->out);
    free(r->rec.hex);
}

struct assessment_create {
    struct record r; /* first: record_free */
    const char *kind, *outcome, *category;
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
};

static enum trm_db_status assessment_tx(struct trm_db_conn *c, void *arg)
{
    struct assessment_create *x = arg;
    json_decref(x->r.out);
    x->r.out = NULL;
    enum trm_db_status st = seal_record(c, x, &x->r.rec);
    if (st == TRM_DB_OK)
        st = trm_assessment_insert(c, x->id, x->case_id, x->kind, x->outcome, x->r.rec.hex,
                                   x->r.rec.what.category, &x->r.out);
    if (st == TRM_DB_OK) {
        json_t *d = json_pack("{s:s, s:s, s:s}", "assessment_id", x->id, "kind", x->kind, "outcome",
                              x->outcome);
        st = trm_case_event_add(c, x->case_id, "assessment_recorded", d);
        json_decref(d);
    }
    return st;
}

static const char *assessment_ok(const void *arg, const char **field)
{
    const struct assessment_create *x = arg;
    const char *const *outcomes = strcmp(x->kind, "needs") == 0            ? needs_outcomes
                                  : strcmp(x->kind, "best_interests") == 0 ? best_interests_outcomes
                                                                           : risk_outcomes;
    *field = "outcome";
    return trm_str_in(x->outcome, outcomes) ? NULL : "is not an outcome of this kind of assessment";
}

TRM_HANDLER(trm_handle_assessment_create)
{
    static const struct trm_tx tx = {.fn = assessment_tx};
    struct assessment_create *x = trm_handler_state(req, sizeof *x, record_free);
    if (x == NULL)
        return;
    const struct trm_field spec[] = {
        TRM_F_ENUM("kind", &x->kind, trm_assessment_kinds, TRM_REQUIRED),
        TRM_F_STRING("outcome", &x->outcome, OUTCOME_MAX, TRM_REQUIRED),
        TRM_F_TEXT("details", NULL, TRM_TEXT_MAX),
        TRM_F_ENUM("category", &x->category, trm_case_categories),
        TRM_F_CHECK(assessment_ok, x),
        TRM_F_END,
    };
    json_t *doc = NULL;
    if (!trm_http_uuid_param(req, res, 0, x->case_id) || !trm_handler_body(req, res, spec, &doc))
        return;
    trm_uuid_v4(x->id);
    const char *category = x->category ? x->category : assessment_category(x->kind);
    x->r.rec = (struct sealed_record){.what = {x->case_id, category, "assessments", x->id},
                                      .value = json_object_get(doc, "details"),
                                      .keys = app->keys};
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_http_created_at(res, json_incref(x->r.out), "/v1/cases/%s/assessments/%s", x->case_id,
                            x->id);
}

struct guardian_create {
    struct record r; /* first: record_free */
    const char *name, *by, *on, *category;
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
};

static enum trm_db_status guardian_tx(struct trm_db_conn *c, void *arg)
{
    struct guardian_create *x = arg;
    json_decref(x->r.out);
    x->r.out = NULL;
    enum trm_db_status st = seal_record(c, x, &x->r.rec);
    if (st == TRM_DB_OK)
        st = trm_guardian_insert(c, x->id, x->case_id, x->on, x->r.rec.hex, x->r.rec.what.category,
                                 &x->r.out);
    if (st == TRM_DB_OK) {
        /* The caller sent the name: the resource answers with it. */
        json_object_update(x->r.out, x->r.rec.value);
        json_t *d = json_pack("{s:s}", "guardian_id", x->id);
        st = trm_case_event_add(c, x->case_id, "guardian_recorded", d);
        json_decref(d);
    }
    return st;
}

static const char *guardian_ok(const void *arg, const char **field)
{
    const struct guardian_create *x = arg;
    *field = "appointed_on";
    return trm_json_is_future(x->on) ? "must not be in the future" : NULL;
}

TRM_HANDLER(trm_handle_guardian_create)
{
    static const struct trm_tx tx = {.fn = guardian_tx};
    struct guardian_create *x = trm_handler_state(req, sizeof *x, record_free);
    if (x == NULL)
        return;
    x->category = "contact";
    const struct trm_field spec[] = {
        TRM_F_STRING("name", &x->name, TRM_PERSON_NAME_MAX, TRM_REQUIRED),
        TRM_F_STRING("appointed_by", &x->by, TRM_PERSON_NAME_MAX, TRM_REQUIRED),
        TRM_F_DATE("appointed_on", &x->on, TRM_REQUIRED),
        TRM_F_ENUM("category", &x->category, trm_case_categories),
        TRM_F_CHECK(guardian_ok, x),
        TRM_F_END,
    };
    if (!trm_http_uuid_param(req, res, 0, x->case_id) || !trm_handler_body(req, res, spec, NULL))
        return;
    trm_uuid_v4(x->id);
    json_t *sealed = json_pack("{s:s, s:s}", "name", x->name, "appointed_by", x->by);
    x->r.rec = (struct sealed_record){.what = {x->case_id, x->category, "guardians", x->id},
                                      .value = trm_request_keep(req, sealed),
                                      .keys = app->keys};
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_http_created_at(res, json_incref(x->r.out), "/v1/cases/%s/guardians/%s", x->case_id,
                            x->id);
}

/* A list whose items carry a sealed part: each item the caller sees is opened into member
 * `into` (an object merged into the item when into is ""), with "content_visible"; an item
 * that has a sealed part the caller may not open (the row-level security of its category
 * hid it) says content_visible false and carries nothing of it. The categories opened go to
 * the access log. */
struct opened_kind {
    const char *label, *sealed_member, *id_member, *category_member, *into;
    bool paged; /* the timeline: items after the cursor's id, at most a page */
    enum trm_db_status (*fn)(struct trm_db_conn *, const char *case_id, long after, unsigned limit,
                             json_t **);
};

struct opened_list {
    json_t *out; /* first: trm_handler_free_out; the items, opened */
    const struct opened_kind *kind;
    char case_id[TRM_UUID_STR_LEN + 1];
    const char *request_id;
    struct trm_keyring_source *keys;
    struct trm_page page;
};

/* Whether the item has a sealed part at all (its hex, or for notes, a note id). */
static bool has_sealed(const struct opened_kind *k, json_t *item)
{
    return json_is_string(json_object_get(item, k->sealed_member)) ||
           (strcmp(k->label, "notes") == 0 && json_is_string(json_object_get(item, k->id_member)));
}

static json_t *open_item(const struct opened_list *x, const unsigned char *dek, unsigned version,
                         json_t *item)
{
    const struct opened_kind *k = x->kind;
    const char *hex = json_string_value(json_object_get(item, k->sealed_member));
    const char *rid = json_string_value(json_object_get(item, k->id_member));
    return dek && hex && rid ? trm_open_json(dek, x->case_id, k->label, rid, version, hex) : NULL;
}

static bool has_word(json_t *words, const char *w)
{
    size_t i;
    json_t *v;
    json_array_foreach(words, i, v) if (strcmp(json_string_value(v), w) == 0) return true;
    return false;
}

/* Opens one item in place; its category goes to opened when it opened. */
static void open_in_place(const struct opened_list *x, const unsigned char *dek, unsigned version,
                          json_t *it, json_t *opened)
{
    const struct opened_kind *k = x->kind;
    bool sealed = has_sealed(k, it);
    json_t *v = open_item(x, dek, version, it);
    if (v && json_is_object(v) && strcmp(k->into, "") == 0)
        json_object_update(it, v);
    else if (v)
        json_object_set(it, k->into, v);
    if (sealed)
        json_object_set_new(it, "content_visible", json_boolean(v != NULL));
    const char *cat = json_string_value(json_object_get(it, k->category_member));
    if (v && cat && !has_word(opened, cat))
        json_array_append_new(opened, json_string(cat));
    json_decref(v);
    json_object_del(it, k->sealed_member);
}

static enum trm_db_status open_items(struct trm_db_conn *c, struct opened_list *x, json_t *items)
{
    unsigned version = 0;
    enum trm_seal_outcome outcome;
    enum trm_db_status st;
    unsigned char *dek = trm_case_dek(c, x->keys, x->case_id, NULL, &version, &outcome, &st);
    if (dek == NULL && st != TRM_DB_REFUSED)
        return st;
    json_t *opened = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) open_in_place(x, dek, version, it, opened);
    trm_dek_free(dek);
    st = json_array_size(opened) > 0
             ? trm_access_log_add(c, x->case_id, opened, "case_view", x->request_id)
             : TRM_DB_OK;
    json_decref(opened);
    return st;
}

static enum trm_db_status opened_tx(struct trm_db_conn *c, void *arg)
{
    struct opened_list *x = arg;
    json_decref(x->out);
    x->out = NULL;
    struct trm_case_summary s;
    enum trm_db_status st = trm_case_summary_get(c, x->case_id, &s);
    if (st == TRM_DB_OK)
        st = x->kind->fn(c, x->case_id, (long)trm_page_number(&x->page, 0),
                         trm_page_fetch(&x->page), &x->out);
    return st == TRM_DB_OK ? open_items(c, x, x->out) : st;
}

static enum trm_db_status assessments_of(struct trm_db_conn *c, const char *case_id, long after,
                                         unsigned limit, json_t **out)
{
    (void)after;
    (void)limit;
    return trm_assessment_list(c, case_id, out);
}

static enum trm_db_status guardians_of(struct trm_db_conn *c, const char *case_id, long after,
                                       unsigned limit, json_t **out)
{
    (void)after;
    (void)limit;
    return trm_guardian_list(c, case_id, out);
}

static const struct opened_kind assessments = {"assessments", "sealed", "id",          "category",
                                               "details",     false,    assessments_of};
static const struct opened_kind guardians = {"guardians", "sealed", "id",        "category",
                                             "",          false,    guardians_of};
/* Notes are sealed under "notes" with their note_id (in details) as the name. */
static const struct opened_kind events = {"notes", "sealed_note", "note_id",      "note_category",
                                          "note",  true,          trm_case_events};

static void opened_answer(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                          const struct opened_kind *kind)
{
    static const struct trm_tx tx = {.fn = opened_tx};
    static const char *const keys[] = {"id", NULL};
    struct opened_list *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL || !trm_http_uuid_param(req, res, 0, x->case_id) ||
        (kind->paged && !trm_handler_page(app, req, res, "i", &x->page)))
        return;
    x->kind = kind;
    x->request_id = req->request_id;
    x->keys = app->keys;
    if (!trm_handler_tx(app, req, res, &tx, x))
        return;
    if (kind->paged)
        trm_handler_page_answer(app, res, &x->page, json_incref(x->out), keys);
    else
        trm_http_list(res, json_incref(x->out), NULL);
}

TRM_HANDLER(trm_handle_assessments_list)
{
    opened_answer(app, req, res, &assessments);
}

TRM_HANDLER(trm_handle_guardians_list)
{
    opened_answer(app, req, res, &guardians);
}

TRM_HANDLER(trm_handle_case_events)
{
    opened_answer(app, req, res, &events);
}

static const char *const event_kinds[] = {"service_provided", "contact", "note", NULL};

struct event_add {
    struct record r; /* first: record_free; the note, sealed with the key of any grant */
    const char *kind, *note, *category;
    char case_id[TRM_UUID_STR_LEN + 1], note_id[TRM_UUID_STR_LEN + 1];
};

static enum trm_db_status event_tx(struct trm_db_conn *c, void *arg)
{
    struct event_add *x = arg;
    /* Visible to the caller (owner or accepted recipient), or 404. */
    struct trm_case_summary s;
    enum trm_db_status st = trm_case_summary_get(c, x->case_id, &s);
    if (st == TRM_DB_OK)
        st = seal_record(c, x, &x->r.rec);
    if (st == TRM_DB_OK)
        st = trm_case_event_note(c, x->case_id, x->kind, x->note_id, x->r.rec.hex, x->category);
    return st;
}

TRM_HANDLER(trm_handle_case_event_add)
{
    static const struct trm_tx tx = {.fn = event_tx};
    struct event_add *x = trm_handler_state(req, sizeof *x, record_free);
    if (x == NULL)
        return;
    x->category = "narrative";
    const struct trm_field spec[] = {
        TRM_F_ENUM("kind", &x->kind, event_kinds, TRM_REQUIRED),
        TRM_F_TEXT("note", &x->note, TRM_TEXT_MAX),
        TRM_F_ENUM("category", &x->category, trm_case_categories),
        TRM_F_END,
    };
    if (!trm_http_uuid_param(req, res, 0, x->case_id) || !trm_handler_body(req, res, spec, NULL))
        return;
    trm_uuid_v4(x->note_id);
    json_t *sealed = x->note ? trm_request_keep(req, json_pack("{s:s}", "note", x->note)) : NULL;
    /* A note of any category: the writer reads its own notes back, and the grants of the
     * category decide who else does. */
    x->r.rec = (struct sealed_record){
        .what = {x->case_id, NULL, "notes", x->note_id}, .value = sealed, .keys = app->keys};
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 201,
                          json_pack("{s:s, s:s, s:b, s:s*}", "case_id", x->case_id, "kind", x->kind,
                                    "note", x->note != NULL, "category",
                                    x->note ? x->category : NULL));
}
