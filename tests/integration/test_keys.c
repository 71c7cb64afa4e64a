/* Keys and power, on a database and key file of their own (trm_keys):
 * - trmd refuses to run as a role with more power than trm_app, and with a key file that
 *   others may read; keys init never overwrites a key file. */
#include "check_run.h"
#include "harness.h"

#include "trm/crypto.h"
#include "trm/keyring.h"
#include "trm/util.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static struct trmd srv;
static char key_file[512], env_db[700], env_key[700];
static const char *envp[3];
static char admin[128], agency[37], worker[128], coord[128];
static char sentinel[32];

static int ctl(const char *args, char *out, size_t cap)
{
    return h_trmctl_with("TRM_TEST_KEYS_OWNER_URL", key_file, args, out, cap);
}

static void ctl_ok(const char *args, char *out, size_t cap)
{
    int rc = ctl(args, out, cap);
    ck_assert_msg(rc == 0, "trmctl %s: %s", args, out);
}

static void setup(void)
{
    char out[512], args[700], agency_admin[64], user[64];
    snprintf(sentinel, sizeof sentinel, "Kq%dBk", (int)getpid());
    /* One key file for the database: a run again on the same database finds its keys. */
    snprintf(key_file, sizeof key_file, "%s/keys.key", h_env("TRM_TEST_TMPDIR"));
    if (access(key_file, R_OK) != 0) {
        snprintf(args, sizeof args, "keys init '%s'", key_file);
        ctl_ok(args, out, sizeof out);
    }
    snprintf(env_db, sizeof env_db, "TRM_DATABASE_URL=%s", h_env("TRM_TEST_KEYS_APP_URL"));
    snprintf(env_key, sizeof env_key, "TRM_KEY_FILE=%s", key_file);
    envp[0] = env_db;
    envp[1] = env_key;
    envp[2] = NULL;
    h_trmd_start(&srv, envp);
    snprintf(args, sizeof args, "agency add --name 'key admins %d' --country SE --kind other",
             (int)getpid());
    ctl_ok(args, agency_admin, sizeof agency_admin);
    snprintf(args, sizeof args, "user add --agency %s --role admin --name 'Key admin'",
             agency_admin);
    ctl_ok(args, user, sizeof user);
    snprintf(args, sizeof args, "token issue --user %s --expires-days 1", user);
    ctl_ok(args, admin, sizeof admin);
    h_agency(&srv, admin, "SE", "social_services", agency);
    h_user(&srv, admin, agency, "caseworker", false, user, worker);
    h_user(&srv, admin, agency, "coordinator", false, user, coord);
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s", path);
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static unsigned mode_of(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return (unsigned)st.st_mode & 07777;
}

static void sql_ok(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
}

/* A refused trmctl run: non-zero, one line saying what, and the key file unchanged. */
static void refused(const char *args, const char *what)
{
    char out[1024];
    char *before = read_file(key_file);
    ck_assert_int_ne(ctl(args, out, sizeof out), 0);
    ck_assert_msg(strstr(out, what) != NULL && strchr(out, '\n') == NULL, "%s: %s", args, out);
    char *after = read_file(key_file);
    ck_assert_str_eq(before, after);
    ck_assert_uint_eq(mode_of(key_file), 0600);
    free(before);
    free(after);
}

/* Runs trmd until it exits by itself (at most 20 s); returns its exit status and its
 * output (stdout and stderr) in out. */
static int trmd_exit(const char *db_url, const char *keys, char *out, size_t cap)
{
    char log[512], name[64];
    static int serial;
    snprintf(name, sizeof name, "trmd-refused-%d.log", serial++);
    h_tmp_path(log, sizeof log, name);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDERR_FILENO);
        dup2(fd, STDOUT_FILENO);
        setenv("TRM_DATABASE_URL", db_url, 1);
        setenv("TRM_KEY_FILE", keys, 1);
        setenv("TRM_LISTEN", "127.0.0.1:0", 1);
        execl(TRMD_PATH, "trmd", "--config", TRM_SOURCE_DIR "/config/trmd.conf", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 400 && done == 0; i++) {
        done = waitpid(pid, &status, WNOHANG);
        if (done == 0)
            usleep(50000);
    }
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("trmd kept running (db %s, key file %s)", db_url, keys);
    }
    char *text = read_file(log);
    snprintf(out, cap, "%s", text);
    free(text);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The app URL with another login role. */
static void url_as(const char *role, char *out, size_t cap)
{
    const char *app = h_env("TRM_TEST_KEYS_APP_URL");
    const char *at = strstr(app, "user=trm_app");
    ck_assert_ptr_nonnull(at);
    snprintf(out, cap, "%.*suser=%s%s", (int)(at - app), app, role, at + strlen("user=trm_app"));
}

START_TEST(trmd_refuses_powerful_roles)
{
    PGconn *super = h_pg("TRM_TEST_KEYS_SUPER_URL");
    sql_ok(super, "DO $$ BEGIN "
                  "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trm_test_bypass') THEN "
                  "CREATE ROLE trm_test_bypass LOGIN BYPASSRLS IN ROLE trm_app; END IF; "
                  "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trm_test_owner_member') "
                  "THEN CREATE ROLE trm_test_owner_member LOGIN NOINHERIT IN ROLE trm_app, "
                  "trm_owner; END IF; END $$");
    sql_ok(super, "GRANT CONNECT ON DATABASE trm_keys TO trm_test_bypass, trm_test_owner_member");
    PQfinish(super);
    char bypass[700], member[700];
    url_as("trm_test_bypass", bypass, sizeof bypass);
    url_as("trm_test_owner_member", member, sizeof member);
    struct {
        const char *url, *says;
    } cases[] = {
        {h_env("TRM_TEST_KEYS_OWNER_URL"), "database role trm_owner owns table public."},
        {h_env("TRM_TEST_KEYS_SUPER_URL"), "is a superuser"},
        {bypass, "database role trm_test_bypass bypasses row-level security (BYPASSRLS)"},
        {member, "database role trm_test_owner_member, as a member of trm_owner, owns table"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[4096];
        int rc = trmd_exit(cases[i].url, key_file, out, sizeof out);
        ck_assert_msg(rc != 0, "trmd ran with %s", cases[i].url);
        ck_assert_msg(strncmp(out, "trmd: refusing to run: ", 23) == 0 &&
                          strstr(out, cases[i].says) && strstr(out, "connect as trm_app") &&
                          strchr(out, '\n') == NULL,
                      "%s", out);
    }
}
END_TEST

/* A copy of the key file with this mode. */
static void key_copy(const char *name, unsigned mode, char *path, size_t cap)
{
    h_tmp_path(path, cap, name);
    unlink(path);
    char *text = read_file(key_file);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    free(text);
    ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(trmd_refuses_a_key_file_others_can_read)
{
    char path[512], out[4096];
    key_copy("group.key", 0640, path, sizeof path);
    int rc = trmd_exit(h_env("TRM_TEST_KEYS_APP_URL"), path, out, sizeof out);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(out, "key file mode is 0640") && strstr(out, "chmod 600") &&
                      strchr(out, '\n') == NULL,
                  "%s", out);
    unlink(path);
    /* Read-only for its owner is fine. */
    key_copy("owner-read-only.key", 0400, path, sizeof path);
    char env_ro[700];
    snprintf(env_ro, sizeof env_ro, "TRM_KEY_FILE=%s", path);
    const char *env[] = {env_db, env_ro, NULL};
    struct trmd t;
    h_trmd_start(&t, env);
    ck_assert_int_eq(h_trmd_stop(&t), 0);
    unlink(path);
}
END_TEST

START_TEST(keys_init_never_overwrites)
{
    char args[700];
    snprintf(args, sizeof args, "keys init '%s'", key_file);
    refused(args, "exists: a key file is never overwritten");
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("keys");
    TCase *tc = tcase_create("keys");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, trmd_refuses_powerful_roles);
    tcase_add_test(tc, trmd_refuses_a_key_file_others_can_read);
    tcase_add_test(tc, keys_init_never_overwrites);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
