/* Screenings of identification indicators (docs/identification.md): which indicators of a
 * set were observed, the set's combination rule applied to them, and a sealed note. A
 * screening is personal data of one category: the caller must hold an active grant of it to
 * write one, and reading them is written to the access log with their categories. */
#include "handlers.h"

#include "trm/cases.h"
#include "trm/http_util.h"
#include "trm/identification.h"
#include "trm/screening_store.h"
#include "trm/util.h"
#include "trm/workflow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct screening_args {
    const char *case_id, *set_code, *category;
    char id[37];
    json_t *observed, *note;
    struct trm_keyring_source *keys;
    /* outputs, reset at each run */
    json_t *out, *errors;
    enum trm_seal_outcome sealing;
    bool unknown_set;
};

/* The caller must hold an active grant of the category (checked by unwrapping the key for
 * it, as sealing the note would). */
static enum trm_db_status seal_note(struct trm_db_conn *c, struct screening_args *x, char **hex)
{
    struct trm_sealing what = {x->case_id, x->category, "notes", x->id};
    if (x->note)
        return trm_case_seal(c, x->keys, &what, x->note, hex, &x->sealing);
    enum trm_db_status st;
    unsigned version;
    unsigned char *dek =
        trm_case_dek(c, x->keys, x->case_id, x->category, &version, &x->sealing, &st);
    trm_dek_free(dek);
    return dek ? TRM_DB_OK : st;
}

static enum trm_db_status assess(struct screening_args *x, json_t *set_row, json_t **result)
{
    json_t *doc = json_object_get(set_row, "document");
    if (!json_is_object(doc)) {
        x->unknown_set = true;
        return TRM_DB_REFUSED;
    }
    json_t *problems = json_array();
    struct trm_indicator_set *set = trm_indicator_set_parse(doc, problems);
    json_decref(problems);
    if (set == NULL) /* a loaded set was checked at load: a bug if it no longer parses */
        return TRM_DB_ERROR;
    *result = trm_ind_assess(set, x->observed, x->errors);
    trm_indicator_set_free(set);
    return *result ? TRM_DB_OK : TRM_DB_REFUSED;
}

static enum trm_db_status screening_tx(struct trm_db_conn *c, void *arg)
{
    struct screening_args *x = arg;
    json_decref(x->out);
    json_decref(x->errors);
    x->out = NULL;
    x->errors = json_array();
    x->sealing = TRM_SEAL_OK;
    x->unknown_set = false;
    json_t *set_row = NULL, *result = NULL;
    char *hex = NULL;
    enum trm_db_status st = trm_screening_set_for_case(c, x->case_id, x->set_code, &set_row);
    if (st == TRM_DB_OK)
        st = assess(x, set_row, &result);
    if (st == TRM_DB_OK)
        st = seal_note(c, x, &hex);
    if (st == TRM_DB_OK) {
        struct trm_screening_new n = {
            .id = x->id,
            .case_id = x->case_id,
            .set_code = json_string_value(json_object_get(set_row, "code")),
            .set_version = (long)json_integer_value(json_object_get(set_row, "version")),
            .category = x->category,
            .observed = x->observed,
            .result = result,
            .sealed_note_hex = hex};
        st = trm_screening_insert(c, &n, &x->out);
    }
    free(hex);
    json_decref(result);
    json_decref(set_row);
    return st;
}

static void answer_refusal(const struct trm_request *req, struct trm_response *res,
                           struct screening_args *x)
{
    if (x->sealing != TRM_SEAL_OK)
        trm_http_seal_problem(req, res, x->sealing);
    else if (x->unknown_set)
        trm_http_field_problem(req, res, "/indicator_set", "is not a loaded indicator set");
    else
        trm_response_problem_ext(res, req, TRM_E_VALIDATION_FAILED,
                                 "Some observed indicators are not of the set; see errors.",
                                 "errors", json_incref(x->errors));
}

TRM_HANDLER(trm_handle_screening_create)
{
    char case_id[37], location[160];
    struct screening_args x = {.case_id = case_id, .keys = app->keys};
    const char *note = NULL;
    json_t *doc = NULL;
    const struct trm_field spec[] = {
        {.name = "indicator_set", .type = TRM_FIELD_STRING, .dest = &x.set_code, .max_len = 63},
        {.name = "observed",
         .type = TRM_FIELD_STRING_ARRAY,
         .dest = &x.observed,
         .required = true,
         .max_len = 256},
        {.name = "note", .type = TRM_FIELD_STRING, .dest = &note, .max_len = 5000, .min_len = 1},
        {.name = "category",
         .type = TRM_FIELD_ENUM,
         .dest = &x.category,
         .allowed = trm_case_categories},
        {0},
    };
    if (!trm_http_uuid_param(req, res, 0, case_id) || !trm_http_json_body(req, res, spec, &doc))
        return;
    x.note = json_object_get(doc, "note");
    if (x.category == NULL)
        x.category = "exploitation_details";
    trm_uuid_v4(x.id);
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, screening_tx, &x);
    if (st == TRM_DB_OK) {
        snprintf(location, sizeof location, "/v1/cases/%s/screenings/%s", case_id, x.id);
        trm_http_created(res, location, x.out);
        x.out = NULL;
    } else if (st == TRM_DB_REFUSED) {
        answer_refusal(req, res, &x);
    } else {
        trm_http_db_problem(req, res, st);
    }
    json_decref(x.out);
    json_decref(x.errors);
    json_decref(doc);
}

struct list_args {
    const char *case_id, *request_id;
    struct trm_keyring_source *keys;
    json_t *out;
};

/* Opens each screening's note (label "notes", its id) into "note"; the categories of every
 * screening shown go to the access log: its codes and result are personal data too. */
static enum trm_db_status open_notes(struct trm_db_conn *c, struct list_args *x, json_t *items)
{
    unsigned version = 0;
    enum trm_seal_outcome outcome;
    enum trm_db_status st;
    unsigned char *dek = trm_case_dek(c, x->keys, x->case_id, NULL, &version, &outcome, &st);
    if (dek == NULL && st != TRM_DB_REFUSED)
        return st;
    json_t *opened = json_array();
    size_t i, j;
    json_t *it, *v;
    json_array_foreach(items, i, it)
    {
        const char *hex = json_string_value(json_object_get(it, "note_sealed"));
        const char *id = json_string_value(json_object_get(it, "id"));
        json_t *note =
            dek && hex ? trm_open_json(dek, x->case_id, "notes", id, version, hex) : NULL;
        json_object_set_new(it, "note", note ? note : json_null());
        json_object_del(it, "note_sealed");
        const char *cat = json_string_value(json_object_get(it, "category"));
        bool seen = false;
        json_array_foreach(opened, j, v) seen = seen || strcmp(json_string_value(v), cat) == 0;
        if (!seen)
            json_array_append_new(opened, json_string(cat));
    }
    trm_dek_free(dek);
    st = json_array_size(opened) > 0
             ? trm_access_log_add(c, x->case_id, opened, "case_view", x->request_id)
             : TRM_DB_OK;
    json_decref(opened);
    return st;
}

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct list_args *x = arg;
    json_decref(x->out);
    x->out = NULL;
    struct trm_case_summary s;
    json_t *items = NULL;
    enum trm_db_status st = trm_case_summary_get(c, x->case_id, &s);
    if (st == TRM_DB_OK)
        st = trm_screening_list(c, x->case_id, &items);
    if (st == TRM_DB_OK)
        st = open_notes(c, x, items);
    if (st == TRM_DB_OK)
        x->out = json_pack("{s:O, s:n}", "items", items, "next_cursor");
    json_decref(items);
    return st;
}

TRM_HANDLER(trm_handle_screenings_list)
{
    char case_id[37];
    if (!trm_http_uuid_param(req, res, 0, case_id))
        return;
    struct list_args x = {.case_id = case_id, .request_id = req->request_id, .keys = app->keys};
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, list_tx, &x);
    if (st == TRM_DB_OK)
        trm_response_json(res, 200, x.out);
    else
        trm_http_db_problem(req, res, st);
    if (st != TRM_DB_OK)
        json_decref(x.out);
}
