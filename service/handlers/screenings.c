/* Screenings of identification indicators (docs/identification.md): which indicators of a
 * set were observed, the set's combination rule applied to them, and a sealed note. A
 * screening is personal data of one category: the caller must hold an active grant of it to
 * write one, and reading them is written to the access log with their categories. */
#include "handlers.h"

#include "trm/access_log_store.h"
#include "trm/cases.h"
#include "trm/http_util.h"
#include "trm/identification.h"
#include "trm/screening_store.h"

#include <stdlib.h>
#include <string.h>

#define SET_CODE_MAX 63
#define OBSERVED_MAX 256

enum { WHY_UNKNOWN_SET = TRM_WHY_OWN, WHY_NOT_OF_SET };

struct screening_create {
    json_t *out; /* first: screening_free */
    const char *set_code, *note, *category;
    json_t *observed, *note_value;
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
    struct trm_keyring_source *keys;
    char *hex; /* the note, sealed */
};

static void screening_free(void *state)
{
    struct screening_create *x = state;
    json_decref(x->out);
    free(x->hex);
}

/* The note sealed under the case's key. Without a note the caller must still hold an active
 * grant of the category: the key is unwrapped for it, as sealing would. */
static enum trm_db_status seal_note(struct trm_db_conn *c, struct screening_create *x)
{
    free(x->hex);
    x->hex = NULL;
    enum trm_seal_outcome outcome = TRM_SEAL_OK;
    enum trm_db_status st;
    if (x->note_value) {
        struct trm_sealing what = {x->case_id, x->category, "notes", x->id};
        st = trm_case_seal(c, x->keys, &what, x->note_value, &x->hex, &outcome);
    } else {
        unsigned version;
        unsigned char *dek =
            trm_case_dek(c, x->keys, x->case_id, x->category, &version, &outcome, &st);
        trm_dek_free(dek);
        st = dek ? TRM_DB_OK : st;
    }
    return st == TRM_DB_REFUSED ? trm_refuse_sealing(x, outcome) : st;
}

/* The set's rule applied to the observed codes; refuses a set that is not loaded and codes
 * that are not of it (the problems with pointers under /observed). */
static enum trm_db_status assess(struct screening_create *x, json_t *set_row, json_t **result)
{
    json_t *doc = json_object_get(set_row, "document");
    if (!json_is_object(doc))
        return trm_refuse(x, WHY_UNKNOWN_SET, NULL);
    json_t *problems = json_array();
    struct trm_indicator_set *set = trm_indicator_set_parse(doc, problems);
    json_decref(problems);
    if (set == NULL) /* a loaded set was checked at load: a bug if it no longer parses */
        return TRM_DB_ERROR;
    json_t *errors = json_array();
    *result = trm_ind_assess(set, x->observed, errors);
    trm_indicator_set_free(set);
    if (*result)
        json_decref(errors);
    return *result ? TRM_DB_OK : trm_refuse(x, WHY_NOT_OF_SET, errors);
}

static enum trm_db_status create_tx(struct trm_db_conn *c, void *arg)
{
    struct screening_create *x = arg;
    json_decref(x->out);
    x->out = NULL;
    json_t *set_row = NULL, *result = NULL;
    enum trm_db_status st = trm_screening_set_for_case(c, x->case_id, x->set_code, &set_row);
    if (st == TRM_DB_OK)
        st = assess(x, set_row, &result);
    if (st == TRM_DB_OK)
        st = seal_note(c, x);
    if (st == TRM_DB_OK) {
        struct trm_screening_new n = {
            .id = x->id,
            .case_id = x->case_id,
            .set_code = json_string_value(json_object_get(set_row, "code")),
            .set_version = (long)json_integer_value(json_object_get(set_row, "version")),
            .category = x->category,
            .observed = x->observed,
            .result = result,
            .sealed_note_hex = x->hex};
        st = trm_screening_insert(c, &n, &x->out);
    }
    json_decref(result);
    json_decref(set_row);
    return st;
}

static const struct trm_outcome create_outcomes[] = {
    TRM_WHEN_REFUSED_FIELD(WHY_UNKNOWN_SET, "/indicator_set", "is not a loaded indicator set"),
    TRM_WHEN_REFUSED_WITH(WHY_NOT_OF_SET, TRM_E_VALIDATION_FAILED,
                          "Some observed indicators are not of the set; see errors.", "errors"),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_screening_create)
{
    static const struct trm_tx tx = {.fn = create_tx, .outcomes = create_outcomes};
    struct screening_create *x = trm_handler_state(req, sizeof *x, screening_free);
    if (x == NULL)
        return;
    x->category = "exploitation_details";
    x->keys = app->keys;
    const struct trm_field spec[] = {
        TRM_F_STRING("indicator_set", &x->set_code, SET_CODE_MAX),
        TRM_F_STRINGS("observed", &x->observed, OBSERVED_MAX, TRM_REQUIRED),
        TRM_F_TEXT("note", &x->note, TRM_TEXT_MAX),
        TRM_F_ENUM("category", &x->category, trm_case_categories),
        TRM_F_END,
    };
    json_t *doc = NULL;
    if (!trm_http_uuid_param(req, res, 0, x->case_id) || !trm_handler_body(req, res, spec, &doc))
        return;
    x->note_value = json_object_get(doc, "note");
    trm_uuid_v4(x->id);
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_http_created_at(res, json_incref(x->out), "/v1/cases/%s/screenings/%s", x->case_id,
                            x->id);
}

struct screening_list {
    json_t *out; /* first: trm_handler_free_out */
    char case_id[TRM_UUID_STR_LEN + 1];
    const char *request_id;
    struct trm_keyring_source *keys;
};

static bool listed(json_t *words, const char *w)
{
    size_t i;
    json_t *v;
    json_array_foreach(words, i, v) if (strcmp(json_string_value(v), w) == 0) return true;
    return false;
}

/* Opens each screening's note (label "notes", its id) into "note"; the categories of every
 * screening shown go to the access log: its codes and result are personal data too (the
 * rows are only those of categories the caller holds). */
static enum trm_db_status open_notes(struct trm_db_conn *c, struct screening_list *x)
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
    json_array_foreach(x->out, i, it)
    {
        const char *hex = json_string_value(json_object_get(it, "note_sealed"));
        const char *id = json_string_value(json_object_get(it, "id"));
        json_t *note =
            dek && hex ? trm_open_json(dek, x->case_id, "notes", id, version, hex) : NULL;
        json_object_set_new(it, "note", note ? note : json_null());
        json_object_del(it, "note_sealed");
        const char *cat = json_string_value(json_object_get(it, "category"));
        if (cat && !listed(opened, cat))
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
    struct screening_list *x = arg;
    json_decref(x->out);
    x->out = NULL;
    struct trm_case_summary s;
    enum trm_db_status st = trm_case_summary_get(c, x->case_id, &s);
    if (st == TRM_DB_OK)
        st = trm_screening_list(c, x->case_id, &x->out);
    return st == TRM_DB_OK ? open_notes(c, x) : st;
}

TRM_HANDLER(trm_handle_screenings_list)
{
    static const struct trm_tx tx = {.fn = list_tx};
    struct screening_list *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL || !trm_http_uuid_param(req, res, 0, x->case_id))
        return;
    x->request_id = req->request_id;
    x->keys = app->keys;
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_http_list(res, json_incref(x->out), NULL);
}
