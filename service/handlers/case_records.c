/* What is recorded on a case besides its fields: consents, assessments, guardians, and the
 * timeline. Assessment details, guardians, timeline notes and consent withdrawal reasons are
 * personal data: each is sealed under the case's key with one of the case's categories, and
 * the caller's grants decide who opens it (a writer may only write a category it holds).
 * Opening them is written to the access log, with the categories opened. */
#include "handlers.h"

#include "trm/cases.h"
#include "trm/federation_ops.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/log.h"
#include "trm/referrals.h"
#include "trm/sop.h"
#include "trm/workflow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ. */
static bool timestamp_ok(const char *s)
{
    char date[11];
    size_t n = s ? strlen(s) : 0;
    if (n != 10 && n != 20)
        return false;
    memcpy(date, s, 10);
    date[10] = '\0';
    int hh, mm, ss;
    char z;
    return trm_json_is_date(date) &&
           (n == 10 || (sscanf(s + 10, "T%2d:%2d:%2d%c", &hh, &mm, &ss, &z) == 4 && z == 'Z' &&
                        hh < 24 && mm < 60 && ss < 61));
}

static bool in_future(const char *s)
{
    time_t now = time(NULL);
    struct tm tm;
    char current[32];
    gmtime_r(&now, &tm);
    strftime(current, sizeof current, strlen(s) == 10 ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%SZ", &tm);
    return strcmp(s, current) > 0;
}

void trm_http_seal_problem(const struct trm_request *req, struct trm_response *res,
                           enum trm_seal_outcome outcome)
{
    if (outcome == TRM_SEAL_ERASED)
        trm_response_problem(res, req, TRM_E_CASE_ERASED,
                             "The case's personal data is erased: nothing personal can be added.");
    else
        trm_response_problem(res, req, TRM_E_CATEGORY_NOT_GRANTED,
                             "Your agency holds no grant of this category on the case: it may "
                             "neither read nor write personal data of it.");
}

/* Runs fn in a transaction with the caller's context, then answers 201/200 or the problem
 * (a sealing refusal first, when fn reports one). */
static void run_and_answer(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                           trm_db_tx_fn fn, void *arg, json_t **out, unsigned status,
                           const char *location, const enum trm_seal_outcome *sealing)
{
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, fn, arg);
    if (st == TRM_DB_REFUSED && sealing && *sealing != TRM_SEAL_OK)
        trm_http_seal_problem(req, res, *sealing);
    else if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else if (status == 201)
        trm_http_created(res, location, *out);
    else
        trm_response_json(res, status, *out);
    if (st != TRM_DB_OK)
        json_decref(*out);
    *out = NULL;
}

struct consent_args {
    struct trm_consent_new n;
    json_t *out;
};

static enum trm_db_status consent_tx(struct trm_db_conn *c, void *arg)
{
    struct consent_args *x = arg;
    json_decref(x->out);
    enum trm_db_status st = trm_consent_insert(c, &x->n, &x->out);
    if (st == TRM_DB_OK) {
        json_t *d = json_pack("{s:s, s:s}", "consent_id", x->n.id, "kind", x->n.kind);
        st = trm_case_event_add(c, x->n.case_id, "consent_recorded", d);
        json_decref(d);
    }
    return st;
}

TRM_HANDLER(trm_handle_consent_create)
{
    char case_id[37], id[37], location[160];
    const char *kind = NULL, *given = NULL, *expires = NULL;
    json_t *cats = NULL, *recipients = NULL, *agencies = NULL, *countries = NULL, *doc = NULL;
    const struct trm_field recipients_spec[] = {
        {.name = "agency_ids", .type = TRM_FIELD_UUID_ARRAY, .dest = &agencies, .max_len = 50},
        {.name = "countries", .type = TRM_FIELD_COUNTRY_ARRAY, .dest = &countries, .max_len = 50},
        {0},
    };
    const struct trm_field spec[] = {
        {.name = "kind",
         .type = TRM_FIELD_ENUM,
         .dest = &kind,
         .required = true,
         .allowed = trm_consent_kinds},
        {.name = "categories",
         .type = TRM_FIELD_ENUM_ARRAY,
         .dest = &cats,
         .max_len = 5,
         .allowed = trm_case_categories},
        {.name = "recipients",
         .type = TRM_FIELD_OBJECT,
         .dest = &recipients,
         .fields = recipients_spec},
        {.name = "given_at",
         .type = TRM_FIELD_STRING,
         .dest = &given,
         .required = true,
         .max_len = 20},
        {.name = "expires_at", .type = TRM_FIELD_STRING, .dest = &expires, .max_len = 20},
        {0},
    };
    if (!trm_http_uuid_param(req, res, 0, case_id) || !trm_http_json_body(req, res, spec, &doc))
        return;
    bool sharing = strcmp(kind, "data_sharing") == 0;
    if (!timestamp_ok(given) || in_future(given))
        trm_http_field_problem(req, res, "/given_at", "must be a past date or UTC time");
    else if (expires && (!timestamp_ok(expires) || strcmp(expires, given) <= 0))
        trm_http_field_problem(req, res, "/expires_at",
                               "must be a date or UTC time after given_at");
    else if (sharing && json_array_size(cats) == 0)
        trm_http_field_problem(req, res, "/categories",
                               "data sharing needs the categories it covers");
    else if (sharing && json_array_size(agencies) + json_array_size(countries) == 0)
        trm_http_field_problem(req, res, "/recipients",
                               "data sharing needs the agencies or countries");
    if (res->status == 0) {
        trm_uuid_v4(id);
        json_t *empty = json_array();
        struct consent_args x = {.n = {id, case_id, kind, given, expires, cats ? cats : empty,
                                       agencies ? agencies : empty, countries ? countries : empty}};
        snprintf(location, sizeof location, "/v1/cases/%s/consents/%s", case_id, id);
        run_and_answer(app, req, res, consent_tx, &x, &x.out, 201, location, NULL);
        json_decref(empty);
    }
    json_decref(doc);
}

struct withdraw_args {
    const char *case_id, *id, *reason, *category;
    struct trm_keyring_source *keys;
    json_t *out;
};

/* The reason, sealed under the case's key; NULL (and OK) once the personal data is erased:
 * the withdrawal itself is never refused for want of a key. A caller that holds no key of the
 * case (a transfer took it away, perhaps a moment ago) is not its owner: NOT_FOUND. */
static enum trm_db_status seal_reason(struct trm_db_conn *c, struct withdraw_args *x, char **hex)
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
    struct withdraw_args *x = arg;
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

TRM_HANDLER(trm_handle_consent_withdraw)
{
    char case_id[37], id[37];
    const char *reason = NULL, *category = "narrative";
    json_t *doc = NULL;
    const struct trm_field spec[] = {
        {.name = "reason",
         .type = TRM_FIELD_STRING,
         .dest = &reason,
         .required = true,
         .max_len = 500},
        {.name = "reason_category",
         .type = TRM_FIELD_ENUM,
         .dest = &category,
         .allowed = trm_case_categories},
        {0},
    };
    if (!trm_http_uuid_param(req, res, 0, case_id) || !trm_http_uuid_param(req, res, 1, id) ||
        !trm_http_json_body(req, res, spec, &doc))
        return;
    struct withdraw_args x = {case_id, id, reason, category, app->keys, NULL};
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, withdraw_tx, &x);
    if (st == TRM_DB_NOT_FOUND)
        trm_response_problem(res, req, TRM_E_NOT_FOUND,
                             "No such consent on this case, or it is already withdrawn.");
    else if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else
        trm_response_json(res, 200, x.out);
    if (st != TRM_DB_OK)
        json_decref(x.out);
    json_decref(doc);
}

struct list_args {
    const char *case_id;
    json_t *out;
    enum trm_db_status (*fn)(struct trm_db_conn *, const char *, json_t **);
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct list_args *x = arg;
    json_decref(x->out);
    /* An invisible case answers 404, not an empty list. */
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
    char case_id[37];
    if (!trm_http_uuid_param(req, res, 0, case_id))
        return;
    struct list_args x = {case_id, NULL, trm_consent_list};
    run_and_answer(app, req, res, list_tx, &x, &x.out, 200, NULL, NULL);
}

static const char *const risk_outcomes[] = {"low", "medium", "high", NULL};
static const char *const needs_outcomes[] = {"urgent", "standard", "none", NULL};
static const char *const best_interests_outcomes[] = {"return_in_best_interests",
                                                      "return_not_in_best_interests", NULL};

static bool outcome_ok(const char *kind, const char *outcome)
{
    const char *const *list = strcmp(kind, "needs") == 0            ? needs_outcomes
                              : strcmp(kind, "best_interests") == 0 ? best_interests_outcomes
                                                                    : risk_outcomes;
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], outcome) == 0)
            return true;
    return false;
}

/* The category an assessment's details belong to when the writer names none: needs
 * describe health; a best-interests determination tells the child's story; risk
 * assessments describe the exploitation and who is behind it. */
static const char *assessment_category(const char *kind)
{
    return strcmp(kind, "needs") == 0            ? "health"
           : strcmp(kind, "best_interests") == 0 ? "narrative"
                                                 : "exploitation_details";
}

/* A record with a sealed part: what it is sealed as, and the outcome of sealing it. */
struct sealed_record {
    struct trm_sealing what;
    json_t *value;
    struct trm_keyring_source *keys;
    char *hex;
    enum trm_seal_outcome outcome;
};

static enum trm_db_status seal_record(struct trm_db_conn *c, struct sealed_record *r)
{
    free(r->hex);
    r->hex = NULL;
    return trm_case_seal(c, r->keys, &r->what, r->value, &r->hex, &r->outcome);
}

struct assessment_args {
    struct sealed_record rec;
    const char *kind, *outcome;
    json_t *out;
};

static enum trm_db_status assessment_tx(struct trm_db_conn *c, void *arg)
{
    struct assessment_args *x = arg;
    json_decref(x->out);
    x->out = NULL;
    enum trm_db_status st = seal_record(c, &x->rec);
    if (st == TRM_DB_OK)
        st = trm_assessment_insert(c, x->rec.what.name, x->rec.what.case_id, x->kind, x->outcome,
                                   x->rec.hex, x->rec.what.category, &x->out);
    if (st == TRM_DB_OK) {
        json_t *d = json_pack("{s:s, s:s, s:s}", "assessment_id", x->rec.what.name, "kind", x->kind,
                              "outcome", x->outcome);
        st = trm_case_event_add(c, x->rec.what.case_id, "assessment_recorded", d);
        json_decref(d);
    }
    return st;
}

TRM_HANDLER(trm_handle_assessment_create)
{
    char case_id[37], id[37], location[160];
    struct assessment_args x = {0};
    const char *category = NULL;
    json_t *doc = NULL;
    const struct trm_field spec[] = {
        {.name = "kind",
         .type = TRM_FIELD_ENUM,
         .dest = &x.kind,
         .required = true,
         .allowed = trm_assessment_kinds},
        {.name = "outcome",
         .type = TRM_FIELD_STRING,
         .dest = &x.outcome,
         .required = true,
         .max_len = 64},
        {.name = "details", .type = TRM_FIELD_STRING, .dest = NULL, .max_len = 5000, .min_len = 1},
        {.name = "category",
         .type = TRM_FIELD_ENUM,
         .dest = &category,
         .allowed = trm_case_categories},
        {0},
    };
    if (!trm_http_uuid_param(req, res, 0, case_id) || !trm_http_json_body(req, res, spec, &doc))
        return;
    if (!outcome_ok(x.kind, x.outcome)) {
        trm_http_field_problem(req, res, "/outcome",
                               "is not an outcome of this kind of assessment");
    } else {
        trm_uuid_v4(id);
        x.rec = (struct sealed_record){
            .what = {case_id, category ? category : assessment_category(x.kind), "assessments", id},
            .value = json_object_get(doc, "details"),
            .keys = app->keys};
        snprintf(location, sizeof location, "/v1/cases/%s/assessments/%s", case_id, id);
        run_and_answer(app, req, res, assessment_tx, &x, &x.out, 201, location, &x.rec.outcome);
        free(x.rec.hex);
    }
    json_decref(doc);
}

struct guardian_args {
    struct sealed_record rec;
    const char *appointed_on;
    json_t *out;
};

static enum trm_db_status guardian_tx(struct trm_db_conn *c, void *arg)
{
    struct guardian_args *x = arg;
    json_decref(x->out);
    x->out = NULL;
    enum trm_db_status st = seal_record(c, &x->rec);
    if (st == TRM_DB_OK)
        st = trm_guardian_insert(c, x->rec.what.name, x->rec.what.case_id, x->appointed_on,
                                 x->rec.hex, x->rec.what.category, &x->out);
    if (st == TRM_DB_OK) {
        /* The caller sent the name: the resource answers with it. */
        json_object_update(x->out, x->rec.value);
        json_t *d = json_pack("{s:s}", "guardian_id", x->rec.what.name);
        st = trm_case_event_add(c, x->rec.what.case_id, "guardian_recorded", d);
        json_decref(d);
    }
    return st;
}

TRM_HANDLER(trm_handle_guardian_create)
{
    char case_id[37], id[37], location[160];
    const char *name = NULL, *by = NULL, *on = NULL, *category = "contact";
    json_t *doc = NULL;
    const struct trm_field spec[] = {
        {.name = "name", .type = TRM_FIELD_STRING, .dest = &name, .required = true, .max_len = 200},
        {.name = "appointed_by",
         .type = TRM_FIELD_STRING,
         .dest = &by,
         .required = true,
         .max_len = 200},
        {.name = "appointed_on", .type = TRM_FIELD_DATE, .dest = &on, .required = true},
        {.name = "category",
         .type = TRM_FIELD_ENUM,
         .dest = &category,
         .allowed = trm_case_categories},
        {0},
    };
    if (!trm_http_uuid_param(req, res, 0, case_id) || !trm_http_json_body(req, res, spec, &doc))
        return;
    if (in_future(on)) {
        trm_http_field_problem(req, res, "/appointed_on", "must not be in the future");
        json_decref(doc);
        return;
    }
    trm_uuid_v4(id);
    json_t *sealed = json_pack("{s:s, s:s}", "name", name, "appointed_by", by);
    struct guardian_args x = {
        .rec = {.what = {case_id, category, "guardians", id}, .value = sealed, .keys = app->keys},
        .appointed_on = on};
    snprintf(location, sizeof location, "/v1/cases/%s/guardians/%s", case_id, id);
    run_and_answer(app, req, res, guardian_tx, &x, &x.out, 201, location, &x.rec.outcome);
    free(x.rec.hex);
    json_decref(sealed);
    json_decref(doc);
}

/* A list whose items carry a sealed part: each item the caller sees is opened into member
 * `into` (an object merged into the item when into is ""), with "content_visible"; an item
 * that has a sealed part the caller may not open (the row-level security of its category
 * hid it) says content_visible false and carries nothing of it. The categories opened go to
 * the access log. */
struct opened_list {
    const char *case_id, *label, *sealed_member, *id_member, *category_member, *into, *request_id;
    struct trm_keyring_source *keys;
    json_t *out;
    enum trm_db_status (*fn)(struct trm_db_conn *, const struct opened_list *, json_t **);
    long long after; /* paged lists (the timeline): items after this id, at most limit */
    unsigned limit;
};

/* Whether the item has a sealed part at all (its hex, or for notes, a note id). */
static bool has_sealed(const struct opened_list *x, json_t *item)
{
    return json_is_string(json_object_get(item, x->sealed_member)) ||
           (strcmp(x->label, "notes") == 0 && json_is_string(json_object_get(item, x->id_member)));
}

static json_t *open_item(const struct opened_list *x, const unsigned char *dek, unsigned version,
                         json_t *item)
{
    const char *hex = json_string_value(json_object_get(item, x->sealed_member));
    const char *rid = json_string_value(json_object_get(item, x->id_member));
    return dek && hex && rid ? trm_open_json(dek, x->case_id, x->label, rid, version, hex) : NULL;
}

static bool has_word(json_t *words, const char *w)
{
    size_t i;
    json_t *v;
    json_array_foreach(words, i, v) if (strcmp(json_string_value(v), w) == 0) return true;
    return false;
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
    json_array_foreach(items, i, it)
    {
        bool sealed = has_sealed(x, it);
        json_t *v = open_item(x, dek, version, it);
        if (v && json_is_object(v) && strcmp(x->into, "") == 0)
            json_object_update(it, v);
        else if (v)
            json_object_set(it, x->into, v);
        if (sealed)
            json_object_set_new(it, "content_visible", json_boolean(v != NULL));
        const char *cat = json_string_value(json_object_get(it, x->category_member));
        if (v && cat && !has_word(opened, cat))
            json_array_append_new(opened, json_string(cat));
        json_decref(v);
        json_object_del(it, x->sealed_member);
    }
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
    json_t *items = NULL;
    enum trm_db_status st = trm_case_summary_get(c, x->case_id, &s);
    if (st == TRM_DB_OK)
        st = x->fn(c, x, &items);
    if (st == TRM_DB_OK)
        st = open_items(c, x, items);
    char *next = NULL;
    if (st == TRM_DB_OK && x->limit > 0 && json_array_size(items) > x->limit) {
        json_array_remove(items, x->limit);
        json_t *key = json_pack("[O]", json_object_get(json_array_get(items, x->limit - 1), "id"));
        next = trm_http_cursor_encode(trm_keyring_source_get(x->keys), key);
        json_decref(key);
    }
    if (st == TRM_DB_OK)
        x->out = json_pack("{s:O, s:o}", "items", items, "next_cursor",
                           next ? json_string(next) : json_null());
    free(next);
    json_decref(items);
    return st;
}

static enum trm_db_status assessments_of(struct trm_db_conn *c, const struct opened_list *x,
                                         json_t **out)
{
    return trm_assessment_list(c, x->case_id, out);
}

static enum trm_db_status guardians_of(struct trm_db_conn *c, const struct opened_list *x,
                                       json_t **out)
{
    return trm_guardian_list(c, x->case_id, out);
}

TRM_HANDLER(trm_handle_assessments_list)
{
    char case_id[37];
    if (!trm_http_uuid_param(req, res, 0, case_id))
        return;
    struct opened_list x = {.case_id = case_id,
                            .label = "assessments",
                            .sealed_member = "sealed",
                            .id_member = "id",
                            .category_member = "category",
                            .into = "details",
                            .request_id = req->request_id,
                            .keys = app->keys,
                            .fn = assessments_of};
    run_and_answer(app, req, res, opened_tx, &x, &x.out, 200, NULL, NULL);
}

TRM_HANDLER(trm_handle_guardians_list)
{
    char case_id[37];
    if (!trm_http_uuid_param(req, res, 0, case_id))
        return;
    struct opened_list x = {.case_id = case_id,
                            .label = "guardians",
                            .sealed_member = "sealed",
                            .id_member = "id",
                            .category_member = "category",
                            .into = "",
                            .request_id = req->request_id,
                            .keys = app->keys,
                            .fn = guardians_of};
    run_and_answer(app, req, res, opened_tx, &x, &x.out, 200, NULL, NULL);
}

static enum trm_db_status events_of(struct trm_db_conn *c, const struct opened_list *x,
                                    json_t **out)
{
    return trm_case_events(c, x->case_id, (long)x->after, x->limit + 1, out);
}

TRM_HANDLER(trm_handle_case_events)
{
    char case_id[37];
    if (!trm_http_uuid_param(req, res, 0, case_id))
        return;
    /* Notes are sealed under "notes" with their note_id (in details) as the name. */
    struct opened_list x = {.case_id = case_id,
                            .label = "notes",
                            .sealed_member = "sealed_note",
                            .id_member = "note_id",
                            .category_member = "note_category",
                            .into = "note",
                            .request_id = req->request_id,
                            .keys = app->keys,
                            .fn = events_of};
    json_t *after = NULL;
    if (!trm_http_page(req, res, trm_app_keys(app), &x.limit, &after))
        return;
    x.after = json_integer_value(json_array_get(after, 0));
    json_decref(after);
    run_and_answer(app, req, res, opened_tx, &x, &x.out, 200, NULL, NULL);
}

static const char *const event_kinds[] = {"service_provided", "contact", "note", NULL};

struct event_args {
    struct sealed_record rec; /* sealed with the key of any active grant */
    const char *kind, *category;
};

static enum trm_db_status event_tx(struct trm_db_conn *c, void *arg)
{
    struct event_args *x = arg;
    /* Visible to the caller (owner or accepted recipient), or 404. */
    struct trm_case_summary s;
    enum trm_db_status st = trm_case_summary_get(c, x->rec.what.case_id, &s);
    if (st == TRM_DB_OK)
        st = seal_record(c, &x->rec);
    if (st == TRM_DB_OK)
        st = trm_case_event_note(c, x->rec.what.case_id, x->kind, x->rec.what.name, x->rec.hex,
                                 x->category);
    return st;
}

TRM_HANDLER(trm_handle_case_event_add)
{
    char case_id[37], note_id[37];
    const char *kind = NULL, *note = NULL, *category = "narrative";
    json_t *doc = NULL;
    const struct trm_field spec[] = {
        {.name = "kind",
         .type = TRM_FIELD_ENUM,
         .dest = &kind,
         .required = true,
         .allowed = event_kinds},
        {.name = "note", .type = TRM_FIELD_STRING, .dest = &note, .max_len = 5000, .min_len = 1},
        {.name = "category",
         .type = TRM_FIELD_ENUM,
         .dest = &category,
         .allowed = trm_case_categories},
        {0},
    };
    if (!trm_http_uuid_param(req, res, 0, case_id) || !trm_http_json_body(req, res, spec, &doc))
        return;
    trm_uuid_v4(note_id);
    json_t *sealed = note ? json_pack("{s:s}", "note", note) : NULL;
    /* A note of any category: the writer reads its own notes back, and the grants of the
     * category decide who else does. */
    struct event_args x = {
        .rec = {.what = {case_id, NULL, "notes", note_id}, .value = sealed, .keys = app->keys},
        .kind = kind,
        .category = category};
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, event_tx, &x);
    if (st == TRM_DB_REFUSED && x.rec.outcome != TRM_SEAL_OK)
        trm_http_seal_problem(req, res, x.rec.outcome);
    else if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else
        trm_response_json(res, 201,
                          json_pack("{s:s, s:s, s:b, s:s?}", "case_id", case_id, "kind", kind,
                                    "note", note != NULL, "category", note ? category : NULL));
    free(x.rec.hex);
    json_decref(sealed);
    json_decref(doc);
}
