/* Helpers: UUIDs, hex, base64url, number parsing; the key file; migration file names; the
 * text buffer. */
#include "check_run.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trm/keyring.h"
#include "trm/migrate.h"
#include "trm/text_buf.h"
#include "trm/util.h"

START_TEST(uuids)
{
    char u[37], norm[37];
    trm_uuid_v4(u);
    ck_assert(trm_uuid_parse(u, norm));
    ck_assert_str_eq(u, norm);
    ck_assert_int_eq(u[14], '4');
    ck_assert(trm_uuid_parse("0A1B2C3D-0000-4000-8000-00000000000F", norm));
    ck_assert_str_eq(norm, "0a1b2c3d-0000-4000-8000-00000000000f");
    ck_assert(!trm_uuid_parse("0a1b2c3d-0000-4000-8000-00000000000", NULL));
    ck_assert(!trm_uuid_parse("0a1b2c3d-0000-4000-8000-00000000000ff", NULL));
    ck_assert(!trm_uuid_parse("0a1b2c3d_0000-4000-8000-00000000000f", NULL));
    ck_assert(!trm_uuid_parse("'; DROP TABLE cases; --", NULL));
    ck_assert(!trm_uuid_parse("", NULL));
}
END_TEST

START_TEST(hex_and_base64url)
{
    uint8_t in[5] = {0, 1, 0xab, 0xff, 0x10}, out[5];
    char hex[11], b64[16];
    trm_hex_encode(in, 5, hex);
    ck_assert_str_eq(hex, "0001abff10");
    ck_assert(trm_hex_decode(hex, out, 5));
    ck_assert_mem_eq(in, out, 5);
    ck_assert(!trm_hex_decode("0001abff1g", out, 5));
    ck_assert(!trm_hex_decode("0001abff10ff", out, 5));
    trm_b64url_encode(in, 5, b64);
    ck_assert_int_eq(trm_b64url_decode(b64, strlen(b64), out, sizeof out), 5);
    ck_assert_mem_eq(in, out, 5);
    ck_assert_int_eq(trm_b64url_decode("a+b/", 4, out, sizeof out), -1);
}
END_TEST

START_TEST(numbers)
{
    long v;
    ck_assert(trm_parse_long("42", 0, 100, &v) && v == 42);
    ck_assert(trm_parse_long("-3", -5, 5, &v) && v == -3);
    ck_assert(!trm_parse_long(" 4", 0, 100, &v));
    ck_assert(!trm_parse_long("4 ", 0, 100, &v));
    ck_assert(!trm_parse_long("+4", 0, 100, &v));
    ck_assert(!trm_parse_long("101", 0, 100, &v));
    ck_assert(!trm_parse_long("99999999999999999999999", 0, 100, &v));
    ck_assert(!trm_parse_long("", 0, 100, &v));
    ck_assert(!trm_parse_long("0x10", 0, 100, &v));
}
END_TEST

START_TEST(keyring_file_round_trip)
{
    char dir[] = "/tmp/trm-kr-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/master.key", dir);
    ck_assert(trm_keyring_create_file(path, err, sizeof err));
    ck_assert(!trm_keyring_create_file(path, err, sizeof err)); /* never overwrites */
    struct trm_keyring *kr = NULL;
    ck_assert_msg(trm_keyring_load(&kr, path, err, sizeof err), "%s", err);
    ck_assert_int_eq(trm_keyring_kek_count(kr), 1);
    char first[TRM_KEK_ID_MAX + 1];
    snprintf(first, sizeof first, "%s", trm_keyring_current_kek_id(kr));
    ck_assert_ptr_nonnull(trm_keyring_kek(kr, first));
    ck_assert_ptr_null(trm_keyring_kek(kr, "nope"));
    trm_keyring_free(kr);
    char added[TRM_KEK_ID_MAX + 1];
    ck_assert(trm_keyring_add_kek(path, added, err, sizeof err));
    ck_assert(trm_keyring_load(&kr, path, err, sizeof err));
    ck_assert_int_eq(trm_keyring_kek_count(kr), 2);
    ck_assert_str_eq(trm_keyring_current_kek_id(kr), added);
    ck_assert_ptr_nonnull(trm_keyring_kek(kr, first));
    trm_keyring_free(kr);
    chmod(path, 0644);
    ck_assert(!trm_keyring_load(&kr, path, err, sizeof err));
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(keyring_rejects_bad_files)
{
    static const char *const bad[] = {
        "",
        "kek a1 00\n",
        "index 00\ntoken 00\nsigning 00\n",
        "kek BAD! 0000000000000000000000000000000000000000000000000000000000000000\n",
        "bogus 0000000000000000000000000000000000000000000000000000000000000000\n",
    };
    char err[256];
    struct trm_keyring *kr = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert(!trm_keyring_parse(&kr, bad[i], strlen(bad[i]), err, sizeof err));
        ck_assert_ptr_null(strstr(err, "0000"));
    }
}
END_TEST

START_TEST(migration_names)
{
    int v;
    ck_assert(trm_migration_name_parse("0001_foundation.sql", &v) && v == 1);
    ck_assert(trm_migration_name_parse("0120_cases_2.sql", &v) && v == 120);
    ck_assert(!trm_migration_name_parse("0000_zero.sql", &v));
    ck_assert(!trm_migration_name_parse("001_short.sql", &v));
    ck_assert(!trm_migration_name_parse("0001_Upper.sql", &v));
    ck_assert(!trm_migration_name_parse("0001_x.sql~", &v));
    ck_assert(!trm_migration_name_parse("0001-x.sql", &v));
    char a[65], b[65];
    trm_migration_checksum("abc", 3, a);
    trm_migration_checksum("abd", 3, b);
    ck_assert_str_ne(a, b);
    ck_assert_str_eq(a, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(text_buffer_writes_json_strings)
{
    struct trm_text_buf b = {0};
    trm_tb_adds(&b, "[");
    trm_tb_json_string(&b, "a\"b\\c\n\t\x01\x1f \xc3\xa5");
    trm_tb_add(&b, ",", 1);
    trm_tb_json_string(&b, NULL);
    trm_tb_adds(&b, "]");
    char *t = trm_tb_take(&b);
    ck_assert_str_eq(t, "[\"a\\\"b\\\\c\\n\\t\\u0001\\u001f \xc3\xa5\",null]");
    /* What jansson reads back is what was written. */
    json_t *j = json_loads(t, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_array_get(j, 0)), "a\"b\\c\n\t\x01\x1f \xc3\xa5");
    ck_assert(json_is_null(json_array_get(j, 1)));
    json_decref(j);
    free(t);
    ck_assert_ptr_null(b.p);
    /* Growing past the first allocation keeps every byte. */
    for (int i = 0; i < 1000; i++)
        trm_tb_adds(&b, "0123456789");
    t = trm_tb_take(&b);
    ck_assert_uint_eq(strlen(t), 10000);
    ck_assert_int_eq(t[9999], '9');
    free(t);
    t = trm_tb_take(&b);
    ck_assert_str_eq(t, "");
    free(t);
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("util");
    tcase_add_test(tc, uuids);
    tcase_add_test(tc, hex_and_base64url);
    tcase_add_test(tc, numbers);
    tcase_add_test(tc, keyring_file_round_trip);
    tcase_add_test(tc, keyring_rejects_bad_files);
    tcase_add_test(tc, migration_names);
    tcase_add_test(tc, text_buffer_writes_json_strings);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
