/* Configuration: defaults, file parsing, bounds, environment overrides, the sample check. */
#include "check_run.h"
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "trm/config.h"

START_TEST(defaults_are_sane)
{
    struct trm_config c;
    trm_config_defaults(&c);
    ck_assert_str_eq(c.listen, "127.0.0.1:8080");
    ck_assert_int_eq(c.max_body_bytes, 1048576);
    ck_assert_int_eq(c.document_max_bytes, 20 * 1024 * 1024);
    ck_assert_int_eq(c.case_documents_max_bytes, 200 * 1024 * 1024);
    ck_assert_int_eq(c.worker_threads, 4);
    ck_assert_str_eq(c.log_level, "info");
}
END_TEST

START_TEST(parses_keys_comments_and_blanks)
{
    struct trm_config c;
    char err[256];
    trm_config_defaults(&c);
    const char *text = "# comment\n\n  listen = 0.0.0.0:9000  \nworker_threads=8\r\n"
                       "log_level = debug\n";
    ck_assert(trm_config_parse(&c, text, strlen(text), "t", err, sizeof err));
    ck_assert_str_eq(c.listen, "0.0.0.0:9000");
    ck_assert_int_eq(c.worker_threads, 8);
    ck_assert_str_eq(c.log_level, "debug");
}
END_TEST

START_TEST(rejects_bad_input_without_echoing_values)
{
    struct trm_config c;
    char err[256];
    static const char *const bad[] = {
        "nokey\n",
        "unknown_key = 1\n",
        "worker_threads = many\n",
        "worker_threads = 0\n",
        "worker_threads = 99999999999999999999\n",
        "worker_threads = +4\n",
        "log_level = loud\n",
        "max_body_bytes = 1e6\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        trm_config_defaults(&c);
        ck_assert_msg(!trm_config_parse(&c, bad[i], strlen(bad[i]), "t", err, sizeof err),
                      "accepted %s", bad[i]);
        ck_assert_ptr_nonnull(strstr(err, "t:1"));
    }
    trm_config_defaults(&c);
    const char *secret = "database_url = ";
    char text[3000];
    snprintf(text, sizeof text, "%s%02000d\n", secret, 7);
    ck_assert(!trm_config_parse(&c, text, strlen(text), "t", err, sizeof err));
    ck_assert_ptr_null(strstr(err, "0000000"));
    const char nul[] = "listen = a\0b\n";
    ck_assert(!trm_config_parse(&c, nul, sizeof nul - 1, "t", err, sizeof err));
}
END_TEST

START_TEST(environment_overrides_file)
{
    struct trm_config c;
    char err[256];
    trm_config_defaults(&c);
    setenv("TRM_LISTEN", "127.0.0.1:1234", 1);
    setenv("TRM_DB_POOL_SIZE", "3", 1);
    ck_assert(trm_config_apply_env(&c, err, sizeof err));
    ck_assert_str_eq(c.listen, "127.0.0.1:1234");
    ck_assert_int_eq(c.db_pool_size, 3);
    setenv("TRM_DB_POOL_SIZE", "lots", 1);
    ck_assert(!trm_config_apply_env(&c, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "TRM_DB_POOL_SIZE"));
    unsetenv("TRM_DB_POOL_SIZE");
    unsetenv("TRM_LISTEN");
}
END_TEST

START_TEST(sample_documents_every_key)
{
    char err[256];
    ck_assert_msg(trm_config_check_sample(TRM_SOURCE_DIR "/config/trmd.conf", err, sizeof err),
                  "%s", err);
    struct trm_config c;
    trm_config_defaults(&c);
    ck_assert(trm_config_load_file(&c, TRM_SOURCE_DIR "/config/trmd.conf", err, sizeof err));
    char tmp[] = "/tmp/trm-conf-XXXXXX";
    int fd = mkstemp(tmp);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_gt(write(fd, "listen = x:1\n", 13), 0);
    close(fd);
    ck_assert(!trm_config_check_sample(tmp, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "database_url"));
    unlink(tmp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, defaults_are_sane);
    tcase_add_test(tc, parses_keys_comments_and_blanks);
    tcase_add_test(tc, rejects_bad_input_without_echoing_values);
    tcase_add_test(tc, environment_overrides_file);
    tcase_add_test(tc, sample_documents_every_key);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
