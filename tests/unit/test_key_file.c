/* The master key file on disk: only its owner may read it (0600 or 0400), it is never
 * overwritten by keys init, and changing it (a new KEK, a retired KEK) replaces it whole with
 * the same mode, leaving no temporary file and no copy of a retired key behind. */
#include "check_run.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trm/keyring.h"

static char dir[64], path[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/trm-kf-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/master.key", dir);
    char err[256];
    ck_assert_msg(trm_keyring_create_file(path, err, sizeof err), "%s", err);
}

static void teardown(void)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The file's bytes, malloc'd (NUL-terminated). */
static char *slurp(const char *p)
{
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static unsigned mode_of(const char *p)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return (unsigned)st.st_mode & 07777;
}

static size_t files_in_dir(void)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The hex of KEK id as written in the file (kek <id> <hex>), into hex. */
static void kek_hex(const char *text, const char *id, char hex[65])
{
    char needle[64];
    snprintf(needle, sizeof needle, "kek %s ", id);
    const char *p = strstr(text, needle);
    ck_assert_ptr_nonnull(p);
    memcpy(hex, p + strlen(needle), 64);
    hex[64] = '\0';
}

START_TEST(only_the_owner_may_read_it)
{
    char err[256];
    struct trm_keyring *kr = NULL;
    ck_assert_uint_eq(mode_of(path), 0600);
    static const unsigned refused[] = {0640, 0644, 0660, 0604, 0700, 0610, 0601};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ck_assert_int_eq(chmod(path, refused[i]), 0);
        ck_assert_msg(!trm_keyring_load(&kr, path, err, sizeof err), "mode %04o accepted",
                      refused[i]);
        char want[16];
        snprintf(want, sizeof want, "%04o", refused[i]);
        ck_assert_msg(strstr(err, want) && strstr(err, "chmod 600") && !strchr(err, '\n'), "%s",
                      err);
        char id[TRM_KEK_ID_MAX + 1];
        ck_assert(!trm_keyring_add_kek(path, id, err, sizeof err));
    }
    ck_assert_int_eq(chmod(path, 0400), 0);
    ck_assert_msg(trm_keyring_load(&kr, path, err, sizeof err), "%s", err);
    trm_keyring_free(kr);
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_msg(trm_keyring_load(&kr, path, err, sizeof err), "%s", err);
    trm_keyring_free(kr);
}
END_TEST

START_TEST(init_never_overwrites)
{
    char err[256];
    char *before = slurp(path);
    ck_assert(!trm_keyring_create_file(path, err, sizeof err));
    ck_assert_msg(strstr(err, "never overwritten") != NULL, "%s", err);
    char *after = slurp(path);
    ck_assert_str_eq(before, after);
    ck_assert_uint_eq(mode_of(path), 0600);
    /* Not through a symbolic link either. */
    char link[160];
    snprintf(link, sizeof link, "%s/link.key", dir);
    ck_assert_int_eq(symlink(path, link), 0);
    ck_assert(!trm_keyring_create_file(link, err, sizeof err));
    free(after);
    after = slurp(path);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

START_TEST(rotation_adds_a_kek_and_keeps_the_rest)
{
    char err[256], added[TRM_KEK_ID_MAX + 1];
    char *before = slurp(path);
    ck_assert_int_eq(chmod(path, 0400), 0);
    ck_assert_msg(trm_keyring_add_kek(path, added, err, sizeof err), "%s", err);
    ck_assert_uint_eq(mode_of(path), 0400);
    char *after = slurp(path);
    ck_assert_int_eq(strncmp(before, after, strlen(before)), 0); /* appended, nothing else */
    struct trm_keyring *kr = NULL;
    ck_assert(trm_keyring_load(&kr, path, err, sizeof err));
    ck_assert_str_eq(trm_keyring_current_kek_id(kr), added);
    ck_assert_uint_eq(trm_keyring_kek_count(kr), 2);
    trm_keyring_free(kr);
    ck_assert_uint_eq(files_in_dir(), 1);
    free(before);
    free(after);
}
END_TEST

START_TEST(retire_removes_an_old_kek_for_good)
{
    char err[256], second[TRM_KEK_ID_MAX + 1], first[TRM_KEK_ID_MAX + 1];
    struct trm_keyring *kr = NULL;
    ck_assert(trm_keyring_load(&kr, path, err, sizeof err));
    snprintf(first, sizeof first, "%s", trm_keyring_current_kek_id(kr));
    unsigned char index_root[TRM_KEY_BYTES];
    memcpy(index_root, trm_keyring_index_root(kr), sizeof index_root);
    trm_keyring_free(kr);

    /* The only (current) KEK, an unknown one: refused, nothing changed. */
    char *before = slurp(path);
    ck_assert(!trm_keyring_retire_kek(path, first, err, sizeof err));
    ck_assert_msg(strstr(err, "current") && strstr(err, "keys rotate"), "%s", err);
    ck_assert(!trm_keyring_retire_kek(path, "kek-nope", err, sizeof err));
    ck_assert_msg(strstr(err, "no key-encryption key kek-nope") != NULL, "%s", err);
    char *after = slurp(path);
    ck_assert_str_eq(before, after);
    free(after);

    ck_assert(trm_keyring_add_kek(path, second, err, sizeof err));
    char *rotated = slurp(path), old_hex[65];
    kek_hex(rotated, first, old_hex);
    /* A reader that opened the file before: what it holds is overwritten, not left behind. */
    int reader = open(path, O_RDONLY);
    ck_assert_int_ge(reader, 0);
    ck_assert_msg(trm_keyring_retire_kek(path, first, err, sizeof err), "%s", err);
    char *retired = slurp(path);
    ck_assert_ptr_null(strstr(retired, first));
    ck_assert_ptr_null(strstr(retired, old_hex));
    ck_assert_uint_eq(mode_of(path), 0600);
    ck_assert_uint_eq(files_in_dir(), 1);
    char old_bytes[4096] = {0};
    ssize_t n = pread(reader, old_bytes, sizeof old_bytes - 1, 0);
    close(reader);
    ck_assert_int_gt(n, 0);
    ck_assert_msg(memchr(old_bytes, 'k', (size_t)n) == NULL, "the replaced file was not wiped");

    ck_assert(trm_keyring_load(&kr, path, err, sizeof err));
    ck_assert_uint_eq(trm_keyring_kek_count(kr), 1);
    ck_assert_str_eq(trm_keyring_current_kek_id(kr), second);
    ck_assert_ptr_null(trm_keyring_kek(kr, first));
    ck_assert_mem_eq(trm_keyring_index_root(kr), index_root, sizeof index_root);
    ck_assert_ptr_nonnull(trm_keyring_box_secret(kr));
    trm_keyring_free(kr);
    free(before);
    free(rotated);
    free(retired);
}
END_TEST

START_TEST(retire_leaves_other_links_alone)
{
    /* A second name for the same file (say, an operator's copy by hard link) keeps its
     * bytes: only a file linked nowhere is overwritten. */
    char err[256], second[TRM_KEK_ID_MAX + 1], first[TRM_KEK_ID_MAX + 1], other[160];
    struct trm_keyring *kr = NULL;
    ck_assert(trm_keyring_load(&kr, path, err, sizeof err));
    snprintf(first, sizeof first, "%s", trm_keyring_current_kek_id(kr));
    trm_keyring_free(kr);
    ck_assert(trm_keyring_add_kek(path, second, err, sizeof err));
    snprintf(other, sizeof other, "%s/other.key", dir);
    ck_assert_int_eq(link(path, other), 0);
    char *before = slurp(other);
    ck_assert_msg(trm_keyring_retire_kek(path, first, err, sizeof err), "%s", err);
    char *after = slurp(other);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("key_file");
    TCase *tc = tcase_create("key_file");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, only_the_owner_may_read_it);
    tcase_add_test(tc, init_never_overwrites);
    tcase_add_test(tc, rotation_adds_a_kek_and_keeps_the_rest);
    tcase_add_test(tc, retire_removes_an_old_kek_for_good);
    tcase_add_test(tc, retire_leaves_other_links_alone);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
