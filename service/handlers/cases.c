/* /v1/cases: create, read, change (merge patch with If-Match), list, search and erase.
 * Personal data is sealed before it reaches the database and opened only for a caller in
 * scope, with the read recorded in the access log in the same transaction. */
#include "handlers.h"

#include "trm/cases.h"
#include "trm/crypto.h"
#include "trm/federation_ops.h"
#include "trm/http_util.h"
#include "trm/idempotency.h"
#include "trm/keyring.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEK_VERSION 1

static bool citizenship_ok(const char *c)
{
    return strcmp(c, "unknown") == 0 || trm_json_is_country(c);
}

/* Not after the current month. */
static bool month_not_future(const char *month)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char current[8];
    strftime(current, sizeof current, "%Y-%m", &tm);
    return strcmp(month, current) <= 0;
}

/* The case resource: summary, person (may be NULL), ETag. */
static void answer_case(struct trm_response *res, unsigned status, const struct trm_case_summary *s,
                        json_t *person)
{
    json_t *body = trm_case_summary_json(s);
    json_object_set_new(body, "person", person ? person : json_object());
    char etag[32], location[80];
    snprintf(etag, sizeof etag, "\"%ld\"", s->version);
    if (status == 201) {
        snprintf(location, sizeof location, "/v1/cases/%s", s->id);
        trm_http_created(res, location, body);
    } else {
        trm_response_json(res, status, body);
    }
    trm_response_set_header(res, "ETag", etag);
}

struct case_create {
    const struct trm_principal *p;
    struct trm_idem idem;
    enum trm_idem_state state;
    struct trm_case_new n;
    struct trm_case_summary summary;
};

static enum trm_db_status create_case(struct trm_db_conn *c, void *arg)
{
    struct case_create *x = arg;
    return trm_case_insert(c, &x->n, &x->summary);
}

static enum trm_db_status load_case(struct trm_db_conn *c, void *arg, const char *id)
{
    struct case_create *x = arg;
    return trm_case_summary_get(c, id, &x->summary);
}

static enum trm_db_status create_tx(struct trm_db_conn *c, void *arg)
{
    struct case_create *x = arg;
    /* The insert is one statement (a function: all or nothing), so COMMIT goes with it (and
     * the idempotency key ahead of it): one round trip. */
    return trm_idem_create(c, x->p->user_id, &x->idem, x->n.id, true, create_case, load_case, x,
                           &x->state);
}

TRM_HANDLER(trm_handle_case_create)
{
    const char *country = NULL, *sex = NULL, *age_band = NULL, *citizenship = NULL, *month = NULL;
    json_t *forms = NULL, *person = NULL, *doc = NULL;
    const struct trm_field spec[] = {
        {.name = "country", .type = TRM_FIELD_COUNTRY, .dest = &country, .required = true},
        {.name = "sex",
         .type = TRM_FIELD_ENUM,
         .dest = &sex,
         .required = true,
         .allowed = trm_case_sexes},
        {.name = "age_band",
         .type = TRM_FIELD_ENUM,
         .dest = &age_band,
         .required = true,
         .allowed = trm_case_age_bands},
        {.name = "citizenship",
         .type = TRM_FIELD_STRING,
         .dest = &citizenship,
         .required = true,
         .max_len = 7},
        {.name = "exploitation_forms",
         .type = TRM_FIELD_ENUM_ARRAY,
         .dest = &forms,
         .required = true,
         .max_len = 8,
         .allowed = trm_case_exploitation_forms},
        {.name = "identified_month", .type = TRM_FIELD_MONTH, .dest = &month, .required = true},
        {.name = "person", .type = TRM_FIELD_OBJECT, .dest = &person, .fields = trm_person_spec},
        {0},
    };
    struct case_create x = {.p = req->principal};
    if (!trm_http_idempotency(req, res, &x.idem) || !trm_http_json_body(req, res, spec, &doc))
        return;
    if (!citizenship_ok(citizenship))
        trm_http_field_problem(req, res, "/citizenship",
                               "must be an ISO 3166-1 alpha-2 code or unknown");
    else if (json_array_size(forms) == 0)
        trm_http_field_problem(req, res, "/exploitation_forms", "must name at least one form");
    else if (!month_not_future(month))
        trm_http_field_problem(req, res, "/identified_month", "must not be in the future");
    if (res->status != 0) {
        json_decref(doc);
        return;
    }
    char id[37], kek_id[TRM_KEK_ID_MAX + 1];
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES];
    struct trm_sealed_person sealed = {0};
    unsigned char *dek = trm_dek_new();
    trm_uuid_v4(id);
    unsigned bits = (unsigned)app->config->blind_index_bits;
    bool ok = dek && trm_dek_wrap(trm_app_keys(app), id, dek, wrapped, kek_id) &&
              (person == NULL ||
               trm_person_seal(trm_app_keys(app), dek, id, DEK_VERSION, person, bits, &sealed));
    trm_dek_free(dek);
    if (!ok) {
        trm_sealed_person_free(&sealed);
        json_decref(doc);
        trm_response_problem(res, req, TRM_E_INTERNAL, "The case could not be sealed.");
        return;
    }
    x.n = (struct trm_case_new){id,    country, sex,     age_band, citizenship, month,
                                forms, kek_id,  wrapped, &sealed,  bits};
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, create_tx, &x);
    trm_sealed_person_free(&sealed);
    if (x.state == TRM_IDEM_MISMATCH)
        trm_http_idempotency_mismatch(req, res);
    else if (st == TRM_DB_INVALID)
        trm_http_field_problem(req, res, "/country",
                               "is not a known country (or citizenship is not)");
    else if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else
        /* The creator sees what they sent (a replay sends the same body: the key's hash). */
        answer_case(res, 201, &x.summary, person ? json_deep_copy(person) : NULL);
    json_decref(doc);
}

struct case_read {
    const char *id, *request_id, *purpose;
    const char *const *categories; /* NULL: every category the caller may open */
    struct trm_case_record rec;
};

static enum trm_db_status read_tx(struct trm_db_conn *c, void *arg)
{
    struct case_read *x = arg;
    trm_case_record_free(&x->rec);
    /* trm_case_read writes the access log with the read, all or nothing. */
    trm_db_commit_with_next(c);
    return trm_case_read(c, x->id, x->request_id, x->purpose, x->categories, &x->rec);
}

/* Opens the record's fields; NULL (and a 500 answered) when they do not open. */
static json_t *open_person(struct trm_app *app, const struct trm_case_record *rec,
                           const struct trm_request *req, struct trm_response *res)
{
    if (!rec->has_key)
        return json_object();
    unsigned char *dek = trm_dek_alloc();
    json_t *person = NULL;
    if (dek && trm_dek_unwrap(trm_keyring_source_for(app->keys, rec->kek_id), rec->summary.id,
                              rec->kek_id, rec->wrapped, sizeof rec->wrapped, dek))
        person = trm_person_open(dek, rec->summary.id, rec->dek_version, rec->fields, NULL);
    trm_dek_free(dek);
    if (person == NULL)
        trm_response_problem(res, req, TRM_E_INTERNAL,
                             "The case's personal data could not be decrypted.");
    return person;
}

/* ?categories=identity,contact: open (and log) only those; false (400 answered) when the
 * list names anything else. */
static bool categories_param(const struct trm_request *req, struct trm_response *res,
                             const char *out[6])
{
    const char *q = trm_request_query(req, "categories");
    size_t n = 0;
    while (q && *q && n < 5) {
        size_t len = strcspn(q, ",");
        const char *known = NULL;
        for (size_t i = 0; trm_case_categories[i] && !known; i++)
            if (strlen(trm_case_categories[i]) == len &&
                strncmp(trm_case_categories[i], q, len) == 0)
                known = trm_case_categories[i];
        bool again = false;
        for (size_t i = 0; i < n; i++)
            again = again || out[i] == known;
        if (known == NULL || again)
            break;
        out[n++] = known;
        q += len + (q[len] == ',');
    }
    out[n] = NULL;
    if (q && (*q || n == 0)) {
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                             "categories must list categories of personal data, each once.");
        return false;
    }
    return true;
}

TRM_HANDLER(trm_handle_case_get)
{
    char id[37];
    const char *categories[6];
    if (!trm_http_uuid_param(req, res, 0, id) || !categories_param(req, res, categories))
        return;
    struct case_read x = {.id = id, .request_id = req->request_id, .purpose = "case_view"};
    if (trm_request_query(req, "categories"))
        x.categories = categories;
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, read_tx, &x);
    if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
    } else {
        json_t *person = open_person(app, &x.rec, req, res);
        if (person)
            answer_case(res, 200, &x.rec.summary, person);
    }
    trm_case_record_free(&x.rec);
}

struct summary_read {
    const char *id;
    struct trm_case_summary summary;
};

static enum trm_db_status summary_tx(struct trm_db_conn *c, void *arg)
{
    struct summary_read *x = arg;
    trm_db_commit_with_next(c);
    return trm_case_summary_get(c, x->id, &x->summary);
}

/* The summary alone: where the case stands, without opening its personal data (so without
 * an access-log entry), as a list item shows it. */
TRM_HANDLER(trm_handle_case_summary)
{
    char id[37];
    if (!trm_http_uuid_param(req, res, 0, id))
        return;
    struct summary_read x = {.id = id};
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, summary_tx, &x);
    if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
        return;
    }
    char etag[32];
    snprintf(etag, sizeof etag, "\"%ld\"", x.summary.version);
    trm_response_json(res, 200, trm_case_summary_json(&x.summary));
    trm_response_set_header(res, "ETag", etag);
}

/* RFC 7396 merge patch of patch into target (both objects). */
static void merge_patch(json_t *target, json_t *patch)
{
    const char *k;
    json_t *v;
    json_object_foreach(patch, k, v)
    {
        if (json_is_null(v)) {
            json_object_del(target, k);
        } else if (json_is_object(v)) {
            json_t *t = json_object_get(target, k);
            if (!json_is_object(t)) {
                t = json_object();
                json_object_set_new(target, k, t);
            }
            merge_patch(t, v);
            if (json_object_size(t) == 0)
                json_object_del(target, k);
        } else {
            json_object_set(target, k, v);
        }
    }
}

struct case_patch {
    const struct trm_principal *p;
    const char *id, *request_id;
    long version;
    const char *sex, *age_band, *citizenship, *month;
    json_t *forms, *person_patch;
    const struct trm_keyring *keys;
    struct trm_keyring_source *source;
    unsigned bits;
    /* outputs */
    bool stale, erased, crypto_failed;
    struct trm_case_summary summary;
    json_t *person;
};

/* Fields of after that differ from before go to set; fields gone go to removed. */
static void diff_person(json_t *before, json_t *after, json_t *set, json_t *names,
                        const char **removed, size_t cap)
{
    size_t n_removed = 0;
    const char *cat;
    json_t *fields;
    json_object_foreach(after, cat, fields)
    {
        const char *f;
        json_t *v;
        json_object_foreach(fields, f, v)
        {
            json_t *old = json_object_get(json_object_get(before, cat), f);
            if (old == NULL || !json_equal(old, v)) {
                json_t *c = json_object_get(set, cat);
                if (c == NULL) {
                    c = json_object();
                    json_object_set_new(set, cat, c);
                }
                json_object_set(c, f, v);
                json_array_append_new(names, json_sprintf("%s.%s", cat, f));
            }
        }
    }
    json_object_foreach(before, cat, fields)
    {
        const char *f;
        json_t *v;
        json_object_foreach(fields, f, v)
        {
            if (json_object_get(json_object_get(after, cat), f) == NULL && n_removed + 1 < cap) {
                json_t *name = json_sprintf("%s.%s", cat, f);
                json_array_append_new(names, name);
                removed[n_removed++] = json_string_value(name);
            }
        }
    }
    removed[n_removed] = NULL;
}

static enum trm_db_status apply_patch(struct trm_db_conn *c, struct case_patch *x,
                                      struct trm_case_record *rec, unsigned char *dek)
{
    json_t *before = x->person_patch && rec->has_key
                         ? trm_person_open(dek, x->id, rec->dek_version, rec->fields, NULL)
                         : json_object();
    if (before == NULL) {
        x->crypto_failed = true;
        return TRM_DB_REFUSED;
    }
    json_t *after = json_deep_copy(before);
    if (x->person_patch)
        merge_patch(after, x->person_patch);
    json_t *set = json_object(), *names = json_array();
    const char *removed[40];
    diff_person(before, after, set, names, removed, 40);
    struct trm_sealed_person sealed = {0}, index = {0};
    bool ok = trm_person_seal(x->keys, dek, x->id, rec->dek_version, set, x->bits, &sealed);
    json_t *identity = json_pack("{s:O?}", "identity", json_object_get(after, "identity"));
    ok = ok && trm_person_seal(x->keys, dek, x->id, rec->dek_version, identity, x->bits, &index);
    json_decref(identity);
    struct trm_case_change ch = {x->id,          x->version, x->sex,   x->age_band,
                                 x->citizenship, x->month,   x->forms, &sealed,
                                 removed,        &index,     x->bits,  names};
    enum trm_db_status st = ok ? trm_case_update(c, &ch, &x->summary) : TRM_DB_ERROR;
    x->stale = st == TRM_DB_CONFLICT;
    trm_sealed_person_free(&sealed);
    trm_sealed_person_free(&index);
    json_decref(set);
    json_decref(names);
    json_decref(before);
    json_decref(x->person);
    x->person = after;
    return st;
}

static enum trm_db_status patch_tx(struct trm_db_conn *c, void *arg)
{
    struct case_patch *x = arg;
    x->stale = x->erased = x->crypto_failed = false;
    struct trm_case_record rec;
    enum trm_db_status st = trm_case_read(c, x->id, x->request_id, "case_update", NULL, &rec);
    if (st != TRM_DB_OK)
        return st;
    /* Agencies that accepted a referral read the case; only the owner changes it. */
    if (strcmp(rec.summary.owner_agency_id, x->p->agency_id) != 0) {
        trm_case_record_free(&rec);
        return TRM_DB_NOT_FOUND;
    }
    if (rec.summary.version != x->version) {
        x->stale = true;
        trm_case_record_free(&rec);
        return TRM_DB_REFUSED;
    }
    if (rec.summary.erased_at[0] && x->person_patch) {
        x->erased = true;
        trm_case_record_free(&rec);
        return TRM_DB_REFUSED;
    }
    unsigned char *dek = trm_dek_alloc();
    if (dek && rec.has_key &&
        !trm_dek_unwrap(trm_keyring_source_for(x->source, rec.kek_id), x->id, rec.kek_id,
                        rec.wrapped, sizeof rec.wrapped, dek)) {
        x->crypto_failed = true;
        st = TRM_DB_REFUSED;
    } else {
        st = dek ? apply_patch(c, x, &rec, dek) : TRM_DB_ERROR;
    }
    trm_dek_free(dek);
    trm_case_record_free(&rec);
    return st;
}

static bool patch_values_ok(const struct trm_request *req, struct trm_response *res,
                            const struct case_patch *x)
{
    if (x->citizenship && !citizenship_ok(x->citizenship))
        trm_http_field_problem(req, res, "/citizenship",
                               "must be an ISO 3166-1 alpha-2 code or unknown");
    else if (x->forms && json_array_size(x->forms) == 0)
        trm_http_field_problem(req, res, "/exploitation_forms", "must name at least one form");
    else if (x->month && !month_not_future(x->month))
        trm_http_field_problem(req, res, "/identified_month", "must not be in the future");
    return res->status == 0;
}

static void answer_patch(struct trm_response *res, const struct trm_request *req,
                         enum trm_db_status st, struct case_patch *x)
{
    if (x->stale)
        trm_response_problem(res, req, TRM_E_PRECONDITION_FAILED,
                             "The case has changed since you read it: read it again.");
    else if (x->erased)
        trm_response_problem(res, req, TRM_E_CONFLICT,
                             "The personal data of this case has been erased.");
    else if (x->crypto_failed)
        trm_response_problem(res, req, TRM_E_INTERNAL,
                             "The case's personal data could not be decrypted.");
    else if (st == TRM_DB_INVALID)
        trm_http_field_problem(req, res, "/citizenship", "is not a known country");
    else if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else {
        answer_case(res, 200, &x->summary, x->person);
        x->person = NULL;
    }
}

TRM_HANDLER(trm_handle_case_patch)
{
    char id[37];
    struct case_patch x = {.p = req->principal,
                           .id = id,
                           .request_id = req->request_id,
                           .keys = trm_app_keys(app),
                           .source = app->keys,
                           .bits = (unsigned)app->config->blind_index_bits};
    const struct trm_field spec[] = {
        {.name = "sex", .type = TRM_FIELD_ENUM, .dest = &x.sex, .allowed = trm_case_sexes},
        {.name = "age_band",
         .type = TRM_FIELD_ENUM,
         .dest = &x.age_band,
         .allowed = trm_case_age_bands},
        {.name = "citizenship", .type = TRM_FIELD_STRING, .dest = &x.citizenship, .max_len = 7},
        {.name = "exploitation_forms",
         .type = TRM_FIELD_ENUM_ARRAY,
         .dest = &x.forms,
         .max_len = 8,
         .allowed = trm_case_exploitation_forms},
        {.name = "identified_month", .type = TRM_FIELD_MONTH, .dest = &x.month},
        {.name = "person",
         .type = TRM_FIELD_OBJECT,
         .dest = &x.person_patch,
         .fields = trm_person_spec},
        {0},
    };
    json_t *doc = NULL;
    if (!trm_http_uuid_param(req, res, 0, id))
        return;
    x.version = trm_http_if_match(req);
    if (x.version == -1) {
        trm_response_problem(res, req, TRM_E_PRECONDITION_REQUIRED,
                             "Send If-Match with the case's ETag.");
        return;
    }
    if (x.version == -2) {
        trm_response_problem(res, req, TRM_E_PRECONDITION_FAILED,
                             "If-Match does not name a version of this case.");
        return;
    }
    if (!trm_http_json_body(req, res, spec, &doc))
        return;
    if (patch_values_ok(req, res, &x)) {
        struct trm_db_context ctx;
        trm_principal_db_context(req->principal, &ctx);
        enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, patch_tx, &x);
        answer_patch(res, req, st, &x);
    }
    json_decref(x.person);
    json_decref(doc);
}

/* Accepts YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ. */
static bool time_param_ok(const char *s)
{
    if (s == NULL)
        return true;
    size_t n = strlen(s);
    char date[11];
    if (n < 10)
        return false;
    memcpy(date, s, 10);
    date[10] = '\0';
    if (!trm_json_is_date(date))
        return false;
    if (n == 10)
        return true;
    int hh, mm, ss;
    char z;
    return n == 20 && sscanf(s + 10, "T%2d:%2d:%2d%c", &hh, &mm, &ss, &z) == 4 && z == 'Z' &&
           hh < 24 && mm < 60 && ss < 61;
}

struct case_list {
    struct trm_case_filter f;
    unsigned n;
    struct trm_case_summary rows[101];
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct case_list *x = arg;
    trm_db_commit_with_next(c); /* a read */
    return trm_case_list(c, &x->f, x->rows, &x->n);
}

TRM_HANDLER(trm_handle_cases_list)
{
    struct case_list *x = calloc(1, sizeof *x);
    json_t *after = NULL;
    if (x == NULL)
        return;
    x->f.from = trm_request_query(req, "from");
    x->f.to = trm_request_query(req, "to");
    x->f.citizenship = trm_request_query(req, "citizenship");
    x->f.state = trm_request_query(req, "state");
    const char *overdue = trm_request_query(req, "overdue");
    x->f.overdue = overdue && strcmp(overdue, "true") == 0;
    if (overdue && !x->f.overdue && strcmp(overdue, "false") != 0)
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER, "overdue must be true or false.");
    if (x->f.state &&
        (strlen(x->f.state) > 47 ||
         strspn(x->f.state, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(x->f.state)))
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER, "state must be a state name.");
    if (res->status == 0 && trm_http_query_uuid(req, res, "agency_id", &x->f.owner_agency_id) &&
        trm_http_query_enum(req, res, "exploitation_form", trm_case_exploitation_forms,
                            &x->f.exploitation_form) &&
        trm_http_page(req, res, trm_app_keys(app), &x->f.limit, &after)) {
        if (!time_param_ok(x->f.from) || !time_param_ok(x->f.to))
            trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                                 "from and to must be dates (YYYY-MM-DD) or UTC times.");
        else if (x->f.citizenship && !citizenship_ok(x->f.citizenship))
            trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                                 "citizenship must be an ISO code or unknown.");
        x->f.after_created = json_string_value(json_array_get(after, 0));
        x->f.after_id = json_string_value(json_array_get(after, 1));
        /* The cursor is signed by us: its shape only needs checking, not its format. */
        if (after && (x->f.after_created == NULL ||
                      !trm_uuid_parse(x->f.after_id ? x->f.after_id : "", NULL)))
            trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                                 "cursor does not fit this list.");
    }
    if (res->status == 0) {
        x->f.limit++;
        struct trm_db_context ctx;
        trm_principal_db_context(req->principal, &ctx);
        enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, list_tx, x);
        x->f.limit--;
        if (st != TRM_DB_OK) {
            trm_http_db_problem(req, res, st);
        } else {
            json_t *items = json_array();
            unsigned shown = x->n > x->f.limit ? x->f.limit : x->n;
            for (unsigned i = 0; i < shown; i++)
                json_array_append_new(items, trm_case_summary_json(&x->rows[i]));
            char *next = NULL;
            if (x->n > x->f.limit) {
                json_t *key =
                    json_pack("[s, s]", x->rows[shown - 1].created_at, x->rows[shown - 1].id);
                next = trm_http_cursor_encode(trm_app_keys(app), key);
                json_decref(key);
            }
            trm_http_list(res, items, next);
        }
    }
    json_decref(after);
    free(x);
}

struct case_search {
    int kinds[3];
    uint32_t values[3];
    size_t n_values;
    unsigned bits, n;
    int matches[50];
    struct trm_case_summary rows[50];
};

static enum trm_db_status search_tx(struct trm_db_conn *c, void *arg)
{
    struct case_search *x = arg;
    return trm_case_search(c, x->kinds, x->values, x->n_values, x->bits, x->rows, x->matches, 50,
                           &x->n);
}

TRM_HANDLER(trm_handle_case_search)
{
    const char *name = NULL, *document = NULL;
    long year = 0;
    const struct trm_field spec[] = {
        {.name = "full_name", .type = TRM_FIELD_STRING, .dest = &name, .max_len = 200},
        {.name = "birth_year", .type = TRM_FIELD_INT, .dest = &year, .min = 1900, .max = 2100},
        {.name = "document_number", .type = TRM_FIELD_STRING, .dest = &document, .max_len = 64},
        {0},
    };
    json_t *doc = NULL;
    if (!trm_http_json_body(req, res, spec, &doc))
        return;
    struct case_search *x = calloc(1, sizeof *x);
    if (x == NULL) {
        json_decref(doc);
        return;
    }
    x->bits = (unsigned)app->config->blind_index_bits;
    x->n_values = trm_person_search_index(trm_app_keys(app), name, year, document, x->bits,
                                          x->kinds, x->values);
    json_decref(doc);
    if (year && name == NULL) {
        trm_http_field_problem(req, res, "/birth_year", "needs full_name");
    } else if (x->n_values == 0) {
        trm_http_field_problem(req, res, "/full_name", "give a full name or a document number");
    } else {
        struct trm_db_context ctx;
        trm_principal_db_context(req->principal, &ctx);
        enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, search_tx, x);
        if (st != TRM_DB_OK) {
            trm_http_db_problem(req, res, st);
        } else {
            json_t *items = json_array();
            for (unsigned i = 0; i < x->n; i++) {
                json_t *item = trm_case_summary_json(&x->rows[i]);
                json_object_set_new(item, "matched_indexes", json_integer(x->matches[i]));
                json_array_append_new(items, item);
            }
            trm_response_json(res, 200, json_pack("{s:o}", "items", items));
        }
    }
    free(x);
}

struct case_erase {
    const char *id, *reason;
    struct trm_keyring_source *keys;
    struct trm_case_summary summary;
};

static enum trm_db_status erase_tx(struct trm_db_conn *c, void *arg)
{
    struct case_erase *x = arg;
    json_t *crossing = NULL;
    enum trm_db_status st = trm_case_erase(c, x->id, x->reason, &crossing);
    /* Open offers of the case are withdrawn with it; a peer instance that received one is
     * told, in this transaction. */
    if (st == TRM_DB_OK)
        st = trm_fed_consent_ended(c, x->keys, crossing);
    json_decref(crossing);
    return st == TRM_DB_OK ? trm_case_summary_get(c, x->id, &x->summary) : st;
}

static const char *const erasure_reasons[] = {"requested_by_person", "retention", "court_order",
                                              "other", NULL};

TRM_HANDLER(trm_handle_case_erase)
{
    char id[37];
    const char *reason = NULL;
    const struct trm_field spec[] = {
        {.name = "reason",
         .type = TRM_FIELD_ENUM,
         .dest = &reason,
         .required = true,
         .allowed = erasure_reasons},
        {0},
    };
    json_t *doc = NULL;
    if (!trm_http_uuid_param(req, res, 0, id) || !trm_http_json_body(req, res, spec, &doc))
        return;
    struct case_erase x = {.id = id, .reason = reason, .keys = app->keys};
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, erase_tx, &x);
    json_decref(doc);
    if (st == TRM_DB_NOT_FOUND)
        trm_response_problem(res, req, TRM_E_NOT_FOUND,
                             "No such case in your agency, or its personal data is already "
                             "erased.");
    else if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else
        answer_case(res, 200, &x.summary, NULL);
}
