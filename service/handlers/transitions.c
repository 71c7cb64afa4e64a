/* /v1/cases/{id}/transitions: what the SOP allows now (with the unmet guards in words), and
 * taking a step with If-Match. The case row is locked while the guards are checked, so of
 * many concurrent steps on one case exactly one succeeds. */
#include "handlers.h"

#include "trm/cases.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/sop.h"
#include "trm/transition_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct options {
    const char *case_id;
    enum trm_role role;
    json_t *items;
};

static bool in_from(const struct trm_sop *sop, const struct trm_sop_transition *t,
                    const char *state)
{
    for (int i = 0; i < t->n_from; i++)
        if (strcmp(sop->states[t->from[i]].name, state) == 0)
            return true;
    return false;
}

static enum trm_db_status options_tx(struct trm_db_conn *c, void *arg)
{
    struct options *x = arg;
    char sop_id[37];
    json_t *j = NULL;
    enum trm_db_status st = trm_case_facts_get(c, x->case_id, false, sop_id, &j);
    const struct trm_sop *sop = st == TRM_DB_OK ? trm_sop_cached(c, sop_id) : NULL;
    if (st == TRM_DB_OK && sop == NULL)
        st = TRM_DB_ERROR;
    json_decref(x->items);
    x->items = json_array();
    if (st == TRM_DB_OK) {
        struct trm_case_facts f;
        trm_sop_facts_from_json(sop, j, &f);
        for (int i = 0; i < sop->n_transitions; i++) {
            const struct trm_sop_transition *t = &sop->transitions[i];
            if (!in_from(sop, t, f.states[t->track]))
                continue;
            json_t *unmet = json_array();
            bool ok = trm_sop_check(sop, t, &f, x->role, false, unmet, NULL);
            const struct trm_sop_state *to = &sop->states[t->to];
            json_array_append_new(x->items,
                                  json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "name", t->name,
                                            "track", sop->tracks[t->track].name, "from",
                                            f.states[t->track], "to", to->name, "to_phase",
                                            to->phase, "allowed", ok, "unmet", unmet));
        }
    }
    json_decref(j);
    return st;
}

TRM_HANDLER(trm_handle_case_transitions)
{
    char id[37];
    if (!trm_http_uuid_param(req, res, 0, id))
        return;
    struct options x = {.case_id = id, .role = req->principal->role};
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, options_tx, &x);
    if (st != TRM_DB_OK) {
        json_decref(x.items);
        trm_http_db_problem(req, res, st);
        return;
    }
    trm_response_json(res, 200, json_pack("{s:o}", "items", x.items));
}

struct step {
    const char *case_id, *name, *note, *override_reason, *note_category;
    struct trm_keyring_source *keys;
    long version;
    enum trm_role role;
    /* outputs */
    bool unknown, stale;
    enum trm_seal_outcome sealing;
    json_t *unmet;
    struct trm_case_summary summary;
};

/* The sealed note (and override reason) of a step, with its category; NULL when there is
 * none. */
static enum trm_db_status seal_note(struct trm_db_conn *c, struct step *x, char **hex,
                                    char note_id[37])
{
    *hex = NULL;
    if (x->note == NULL && x->override_reason == NULL)
        return TRM_DB_OK;
    trm_uuid_v4(note_id);
    struct trm_sealing what = {x->case_id, x->note_category, "notes", note_id};
    json_t *v = json_pack("{s:s?, s:s?}", "note", x->note, "override_reason", x->override_reason);
    enum trm_db_status st = trm_case_seal(c, x->keys, &what, v, hex, &x->sealing);
    json_decref(v);
    return st;
}

static enum trm_db_status step_checked(struct trm_db_conn *c, struct step *x,
                                       const struct trm_sop *sop,
                                       const struct trm_sop_transition *t,
                                       const struct trm_case_facts *f)
{
    json_t *overridden = json_array();
    bool ok = trm_sop_check(sop, t, f, x->role, x->override_reason != NULL, x->unmet, overridden);
    if (!ok) {
        json_decref(overridden);
        return TRM_DB_REFUSED;
    }
    char *note = NULL, note_id[37] = "";
    enum trm_db_status st = seal_note(c, x, &note, note_id);
    if (st == TRM_DB_OK) {
        json_t *details = json_pack("{s:s, s:s, s:o}", "transition", t->name, "from_state",
                                    f->states[t->track], "overridden", overridden);
        overridden = NULL;
        if (note_id[0])
            json_object_set_new(details, "note_id", json_string(note_id));
        /* The transition (a function: all or nothing, or nothing when the case moved) and
         * the summary read, with COMMIT, in one round trip. */
        trm_db_commit_with_next(c);
        const struct trm_sop_state *to = &sop->states[t->to];
        struct trm_case_step s = {x->case_id,
                                  x->version,
                                  sop->tracks[t->track].name,
                                  f->states[t->track],
                                  to->name,
                                  to->terminal,
                                  details,
                                  note,
                                  note ? x->note_category : NULL};
        st = trm_case_transition_apply(c, &s, &x->summary);
        json_decref(details);
        x->stale = st == TRM_DB_CONFLICT;
    }
    json_decref(overridden);
    free(note);
    return st;
}

static enum trm_db_status step_tx(struct trm_db_conn *c, void *arg)
{
    struct step *x = arg;
    x->unknown = x->stale = false;
    x->sealing = TRM_SEAL_OK;
    json_decref(x->unmet);
    x->unmet = json_array();
    char sop_id[37];
    json_t *j = NULL;
    enum trm_db_status st = trm_case_facts_get(c, x->case_id, true, sop_id, &j);
    const struct trm_sop *sop = st == TRM_DB_OK ? trm_sop_cached(c, sop_id) : NULL;
    if (st == TRM_DB_OK && sop == NULL)
        st = TRM_DB_ERROR;
    if (st != TRM_DB_OK) {
        json_decref(j);
        return st;
    }
    struct trm_case_facts f;
    trm_sop_facts_from_json(sop, j, &f);
    json_decref(j);
    const struct trm_sop_transition *t = trm_sop_transition(sop, x->name);
    if (t == NULL) {
        x->unknown = true;
        return TRM_DB_REFUSED;
    }
    if (f.version != x->version) {
        x->stale = true;
        return TRM_DB_REFUSED;
    }
    return step_checked(c, x, sop, t, &f);
}

static void answer_step(struct trm_response *res, const struct trm_request *req,
                        enum trm_db_status st, struct step *x)
{
    if (x->unknown) {
        trm_response_problem_ext(res, req, TRM_E_VALIDATION_FAILED,
                                 "Some fields are invalid; see errors.", "errors",
                                 json_pack("[{s:s, s:s}]", "pointer", "/transition", "message",
                                           "is not a transition of this case's SOP"));
    } else if (x->stale) {
        trm_response_problem(res, req, TRM_E_PRECONDITION_FAILED,
                             "The case has changed since you read it: read it again.");
    } else if (st == TRM_DB_REFUSED && x->sealing != TRM_SEAL_OK) {
        trm_http_seal_problem(req, res, x->sealing);
    } else if (st == TRM_DB_REFUSED) {
        trm_response_problem_ext(res, req, TRM_E_CONFLICT,
                                 "The step is not allowed now; see unmet.", "unmet", x->unmet);
        x->unmet = NULL;
    } else if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
    } else {
        char etag[32];
        snprintf(etag, sizeof etag, "\"%ld\"", x->summary.version);
        trm_response_json(res, 200, trm_case_summary_json(&x->summary));
        trm_response_set_header(res, "ETag", etag);
    }
}

TRM_HANDLER(trm_handle_case_transition)
{
    char id[37];
    struct step x = {.case_id = id,
                     .keys = app->keys,
                     .role = req->principal->role,
                     .note_category = "narrative"};
    const struct trm_field spec[] = {
        {.name = "transition",
         .type = TRM_FIELD_STRING,
         .dest = &x.name,
         .required = true,
         .max_len = 47},
        {.name = "note", .type = TRM_FIELD_STRING, .dest = &x.note, .max_len = 5000, .min_len = 1},
        {.name = "override_reason",
         .type = TRM_FIELD_STRING,
         .dest = &x.override_reason,
         .max_len = 1000,
         .min_len = 1},
        {.name = "note_category",
         .type = TRM_FIELD_ENUM,
         .dest = &x.note_category,
         .allowed = trm_case_categories},
        {0},
    };
    json_t *doc = NULL;
    if (!trm_http_uuid_param(req, res, 0, id))
        return;
    x.version = trm_http_if_match(req);
    if (x.version < 0) {
        trm_response_problem(
            res, req, x.version == -1 ? TRM_E_PRECONDITION_REQUIRED : TRM_E_PRECONDITION_FAILED,
            "Send If-Match with the case's ETag.");
        return;
    }
    if (!trm_http_json_body(req, res, spec, &doc))
        return;
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, step_tx, &x);
    answer_step(res, req, st, &x);
    json_decref(x.unmet);
    json_decref(doc);
}
