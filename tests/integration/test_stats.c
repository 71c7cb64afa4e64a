/* Statistics across three countries: the expected counts, small cells suppressed (with the
 * partner that would give them away), duplicates across agencies counted once, CSV, who may
 * see what, and trmctl stats export. Countries no other test uses keep the counts exact. */
#include "check_run.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct trmd srv;
static char admin[128], no1[37], no2[37], fi[37], dk[37], io[37];
static char no1_worker[128], no2_worker[128], fi_worker[128], dk_worker[128];
static char no_coord[128], fi_coord[128], auditor[128];

/* A month of identification of this run only, so earlier runs on the same database do not
 * change the counts (queries ask for exactly this month). */
static char month[16], range[48];

static void pick_month(void)
{
    snprintf(month, sizeof month, "%04d-%02d", 2000 + (getpid() / 12) % 25, getpid() % 12 + 1);
    snprintf(range, sizeof range, "from=%s&to=%s", month, month);
}

static void setup(void)
{
    char user[37];
    const char *env[] = {"TRM_BLIND_INDEX_BITS=32", NULL};
    h_trmd_start(&srv, env);
    h_admin(admin, "NO");
    h_agency(&srv, admin, "NO", "social_services", no1);
    h_agency(&srv, admin, "NO", "ngo", no2);
    h_agency(&srv, admin, "FI", "police", fi);
    h_agency(&srv, admin, "DK", "ngo", dk);
    h_agency(&srv, admin, "NO", "international_org", io);
    h_user(&srv, admin, no1, "caseworker", false, user, no1_worker);
    h_user(&srv, admin, no2, "caseworker", false, user, no2_worker);
    h_user(&srv, admin, fi, "caseworker", false, user, fi_worker);
    h_user(&srv, admin, dk, "caseworker", false, user, dk_worker);
    h_user(&srv, admin, no1, "coordinator", false, user, no_coord);
    h_user(&srv, admin, fi, "coordinator", false, user, fi_coord);
    h_user(&srv, admin, io, "auditor", true, user, auditor);
    pick_month();
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

static void seed(const char *token, const char *country, const char *sex, const char *age,
                 const char *name)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"country\": \"%s\", \"sex\": \"%s\", \"age_band\": \"%s\", \"citizenship\": "
             "\"PH\", \"exploitation_forms\": [\"labour\"], \"identified_month\": \"%s\", "
             "\"person\": {\"identity\": {\"full_name\": \"%s\", \"date_of_birth\": "
             "\"1999-01-01\"}}}",
             country, sex, age, month, name);
    struct h_resp r;
    h_api(&srv, token, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "seed");
    h_resp_free(&r);
}

static json_t *cell(json_t *table, const char *dim, const char *value)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(table, "cells"), i, c)
    {
        if (strcmp(json_string_value(json_object_get(c, dim)), value) == 0)
            return c;
    }
    return NULL;
}

START_TEST(counts_suppression_and_duplicates)
{
    char name[64];
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof name, "Stat Person %d-%d", getpid(), i);
        seed(no1_worker, "NO", "female", "21-23", name);
    }
    /* The same woman recorded again by another Norwegian agency. */
    snprintf(name, sizeof name, "Stat Person %d-%d", getpid(), 3);
    seed(no2_worker, "NO", "female", "21-23", name);
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "Stat Man %d-%d", getpid(), i);
        seed(no1_worker, "NO", "male", "30-38", name);
    }
    for (int i = 0; i < 15; i++) {
        snprintf(name, sizeof name, "Finn %d-%d", getpid(), i);
        seed(fi_worker, "FI", "female", "18-20", name);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "Dane %d-%d", getpid(), i);
        seed(dk_worker, "DK", "female", "24-26", name);
    }
    struct h_resp r;
    char path[200];
    /* Norway by sex: 12 women (13 cases, one merged), 3 men. The 3 is suppressed, and so is
     * the 12, which would give it away from the total of 15. */
    snprintf(path, sizeof path, "/v1/stats/victims?group_by=sex&%s", range);
    h_api(&srv, no_coord, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "victims NO");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r.json, "total"), "count")),
                     15);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "cases_merged")), 1);
    ck_assert(json_is_true(json_object_get(cell(r.json, "sex", "male"), "suppressed")));
    ck_assert(json_is_null(json_object_get(cell(r.json, "sex", "male"), "count")));
    ck_assert(json_is_true(json_object_get(cell(r.json, "sex", "female"), "suppressed")));
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(r.json, "suppressed"), "secondary")), 1);
    ck_assert_ptr_null(strstr(r.body, "Stat Person"));
    h_resp_free(&r);
    /* Finland: 15 women, all published. */
    snprintf(path, sizeof path, "/v1/stats/victims?group_by=sex,age_band&%s", range);
    h_api(&srv, fi_coord, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "victims FI");
    ck_assert_int_eq(json_integer_value(json_object_get(cell(r.json, "sex", "female"), "count")),
                     15);
    h_resp_free(&r);
    /* Denmark, for the cross-border auditor: 2, suppressed, total too. */
    snprintf(path, sizeof path, "/v1/stats/victims?country=DK&group_by=status&%s", range);
    h_api(&srv, auditor, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "victims DK");
    ck_assert(json_is_true(json_object_get(json_object_get(r.json, "total"), "suppressed")));
    ck_assert(json_is_true(json_object_get(cell(r.json, "status", "presumed"), "suppressed")));
    h_resp_free(&r);
    /* CSV. */
    const char *csv[] = {"Accept: text/csv", NULL};
    snprintf(path, sizeof path, "/v1/stats/victims?group_by=sex&%s", range);
    h_api(&srv, no_coord, "GET", path, NULL, csv, &r);
    h_expect(&r, 200, "csv");
    ck_assert_int_eq(strncmp(r.body, "sex,count,suppressed\n", 21), 0);
    ck_assert_ptr_nonnull(strstr(r.body, "(all),15,false"));
    h_resp_free(&r);
    /* The other tables. */
    h_api(&srv, no_coord, "GET", "/v1/stats/assistance", NULL, NULL, &r);
    h_expect(&r, 200, "assistance");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 4);
    h_resp_free(&r);
    h_api(&srv, auditor, "GET", "/v1/stats/referrals?country=NO", NULL, NULL, &r);
    h_expect(&r, 200, "referrals");
    h_resp_free(&r);
}
END_TEST

START_TEST(who_may_see_statistics)
{
    struct h_resp r;
    h_api(&srv, no_coord, "GET", "/v1/stats/victims?country=FI", NULL, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    h_api(&srv, no1_worker, "GET", "/v1/stats/victims", NULL, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    h_api(&srv, admin, "GET", "/v1/stats/referrals", NULL, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    h_api(&srv, no_coord, "GET", "/v1/stats/victims?group_by=name", NULL, NULL, &r);
    h_assert_problem(&r, 400, "invalid_parameter");
    h_resp_free(&r);
    h_api(&srv, no_coord, "GET", "/v1/stats/victims?group_by=sex,age_band,country", NULL, NULL, &r);
    h_assert_problem(&r, 400, "invalid_parameter");
    h_resp_free(&r);
    h_api(&srv, no_coord, "GET", "/v1/stats/victims?from=2026-13", NULL, NULL, &r);
    h_assert_problem(&r, 400, "invalid_parameter");
    h_resp_free(&r);
}
END_TEST

/* A person is keyed on both blind index values (full name, and name with year of birth),
 * through the real SQL. Twelve people of one group; then, as if their name-and-year values had
 * collided (a 14-bit value is shared by many people), they all get the same one: still twelve
 * persons (the name-and-year value alone counted one). Two of them sharing their full-name
 * value as well are one person. */
static void set_index(const char *kind, const char *value, const char *where)
{
    char sql[512], first[24];
    snprintf(first, sizeof first, "%s-01", month);
    snprintf(sql, sizeof sql,
             "UPDATE case_blind_index b SET value = %s FROM cases c WHERE c.id = b.case_id "
             "AND b.kind = %s AND c.country = 'IS' AND c.identified_month = '%s' %s",
             value, kind, first, where);
    PGconn *pg = h_pg("TRM_TEST_SUPER_URL");
    PGresult *res = PQexec(pg, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
}

static long iceland_persons(long *merged)
{
    char path[200];
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/stats/victims?country=IS&group_by=sex&%s", range);
    h_api(&srv, auditor, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "victims IS");
    long n = json_integer_value(json_object_get(json_object_get(r.json, "total"), "count"));
    *merged = json_integer_value(json_object_get(r.json, "cases_merged"));
    h_resp_free(&r);
    return n;
}

START_TEST(persons_keyed_on_both_indexes)
{
    char is[37], user[37], worker[128], name[64];
    h_agency(&srv, admin, "IS", "ngo", is);
    h_user(&srv, admin, is, "caseworker", false, user, worker);
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof name, "Icelander %d-%d", getpid(), i);
        seed(worker, "IS", "female", "21-23", name);
    }
    long merged;
    ck_assert_int_eq(iceland_persons(&merged), 12);
    set_index("2", "7", "");
    ck_assert_int_eq(iceland_persons(&merged), 12);
    ck_assert_int_eq(merged, 0);
    set_index("1", "5",
              "AND b.case_id IN (SELECT id FROM cases WHERE country = 'IS' AND identified_month = "
              "c.identified_month ORDER BY created_at "
              "DESC LIMIT 2)");
    ck_assert_int_eq(iceland_persons(&merged), 11);
    ck_assert_int_eq(merged, 1);
}
END_TEST

START_TEST(export_for_a_report)
{
    char *out = malloc(1 << 16);
    ck_assert_int_eq(
        h_trmctl("stats export --country FI --from 2026-01 --to 2026-12", out, 1 << 16), 0);
    ck_assert_ptr_nonnull(strstr(out, "# registered victims"));
    ck_assert_ptr_nonnull(strstr(out, "# assistance"));
    ck_assert_ptr_nonnull(strstr(out, "# handovers"));
    free(out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, counts_suppression_and_duplicates);
    tcase_add_test(tc, who_may_see_statistics);
    tcase_add_test(tc, persons_keyed_on_both_indexes);
    tcase_add_test(tc, export_for_a_report);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
