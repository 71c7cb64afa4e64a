/* The code lists of regions and economic sectors (config/codes/): the shipped files load, a
 * region belongs to its country, every EU and EFTA country has its NUTS 2024 level 3 regions
 * (as many as Eurostat's file lists: tools/codes/regions.py), NACE Rev. 2 has its 21 sections,
 * malformed files are refused with the file and line. */
#include "check_run.h"

#include <stdlib.h>
#include <string.h>

#include "trm/codes.h"

START_TEST(shipped_lists)
{
    struct trm_codes *c;
    char err[256] = "";
    ck_assert_msg(trm_codes_load(&c, TRM_SOURCE_DIR "/config/codes", err, sizeof err), "%s", err);
    ck_assert_int_eq(trm_codes_sectors(c), 21);
    ck_assert_int_eq(trm_codes_regions(c), 1165 + 46 + 17);
    ck_assert_int_eq(trm_codes_region(c, "SE", "SE110"), TRM_REGION_OK);
    ck_assert_int_eq(trm_codes_region(c, "SE", "SE332"), TRM_REGION_OK);
    ck_assert_int_eq(trm_codes_region(c, "DK", "SE110"), TRM_REGION_OTHER_COUNTRY);
    ck_assert_int_eq(trm_codes_region(c, "SE", "SE11"), TRM_REGION_UNKNOWN); /* NUTS 2 */
    ck_assert_int_eq(trm_codes_region(c, "SE", "SE1101"), TRM_REGION_UNKNOWN);
    ck_assert_int_eq(trm_codes_region(c, "SE", "se110"), TRM_REGION_UNKNOWN);
    ck_assert_int_eq(trm_codes_region(c, "PH", "PH-00"), TRM_REGION_OK);
    ck_assert_int_eq(trm_codes_region(c, "PH", "PH-41"), TRM_REGION_OK);
    ck_assert_int_eq(trm_codes_region(c, "ZZ", "ZZ000"), TRM_REGION_NO_LIST);
    ck_assert(trm_codes_sector(c, "A"));
    ck_assert(trm_codes_sector(c, "U"));
    ck_assert(!trm_codes_sector(c, "V"));
    ck_assert(!trm_codes_sector(c, "a"));
    ck_assert(!trm_codes_sector(c, "A01"));
    ck_assert(!trm_codes_sector(c, ""));
    trm_codes_free(c);
}
END_TEST

/* NUTS 3 regions per country in Eurostat's NUTS2021-NUTS2024.xlsx (sheets "NUTS2024" and
 * "Statistical Regions", Extra-Regio units left out), as tools/codes/regions.py counts them;
 * Greece's EL codes are listed under its ISO 3166-1 code. */
static const struct {
    const char *country;
    size_t regions;
} nuts3[] = {
    {"AT", 35}, {"BE", 44},  {"BG", 28}, {"CY", 1},  {"CZ", 14},  {"DE", 400}, {"DK", 11},
    {"EE", 5},  {"GR", 52},  {"ES", 59}, {"FI", 19}, {"FR", 101}, {"HR", 21},  {"HU", 20},
    {"IE", 8},  {"IT", 107}, {"LT", 10}, {"LU", 1},  {"LV", 5},   {"MT", 2},   {"NL", 40},
    {"PL", 73}, {"PT", 26},  {"RO", 42}, {"SE", 21}, {"SI", 12},  {"SK", 8},   {"IS", 2},
    {"LI", 1},  {"NO", 17},  {"CH", 26},
};

START_TEST(nuts_2024)
{
    struct trm_codes *c;
    char err[256] = "";
    ck_assert_msg(trm_codes_load(&c, TRM_SOURCE_DIR "/config/codes", err, sizeof err), "%s", err);
    size_t eu = 0, efta = 0, n = sizeof nuts3 / sizeof nuts3[0];
    ck_assert_int_eq(n, 27 + 4);
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(trm_codes_country_regions(c, nuts3[i].country) == nuts3[i].regions,
                      "%s: %zu regions, not %zu", nuts3[i].country,
                      trm_codes_country_regions(c, nuts3[i].country), nuts3[i].regions);
        *(i < 27 ? &eu : &efta) += nuts3[i].regions;
    }
    ck_assert_int_eq(eu, 1165); /* Eurostat: 1 165 NUTS 3 regions in the EU-27 */
    ck_assert_int_eq(efta, 46);
    ck_assert_int_eq(trm_codes_country_regions(c, "PH"), 17);
    /* A region of each of the large countries, and of two EFTA countries. */
    ck_assert_int_eq(trm_codes_region(c, "DE", "DE111"), TRM_REGION_OK); /* Stuttgart */
    ck_assert_int_eq(trm_codes_region(c, "FR", "FRK26"), TRM_REGION_OK); /* Rhône */
    ck_assert_int_eq(trm_codes_region(c, "PL", "PL911"), TRM_REGION_OK); /* Miasto Warszawa */
    ck_assert_int_eq(trm_codes_region(c, "NO", "NO081"), TRM_REGION_OK); /* Oslo */
    ck_assert_int_eq(trm_codes_region(c, "NO", "NO0B2"), TRM_REGION_OK); /* Svalbard */
    ck_assert_int_eq(trm_codes_region(c, "CH", "CH040"), TRM_REGION_OK); /* Zürich */
    ck_assert_int_eq(trm_codes_region(c, "GR", "EL301"), TRM_REGION_OK);
    ck_assert_int_eq(trm_codes_region(c, "IT", "ITC11"), TRM_REGION_OK); /* Torino */
    ck_assert_int_eq(trm_codes_region(c, "CH", "FRK26"), TRM_REGION_OTHER_COUNTRY);
    /* Codes of NUTS 2021 that NUTS 2024 replaced: Suhl (DEG04, now DEG0S), Troms og Finnmark
     * (NO074, split into NO072 and NO073). */
    ck_assert_int_eq(trm_codes_region(c, "DE", "DEG04"), TRM_REGION_UNKNOWN);
    ck_assert_int_eq(trm_codes_region(c, "DE", "DEG0S"), TRM_REGION_OK);
    ck_assert_int_eq(trm_codes_region(c, "NO", "NO074"), TRM_REGION_UNKNOWN);
    ck_assert_int_eq(trm_codes_region(c, "NO", "NO073"), TRM_REGION_OK);
    /* Not NUTS 3 regions: a level 2 code, Extra-Regio, a code that does not exist. */
    ck_assert_int_eq(trm_codes_region(c, "DE", "DE11"), TRM_REGION_UNKNOWN);
    ck_assert_int_eq(trm_codes_region(c, "DE", "DEZZZ"), TRM_REGION_UNKNOWN);
    ck_assert_int_eq(trm_codes_region(c, "PL", "PL999"), TRM_REGION_UNKNOWN);
    /* EL is Eurostat's code for Greece, not an ISO 3166-1 one; candidate countries' statistical
     * regions are not listed. */
    ck_assert_int_eq(trm_codes_region(c, "EL", "EL301"), TRM_REGION_NO_LIST);
    ck_assert_int_eq(trm_codes_region(c, "TR", "TR100"), TRM_REGION_NO_LIST);
    trm_codes_free(c);
}
END_TEST

START_TEST(malformed_lists)
{
    struct trm_codes *c;
    char err[256];
    const char *sectors = "code\tscheme\tname\nA\tnace-rev2\tAgriculture\n";
    ck_assert(!trm_codes_parse(&c, "code\tcountry\tscheme\tname\nSE110\tse\tnuts\tx\n", sectors,
                               err, sizeof err));
    ck_assert_str_eq(err, "regions.tsv line 2: not a code, a country, a scheme and a name");
    ck_assert_ptr_null(c);
    ck_assert(!trm_codes_parse(&c, "h\nSE110\tSE\tnuts\tx\nSE110\tSE\tnuts\ty\n", sectors, err,
                               sizeof err));
    ck_assert_str_eq(err, "regions.tsv: a code is listed twice");
    ck_assert(!trm_codes_parse(&c, "h\n", "h\nA;x\n", err, sizeof err));
    ck_assert(!trm_codes_load(&c, "/nonexistent", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "cannot read"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("codes");
    TCase *tc = tcase_create("codes");
    tcase_add_test(tc, shipped_lists);
    tcase_add_test(tc, nuts_2024);
    tcase_add_test(tc, malformed_lists);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
