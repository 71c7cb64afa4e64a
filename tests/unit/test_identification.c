/* The ILO/EC combination rule and the shipped indicator sets (docs/identification.md): each
 * clause of the dimension rule as the publication states it, each one indicator short; the
 * elements combined for adults (recruitment, exploitation and coercion) and children (no
 * coercion), each one dimension short; the four sets valid, complete in English, Swedish and
 * Filipino; invalid sets and screenings refused with pointers. */
#include "check_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trm/identification.h"

static json_t *load(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/config/indicators/%s.json", TRM_SOURCE_DIR, name);
    json_error_t e;
    json_t *doc = json_load_file(path, 0, &e);
    ck_assert_msg(doc != NULL, "%s: %s", path, e.text);
    return doc;
}

static struct trm_indicator_set *set_of(const char *name)
{
    json_t *doc = load(name), *errors = json_array();
    struct trm_indicator_set *set = trm_indicator_set_parse(doc, errors);
    ck_assert_msg(set != NULL, "%s: %s", name, json_dumps(errors, 0));
    json_decref(doc);
    json_decref(errors);
    return set;
}

/* The rule's four clauses, as worked in the publication, and each one indicator short. */
START_TEST(dimension_rule_clauses)
{
    ck_assert_str_eq(trm_ind_dimension_rule(2, 0, 0), "a"); /* two strong */
    ck_assert_str_eq(trm_ind_dimension_rule(1, 1, 0), "b"); /* one strong, one medium */
    ck_assert_str_eq(trm_ind_dimension_rule(1, 0, 1), "b"); /* one strong, one weak */
    ck_assert_str_eq(trm_ind_dimension_rule(0, 3, 0), "c"); /* three medium */
    ck_assert_str_eq(trm_ind_dimension_rule(0, 2, 1), "d"); /* two medium, one weak */
    /* One short of each. */
    ck_assert_ptr_null(trm_ind_dimension_rule(1, 0, 0)); /* a and b: the second indicator */
    ck_assert_ptr_null(trm_ind_dimension_rule(0, 2, 0)); /* c: the third medium; d: the weak */
    ck_assert_ptr_null(trm_ind_dimension_rule(0, 1, 1)); /* d: the second medium */
    /* Weak indicators alone never make a dimension positive, however many. */
    ck_assert_ptr_null(trm_ind_dimension_rule(0, 0, 10));
    ck_assert_ptr_null(trm_ind_dimension_rule(0, 1, 10));
    ck_assert_ptr_null(trm_ind_dimension_rule(0, 0, 0));
    /* More than enough is still the first clause met. */
    ck_assert_str_eq(trm_ind_dimension_rule(3, 4, 5), "a");
    ck_assert_str_eq(trm_ind_dimension_rule(0, 5, 0), "c");
}
END_TEST

static json_t *assess(const struct trm_indicator_set *set, const char *observed_json)
{
    json_t *observed = json_loads(observed_json, 0, NULL), *errors = json_array();
    ck_assert_ptr_nonnull(observed);
    json_t *r = trm_ind_assess(set, observed, errors);
    ck_assert_msg(r != NULL, "%s", json_dumps(errors, 0));
    json_decref(observed);
    json_decref(errors);
    return r;
}

static bool presumed(json_t *r)
{
    return json_is_true(json_object_get(r, "presumed_victim"));
}

static bool dimension(json_t *r, const char *code)
{
    return json_is_true(
        json_object_get(json_object_get(json_object_get(r, "dimensions"), code), "positive"));
}

#define RECRUITED "\"dr_nature_of_job\", \"dr_wages\""        /* strong + medium: b */
#define EXPLOITED "\"ex_excessive_hours\", \"ex_low_salary\"" /* strong + medium: b */
#define COERCED "\"cd_documents\", \"cd_debt_bondage\""       /* two strong: a */

/* An adult in labour exploitation: all three elements, each one dimension short. */
START_TEST(adults_need_three_elements)
{
    struct trm_indicator_set *set = set_of("ilo-ec-2009-adults-labour");
    json_t *r = assess(set, "[" RECRUITED ", " EXPLOITED ", " COERCED "]");
    ck_assert(presumed(r));
    ck_assert(dimension(r, "deceptive_recruitment"));
    ck_assert(dimension(r, "exploitation"));
    ck_assert(dimension(r, "coercion_at_destination"));
    json_decref(r);
    /* Coercion one indicator short: not presumed, and why says so. */
    r = assess(set, "[" RECRUITED ", " EXPLOITED ", \"cd_documents\"]");
    ck_assert(!presumed(r));
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(r, "why")), "Coercion: no positive dimension"));
    json_decref(r);
    /* Recruitment one short. */
    r = assess(set, "[\"dr_nature_of_job\", " EXPLOITED ", " COERCED "]");
    ck_assert(!presumed(r));
    json_decref(r);
    /* Exploitation one short. */
    r = assess(set, "[" RECRUITED ", \"ex_excessive_hours\", " COERCED "]");
    ck_assert(!presumed(r));
    json_decref(r);
    /* Abuse of vulnerability stands for recruitment and for coercion: three medium each. */
    r = assess(
        set, "[\"vr_illegal_status\", \"vr_economic_reasons\", \"vr_family_situation\", " EXPLOITED
             ", \"vd_dependency\", \"vd_unknown_area\", \"vd_past_difficulties\"]");
    ck_assert(dimension(r, "recruitment_abuse_of_vulnerability"));
    ck_assert(dimension(r, "abuse_of_vulnerability_at_destination")); /* two medium, one weak */
    ck_assert(presumed(r));
    json_decref(r);
    trm_indicator_set_free(set);
}
END_TEST

/* A child: recruitment and exploitation are enough; each one short is not. */
START_TEST(children_need_no_coercion)
{
    struct trm_indicator_set *set = set_of("ilo-ec-2009-children-labour");
    json_t *r = assess(set, "[" RECRUITED ", " EXPLOITED "]");
    ck_assert(presumed(r));
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(r, "why")), "not required for a child"));
    json_decref(r);
    r = assess(set, "[\"dr_nature_of_job\", " EXPLOITED "]");
    ck_assert(!presumed(r));
    json_decref(r);
    r = assess(set, "[" RECRUITED ", \"ex_excessive_hours\"]");
    ck_assert(!presumed(r));
    json_decref(r);
    /* For a child, being deceived about education is strong: with a medium one, positive. */
    r = assess(set, "[\"dr_education\", \"dr_travel\", " EXPLOITED "]");
    ck_assert(presumed(r));
    json_decref(r);
    trm_indicator_set_free(set);
    /* The same observations for an adult: education is weak there, and coercion is needed. */
    set = set_of("ilo-ec-2009-adults-labour");
    r = assess(set, "[\"dr_education\", \"dr_travel\", " EXPLOITED "]");
    ck_assert(!dimension(r, "deceptive_recruitment"));
    ck_assert(!presumed(r));
    json_decref(r);
    trm_indicator_set_free(set);
}
END_TEST

/* Sexual exploitation of adults has no strong indicator of exploitation: three medium. */
START_TEST(sexual_exploitation_sets)
{
    struct trm_indicator_set *set = set_of("ilo-ec-2009-adults-sexual");
    json_t *r = assess(set, "[" RECRUITED ", " EXPLOITED ", " COERCED "]");
    ck_assert(!dimension(r, "exploitation")); /* two medium */
    ck_assert(!presumed(r));
    json_decref(r);
    r = assess(set, "[" RECRUITED ", " EXPLOITED ", \"ex_bad_living\", " COERCED "]");
    ck_assert(dimension(r, "exploitation"));
    ck_assert(presumed(r));
    json_decref(r);
    trm_indicator_set_free(set);
}
END_TEST

/* The shipped sets: valid, of the publication's size, every label in three languages. */
START_TEST(shipped_sets_complete)
{
    static const char *const names[] = {"ilo-ec-2009-adults-labour", "ilo-ec-2009-adults-sexual",
                                        "ilo-ec-2009-children-labour",
                                        "ilo-ec-2009-children-sexual"};
    static const size_t sizes[] = {67, 67, 65, 65};
    for (size_t n = 0; n < 4; n++) {
        json_t *doc = load(names[n]);
        struct trm_indicator_set *set = set_of(names[n]);
        size_t total = 0;
        for (size_t d = 0; d < set->n_dimensions; d++) {
            total += set->dimensions[d].n_indicators;
            for (size_t i = 0; i < set->dimensions[d].n_indicators; i++) {
                const char *code = set->dimensions[d].indicators[i];
                for (const char *const *l = (const char *const[]){"en", "sv", "tl", NULL}; *l; l++)
                    ck_assert_msg(
                        json_object_get(
                            json_object_get(json_object_get(json_object_get(doc, "labels"), *l),
                                            "indicators"),
                            code),
                        "%s: no %s label for %s", names[n], *l, code);
            }
        }
        ck_assert_int_eq(total, sizes[n]);
        ck_assert_int_eq(set->children, n >= 2);
        /* Children's lists have no weak indicator. */
        for (size_t d = 0; n >= 2 && d < set->n_dimensions; d++)
            for (size_t i = 0; i < set->dimensions[d].n_indicators; i++)
                ck_assert_int_ne(set->dimensions[d].strengths[i], TRM_IND_WEAK);
        trm_indicator_set_free(set);
        json_decref(doc);
    }
}
END_TEST

static bool has_pointer(json_t *errors, const char *pointer)
{
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "pointer")), pointer) == 0)
            return true;
    }
    return false;
}

START_TEST(invalid_sets_and_screenings)
{
    json_t *doc = load("ilo-ec-2009-adults-labour"), *errors = json_array();
    json_t *dims = json_object_get(doc, "dimensions");
    json_t *first = json_array_get(json_object_get(json_array_get(dims, 0), "indicators"), 0);
    json_object_set_new(first, "strength", json_string("very strong"));
    json_t *second = json_array_get(json_object_get(json_array_get(dims, 1), "indicators"), 1);
    json_object_set_new(second, "code", json_string("dr_wages")); /* taken in dimension 0 */
    json_object_set_new(
        json_object_get(json_object_get(json_object_get(doc, "labels"), "sv"), "indicators"),
        "no_such_indicator", json_string("x"));
    json_object_set_new(json_array_get(dims, 4), "element", json_string("recruitment"));
    json_object_set_new(doc, "rule", json_string("majority"));
    ck_assert_ptr_null(trm_indicator_set_parse(doc, errors));
    ck_assert(has_pointer(errors, "/dimensions/0/indicators/0/strength"));
    ck_assert(has_pointer(errors, "/dimensions/1/indicators/1/code"));
    ck_assert(has_pointer(errors, "/labels/sv/indicators/no_such_indicator"));
    ck_assert(has_pointer(errors, "/dimensions/4/element"));
    ck_assert(has_pointer(errors, "/rule"));
    json_decref(doc);
    json_decref(errors);

    struct trm_indicator_set *set = set_of("ilo-ec-2009-adults-labour");
    errors = json_array();
    json_t *observed = json_loads("[\"dr_wages\", \"ex_made_up\", \"dr_wages\", 7]", 0, NULL);
    ck_assert_ptr_null(trm_ind_assess(set, observed, errors));
    ck_assert(has_pointer(errors, "/observed/1"));
    ck_assert(has_pointer(errors, "/observed/2"));
    ck_assert(has_pointer(errors, "/observed/3"));
    ck_assert(!has_pointer(errors, "/observed/0"));
    /* Error messages never repeat the submitted value. */
    char *text = json_dumps(errors, 0);
    ck_assert_ptr_null(strstr(text, "made_up"));
    free(text);
    json_decref(observed);
    json_decref(errors);
    trm_indicator_set_free(set);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("identification");
    TCase *tc = tcase_create("identification");
    tcase_add_test(tc, dimension_rule_clauses);
    tcase_add_test(tc, adults_need_three_elements);
    tcase_add_test(tc, children_need_no_coercion);
    tcase_add_test(tc, sexual_exploitation_sets);
    tcase_add_test(tc, shipped_sets_complete);
    tcase_add_test(tc, invalid_sets_and_screenings);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
