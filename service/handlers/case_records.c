/* What is recorded on a case besides its fields: consents, assessments, guardians, and the
 * timeline. Assessment details, guardian names and timeline notes are sealed with the
 * case's key; reading them is written to the access log. */
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

/* Runs fn in a transaction with the caller's context, then answers 201/200 or the problem. */
static void run_and_answer(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                           trm_db_tx_fn fn, void *arg, json_t **out, unsigned status,
                           const char *location)
{
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, fn, arg);
    if (st != TRM_DB_OK) {
        json_decref(*out);
        *out = NULL;
        trm_http_db_problem(req, res, st);
    } else if (status == 201) {
        trm_http_created(res, location, *out);
    } else {
        trm_response_json(res, status, *out);
    }
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
        run_and_answer(app, req, res, consent_tx, &x, &x.out, 201, location);
        json_decref(empty);
    }
    json_decref(doc);
}

struct withdraw_args {
    const char *case_id, *id, *reason;
    struct trm_keyring_source *keys;
    json_t *out;
};

/* The reason, sealed under the case's key; NULL (and OK) once the personal data is erased. */
static enum trm_db_status seal_reason(struct trm_db_conn *c, struct withdraw_args *x, char **hex)
{
    unsigned version = 0;
    enum trm_db_status st;
    *hex = NULL;
    unsigned char *dek = trm_case_dek(c, x->keys, x->case_id, &version, &st);
    if (dek == NULL)
        return st == TRM_DB_REFUSED ? TRM_DB_OK : st;
    char name[64];
    snprintf(name, sizeof name, "%s.withdraw_reason", x->id);
    json_t *v = json_string(x->reason);
    *hex = trm_seal_json(dek, x->case_id, "consents", name, version, v);
    json_decref(v);
    trm_dek_free(dek);
    return *hex ? TRM_DB_OK : TRM_DB_ERROR;
}

/* A signed consent_withdrawal package to each peer instance that accepted a referral
 * resting on this consent, queued in this transaction. A peer marked inactive is not told
 * (a warning says so; its operator must be told out of band): the withdrawal itself is never
 * refused because a peer cannot be reached. */
static enum trm_db_status tell_peers(struct trm_db_conn *c, struct withdraw_args *x)
{
    json_t *ids = NULL, *v;
    size_t i;
    enum trm_db_status st = trm_consent_remote_referrals(c, x->id, &ids);
    json_array_foreach(ids, i, v)
    {
        char no_case[37], why[32];
        if (st != TRM_DB_OK)
            break;
        st = trm_fed_answer_outbound(c, x->keys, json_string_value(v), "consent_withdrawal", 0,
                                     no_case, why);
        if (st == TRM_DB_REFUSED) {
            trm_log(TRM_LOG_WARN, "federation_consent_withdrawal_not_sent", "referral %s: %s",
                    json_string_value(v), why);
            st = TRM_DB_OK;
        }
    }
    json_decref(ids);
    return st;
}

static enum trm_db_status withdraw_tx(struct trm_db_conn *c, void *arg)
{
    struct withdraw_args *x = arg;
    json_decref(x->out);
    x->out = NULL;
    char *sealed = NULL;
    enum trm_db_status st = seal_reason(c, x, &sealed);
    if (st == TRM_DB_OK)
        st = trm_consent_withdraw(c, x->case_id, x->id, sealed, &x->out);
    free(sealed);
    /* Referrals resting on this consent lose access now: each is a handover entry; a peer
     * instance that accepted one is told, so that it deletes what it received. */
    if (st == TRM_DB_OK)
        st = trm_consent_withdrawn_handovers(c, x->id);
    if (st == TRM_DB_OK)
        st = tell_peers(c, x);
    if (st == TRM_DB_OK) {
        json_t *d =
            json_pack("{s:s, s:O}", "consent_id", x->id, "kind", json_object_get(x->out, "kind"));
        st = trm_case_event_add(c, x->case_id, "consent_withdrawn", d);
        json_decref(d);
    }
    return st;
}

TRM_HANDLER(trm_handle_consent_withdraw)
{
    char case_id[37], id[37];
    const char *reason = NULL;
    json_t *doc = NULL;
    const struct trm_field spec[] = {
        {.name = "reason",
         .type = TRM_FIELD_STRING,
         .dest = &reason,
         .required = true,
         .max_len = 500},
        {0},
    };
    if (!trm_http_uuid_param(req, res, 0, case_id) || !trm_http_uuid_param(req, res, 1, id) ||
        !trm_http_json_body(req, res, spec, &doc))
        return;
    struct withdraw_args x = {case_id, id, reason, app->keys, NULL};
    run_and_answer(app, req, res, withdraw_tx, &x, &x.out, 200, NULL);
    if (res->status == 404)
        trm_response_problem(res, req, TRM_E_NOT_FOUND,
                             "No such consent on this case, or it is already withdrawn.");
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
    run_and_answer(app, req, res, list_tx, &x, &x.out, 200, NULL);
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

/* Seals value for a record of the case, or fails with needs_key when the key is erased. */
struct sealed_record {
    const char *case_id, *id, *category;
    json_t *value;
    struct trm_keyring_source *keys;
    char *hex;
    bool needs_key;
};

static enum trm_db_status seal_record(struct trm_db_conn *c, struct sealed_record *r)
{
    free(r->hex);
    r->hex = NULL;
    r->needs_key = false;
    if (r->value == NULL)
        return TRM_DB_OK;
    unsigned version = 0;
    enum trm_db_status st;
    unsigned char *dek = trm_case_dek(c, r->keys, r->case_id, &version, &st);
    if (dek == NULL) {
        r->needs_key = st == TRM_DB_REFUSED;
        return r->needs_key ? TRM_DB_REFUSED : st;
    }
    r->hex = trm_seal_json(dek, r->case_id, r->category, r->id, version, r->value);
    trm_dek_free(dek);
    return r->hex ? TRM_DB_OK : TRM_DB_ERROR;
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
        st = trm_assessment_insert(c, x->rec.id, x->rec.case_id, x->kind, x->outcome, x->rec.hex,
                                   &x->out);
    if (st == TRM_DB_OK) {
        json_t *d = json_pack("{s:s, s:s, s:s}", "assessment_id", x->rec.id, "kind", x->kind,
                              "outcome", x->outcome);
        st = trm_case_event_add(c, x->rec.case_id, "assessment_recorded", d);
        json_decref(d);
    }
    return st;
}

static void sealed_problem(const struct trm_request *req, struct trm_response *res)
{
    trm_response_problem(res, req, TRM_E_CONFLICT,
                         "The case's personal data is erased: nothing personal can be added.");
}

TRM_HANDLER(trm_handle_assessment_create)
{
    char case_id[37], id[37], location[160];
    struct assessment_args x = {0};
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
            case_id, id, "assessments", json_object_get(doc, "details"), app->keys, NULL, false};
        snprintf(location, sizeof location, "/v1/cases/%s/assessments/%s", case_id, id);
        run_and_answer(app, req, res, assessment_tx, &x, &x.out, 201, location);
        if (x.rec.needs_key)
            sealed_problem(req, res);
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
        st =
            trm_guardian_insert(c, x->rec.id, x->rec.case_id, x->appointed_on, x->rec.hex, &x->out);
    if (st == TRM_DB_OK) {
        json_t *d = json_pack("{s:s}", "guardian_id", x->rec.id);
        st = trm_case_event_add(c, x->rec.case_id, "guardian_recorded", d);
        json_decref(d);
    }
    return st;
}

TRM_HANDLER(trm_handle_guardian_create)
{
    char case_id[37], id[37], location[160];
    const char *name = NULL, *by = NULL, *on = NULL;
    json_t *doc = NULL;
    const struct trm_field spec[] = {
        {.name = "name", .type = TRM_FIELD_STRING, .dest = &name, .required = true, .max_len = 200},
        {.name = "appointed_by",
         .type = TRM_FIELD_STRING,
         .dest = &by,
         .required = true,
         .max_len = 200},
        {.name = "appointed_on", .type = TRM_FIELD_DATE, .dest = &on, .required = true},
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
    struct guardian_args x = {.rec = {case_id, id, "guardians", sealed, app->keys, NULL, false},
                              .appointed_on = on};
    snprintf(location, sizeof location, "/v1/cases/%s/guardians/%s", case_id, id);
    run_and_answer(app, req, res, guardian_tx, &x, &x.out, 201, location);
    if (x.rec.needs_key)
        sealed_problem(req, res);
    else if (res->status == 201) {
        /* The caller sent the name; echo it back as the resource has it. */
        json_t *body = json_loads(res->body, 0, NULL);
        json_object_update(body, sealed);
        trm_response_json(res, 201, body);
    }
    free(x.rec.hex);
    json_decref(sealed);
    json_decref(doc);
}

/* Opens the "sealed" member of each item into member `into` (or marks it erased), logging
 * the read when anything was opened. */
struct opened_list {
    const char *case_id, *category, *sealed_member, *id_member, *into, *request_id;
    struct trm_keyring_source *keys;
    json_t *out;
    enum trm_db_status (*fn)(struct trm_db_conn *, const struct opened_list *, json_t **);
    const char *reader_agency;
    bool reader_owns;
    long long after; /* paged lists (the timeline): items after this id, at most limit */
    unsigned limit;
};

/* An agency that accepted a referral opens only what it wrote itself: the owner's notes may
 * hold more than the categories the person agreed to share with it. */
static bool may_open(const struct opened_list *x, json_t *item)
{
    const char *writer = json_string_value(json_object_get(item, "actor_agency_id"));
    return x->reader_owns || (writer && strcmp(writer, x->reader_agency) == 0);
}

static enum trm_db_status open_items(struct trm_db_conn *c, struct opened_list *x, json_t *items)
{
    unsigned version = 0;
    enum trm_db_status st;
    unsigned char *dek = trm_case_dek(c, x->keys, x->case_id, &version, &st);
    if (dek == NULL && st != TRM_DB_REFUSED)
        return st;
    bool opened = false;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *hex = json_string_value(json_object_get(it, x->sealed_member));
        const char *rid = json_string_value(json_object_get(it, x->id_member));
        json_t *v = dek && hex && rid && may_open(x, it)
                        ? trm_open_json(dek, x->case_id, x->category, rid, version, hex)
                        : NULL;
        if (v && json_is_object(v) && strcmp(x->into, "") == 0)
            json_object_update(it, v);
        else if (hex || v)
            json_object_set_new(it, x->into, v ? json_incref(v) : json_null());
        opened = opened || v != NULL;
        json_decref(v);
        json_object_del(it, x->sealed_member);
    }
    trm_dek_free(dek);
    return opened ? trm_access_log_add(c, x->case_id, x->category, "case_view", x->request_id)
                  : TRM_DB_OK;
}

static enum trm_db_status opened_tx(struct trm_db_conn *c, void *arg)
{
    struct opened_list *x = arg;
    json_decref(x->out);
    x->out = NULL;
    struct trm_case_summary s;
    json_t *items = NULL;
    enum trm_db_status st = trm_case_summary_get(c, x->case_id, &s);
    x->reader_owns = st == TRM_DB_OK && strcmp(s.owner_agency_id, x->reader_agency) == 0;
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
    struct opened_list x = {case_id,
                            "assessments",
                            "sealed",
                            "id",
                            "details",
                            req->request_id,
                            app->keys,
                            NULL,
                            assessments_of,
                            req->principal->agency_id,
                            false,
                            0,
                            0};
    run_and_answer(app, req, res, opened_tx, &x, &x.out, 200, NULL);
}

TRM_HANDLER(trm_handle_guardians_list)
{
    char case_id[37];
    if (!trm_http_uuid_param(req, res, 0, case_id))
        return;
    struct opened_list x = {
        case_id,         "guardians", "sealed", "id",         "",
        req->request_id, app->keys,   NULL,     guardians_of, req->principal->agency_id,
        false,           0,           0};
    run_and_answer(app, req, res, opened_tx, &x, &x.out, 200, NULL);
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
    struct opened_list x = {case_id,
                            "notes",
                            "sealed_note",
                            "note_id",
                            "note",
                            req->request_id,
                            app->keys,
                            NULL,
                            events_of,
                            req->principal->agency_id,
                            false,
                            0,
                            0};
    json_t *after = NULL;
    if (!trm_http_page(req, res, trm_app_keys(app), &x.limit, &after))
        return;
    x.after = json_integer_value(json_array_get(after, 0));
    json_decref(after);
    run_and_answer(app, req, res, opened_tx, &x, &x.out, 200, NULL);
}

static const char *const event_kinds[] = {"service_provided", "contact", "note", NULL};

struct event_args {
    struct sealed_record rec;
    const char *kind;
};

static enum trm_db_status event_tx(struct trm_db_conn *c, void *arg)
{
    struct event_args *x = arg;
    /* Visible to the caller (owner or accepted recipient), or 404. */
    struct trm_case_summary s;
    enum trm_db_status st = trm_case_summary_get(c, x->rec.case_id, &s);
    if (st == TRM_DB_OK)
        st = seal_record(c, &x->rec);
    if (st == TRM_DB_OK)
        st = trm_case_event_note(c, x->rec.case_id, x->kind, x->rec.id, x->rec.hex);
    return st;
}

TRM_HANDLER(trm_handle_case_event_add)
{
    char case_id[37], note_id[37];
    const char *kind = NULL, *note = NULL;
    json_t *doc = NULL;
    const struct trm_field spec[] = {
        {.name = "kind",
         .type = TRM_FIELD_ENUM,
         .dest = &kind,
         .required = true,
         .allowed = event_kinds},
        {.name = "note", .type = TRM_FIELD_STRING, .dest = &note, .max_len = 5000, .min_len = 1},
        {0},
    };
    if (!trm_http_uuid_param(req, res, 0, case_id) || !trm_http_json_body(req, res, spec, &doc))
        return;
    trm_uuid_v4(note_id);
    json_t *sealed = note ? json_pack("{s:s}", "note", note) : NULL;
    struct event_args x = {.rec = {case_id, note_id, "notes", sealed, app->keys, NULL, false},
                           .kind = kind};
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, event_tx, &x);
    if (x.rec.needs_key)
        sealed_problem(req, res);
    else if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else
        trm_response_json(
            res, 201,
            json_pack("{s:s, s:s, s:b}", "case_id", case_id, "kind", kind, "note", note != NULL));
    free(x.rec.hex);
    json_decref(sealed);
    json_decref(doc);
}
