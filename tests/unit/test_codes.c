/* The code lists of regions and economic sectors (config/codes/): the shipped files load, a
 * region belongs to its country, NACE Rev. 2 has its 21 sections, malformed files are
 * refused with the file and line. */
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
    ck_assert_int_ge(trm_codes_regions(c), 17 + 21);
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
    tcase_add_test(tc, malformed_lists);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
