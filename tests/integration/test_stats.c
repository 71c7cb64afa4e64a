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

/* A Danish case of month2 in a region (and a sector, or NULL); writes its id. */
static char month2[16];

static void seed_region(const char *region, const char *sector, const char *name, char id[37])
{
    char body[1024], extra[96] = "";
    if (sector)
        snprintf(extra, sizeof extra, ", \"economic_sector\": \"%s\"", sector);
    snprintf(body, sizeof body,
             "{\"country\": \"DK\", \"sex\": \"female\", \"age_band\": \"24-26\", \"citizenship\": "
             "\"PH\", \"exploitation_forms\": [\"labour\"], \"identified_month\": \"%s\", "
             "\"identified_region\": \"%s\"%s, \"person\": {\"identity\": {\"full_name\": "
             "\"%s\", \"date_of_birth\": \"1998-02-02\"}}}",
             month2, region, extra, name);
    struct h_resp r;
    h_api(&srv, dk_worker, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "seed with a region");
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static void screen(const char *id, const char *observed)
{
    char path[128], body[512];
    snprintf(path, sizeof path, "/v1/cases/%s/screenings", id);
    snprintf(body, sizeof body, "{\"observed\": [%s]}", observed);
    struct h_resp r;
    h_api(&srv, dk_worker, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "screening");
    h_resp_free(&r);
}

static json_t *region_cell(json_t *table, const char *region)
{
    json_t *c = cell(table, "region", region);
    ck_assert_msg(c != NULL, "no row for %s", region);
    return c;
}

static json_t *screening_item(json_t *table, const char *measure, const char *code)
{
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(table, "items"), i, it)
    {
        const char *m = json_string_value(json_object_get(it, "measure"));
        const char *d = json_string_value(json_object_get(it, "dimension"));
        const char *ind = json_string_value(json_object_get(it, "indicator"));
        const char *key = strcmp(measure, "indicator") == 0 ? ind : d;
        if (strcmp(m, measure) == 0 && (code == NULL || (key && strcmp(key, code) == 0)))
            return it;
    }
    ck_abort_msg("no %s %s", measure, code ? code : "");
    return NULL;
}

static long count_of(json_t *entry)
{
    return (long)json_integer_value(json_object_get(entry, "count"));
}

/* Regions and sectors through the real SQL and endpoint: DK01 (level 2) has DK011 12, DK012 3,
 * DK013 20 persons (35); DK02 has DK021 15, DK022 4 (19). The level-3 table suppresses the 3
 * and the 4 (primary); the column then holds two unknowns and its total gives nothing away,
 * but the level-2 table publishes 35 and 19, from which 35 - 12 - 20 and 19 - 15 would give
 * the 3 and the 4 back: the groups of DK01 and DK02 each lose their smallest other region. */
START_TEST(regions_sectors_and_differencing)
{
    snprintf(month2, sizeof month2, "%04d-%02d", 1975 + (getpid() / 12) % 25, getpid() % 12 + 1);
    static const struct {
        const char *region, *sector;
        int n;
    } plan[] = {{"DK011", "A", 12},
                {"DK012", "C", 3},
                {"DK013", "A", 20},
                {"DK021", NULL, 15},
                {"DK022", NULL, 4}};
    char name[64], id[37];
    for (size_t p = 0; p < 5; p++)
        for (int i = 0; i < plan[p].n; i++) {
            snprintf(name, sizeof name, "Region %d %s %d", getpid(), plan[p].region, i);
            seed_region(plan[p].region, plan[p].sector, name, id);
            /* Screenings: DK011's persons positive, DK012's negative (one indicator only
             * they have: 3 persons, suppressed); one DK011 person negative first. */
            if (p == 0 && i == 0)
                screen(id, "\"dr_contract\", \"dr_wages\"");
            if (p == 0)
                screen(id, "\"dr_nature_of_job\", \"dr_wages\", \"ex_excessive_hours\", "
                           "\"ex_low_salary\", \"cd_documents\", \"cd_debt_bondage\"");
            if (p == 1)
                screen(id, "\"dr_nature_of_job\", \"dr_wages\", \"dr_contract\"");
        }
    struct h_resp r;
    char path[200];
    snprintf(path, sizeof path,
             "/v1/stats/victims?country=DK&group_by=region&from=%s&to=%s&region_level=2", month2,
             month2);
    h_api(&srv, auditor, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "regions level 2");
    ck_assert_int_eq(count_of(region_cell(r.json, "DK01")), 35);
    ck_assert_int_eq(count_of(region_cell(r.json, "DK02")), 19);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "region_level")), 2);
    h_resp_free(&r);

    snprintf(path, sizeof path, "/v1/stats/victims?country=DK&group_by=region&from=%s&to=%s",
             month2, month2);
    h_api(&srv, auditor, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "regions level 3");
    static const char *const hidden[] = {"DK011", "DK012", "DK021", "DK022"};
    for (size_t i = 0; i < 4; i++) {
        json_t *c = region_cell(r.json, hidden[i]);
        ck_assert_msg(json_is_true(json_object_get(c, "suppressed")), "%s published: %s", hidden[i],
                      r.body);
        ck_assert(json_is_null(json_object_get(c, "count")));
    }
    ck_assert_int_eq(count_of(region_cell(r.json, "DK013")), 20);
    ck_assert_int_eq(count_of(json_object_get(r.json, "total")), 54);
    json_t *sup = json_object_get(r.json, "suppressed");
    ck_assert_int_eq(json_integer_value(json_object_get(sup, "primary")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(sup, "secondary")), 2);
    h_resp_free(&r);

    /* Level 1 (DK0) and 0 (DK): one row each, 54. */
    snprintf(path, sizeof path,
             "/v1/stats/victims?country=DK&group_by=region&from=%s&to=%s&region_level=0", month2,
             month2);
    h_api(&srv, auditor, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "regions level 0");
    ck_assert_int_eq(count_of(region_cell(r.json, "DK")), 54);
    h_resp_free(&r);
    snprintf(path, sizeof path,
             "/v1/stats/victims?country=DK&group_by=region&from=%s&to=%s&region_level=4", month2,
             month2);
    h_api(&srv, auditor, "GET", path, NULL, NULL, &r);
    h_assert_problem(&r, 400, "invalid_parameter");
    h_resp_free(&r);

    /* Sectors: A 32, C 3 (suppressed), none recorded 19 (suppressed with it). */
    snprintf(path, sizeof path, "/v1/stats/victims?country=DK&group_by=sector&from=%s&to=%s",
             month2, month2);
    h_api(&srv, auditor, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "sectors");
    ck_assert_int_eq(count_of(cell(r.json, "sector", "A")), 32);
    ck_assert(json_is_true(json_object_get(cell(r.json, "sector", "C"), "suppressed")));
    ck_assert(json_is_true(json_object_get(cell(r.json, "sector", "unknown"), "suppressed")));
    h_resp_free(&r);

    /* Region by sector: regions stay the rows whichever is named first. */
    snprintf(path, sizeof path, "/v1/stats/victims?country=DK&group_by=sector,region&from=%s&to=%s",
             month2, month2);
    h_api(&srv, auditor, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "region by sector");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(r.json, "group_by"), 0)),
                     "region");
    ck_assert_ptr_null(strstr(r.body, "Region "));
    h_resp_free(&r);

    /* Screenings by dimension and indicator: each person's latest. */
    snprintf(path, sizeof path, "/v1/stats/screenings?country=DK&from=%s&to=%s", month2, month2);
    h_api(&srv, auditor, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "screenings");
    ck_assert_int_eq(
        json_integer_value(json_object_get(screening_item(r.json, "screened", NULL), "persons")),
        15);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         screening_item(r.json, "presumed_victim", NULL), "persons")),
                     12);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         screening_item(r.json, "dimension", "deceptive_recruitment"), "persons")),
                     15);
    ck_assert_int_eq(
        json_integer_value(json_object_get(
            screening_item(r.json, "dimension", "coercion_at_destination"), "persons")),
        12);
    json_t *hours = screening_item(r.json, "indicator", "ex_excessive_hours");
    ck_assert_int_eq(json_integer_value(json_object_get(hours, "persons")), 12);
    ck_assert_str_eq(json_string_value(json_object_get(hours, "dimension")), "exploitation");
    /* dr_contract: the 3 negative persons only (the DK011 person's negative screening is not
     * their latest): suppressed. */
    json_t *contract = screening_item(r.json, "indicator", "dr_contract");
    ck_assert(json_is_true(json_object_get(contract, "suppressed")));
    ck_assert(json_is_null(json_object_get(contract, "persons")));
    h_resp_free(&r);
    const char *csv[] = {"Accept: text/csv", NULL};
    h_api(&srv, auditor, "GET", path, NULL, csv, &r);
    h_expect(&r, 200, "screenings csv");
    ck_assert_ptr_nonnull(strstr(r.body, "ex_excessive_hours,12,false"));
    h_resp_free(&r);
    /* A coordinator of another country does not see Denmark's. */
    h_api(&srv, no_coord, "GET", path, NULL, NULL, &r);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
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
    tcase_add_test(tc, regions_sectors_and_differencing);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
