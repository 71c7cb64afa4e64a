/* /v1/cases: create, read, change (merge patch with If-Match), list, search and erase.
 * Personal data is sealed before it reaches the database and opened only for a caller in
 * scope, with the read recorded in the access log in the same transaction. */
#include "handlers.h"

#include "trm/cases.h"
#include "trm/codes.h"
#include "trm/federation_ops.h"
#include "trm/http_util.h"
#include "trm/idempotency_store.h"
#include "trm/keyring.h"
#include "trm/sop.h"

#include <stdlib.h>
#include <string.h>

#define CITIZENSHIP_MAX 7 /* a country code, or "unknown" */
#define FORMS_MAX 8       /* every exploitation form */
#define SEARCH_MAX 50     /* duplicate search: the best matches */
#define REGION_MAX 7      /* a NUTS 3 code (5) or a listed region (PH-00) */

/* The case resource: its summary, the person (NULL: {}), and its version as ETag; 201 with
 * Location for a new case. */
static void answer_case(struct trm_response *res, unsigned status, const struct trm_case_summary *s,
                        json_t *person)
{
    json_t *body = trm_case_summary_json(s);
    json_object_set_new(body, "person", person ? person : json_object());
    if (status == 201)
        trm_http_created_at(res, body, "/v1/cases/%s", s->id);
    else
        trm_response_json(res, status, body);
    char etag[32];
    snprintf(etag, sizeof etag, "\"%ld\"", s->version);
    trm_response_set_header(res, "ETag", etag);
}

void trm_case_summary_answer(struct trm_response *res, const struct trm_case_summary *s)
{
    char etag[32];
    snprintf(etag, sizeof etag, "\"%ld\"", s->version);
    trm_response_json(res, 200, trm_case_summary_json(s));
    trm_response_set_header(res, "ETag", etag);
}

static bool citizenship_ok(const char *c)
{
    return strcmp(c, "unknown") == 0 || trm_json_is_country(c);
}

/* The statistical fields of a case as a create or a change names them (NULL: not given; a
 * change's region and sector may be null: given, and removed). */
struct case_fields {
    const char *country, *sex, *age_band, *citizenship, *month, *region, *sector;
    json_t *forms, *person;
    bool region_given, sector_given;
    const struct trm_codes *codes;
};

/* Why a region is not one a case of its country may name (NULL: it is). */
static const char *region_problem(enum trm_region_check check)
{
    switch (check) {
    case TRM_REGION_OK:
        return NULL;
    case TRM_REGION_OTHER_COUNTRY:
        return "is a region of another country than the case's";
    case TRM_REGION_NO_LIST:
        return "cannot be recorded: no region of the case's country is listed";
    case TRM_REGION_UNKNOWN:
        break;
    }
    return "is not a region of the case's country in the code list (NUTS 3, or the country's "
           "documented list)";
}

static const char sector_unknown[] = "is not a NACE Rev. 2 section (a letter A to U)";
static const char sector_not_labour[] =
    "is recorded for labour exploitation only: exploitation_forms must include labour";

/* Whether forms (an array, or PostgreSQL's text of one) include labour exploitation. */
static bool forms_have_labour(json_t *forms, const char *text)
{
    size_t i;
    json_t *v;
    json_array_foreach(forms, i, v) if (strcmp(json_string_value(v), "labour") == 0) return true;
    if (forms || text == NULL)
        return false;
    for (const char *p = strstr(text, "labour"); p; p = strstr(p + 1, "labour"))
        if ((p[-1] == '{' || p[-1] == ',') && (p[6] == '}' || p[6] == ','))
            return true;
    return false;
}

static const char *case_fields_ok(const void *arg, const char **field)
{
    const struct case_fields *f = arg;
    /* A change's region is checked against the case's country in its transaction. */
    const char *region = f->region && f->country
                             ? region_problem(trm_codes_region(f->codes, f->country, f->region))
                             : NULL;
    if (region)
        return *field = "identified_region", region;
    if (f->sector && !trm_codes_sector(f->codes, f->sector))
        return *field = "economic_sector", sector_unknown;
    if (f->sector && f->forms && !forms_have_labour(f->forms, NULL))
        return *field = "economic_sector", sector_not_labour;
    if (f->citizenship && !citizenship_ok(f->citizenship))
        return *field = "citizenship", "must be an ISO 3166-1 alpha-2 code or unknown";
    if (f->forms && json_array_size(f->forms) == 0)
        return *field = "exploitation_forms", "must name at least one form";
    if (f->month && trm_json_is_future(f->month))
        return *field = "identified_month", "must not be in the future";
    return NULL;
}

struct case_create {
    struct case_fields f;
    char id[TRM_UUID_STR_LEN + 1];
    const char *user_id;
    struct trm_idem idem;
    enum trm_idem_state state;
    struct trm_case_sealed_new sealed;
    struct trm_case_new n;
    struct trm_case_summary summary;
};

static void case_create_free(void *state)
{
    struct case_create *x = state;
    trm_case_sealed_new_free(&x->sealed);
}

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
    enum trm_db_status st =
        trm_idem_create(c, x->user_id, &x->idem, x->id, true, create_case, load_case, x, &x->state);
    return x->state == TRM_IDEM_MISMATCH ? trm_refuse(x, TRM_WHY_IDEM_MISMATCH, NULL) : st;
}

static const struct trm_outcome create_outcomes[] = {
    TRM_WHEN_FIELD(TRM_DB_INVALID, "/country", "is not a known country (or citizenship is not)"),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_case_create)
{
    static const struct trm_tx tx = {.fn = create_tx, .outcomes = create_outcomes};
    struct case_create *x = trm_handler_state(req, sizeof *x, case_create_free);
    if (x == NULL)
        return;
    struct case_fields *f = &x->f;
    const struct trm_field spec[] = {
        TRM_F_COUNTRY("country", &f->country, TRM_REQUIRED),
        TRM_F_ENUM("sex", &f->sex, trm_case_sexes, TRM_REQUIRED),
        TRM_F_ENUM("age_band", &f->age_band, trm_case_age_bands, TRM_REQUIRED),
        TRM_F_STRING("citizenship", &f->citizenship, CITIZENSHIP_MAX, TRM_REQUIRED),
        TRM_F_ENUMS("exploitation_forms", &f->forms, FORMS_MAX, trm_case_exploitation_forms,
                    TRM_REQUIRED),
        TRM_F_MONTH("identified_month", &f->month, TRM_REQUIRED),
        TRM_F_STRING("identified_region", &f->region, REGION_MAX),
        TRM_F_STRING("economic_sector", &f->sector, 1),
        TRM_F_OBJECT("person", &f->person, trm_person_spec),
        TRM_F_CHECK(case_fields_ok, f),
        TRM_F_END,
    };
    f->codes = app->codes;
    if (!trm_http_idempotency(req, res, &x->idem) || !trm_handler_body(req, res, spec, NULL))
        return;
    unsigned bits = (unsigned)app->config->blind_index_bits;
    trm_uuid_v4(x->id);
    if (!trm_case_seal_new(trm_app_keys(app), x->id, f->person, bits, false, &x->sealed)) {
        trm_response_problem(res, req, TRM_E_INTERNAL, "The case could not be sealed.");
        return;
    }
    x->user_id = req->principal->user_id;
    x->n = (struct trm_case_new){
        x->id,    f->country, f->sex,           f->age_band,       f->citizenship,
        f->month, f->forms,   x->sealed.kek_id, x->sealed.wrapped, &x->sealed.person,
        bits,     f->region,  f->sector};
    /* The creator sees what they sent (a replay sends the same body: the key's hash). */
    if (trm_handler_tx(app, req, res, &tx, x))
        answer_case(res, 201, &x->summary, f->person ? json_deep_copy(f->person) : NULL);
}

struct case_read {
    char id[TRM_UUID_STR_LEN + 1];
    const char *request_id;
    const char *categories[6]; /* ?categories= (NULL-ended) */
    bool only;                 /* false: every category the caller may open */
    struct trm_case_record rec;
};

static void case_read_free(void *state)
{
    struct case_read *x = state;
    trm_case_record_free(&x->rec);
}

static enum trm_db_status read_tx(struct trm_db_conn *c, void *arg)
{
    struct case_read *x = arg;
    trm_case_record_free(&x->rec);
    /* trm_case_read writes the access log with the read, all or nothing. */
    trm_db_commit_with_next(c);
    return trm_case_read(c, x->id, x->request_id, "case_view", x->only ? x->categories : NULL,
                         &x->rec);
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
    static const struct trm_tx tx = {.fn = read_tx};
    struct case_read *x = trm_handler_state(req, sizeof *x, case_read_free);
    if (x == NULL || !trm_http_uuid_param(req, res, 0, x->id) ||
        !categories_param(req, res, x->categories))
        return;
    x->request_id = req->request_id;
    x->only = trm_request_query(req, "categories") != NULL;
    if (!trm_handler_tx(app, req, res, &tx, x))
        return;
    json_t *person = trm_case_record_open(app->keys, &x->rec, NULL);
    if (person == NULL)
        trm_response_problem(res, req, TRM_E_INTERNAL,
                             "The case's personal data could not be decrypted.");
    else
        answer_case(res, 200, &x->rec.summary, person);
}

struct summary_read {
    char id[TRM_UUID_STR_LEN + 1];
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
    static const struct trm_tx tx = {.fn = summary_tx};
    struct summary_read *x = trm_handler_state(req, sizeof *x, NULL);
    if (x && trm_http_uuid_param(req, res, 0, x->id) && trm_handler_tx(app, req, res, &tx, x))
        trm_case_summary_answer(res, &x->summary);
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

/* Why a change is refused, besides the common reasons (stale, erased). */
enum {
    PATCH_UNREADABLE = TRM_WHY_OWN,
    PATCH_REGION_UNKNOWN,
    PATCH_REGION_OTHER_COUNTRY,
    PATCH_REGION_NO_LIST,
    PATCH_SECTOR_NOT_LABOUR,
};

struct case_patch {
    struct case_fields f; /* f.person: the merge patch of the person */
    char id[TRM_UUID_STR_LEN + 1];
    const char *agency_id, *request_id;
    long version;
    const struct trm_keyring *keys;
    struct trm_keyring_source *source;
    unsigned bits;
    const char *region_set, *sector_set; /* NULL: unchanged; "": removed */
    struct trm_case_summary summary;
    json_t *person; /* after the change */
};

static void case_patch_free(void *state)
{
    struct case_patch *x = state;
    json_decref(x->person);
}

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
    json_t *before = x->f.person && rec->has_key
                         ? trm_person_open(dek, x->id, rec->dek_version, rec->fields, NULL)
                         : json_object();
    if (before == NULL)
        return trm_refuse(x, PATCH_UNREADABLE, NULL);
    json_t *after = json_deep_copy(before);
    if (x->f.person)
        merge_patch(after, x->f.person);
    json_t *set = json_object(), *names = json_array();
    const char *removed[TRM_PERSON_MAX_FIELDS + 1];
    diff_person(before, after, set, names, removed, TRM_PERSON_MAX_FIELDS + 1);
    struct trm_sealed_person sealed = {0}, index = {0};
    bool ok = trm_person_seal(x->keys, dek, x->id, rec->dek_version, set, x->bits, &sealed);
    json_t *identity = json_pack("{s:O?}", "identity", json_object_get(after, "identity"));
    ok = ok && trm_person_seal(x->keys, dek, x->id, rec->dek_version, identity, x->bits, &index);
    json_decref(identity);
    struct trm_case_change ch = {
        x->id,      x->version, x->f.sex,      x->f.age_band, x->f.citizenship,
        x->f.month, x->f.forms, &sealed,       removed,       &index,
        x->bits,    names,      x->region_set, x->sector_set};
    enum trm_db_status st = ok ? trm_case_update(c, &ch, &x->summary) : TRM_DB_ERROR;
    trm_sealed_person_free(&sealed);
    trm_sealed_person_free(&index);
    json_decref(set);
    json_decref(names);
    json_decref(before);
    json_decref(x->person);
    x->person = after;
    /* The version moved between the read and the change. */
    return st == TRM_DB_CONFLICT ? trm_refuse(x, TRM_WHY_STALE, NULL) : st;
}

/* The record checked: the owner's, at the version If-Match named, with a key when the person
 * changes. */
static enum trm_db_status patch_record(struct trm_db_conn *c, struct case_patch *x,
                                       struct trm_case_record *rec)
{
    /* Agencies that accepted a referral read the case; only the owner changes it. */
    if (strcmp(rec->summary.owner_agency_id, x->agency_id) != 0)
        return TRM_DB_NOT_FOUND;
    if (rec->summary.version != x->version)
        return trm_refuse(x, TRM_WHY_STALE, NULL);
    if (rec->summary.erased_at[0] && x->f.person)
        return trm_refuse(x, TRM_WHY_CASE_ERASED, NULL);
    /* The region is one of the case's country; a sector stays with labour exploitation. */
    switch (x->f.region ? trm_codes_region(x->f.codes, rec->summary.country, x->f.region)
                        : TRM_REGION_OK) {
    case TRM_REGION_OK:
        break;
    case TRM_REGION_UNKNOWN:
        return trm_refuse(x, PATCH_REGION_UNKNOWN, NULL);
    case TRM_REGION_OTHER_COUNTRY:
        return trm_refuse(x, PATCH_REGION_OTHER_COUNTRY, NULL);
    case TRM_REGION_NO_LIST:
        return trm_refuse(x, PATCH_REGION_NO_LIST, NULL);
    }
    bool sector = x->f.sector_given ? x->f.sector != NULL : rec->summary.economic_sector[0];
    if (sector && !forms_have_labour(x->f.forms, rec->summary.forms))
        return trm_refuse(x, PATCH_SECTOR_NOT_LABOUR, NULL);
    /* A case without a key (erased) changes only its clear fields: nothing is sealed. */
    unsigned char *dek = rec->has_key ? trm_case_record_dek(x->source, rec) : trm_dek_alloc();
    enum trm_db_status st =
        dek ? apply_patch(c, x, rec, dek) : trm_refuse(x, PATCH_UNREADABLE, NULL);
    trm_dek_free(dek);
    return st;
}

static enum trm_db_status patch_tx(struct trm_db_conn *c, void *arg)
{
    struct case_patch *x = arg;
    struct trm_case_record rec;
    enum trm_db_status st = trm_case_read(c, x->id, x->request_id, "case_update", NULL, &rec);
    if (st == TRM_DB_OK)
        st = patch_record(c, x, &rec);
    trm_case_record_free(&rec);
    return st;
}

static const struct trm_outcome patch_outcomes[] = {
    TRM_WHEN_REFUSED(TRM_WHY_CASE_ERASED, TRM_E_CASE_ERASED,
                     "The personal data of this case has been erased."),
    TRM_WHEN_REFUSED(PATCH_UNREADABLE, TRM_E_INTERNAL,
                     "The case's personal data could not be decrypted."),
    TRM_WHEN_FIELD(TRM_DB_INVALID, "/citizenship", "is not a known country"),
    TRM_WHEN_REFUSED_FIELD(PATCH_REGION_UNKNOWN, "/identified_region",
                           "is not a region of the case's country in the code list (NUTS 3, or "
                           "the country's documented list)"),
    TRM_WHEN_REFUSED_FIELD(PATCH_REGION_OTHER_COUNTRY, "/identified_region",
                           "is a region of another country than the case's"),
    TRM_WHEN_REFUSED_FIELD(PATCH_REGION_NO_LIST, "/identified_region",
                           "cannot be recorded: no region of the case's country is listed"),
    TRM_WHEN_REFUSED_FIELD(PATCH_SECTOR_NOT_LABOUR, "/economic_sector",
                           "is recorded for labour exploitation only: exploitation_forms must "
                           "include labour"),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_case_patch)
{
    static const struct trm_tx tx = {.fn = patch_tx, .outcomes = patch_outcomes};
    struct case_patch *x = trm_handler_state(req, sizeof *x, case_patch_free);
    if (x == NULL)
        return;
    struct case_fields *f = &x->f;
    const struct trm_field spec[] = {
        TRM_F_ENUM("sex", &f->sex, trm_case_sexes),
        TRM_F_ENUM("age_band", &f->age_band, trm_case_age_bands),
        TRM_F_STRING("citizenship", &f->citizenship, CITIZENSHIP_MAX),
        TRM_F_ENUMS("exploitation_forms", &f->forms, FORMS_MAX, trm_case_exploitation_forms),
        TRM_F_MONTH("identified_month", &f->month),
        TRM_F_STRING("identified_region", &f->region, REGION_MAX, .nullable = true,
                     .present = &f->region_given),
        TRM_F_STRING("economic_sector", &f->sector, 1, .nullable = true,
                     .present = &f->sector_given),
        TRM_F_OBJECT("person", &f->person, trm_person_spec),
        TRM_F_CHECK(case_fields_ok, f),
        TRM_F_END,
    };
    f->codes = app->codes;
    if (!trm_http_uuid_param(req, res, 0, x->id) ||
        !trm_http_if_match_version(req, res, "If-Match does not name a version of this case.",
                                   &x->version) ||
        !trm_handler_body(req, res, spec, NULL))
        return;
    x->agency_id = req->principal->agency_id;
    x->request_id = req->request_id;
    x->keys = trm_app_keys(app);
    x->source = app->keys;
    x->bits = (unsigned)app->config->blind_index_bits;
    /* null removes a region or sector: "" tells the store so. */
    x->region_set = f->region_given ? (f->region ? f->region : "") : NULL;
    x->sector_set = f->sector_given ? (f->sector ? f->sector : "") : NULL;
    if (trm_handler_tx(app, req, res, &tx, x))
        answer_case(res, 200, &x->summary, json_incref(x->person));
}

static bool assignee_ok(const char *v)
{
    return strcmp(v, "me") == 0 || strcmp(v, "none") == 0 || trm_uuid_parse(v, NULL);
}

struct case_list {
    struct trm_case_filter f;
    struct trm_page page;
    struct trm_case_page out;
};

static void case_list_free(void *state)
{
    struct case_list *x = state;
    free(x->out.items);
}

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct case_list *x = arg;
    trm_db_commit_with_next(c); /* a read */
    return trm_case_list(c, &x->f, &x->out);
}

TRM_HANDLER(trm_handle_cases_list)
{
    static const struct trm_tx tx = {.fn = list_tx};
    static const char times[] = "from and to must be dates (YYYY-MM-DD) or UTC times.";
    struct case_list *x = trm_handler_state(req, sizeof *x, case_list_free);
    if (x == NULL)
        return;
    struct trm_case_filter *f = &x->f;
    const char *assigned = NULL;
    const struct trm_param params[] = {
        TRM_Q_BOOL("overdue", &f->overdue, .detail = "overdue must be true or false."),
        TRM_Q_WORD("state", &f->state, TRM_SOP_NAME - 1, .detail = "state must be a state name."),
        TRM_Q_UUID("agency_id", &f->owner_agency_id),
        TRM_Q_ENUM("exploitation_form", &f->exploitation_form, trm_case_exploitation_forms),
        TRM_Q_TIME("from", &f->from, .detail = times),
        TRM_Q_TIME("to", &f->to, .detail = times),
        TRM_Q_CHECKED("citizenship", &f->citizenship, citizenship_ok,
                      .detail = "citizenship must be an ISO code or unknown."),
        TRM_Q_CHECKED("assigned_to", &assigned, assignee_ok,
                      .detail = "assigned_to must be me, none or a user's id."),
        TRM_Q_END,
    };
    if (!trm_http_query(req, res, params) || !trm_handler_page(app, req, res, "su", &x->page))
        return;
    /* assigned_to: me (the caller), none, or a user's id. */
    if (assigned && strcmp(assigned, "none") == 0)
        f->unassigned = true;
    else if (assigned)
        f->assigned_to = strcmp(assigned, "me") == 0 ? req->principal->user_id : assigned;
    f->after_created = trm_page_text(&x->page, 0);
    f->after_id = trm_page_text(&x->page, 1);
    f->limit = x->page.limit;
    if (!trm_handler_tx(app, req, res, &tx, x))
        return;
    /* The summaries come written (case_store.c); the cursor holds the last one's keys. */
    char *next = NULL;
    if (x->out.more) {
        json_t *key = json_pack("[s, s]", x->out.last_created, x->out.last_id);
        next = trm_http_cursor_encode(trm_app_keys(app), key);
        json_decref(key);
    }
    char *items = x->out.items;
    x->out.items = NULL;
    trm_http_list_text(res, items, next);
}

struct case_search {
    const char *name, *document;
    long year;
    int kinds[3];
    uint32_t values[3];
    size_t n_values;
    unsigned bits, n;
    int matches[SEARCH_MAX];
    struct trm_case_summary rows[SEARCH_MAX];
};

static enum trm_db_status search_tx(struct trm_db_conn *c, void *arg)
{
    struct case_search *x = arg;
    return trm_case_search(c, x->kinds, x->values, x->n_values, x->bits, x->rows, x->matches,
                           SEARCH_MAX, &x->n);
}

static const char *search_ok(const void *arg, const char **field)
{
    const struct case_search *x = arg;
    *field = "birth_year";
    return x->year && x->name == NULL ? "needs full_name" : NULL;
}

TRM_HANDLER(trm_handle_case_search)
{
    static const struct trm_tx tx = {.fn = search_tx};
    struct case_search *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL)
        return;
    const struct trm_field spec[] = {
        TRM_F_STRING("full_name", &x->name, TRM_PERSON_NAME_MAX),
        TRM_F_INT("birth_year", &x->year, 1900, 2100),
        TRM_F_STRING("document_number", &x->document, 64),
        TRM_F_CHECK(search_ok, x),
        TRM_F_END,
    };
    if (!trm_handler_body(req, res, spec, NULL))
        return;
    x->bits = (unsigned)app->config->blind_index_bits;
    x->n_values = trm_person_search_index(trm_app_keys(app), x->name, x->year, x->document, x->bits,
                                          x->kinds, x->values);
    if (x->n_values == 0) {
        trm_http_field_problem(req, res, "/full_name", "give a full name or a document number");
        return;
    }
    if (!trm_handler_tx(app, req, res, &tx, x))
        return;
    json_t *items = json_array();
    for (unsigned i = 0; i < x->n; i++) {
        json_t *item = trm_case_summary_json(&x->rows[i]);
        json_object_set_new(item, "matched_indexes", json_integer(x->matches[i]));
        json_array_append_new(items, item);
    }
    trm_response_json(res, 200, json_pack("{s:o}", "items", items));
}

struct case_erase {
    char id[TRM_UUID_STR_LEN + 1];
    const char *reason;
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

static const struct trm_outcome erase_outcomes[] = {
    TRM_WHEN(TRM_DB_NOT_FOUND, TRM_E_NOT_FOUND,
             "No such case in your agency, or its personal data is already erased."),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_case_erase)
{
    static const struct trm_tx tx = {.fn = erase_tx, .outcomes = erase_outcomes};
    struct case_erase *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL)
        return;
    const struct trm_field spec[] = {
        TRM_F_ENUM("reason", &x->reason, erasure_reasons, TRM_REQUIRED),
        TRM_F_END,
    };
    x->keys = app->keys;
    if (trm_http_uuid_param(req, res, 0, x->id) && trm_handler_body(req, res, spec, NULL) &&
        trm_handler_tx(app, req, res, &tx, x))
        answer_case(res, 200, &x->summary, NULL);
}
