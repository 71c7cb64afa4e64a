/* /v1/cases/{id}/services: services referred or provided to the person (accommodation,
 * medical, ...), recorded by the owner or by an agency that accepted a referral of the case,
 * which is how the referring agency learns what came of it. A service's note is personal
 * data: sealed under the case's key with a category (default: health for medical and
 * psychological services, narrative otherwise), opened only for the writer and holders of
 * that category, and logged when opened. */
#include "handlers.h"

#include "trm/http_util.h"
#include "trm/idempotency_store.h"
#include "trm/service_store.h"

#include <stdlib.h>
#include <string.h>

enum { WHY_NO_GRANT = TRM_WHY_OWN, WHY_PROVIDER, WHY_REFERRAL, WHY_NOT_WRITER, WHY_DATES };

/* A record's outcome other than ok or not found, as a refusal of the handler's state. */
static enum trm_db_status refuse_outcome(void *state, enum trm_record_outcome o)
{
    static const int why[] = {
        [TRM_RECORD_NO_GRANT] = WHY_NO_GRANT,     [TRM_RECORD_PROVIDER] = WHY_PROVIDER,
        [TRM_RECORD_REFERRAL] = WHY_REFERRAL,     [TRM_RECORD_STALE] = TRM_WHY_STALE,
        [TRM_RECORD_NOT_WRITER] = WHY_NOT_WRITER, [TRM_RECORD_DATES] = WHY_DATES,
    };
    return o == TRM_RECORD_NOT_FOUND ? TRM_DB_NOT_FOUND : trm_refuse(state, why[o], NULL);
}

static const struct trm_outcome service_outcomes[] = {
    TRM_WHEN(TRM_DB_NOT_FOUND, TRM_E_NOT_FOUND, "No such case, or no such service of it."),
    TRM_WHEN_REFUSED(WHY_NO_GRANT, TRM_E_CATEGORY_NOT_GRANTED,
                     "Your agency holds no active grant on this case to record with."),
    TRM_WHEN_REFUSED_FIELD(WHY_PROVIDER, "/provider_agency_id", "is not a known agency"),
    TRM_WHEN_REFUSED_FIELD(WHY_REFERRAL, "/referral_id",
                           "is not a referral of this case your agency is party to"),
    TRM_WHEN_REFUSED(WHY_NOT_WRITER, TRM_E_FORBIDDEN,
                     "Only the agency that recorded a service changes it."),
    TRM_WHEN_REFUSED_FIELD(WHY_DATES, "/ended_on", "must not be before started_on"),
    TRM_WHEN_END,
};

static const char *note_category_for(const char *type)
{
    return strcmp(type, "medical") == 0 || strcmp(type, "psychological") == 0 ? "health"
                                                                              : "narrative";
}

/* The service as answered: its note as the caller sent it (NULL: none), never the hex. */
static json_t *answer_json(json_t *service, const char *note)
{
    json_t *out = json_deep_copy(service);
    json_object_del(out, "sealed_note");
    if (note) {
        json_object_set_new(out, "note", json_string(note));
        json_object_set_new(out, "content_visible", json_true());
    }
    return out;
}

static void answer_service(struct trm_response *res, unsigned status, json_t *service,
                           const char *note, const char *case_id, const char *id)
{
    char etag[32];
    snprintf(etag, sizeof etag, "\"%lld\"",
             (long long)json_integer_value(json_object_get(service, "version")));
    if (status == 201)
        trm_http_created_at(res, answer_json(service, note), "/v1/cases/%s/services/%s", case_id,
                            id);
    else
        trm_response_json(res, status, answer_json(service, note));
    trm_response_set_header(res, "ETag", etag);
}

struct service_write {
    json_t *out; /* first: record_free-like cleaner below */
    char *sealed;
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
    const char *type, *referral_id, *note, *user_id, *request_id;
    struct trm_service_values v;
    struct trm_keyring_source *keys;
    struct trm_idem idem;
    enum trm_idem_state state;
    long version;
    json_t *fields;
    const char *given_category; /* a change: the note's category as given (NULL: keep) */
    char category[24];
    bool note_given, provider_given, referred_given, started_given, ended_given;
};

static void service_write_free(void *state)
{
    struct service_write *x = state;
    json_decref(x->out);
    free(x->sealed);
}

/* Seals the note (if any) under the case's key, with its category. */
static enum trm_db_status seal_note(struct trm_db_conn *c, struct service_write *x)
{
    free(x->sealed);
    x->sealed = NULL;
    x->v.sealed_note = NULL;
    if (x->note == NULL)
        return TRM_DB_OK;
    struct trm_sealing what = {x->case_id, x->v.note_category, "services", x->id};
    json_t *value = json_string(x->note);
    enum trm_seal_outcome outcome;
    enum trm_db_status st = trm_case_seal(c, x->keys, &what, value, &x->sealed, &outcome);
    json_decref(value);
    if (st == TRM_DB_REFUSED)
        return trm_refuse_sealing(x, outcome);
    x->v.sealed_note = x->sealed;
    return st;
}

static enum trm_db_status create_service(struct trm_db_conn *c, void *arg)
{
    struct service_write *x = arg;
    enum trm_record_outcome o;
    enum trm_db_status st = seal_note(c, x);
    if (st == TRM_DB_OK)
        st = trm_service_record(c, x->id, x->case_id, x->type, x->referral_id, &x->v, &o, &x->out);
    return st == TRM_DB_OK && o != TRM_RECORD_OK ? refuse_outcome(x, o) : st;
}

static const struct trm_sealed_kind service_kind = {.list = trm_service_list,
                                                    .get = trm_service_get,
                                                    .outcomes = service_outcomes,
                                                    .label = "services",
                                                    .sealed_member = "sealed_note",
                                                    .category_member = "note_category",
                                                    .into = "note"};

/* A replay: the service as stored, its note opened for the caller like a read (and logged). */
static enum trm_db_status load_service(struct trm_db_conn *c, void *arg, const char *id)
{
    struct service_write *x = arg;
    json_decref(x->out);
    return trm_sealed_load(c, &service_kind, x->case_id, id, x->request_id, x->keys, &x->out);
}

static enum trm_db_status create_tx(struct trm_db_conn *c, void *arg)
{
    struct service_write *x = arg;
    json_decref(x->out);
    x->out = NULL;
    enum trm_db_status st = trm_idem_create(c, x->user_id, &x->idem, x->id, false, create_service,
                                            load_service, x, &x->state);
    return x->state == TRM_IDEM_MISMATCH ? trm_refuse(x, TRM_WHY_IDEM_MISMATCH, NULL) : st;
}

static const char *dates_ok(const void *arg, const char **field)
{
    const struct service_write *x = arg;
    *field = "ended_on";
    return x->v.started_on && x->v.ended_on && strcmp(x->v.ended_on, x->v.started_on) < 0
               ? "must not be before started_on"
               : NULL;
}

TRM_HANDLER(trm_handle_service_create)
{
    static const struct trm_tx tx = {.fn = create_tx, .outcomes = service_outcomes};
    struct service_write *x = trm_handler_state(req, sizeof *x, service_write_free);
    if (x == NULL)
        return;
    x->v.status = "planned";
    const struct trm_field spec[] = {
        TRM_F_ENUM("type", &x->type, trm_service_types, TRM_REQUIRED),
        TRM_F_ENUM("status", &x->v.status, trm_service_statuses),
        TRM_F_UUID("provider_agency_id", &x->v.provider_agency_id),
        TRM_F_UUID("referral_id", &x->referral_id),
        TRM_F_DATE("referred_on", &x->v.referred_on),
        TRM_F_DATE("started_on", &x->v.started_on),
        TRM_F_DATE("ended_on", &x->v.ended_on),
        TRM_F_TEXT("note", &x->note, TRM_TEXT_MAX),
        TRM_F_ENUM("note_category", &x->v.note_category, trm_case_categories),
        TRM_F_CHECK(dates_ok, x),
        TRM_F_END,
    };
    if (!trm_http_uuid_param(req, res, 0, x->case_id) ||
        !trm_http_idempotency(req, res, &x->idem) || !trm_handler_body(req, res, spec, NULL))
        return;
    trm_uuid_v4(x->id);
    if (x->v.note_category == NULL)
        x->v.note_category = note_category_for(x->type);
    x->keys = app->keys;
    x->user_id = req->principal->user_id;
    x->request_id = req->request_id;
    if (!trm_handler_tx(app, req, res, &tx, x))
        return;
    /* A replay answers the service as stored, opened for the caller like a read. */
    answer_service(res, 201, x->out, x->state == TRM_IDEM_REPLAY ? NULL : x->note, x->case_id,
                   json_string_value(json_object_get(x->out, "id")));
}

/* A change: the service as it is (404 when not visible), the note sealed anew when given
 * (with the category given, or the note's own, or the type's), then the change at the
 * version If-Match named. */
static enum trm_db_status change_tx(struct trm_db_conn *c, void *arg)
{
    struct service_write *x = arg;
    json_t *now = NULL;
    json_decref(x->out);
    x->out = NULL;
    enum trm_db_status st = trm_service_get(c, x->case_id, x->id, &now);
    if (st == TRM_DB_OK && x->note) {
        const char *had = json_string_value(json_object_get(now, "note_category"));
        const char *type = json_string_value(json_object_get(now, "type"));
        trm_strlcpy(x->category,
                    x->given_category ? x->given_category
                    : had             ? had
                                      : note_category_for(type ? type : ""),
                    sizeof x->category);
        x->v.note_category = x->category;
    }
    json_decref(now);
    if (st == TRM_DB_OK)
        st = seal_note(c, x);
    enum trm_record_outcome o = TRM_RECORD_OK;
    if (st == TRM_DB_OK)
        st = trm_service_change(c, x->case_id, x->id, x->version, x->fields, &x->v, &o, &x->out);
    return st == TRM_DB_OK && o != TRM_RECORD_OK ? refuse_outcome(x, o) : st;
}

static void add_field(json_t *fields, bool given, const char *name)
{
    if (given)
        json_array_append_new(fields, json_string(name));
}

TRM_HANDLER(trm_handle_service_patch)
{
    static const struct trm_tx tx = {.fn = change_tx, .outcomes = service_outcomes};
    struct service_write *x = trm_handler_state(req, sizeof *x, service_write_free);
    if (x == NULL)
        return;
    bool status_given = false, category_given = false;
    const struct trm_field spec[] = {
        TRM_F_ENUM("status", &x->v.status, trm_service_statuses, .present = &status_given),
        TRM_F_UUID("provider_agency_id", &x->v.provider_agency_id, .nullable = true,
                   .present = &x->provider_given),
        TRM_F_DATE("referred_on", &x->v.referred_on, .nullable = true,
                   .present = &x->referred_given),
        TRM_F_DATE("started_on", &x->v.started_on, .nullable = true, .present = &x->started_given),
        TRM_F_DATE("ended_on", &x->v.ended_on, .nullable = true, .present = &x->ended_given),
        TRM_F_TEXT("note", &x->note, TRM_TEXT_MAX, .nullable = true, .present = &x->note_given),
        TRM_F_ENUM("note_category", &x->given_category, trm_case_categories,
                   .present = &category_given),
        TRM_F_CHECK(dates_ok, x),
        TRM_F_END,
    };
    if (!trm_http_uuid_param(req, res, 0, x->case_id) || !trm_http_uuid_param(req, res, 1, x->id) ||
        !trm_http_if_match_version(req, res, "If-Match names no version of this service.",
                                   &x->version) ||
        !trm_handler_body(req, res, spec, NULL))
        return;
    if (category_given && !(x->note_given && x->note)) {
        trm_http_field_problem(req, res, "/note_category", "is given only with a note");
        return;
    }
    x->fields = trm_request_keep(req, json_array());
    add_field(x->fields, status_given, "status");
    add_field(x->fields, x->provider_given, "provider_agency_id");
    add_field(x->fields, x->referred_given, "referred_on");
    add_field(x->fields, x->started_given, "started_on");
    add_field(x->fields, x->ended_given, "ended_on");
    add_field(x->fields, x->note_given, "note");
    x->keys = app->keys;
    if (trm_handler_tx(app, req, res, &tx, x))
        answer_service(res, 200, x->out, x->note, x->case_id, x->id);
}

/* A read: one service or a page of them, notes opened for the caller and logged. */

TRM_HANDLER(trm_handle_services_list)
{
    trm_sealed_list(app, req, res, &service_kind);
}

TRM_HANDLER(trm_handle_service_get)
{
    trm_sealed_get(app, req, res, &service_kind);
}
