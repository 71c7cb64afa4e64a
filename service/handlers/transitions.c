/* /v1/cases/{id}/transitions: what the SOP allows now (with the unmet guards in words), and
 * taking a step with If-Match. The case row is locked while the guards are checked, so of
 * many concurrent steps on one case exactly one succeeds. */
#include "handlers.h"

#include "trm/cases.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/sop.h"
#include "trm/transition_store.h"

#include <stdlib.h>
#include <string.h>

/* A case's facts and its SOP (from the process's cache), read as the caller. */
static enum trm_db_status facts(struct trm_db_conn *c, const char *case_id, bool lock,
                                const struct trm_sop **sop, struct trm_case_facts *f)
{
    char sop_id[TRM_UUID_STR_LEN + 1];
    json_t *j = NULL;
    enum trm_db_status st = trm_case_facts_get(c, case_id, lock, sop_id, &j);
    *sop = st == TRM_DB_OK ? trm_sop_cached(c, sop_id) : NULL;
    if (st == TRM_DB_OK && *sop == NULL)
        st = TRM_DB_ERROR;
    if (st == TRM_DB_OK)
        trm_sop_facts_from_json(*sop, j, f);
    json_decref(j);
    return st;
}

static bool in_from(const struct trm_sop *sop, const struct trm_sop_transition *t,
                    const char *state)
{
    for (int i = 0; i < t->n_from; i++)
        if (strcmp(sop->states[t->from[i]].name, state) == 0)
            return true;
    return false;
}

struct options {
    json_t *items; /* first: trm_handler_free_out */
    char case_id[TRM_UUID_STR_LEN + 1];
    enum trm_role role;
};

static json_t *option_json(const struct trm_sop *sop, const struct trm_sop_transition *t,
                           const struct trm_case_facts *f, enum trm_role role)
{
    json_t *unmet = json_array();
    bool ok = trm_sop_check(sop, t, f, role, false, unmet, NULL);
    const struct trm_sop_state *to = &sop->states[t->to];
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "name", t->name, "track",
                     sop->tracks[t->track].name, "from", f->states[t->track], "to", to->name,
                     "to_phase", to->phase, "allowed", ok, "unmet", unmet);
}

static enum trm_db_status options_tx(struct trm_db_conn *c, void *arg)
{
    struct options *x = arg;
    const struct trm_sop *sop;
    struct trm_case_facts f;
    json_decref(x->items);
    x->items = json_array();
    enum trm_db_status st = facts(c, x->case_id, false, &sop, &f);
    for (int i = 0; st == TRM_DB_OK && i < sop->n_transitions; i++) {
        const struct trm_sop_transition *t = &sop->transitions[i];
        if (in_from(sop, t, f.states[t->track]))
            json_array_append_new(x->items, option_json(sop, t, &f, x->role));
    }
    return st;
}

TRM_HANDLER(trm_handle_case_transitions)
{
    static const struct trm_tx tx = {.fn = options_tx};
    struct options *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL || !trm_http_uuid_param(req, res, 0, x->case_id))
        return;
    x->role = req->principal->role;
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, json_pack("{s:O}", "items", x->items));
}

/* Why a step is refused, besides the common reasons (stale, sealing). */
enum { STEP_UNKNOWN = TRM_WHY_OWN, STEP_UNMET };

struct step {
    const char *name, *note, *override_reason, *note_category;
    char case_id[TRM_UUID_STR_LEN + 1];
    struct trm_keyring_source *keys;
    long version;
    enum trm_role role;
    struct trm_case_summary summary;
};

/* The sealed note (and override reason) of a step, with its category; NULL when there is
 * none. */
static enum trm_db_status seal_note(struct trm_db_conn *c, struct step *x, char **hex,
                                    char note_id[TRM_UUID_STR_LEN + 1])
{
    *hex = NULL;
    if (x->note == NULL && x->override_reason == NULL)
        return TRM_DB_OK;
    trm_uuid_v4(note_id);
    struct trm_sealing what = {x->case_id, x->note_category, "notes", note_id};
    json_t *v = json_pack("{s:s?, s:s?}", "note", x->note, "override_reason", x->override_reason);
    enum trm_seal_outcome outcome;
    enum trm_db_status st = trm_case_seal(c, x->keys, &what, v, hex, &outcome);
    json_decref(v);
    return st == TRM_DB_REFUSED ? trm_refuse_sealing(x, outcome) : st;
}

/* The step, its guards met (or overridden): the timeline entry's details name the overridden
 * guards and the note; the transition (a function: all or nothing, or nothing when the case
 * moved) and the summary read go with COMMIT in one round trip. */
static enum trm_db_status take_step(struct trm_db_conn *c, struct step *x,
                                    const struct trm_sop *sop, const struct trm_sop_transition *t,
                                    const struct trm_case_facts *f, json_t *overridden)
{
    char *note = NULL, note_id[TRM_UUID_STR_LEN + 1] = "";
    enum trm_db_status st = seal_note(c, x, &note, note_id);
    if (st != TRM_DB_OK)
        return st;
    json_t *details = json_pack("{s:s, s:s, s:O}", "transition", t->name, "from_state",
                                f->states[t->track], "overridden", overridden);
    if (note_id[0])
        json_object_set_new(details, "note_id", json_string(note_id));
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
    trm_db_commit_with_next(c);
    st = trm_case_transition_apply(c, &s, &x->summary);
    json_decref(details);
    free(note);
    return st == TRM_DB_CONFLICT ? trm_refuse(x, TRM_WHY_STALE, NULL) : st;
}

static enum trm_db_status step_tx(struct trm_db_conn *c, void *arg)
{
    struct step *x = arg;
    const struct trm_sop *sop;
    struct trm_case_facts f;
    enum trm_db_status st = facts(c, x->case_id, true, &sop, &f);
    if (st != TRM_DB_OK)
        return st;
    const struct trm_sop_transition *t = trm_sop_transition(sop, x->name);
    if (t == NULL)
        return trm_refuse(x, STEP_UNKNOWN, NULL);
    if (f.version != x->version)
        return trm_refuse(x, TRM_WHY_STALE, NULL);
    json_t *unmet = json_array(), *overridden = json_array();
    if (trm_sop_check(sop, t, &f, x->role, x->override_reason != NULL, unmet, overridden))
        st = take_step(c, x, sop, t, &f, overridden);
    else
        st = trm_refuse(x, STEP_UNMET, json_incref(unmet));
    json_decref(unmet);
    json_decref(overridden);
    return st;
}

static const struct trm_outcome step_outcomes[] = {
    TRM_WHEN_REFUSED_FIELD(STEP_UNKNOWN, "/transition", "is not a transition of this case's SOP"),
    TRM_WHEN_REFUSED_WITH(STEP_UNMET, TRM_E_CONFLICT, "The step is not allowed now; see unmet.",
                          "unmet"),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_case_transition)
{
    static const struct trm_tx tx = {.fn = step_tx, .outcomes = step_outcomes};
    struct step *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL)
        return;
    x->keys = app->keys;
    x->role = req->principal->role;
    x->note_category = "narrative";
    const struct trm_field spec[] = {
        TRM_F_STRING("transition", &x->name, TRM_SOP_NAME - 1, TRM_REQUIRED),
        TRM_F_TEXT("note", &x->note, TRM_TEXT_MAX),
        TRM_F_TEXT("override_reason", &x->override_reason, TRM_GROUNDS_MAX),
        TRM_F_ENUM("note_category", &x->note_category, trm_case_categories),
        TRM_F_END,
    };
    if (trm_http_uuid_param(req, res, 0, x->case_id) &&
        trm_http_if_match_version(req, res, "Send If-Match with the case's ETag.", &x->version) &&
        trm_handler_body(req, res, spec, NULL) && trm_handler_tx(app, req, res, &tx, x))
        trm_case_summary_answer(res, &x->summary);
}
