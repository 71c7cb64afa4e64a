/* Parsing and validation of SOP documents (see sop.h). A document is refused with every
 * problem named by JSON pointer: unknown states, states no transition reaches, tracks with
 * no terminal state, duplicate names, unknown guard kinds, unknown roles. */
#include "trm/sop.h"
#include "trm/cases.h"
#include "trm/json_spec.h"
#include "trm/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const trm_sop_phases[] = {"identification",
                                      "first_assistance_and_protection",
                                      "long_term_assistance",
                                      "return_and_social_inclusion",
                                      "proceedings",
                                      "closed",
                                      NULL};
const char *const trm_consent_kinds[] = {"assistance", "data_sharing", "return", "proceedings",
                                         NULL};
const char *const trm_assessment_kinds[] = {"risk", "needs", "return_risk", "best_interests", NULL};
static const char *const guard_kinds[] = {"consent",
                                          "assessment",
                                          "categories_filled",
                                          "guardian_if_child",
                                          "best_interests_if_child",
                                          "min_time_in_state",
                                          "screening",
                                          NULL};

static int index_of(const char *const *list, const char *v)
{
    for (int i = 0; v && list[i]; i++)
        if (strcmp(list[i], v) == 0)
            return i;
    return -1;
}

static void problem(json_t *errors, const char *message, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(json_t *errors, const char *message, const char *fmt, ...)
{
    char pointer[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pointer, sizeof pointer, fmt, ap);
    va_end(ap);
    json_array_append_new(errors, json_pack("{s:s, s:s}", "pointer", pointer, "message", message));
}

static bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= TRM_SOP_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* {"days": n} or {"hours": n} to seconds; -1 when malformed. */
static long duration(json_t *d)
{
    if (!json_is_object(d) || json_object_size(d) != 1)
        return -1;
    json_t *days = json_object_get(d, "days"), *hours = json_object_get(d, "hours");
    json_int_t v = json_integer_value(days ? days : hours);
    if (!json_is_integer(days ? days : hours) || v < 1 || v > 3650 * 24)
        return -1;
    return (long)v * (days ? 86400 : 3600);
}

int trm_sop_track(const struct trm_sop *sop, const char *name)
{
    for (int i = 0; name && i < sop->n_tracks; i++)
        if (strcmp(sop->tracks[i].name, name) == 0)
            return i;
    return -1;
}

int trm_sop_state(const struct trm_sop *sop, int track, const char *name)
{
    for (int i = 0; name && i < sop->n_states; i++)
        if (sop->states[i].track == track && strcmp(sop->states[i].name, name) == 0)
            return i;
    return -1;
}

const struct trm_sop_transition *trm_sop_transition(const struct trm_sop *sop, const char *name)
{
    for (int i = 0; name && i < sop->n_transitions; i++)
        if (strcmp(sop->transitions[i].name, name) == 0)
            return &sop->transitions[i];
    return NULL;
}

static void parse_state(struct trm_sop *sop, int track, size_t ti, size_t si, json_t *s,
                        json_t *errors)
{
    const char *name = json_string_value(json_object_get(s, "name"));
    const char *phase = json_string_value(json_object_get(s, "phase"));
    if (!name_ok(name)) {
        problem(errors, "a state needs a name of lower-case letters, digits and _",
                "/tracks/%zu/states/%zu/name", ti, si);
        return;
    }
    if (trm_sop_state(sop, track, name) >= 0) {
        problem(errors, "duplicate state name", "/tracks/%zu/states/%zu/name", ti, si);
        return;
    }
    /* trm ends every track of a case transferred to another instance in this state. */
    if (strcmp(name, "transferred_out") == 0) {
        problem(errors, "transferred_out is a state of trm's own (docs/sops.md)",
                "/tracks/%zu/states/%zu/name", ti, si);
        return;
    }
    if (index_of(trm_sop_phases, phase) < 0)
        problem(errors, "unknown phase", "/tracks/%zu/states/%zu/phase", ti, si);
    if (sop->n_states == TRM_SOP_MAX_STATES) {
        problem(errors, "too many states", "/tracks/%zu/states", ti);
        return;
    }
    struct trm_sop_state *st = &sop->states[sop->n_states++];
    trm_strlcpy(st->name, name, sizeof st->name);
    trm_strlcpy(st->phase, phase ? phase : "", sizeof st->phase);
    st->track = track;
    st->terminal = json_is_true(json_object_get(s, "terminal"));
    json_t *due = json_object_get(s, "due");
    if (due) {
        st->due_s = duration(due);
        if (st->due_s < 0)
            problem(errors, "due must be {\"days\": n} or {\"hours\": n}",
                    "/tracks/%zu/states/%zu/due", ti, si);
    }
    const char *label = json_string_value(json_object_get(s, "due_label"));
    trm_strlcpy(st->due_label, label ? label : "", sizeof st->due_label);
}

static void parse_tracks(struct trm_sop *sop, json_t *tracks, json_t *errors)
{
    if (!json_is_array(tracks) || json_array_size(tracks) == 0 ||
        json_array_size(tracks) > TRM_SOP_MAX_TRACKS) {
        problem(errors, "tracks must be a list of 1 to 4 tracks", "/tracks");
        return;
    }
    size_t ti;
    json_t *t;
    json_array_foreach(tracks, ti, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        if (!name_ok(name) || trm_sop_track(sop, name) >= 0) {
            problem(errors, "a track needs a unique name", "/tracks/%zu/name", ti);
            continue;
        }
        int track = sop->n_tracks++;
        trm_strlcpy(sop->tracks[track].name, name, sizeof sop->tracks[track].name);
        json_t *states = json_object_get(t, "states");
        if (!json_is_array(states) || json_array_size(states) == 0) {
            problem(errors, "a track needs states", "/tracks/%zu/states", ti);
            continue;
        }
        size_t si;
        json_t *s;
        bool terminal = false;
        json_array_foreach(states, si, s)
        {
            parse_state(sop, track, ti, si, s, errors);
            terminal = terminal || json_is_true(json_object_get(s, "terminal"));
        }
        if (!terminal)
            problem(errors, "the track has no terminal state", "/tracks/%zu/states", ti);
        sop->tracks[track].initial =
            trm_sop_state(sop, track, json_string_value(json_object_get(t, "initial")));
        if (sop->tracks[track].initial < 0)
            problem(errors, "initial names no state of this track", "/tracks/%zu/initial", ti);
    }
}

static void parse_guard(struct trm_sop_guard *g, json_t *j, size_t ti, size_t gi, json_t *errors)
{
    int kind = index_of(guard_kinds, json_string_value(json_object_get(j, "kind")));
    if (kind < 0) {
        problem(errors, "unknown guard kind", "/transitions/%zu/guards/%zu/kind", ti, gi);
        return;
    }
    g->kind = (enum trm_guard_kind)kind;
    const char *consent = json_string_value(json_object_get(j, "consent"));
    const char *assessment = json_string_value(json_object_get(j, "assessment"));
    switch (g->kind) {
    case TRM_GUARD_CONSENT:
        if (index_of(trm_consent_kinds, consent) < 0)
            problem(errors, "unknown consent kind", "/transitions/%zu/guards/%zu/consent", ti, gi);
        trm_strlcpy(g->param, consent ? consent : "", sizeof g->param);
        break;
    case TRM_GUARD_ASSESSMENT:
        if (index_of(trm_assessment_kinds, assessment) < 0)
            problem(errors, "unknown assessment kind", "/transitions/%zu/guards/%zu/assessment", ti,
                    gi);
        trm_strlcpy(g->param, assessment ? assessment : "", sizeof g->param);
        break;
    case TRM_GUARD_CATEGORIES_FILLED: {
        size_t ci;
        json_t *c;
        json_array_foreach(json_object_get(j, "categories"), ci, c)
        {
            int bit = index_of(trm_case_categories, json_string_value(c));
            if (bit < 0)
                problem(errors, "unknown category", "/transitions/%zu/guards/%zu/categories/%zu",
                        ti, gi, ci);
            else
                g->categories |= 1u << bit;
        }
        if (g->categories == 0)
            problem(errors, "name at least one category", "/transitions/%zu/guards/%zu", ti, gi);
        break;
    }
    case TRM_GUARD_MIN_TIME_IN_STATE: {
        json_t *d = json_object();
        if (json_object_get(j, "days"))
            json_object_set(d, "days", json_object_get(j, "days"));
        if (json_object_get(j, "hours"))
            json_object_set(d, "hours", json_object_get(j, "hours"));
        g->seconds = duration(d);
        json_decref(d);
        if (g->seconds < 0)
            problem(errors, "give days or hours", "/transitions/%zu/guards/%zu", ti, gi);
        break;
    }
    default:
        break;
    }
}

static void parse_transition(struct trm_sop *sop, size_t ti, json_t *j, json_t *errors)
{
    struct trm_sop_transition *t = &sop->transitions[sop->n_transitions];
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!name_ok(name) || trm_sop_transition(sop, name) != NULL) {
        problem(errors, "a transition needs a unique name", "/transitions/%zu/name", ti);
        return;
    }
    memset(t, 0, sizeof *t);
    trm_strlcpy(t->name, name, sizeof t->name);
    t->track = trm_sop_track(sop, json_string_value(json_object_get(j, "track")));
    if (t->track < 0) {
        problem(errors, "unknown track", "/transitions/%zu/track", ti);
        return;
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(j, "from"), i, v)
    {
        int s = trm_sop_state(sop, t->track, json_string_value(v));
        if (s < 0 || t->n_from == TRM_SOP_MAX_FROM)
            problem(errors, "unknown state", "/transitions/%zu/from/%zu", ti, i);
        else
            t->from[t->n_from++] = s;
    }
    if (t->n_from == 0)
        problem(errors, "name the states it leaves", "/transitions/%zu/from", ti);
    t->to = trm_sop_state(sop, t->track, json_string_value(json_object_get(j, "to")));
    if (t->to < 0)
        problem(errors, "unknown state", "/transitions/%zu/to", ti);
    json_array_foreach(json_object_get(j, "roles"), i, v)
    {
        enum trm_role r;
        if (!trm_role_parse(json_string_value(v), &r) || r == TRM_ROLE_ADMIN ||
            r == TRM_ROLE_AUDITOR)
            problem(errors, "unknown role (caseworker or coordinator)",
                    "/transitions/%zu/roles/%zu", ti, i);
        else
            t->roles |= 1u << r;
    }
    if (t->roles == 0)
        problem(errors, "name the roles that may take it", "/transitions/%zu/roles", ti);
    json_t *guards = json_object_get(j, "guards");
    if (guards && !json_is_array(guards))
        problem(errors, "guards must be a list", "/transitions/%zu/guards", ti);
    json_array_foreach(guards, i, v)
    {
        if (t->n_guards == TRM_SOP_MAX_GUARDS) {
            problem(errors, "too many guards", "/transitions/%zu/guards", ti);
            break;
        }
        parse_guard(&t->guards[t->n_guards++], v, ti, i, errors);
    }
    sop->n_transitions++;
}

static bool str_is(json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* Every state is initial or the target of some transition. */
static void check_reachable(const struct trm_sop *sop, json_t *doc, json_t *errors)
{
    for (int s = 0; s < sop->n_states; s++) {
        bool reached = sop->tracks[sop->states[s].track].initial == s;
        for (int t = 0; !reached && t < sop->n_transitions; t++)
            reached = sop->transitions[t].to == s;
        if (reached)
            continue;
        /* Find the state's position in the document for the pointer. */
        size_t ti, si;
        json_t *track, *state;
        json_array_foreach(json_object_get(doc, "tracks"), ti, track)
        {
            if (!str_is(json_object_get(track, "name"), sop->tracks[sop->states[s].track].name))
                continue;
            json_array_foreach(json_object_get(track, "states"), si, state)
            {
                if (str_is(json_object_get(state, "name"), sop->states[s].name))
                    problem(errors, "no transition reaches this state", "/tracks/%zu/states/%zu",
                            ti, si);
            }
        }
    }
}

struct trm_sop *trm_sop_parse(json_t *doc, json_t *errors)
{
    size_t before = json_array_size(errors);
    if (!json_is_object(doc)) {
        problem(errors, "a SOP document is a JSON object", "%s", "");
        return NULL;
    }
    struct trm_sop *sop = calloc(1, sizeof *sop);
    if (sop == NULL)
        return NULL;
    const char *code = json_string_value(json_object_get(doc, "code"));
    const char *country = json_string_value(json_object_get(doc, "country"));
    const char *title = json_string_value(json_object_get(doc, "title"));
    json_t *version = json_object_get(doc, "version");
    bool code_ok = code && strlen(code) >= 1 && strlen(code) <= 40;
    for (const char *c = code; code_ok && *c; c++)
        code_ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-';
    if (!code_ok)
        problem(errors, "code must be lower-case letters, digits, _ or -", "/code");
    else
        trm_strlcpy(sop->code, code, sizeof sop->code);
    if (!json_is_integer(version) || json_integer_value(version) < 1)
        problem(errors, "version must be a positive whole number", "/version");
    sop->version = (long)json_integer_value(version);
    if (country && !trm_json_is_country(country))
        problem(errors, "country must be an ISO 3166-1 alpha-2 code or null", "/country");
    trm_strlcpy(sop->country, country ? country : "", sizeof sop->country);
    trm_strlcpy(sop->title, title ? title : "", sizeof sop->title);
    parse_tracks(sop, json_object_get(doc, "tracks"), errors);
    json_t *transitions = json_object_get(doc, "transitions");
    if (!json_is_array(transitions) || json_array_size(transitions) > TRM_SOP_MAX_TRANSITIONS)
        problem(errors, "transitions must be a list of at most 128", "/transitions");
    size_t i;
    json_t *t;
    json_array_foreach(transitions, i, t) parse_transition(sop, i, t, errors);
    if (json_array_size(errors) == before)
        check_reachable(sop, doc, errors);
    if (json_array_size(errors) == before)
        trm_sop_check_labels(sop, json_object_get(doc, "labels"), errors);
    if (json_array_size(errors) != before) {
        free(sop);
        return NULL;
    }
    return sop;
}

void trm_sop_free(struct trm_sop *sop)
{
    free(sop);
}

void trm_sop_row_of(const struct trm_sop *sop, const char *id, struct trm_sop_row *row)
{
    memset(row, 0, sizeof *row);
    trm_strlcpy(row->id, id, sizeof row->id);
    trm_strlcpy(row->code, sop->code, sizeof row->code);
    row->version = sop->version;
    trm_strlcpy(row->country, sop->country, sizeof row->country);
    trm_strlcpy(row->title, sop->title, sizeof row->title);
}
