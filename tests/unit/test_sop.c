/* SOP documents: the shipped ones load; each kind of defect is found and named by pointer;
 * the guard evaluator on tables of cases. */
#include "check_run.h"

#include <stdio.h>
#include <string.h>

#include "trm/sop.h"

static json_t *load(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/config/sops/%s", TRM_SOURCE_DIR, name);
    json_error_t e;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    ck_assert_msg(doc != NULL, "%s: %s", name, e.text);
    return doc;
}

START_TEST(shipped_sops_are_valid)
{
    static const char *const files[] = {"trm-eu.json", "trm-se.json", "trm-ca.json", "trm-ph.json"};
    for (size_t i = 0; i < 4; i++) {
        json_t *doc = load(files[i]), *errors = json_array();
        struct trm_sop *sop = trm_sop_parse(doc, errors);
        ck_assert_msg(sop != NULL, "%s: %s", files[i], json_dumps(errors, 0));
        ck_assert_int_ge(trm_sop_track(sop, "proceedings"), 0);
        int main_track = trm_sop_track(sop, "main");
        static const char *const required[] = {"presumed",           "reflection",
                                               "identified",         "not_identified",
                                               "assistance",         "long_term_assistance",
                                               "return_preparation", "returned",
                                               "reintegration",      "closed"};
        for (size_t k = 0; k < 10; k++)
            ck_assert_int_ge(trm_sop_state(sop, main_track, required[k]), 0);
        trm_sop_free(sop);
        json_decref(errors);
        json_decref(doc);
    }
}
END_TEST

/* Applies a change to the generic SOP and returns the pointers of the problems found. */
static json_t *defects(void (*change)(json_t *doc))
{
    json_t *doc = load("trm-eu.json"), *errors = json_array();
    change(doc);
    struct trm_sop *sop = trm_sop_parse(doc, errors);
    ck_assert_ptr_null(sop);
    json_decref(doc);
    return errors;
}

static bool has(json_t *errors, const char *pointer, const char *message_part)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "pointer")), pointer) == 0 &&
            strstr(json_string_value(json_object_get(e, "message")), message_part))
            return true;
    }
    return false;
}

static json_t *transition(json_t *doc, size_t i)
{
    return json_array_get(json_object_get(doc, "transitions"), i);
}

static void unknown_state(json_t *doc)
{
    json_object_set_new(transition(doc, 0), "to", json_string("limbo"));
}
static void unknown_from(json_t *doc)
{
    json_array_set_new(json_object_get(transition(doc, 1), "from"), 0, json_string("nowhere"));
}
static void unreachable(json_t *doc)
{
    /* Nothing leads to "returned" once "return" points elsewhere. */
    json_object_set_new(transition(doc, 6), "to", json_string("closed"));
}
static void no_terminal(json_t *doc)
{
    json_t *states = json_object_get(json_array_get(json_object_get(doc, "tracks"), 1), "states");
    json_object_del(json_array_get(states, 3), "terminal");
}
static void duplicate_names(json_t *doc)
{
    json_object_set_new(transition(doc, 2), "name", json_string("identify"));
    json_t *states = json_object_get(json_array_get(json_object_get(doc, "tracks"), 0), "states");
    json_object_set_new(json_array_get(states, 1), "name", json_string("presumed"));
}
static void unknown_guard(json_t *doc)
{
    json_array_append_new(json_object_get(transition(doc, 0), "guards"),
                          json_pack("{s:s}", "kind", "horoscope"));
}
static void unknown_role(json_t *doc)
{
    json_array_append_new(json_object_get(transition(doc, 0), "roles"), json_string("janitor"));
}

static void bad_labels(json_t *doc)
{
    json_t *sv = json_pack("{s:{s:s}, s:{s:{s:s, s:s}}, s:{s:s}, s:{s:{s:s}}, s:s, s:i}", "tracks",
                           "nowhere", "x", "states", "main", "presumed", "Presumtivt", "limbo", "x",
                           "transitions", "fly", "x", "due_labels", "main", "identified", "x",
                           "colour", "red", "title", 7);
    json_object_set_new(
        doc, "labels",
        json_pack("{s:o, s:{}, s:{s:{s:s}}}", "sv", sv, "Swedish", "tl", "tracks", "main", ""));
}

START_TEST(labels_are_checked)
{
    json_t *e = defects(bad_labels);
    ck_assert(has(e, "/labels/sv/tracks/nowhere", "unknown track"));
    ck_assert(has(e, "/labels/sv/states/main/limbo", "unknown state"));
    ck_assert(has(e, "/labels/sv/transitions/fly", "unknown transition"));
    ck_assert(has(e, "/labels/sv/due_labels/main/identified", "no deadline"));
    ck_assert(has(e, "/labels/sv/colour", "unknown key"));
    ck_assert(has(e, "/labels/sv/title", "1 to 200"));
    ck_assert(has(e, "/labels/Swedish", "language"));
    ck_assert(has(e, "/labels/tl/tracks/main", "1 to 200"));
    ck_assert_int_eq(json_array_size(e), 8);
    json_decref(e);
}
END_TEST

/* The console shows these words: every shipped SOP names every track, state and transition
 * in each of the console's languages. */
START_TEST(shipped_sops_are_labelled)
{
    const char *files[] = {"trm-eu.json", "trm-se.json", "trm-ca.json", "trm-ph.json"};
    const char *langs[] = {"en", "sv", "tl"};
    for (size_t i = 0; i < 4; i++) {
        json_t *doc = load(files[i]), *errors = json_array();
        struct trm_sop *sop = trm_sop_parse(doc, errors);
        ck_assert_ptr_nonnull(sop);
        for (size_t l = 0; l < 3; l++) {
            json_t *set = json_object_get(json_object_get(doc, "labels"), langs[l]);
            ck_assert_msg(set != NULL, "%s: no %s labels", files[i], langs[l]);
            json_t *states = json_object_get(set, "states");
            for (int s = 0; s < sop->n_states; s++) {
                const struct trm_sop_state *st = &sop->states[s];
                json_t *of_track = json_object_get(states, sop->tracks[st->track].name);
                ck_assert_msg(json_object_get(of_track, st->name), "%s %s: state %s", files[i],
                              langs[l], st->name);
            }
            for (int t = 0; t < sop->n_transitions; t++)
                ck_assert_msg(
                    json_object_get(json_object_get(set, "transitions"), sop->transitions[t].name),
                    "%s %s: transition %s", files[i], langs[l], sop->transitions[t].name);
        }
        trm_sop_free(sop);
        json_decref(errors);
        json_decref(doc);
    }
}
END_TEST

START_TEST(each_defect_is_named)
{
    json_t *e = defects(unknown_state);
    ck_assert(has(e, "/transitions/0/to", "unknown state"));
    json_decref(e);
    e = defects(unknown_from);
    ck_assert(has(e, "/transitions/1/from/0", "unknown state"));
    json_decref(e);
    e = defects(unreachable);
    ck_assert(has(e, "/tracks/0/states/7", "no transition reaches"));
    json_decref(e);
    e = defects(no_terminal);
    ck_assert(has(e, "/tracks/1/states", "no terminal state"));
    json_decref(e);
    e = defects(duplicate_names);
    ck_assert(has(e, "/transitions/2/name", "unique"));
    ck_assert(has(e, "/tracks/0/states/1/name", "duplicate"));
    json_decref(e);
    e = defects(unknown_guard);
    ck_assert(has(e, "/transitions/0/guards/3/kind", "unknown guard kind"));
    json_decref(e);
    e = defects(unknown_role);
    ck_assert(has(e, "/transitions/0/roles/2", "unknown role"));
    json_decref(e);
    json_t *errors = json_array();
    json_t *no = json_string("no");
    ck_assert_ptr_null(trm_sop_parse(no, errors));
    json_decref(no);
    ck_assert_int_eq(json_array_size(errors), 1);
    json_decref(errors);
}
END_TEST

static struct trm_case_facts facts(const char *age_band, const char *main_state, long seconds)
{
    struct trm_case_facts f;
    memset(&f, 0, sizeof f);
    snprintf(f.age_band, sizeof f.age_band, "%s", age_band);
    snprintf(f.states[0], sizeof f.states[0], "%s", main_state);
    snprintf(f.states[1], sizeof f.states[1], "none");
    f.seconds_in_state[0] = seconds;
    return f;
}

static void latest(struct trm_case_facts *f, const char *kind, const char *outcome)
{
    snprintf(f->latest[f->n_latest].kind, sizeof f->latest[0].kind, "%s", kind);
    snprintf(f->latest[f->n_latest].outcome, sizeof f->latest[0].outcome, "%s", outcome);
    f->n_latest++;
}

START_TEST(guard_evaluator_on_cases)
{
    json_t *doc = load("trm-eu.json"), *errors = json_array();
    struct trm_sop *sop = trm_sop_parse(doc, errors);
    ck_assert_ptr_nonnull(sop);
    const struct trm_sop_transition *reflect = trm_sop_transition(sop, "start_reflection");
    const struct trm_sop_transition *identify = trm_sop_transition(sop, "identify");
    const struct trm_sop_transition *ret = trm_sop_transition(sop, "return");
    const struct trm_sop_transition *investigate = trm_sop_transition(sop, "open_investigation");

    /* An adult with nothing recorded: consent and risk assessment are missing. */
    struct trm_case_facts f = facts("21-23", "presumed", 0);
    json_t *unmet = json_array();
    ck_assert(!trm_sop_check(sop, reflect, &f, TRM_ROLE_CASEWORKER, false, unmet, NULL));
    ck_assert_int_eq(json_array_size(unmet), 2);
    json_decref(unmet);
    f.consents = 1u << 0; /* assistance */
    latest(&f, "risk", "high");
    ck_assert(trm_sop_check(sop, reflect, &f, TRM_ROLE_CASEWORKER, false, NULL, NULL));
    /* A child needs a guardian too. */
    f = facts("9-17", "presumed", 0);
    f.consents = 1u;
    latest(&f, "risk", "low");
    ck_assert(!trm_sop_check(sop, reflect, &f, TRM_ROLE_CASEWORKER, false, NULL, NULL));
    f.guardians = 1;
    ck_assert(trm_sop_check(sop, reflect, &f, TRM_ROLE_CASEWORKER, false, NULL, NULL));
    /* Wrong state and wrong role are unmet conditions too. */
    unmet = json_array();
    ck_assert(!trm_sop_check(sop, reflect, &f, TRM_ROLE_AUDITOR, false, unmet, NULL));
    ck_assert_int_eq(json_array_size(unmet), 1);
    json_decref(unmet);
    f = facts("21-23", "reflection", 5 * 86400);
    f.categories = 1u; /* identity */
    ck_assert(!trm_sop_check(sop, identify, &f, TRM_ROLE_CASEWORKER, false, NULL, NULL));
    /* The reflection period: a coordinator may override, a caseworker may not. */
    json_t *overridden = json_array();
    ck_assert(!trm_sop_check(sop, identify, &f, TRM_ROLE_CASEWORKER, true, NULL, NULL));
    ck_assert(trm_sop_check(sop, identify, &f, TRM_ROLE_COORDINATOR, true, NULL, overridden));
    ck_assert_int_eq(json_array_size(overridden), 2); /* the time, and the screening */
    json_decref(overridden);
    f.seconds_in_state[0] = 30 * 86400;
    /* Formal identification reads the latest screening: none, then a negative one, block. */
    unmet = json_array();
    ck_assert(!trm_sop_check(sop, identify, &f, TRM_ROLE_CASEWORKER, false, unmet, NULL));
    ck_assert_int_eq(json_array_size(unmet), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(unmet, 0), "guard")),
                     "screening");
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(json_array_get(unmet, 0), "message")), "Record"));
    json_decref(unmet);
    f.screening = TRM_SCREENING_NEGATIVE;
    unmet = json_array();
    ck_assert(!trm_sop_check(sop, identify, &f, TRM_ROLE_CASEWORKER, false, unmet, NULL));
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(json_array_get(unmet, 0), "message")), "latest"));
    json_decref(unmet);
    /* A caseworker cannot override it; a coordinator can, with a reason. */
    ck_assert(!trm_sop_check(sop, identify, &f, TRM_ROLE_CASEWORKER, true, NULL, NULL));
    overridden = json_array();
    ck_assert(trm_sop_check(sop, identify, &f, TRM_ROLE_COORDINATOR, true, NULL, overridden));
    ck_assert_str_eq(json_string_value(json_array_get(overridden, 0)), "screening");
    json_decref(overridden);
    f.screening = TRM_SCREENING_POSITIVE;
    ck_assert(trm_sop_check(sop, identify, &f, TRM_ROLE_CASEWORKER, false, NULL, NULL));
    /* Return of a child: only with a best-interests assessment that allows it. */
    f = facts("9-17", "return_preparation", 0);
    f.consents = 1u << 2; /* return */
    f.guardians = 1;
    latest(&f, "return_risk", "low");
    ck_assert(!trm_sop_check(sop, ret, &f, TRM_ROLE_CASEWORKER, false, NULL, NULL));
    latest(&f, "best_interests", "return_not_in_best_interests");
    ck_assert(!trm_sop_check(sop, ret, &f, TRM_ROLE_CASEWORKER, false, NULL, NULL));
    snprintf(f.latest[1].outcome, sizeof f.latest[1].outcome, "return_in_best_interests");
    ck_assert(trm_sop_check(sop, ret, &f, TRM_ROLE_CASEWORKER, false, NULL, NULL));
    /* An adult's return needs no best-interests assessment. */
    f = facts("30-38", "return_preparation", 0);
    f.consents = 1u << 2;
    latest(&f, "return_risk", "medium");
    ck_assert(trm_sop_check(sop, ret, &f, TRM_ROLE_CASEWORKER, false, NULL, NULL));
    /* Proceedings run in parallel, whatever the main track's state. */
    f = facts("30-38", "assistance", 0);
    ck_assert(trm_sop_check(sop, investigate, &f, TRM_ROLE_CASEWORKER, false, NULL, NULL));
    trm_sop_free(sop);
    json_decref(errors);
    json_decref(doc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sop");
    TCase *tc = tcase_create("sop");
    tcase_add_test(tc, shipped_sops_are_valid);
    tcase_add_test(tc, each_defect_is_named);
    tcase_add_test(tc, labels_are_checked);
    tcase_add_test(tc, shipped_sops_are_labelled);
    tcase_add_test(tc, guard_evaluator_on_cases);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
