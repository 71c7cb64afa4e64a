/* Keys and power, on a database and key file of their own (trm_keys):
 * - an erasure reaches the backups taken before it once the KEK that was current is retired:
 *   a dump taken before the erasure, restored after rotate and retire, no longer opens the
 *   erased case with the current key file (and it still did before the retirement);
 * - keys retire refuses the current KEK, an unknown one, and one that still wraps a data
 *   key, changing nothing; once retired, no data key can be wrapped under it again;
 * - keys rotate re-wraps every data key, also those other transactions hold locked;
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

/* A case whose full name is "<who> <sentinel>". */
static void create(const char *who, char id[37])
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-10\", \"person\": {\"identity\": "
             "{\"full_name\": \"%s %s\", \"date_of_birth\": \"1999-03-17\"}, "
             "\"contact\": {\"address\": \"Hidden street %s\"}}}",
             who, sentinel, sentinel);
    struct h_resp r;
    h_api(&srv, worker, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create case");
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
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

static void current_kek(char id[TRM_KEK_ID_MAX + 1])
{
    struct trm_keyring *kr = NULL;
    char err[256];
    ck_assert_msg(trm_keyring_load(&kr, key_file, err, sizeof err), "%s", err);
    snprintf(id, TRM_KEK_ID_MAX + 1, "%s", trm_keyring_current_kek_id(kr));
    trm_keyring_free(kr);
}

/* Opens the full name of case_id as stored in the database of db_env with the key file as
 * it is now: true (and the name checked) when it opens. */
static bool open_name(const char *db_env, const char *case_id, const char *who)
{
    PGconn *pg = h_pg(db_env);
    const char *p[] = {case_id};
    PGresult *k = PQexecParams(pg,
                               "SELECT k.kek_id, encode(k.wrapped_dek, 'hex'), k.dek_version, "
                               "encode(f.sealed, 'hex') FROM case_keys k JOIN case_personal f "
                               "ON f.case_id = k.case_id AND f.category = 'identity' AND "
                               "f.field = 'full_name' WHERE k.case_id = $1",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(k) == PGRES_TUPLES_OK && PQntuples(k) == 1, "%s: %s", case_id,
                  PQerrorMessage(pg));
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES], sealed[512];
    const char *sealed_hex = PQgetvalue(k, 0, 3);
    size_t sealed_len = strlen(sealed_hex) / 2;
    ck_assert(sealed_len <= sizeof sealed && sealed_len > TRM_SEAL_OVERHEAD);
    ck_assert(trm_hex_decode(PQgetvalue(k, 0, 1), wrapped, sizeof wrapped));
    ck_assert(trm_hex_decode(sealed_hex, sealed, sealed_len));
    struct trm_keyring *kr = NULL;
    char err[256], plain[512] = {0};
    ck_assert_msg(trm_keyring_load(&kr, key_file, err, sizeof err), "%s", err);
    unsigned char *dek = trm_dek_alloc();
    bool opened = trm_dek_unwrap(kr, case_id, PQgetvalue(k, 0, 0), wrapped, sizeof wrapped, dek);
    if (opened) {
        unsigned version = (unsigned)atoi(PQgetvalue(k, 0, 2));
        ck_assert(trm_field_open(dek, case_id, "identity", "full_name", version, sealed, sealed_len,
                                 (uint8_t *)plain));
        char want[128];
        snprintf(want, sizeof want, "\"%s %s\"", who, sentinel);
        ck_assert_str_eq(plain, want);
    }
    trm_dek_free(dek);
    trm_keyring_free(kr);
    PQclear(k);
    PQfinish(pg);
    return opened;
}

static void sql_ok(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
}

/* A fresh database holding the dump (as a backup would be restored). */
static void restore(const char *dump)
{
    PGconn *super = h_pg("TRM_TEST_SUPER_URL");
    sql_ok(super, "DROP DATABASE IF EXISTS trm_keys_restore");
    sql_ok(super, "CREATE DATABASE trm_keys_restore OWNER trm_owner");
    PQfinish(super);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/psql' -X -q -v ON_ERROR_STOP=1 -d '%s' -f '%s' >/dev/null",
             h_env("TRM_TEST_PGBIN"), h_env("TRM_TEST_KEYS_RESTORE_URL"), dump);
    ck_assert_int_eq(h_sh(cmd), 0);
}

static void drop_restored(void)
{
    PGconn *super = h_pg("TRM_TEST_SUPER_URL");
    sql_ok(super, "DROP DATABASE IF EXISTS trm_keys_restore");
    PQfinish(super);
}

START_TEST(erasure_reaches_backups_once_the_kek_is_retired)
{
    char erased[37], kept[37], dump[512], cmd[2048], out[1024], args[128];
    create("Erased Person", erased);
    create("Kept Person", kept);
    h_tmp_path(dump, sizeof dump, "keys-backup.sql");
    snprintf(cmd, sizeof cmd, "'%s/pg_dump' '%s' > '%s'", h_env("TRM_TEST_PGBIN"),
             h_env("TRM_TEST_KEYS_SUPER_URL"), dump);
    ck_assert_int_eq(h_sh(cmd), 0);

    char path[160];
    snprintf(path, sizeof path, "/v1/cases/%s/personal-data", erased);
    struct h_resp r;
    h_api(&srv, coord, "DELETE", path, "{\"reason\": \"requested_by_person\"}", NULL, &r);
    h_expect(&r, 200, "erase");
    h_resp_free(&r);
    ck_assert_int_eq(h_count_in("TRM_TEST_KEYS_OWNER_URL",
                                "SELECT count(*) FROM case_keys WHERE case_id = $1", erased),
                     0);

    char old[TRM_KEK_ID_MAX + 1], now[TRM_KEK_ID_MAX + 1];
    current_kek(old);
    ctl_ok("keys rotate", out, sizeof out);
    current_kek(now);
    ck_assert_str_ne(old, now);

    /* Rotated, not retired: the backup still opens the erased case with the key file. */
    restore(dump);
    ck_assert_msg(open_name("TRM_TEST_KEYS_RESTORE_URL", erased, "Erased Person"),
                  "before retirement the backup should still open the erased case");
    ck_assert(open_name("TRM_TEST_KEYS_RESTORE_URL", kept, "Kept Person"));

    snprintf(args, sizeof args, "keys retire %s", old);
    ctl_ok(args, out, sizeof out);
    ck_assert_msg(strstr(out, "retired key-encryption key") != NULL, "%s", out);
    ck_assert_uint_eq(mode_of(key_file), 0600);
    char *text = read_file(key_file);
    ck_assert_ptr_null(strstr(text, old));
    free(text);

    /* Retired: the old backup opens nothing any more, the erased case least of all. */
    ck_assert_msg(!open_name("TRM_TEST_KEYS_RESTORE_URL", erased, "Erased Person"),
                  "the erased case opened from a backup after its KEK was retired");
    ck_assert(!open_name("TRM_TEST_KEYS_RESTORE_URL", kept, "Kept Person"));
    drop_restored();
    unlink(dump);

    /* The live database lost nothing: trmd (which reloads the key file) reads the kept case. */
    ck_assert(open_name("TRM_TEST_KEYS_OWNER_URL", kept, "Kept Person"));
    snprintf(path, sizeof path, "/v1/cases/%s", kept);
    h_api(&srv, worker, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "read after retirement");
    json_t *name = json_object_get(json_object_get(json_object_get(r.json, "person"), "identity"),
                                   "full_name");
    ck_assert_ptr_nonnull(strstr(json_string_value(name), "Kept Person"));
    h_resp_free(&r);

    ctl_ok("keys status", out, sizeof out);
    char want[128];
    snprintf(want, sizeof want, "%s\t0\tretired ", old);
    ck_assert_msg(strstr(out, want) != NULL, "%s", out);
    snprintf(want, sizeof want, "%s\t", now);
    ck_assert_msg(strstr(out, want) && strstr(out, "\tcurrent"), "%s", out);
}
END_TEST

/* Wraps case_id's data key under KEK kek_id (a trmd that wrapped under an old KEK). */
static void wrap_under(const char *case_id, const char *kek_id)
{
    PGconn *pg = h_pg("TRM_TEST_KEYS_OWNER_URL");
    const char *p[] = {case_id};
    PGresult *k = PQexecParams(pg,
                               "SELECT kek_id, encode(wrapped_dek, 'hex') FROM case_keys WHERE "
                               "case_id = $1",
                               1, NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQntuples(k), 1);
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES];
    ck_assert(trm_hex_decode(PQgetvalue(k, 0, 1), wrapped, sizeof wrapped));
    struct trm_keyring *kr = NULL;
    char err[256], hex[2 * TRM_WRAPPED_DEK_BYTES + 1];
    ck_assert(trm_keyring_load(&kr, key_file, err, sizeof err));
    unsigned char *dek = trm_dek_alloc();
    ck_assert(trm_dek_unwrap(kr, case_id, PQgetvalue(k, 0, 0), wrapped, sizeof wrapped, dek));
    ck_assert(trm_dek_wrap_with(kr, kek_id, case_id, dek, wrapped));
    trm_dek_free(dek);
    trm_keyring_free(kr);
    PQclear(k);
    trm_hex_encode(wrapped, sizeof wrapped, hex);
    const char *u[] = {case_id, kek_id, hex};
    PGresult *r = PQexecParams(pg,
                               "UPDATE case_keys SET kek_id = $2, wrapped_dek = decode($3, "
                               "'hex') WHERE case_id = $1",
                               3, NULL, u, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
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

START_TEST(retire_refuses_what_would_lose_data)
{
    char out[1024], args[128], id[37], first[TRM_KEK_ID_MAX + 1], second[TRM_KEK_ID_MAX + 1];
    create("Late Wrap Person", id);
    current_kek(first);
    snprintf(args, sizeof args, "keys retire %s", first);
    refused(args, "current key-encryption key");
    refused("keys retire kek-nope", "no key-encryption key kek-nope");
    ctl_ok("keys rotate", out, sizeof out);
    current_kek(second);

    /* A data key wrapped late under the old KEK (a trmd that had not yet seen the new one). */
    wrap_under(id, first);
    snprintf(args, sizeof args, "keys retire %s", first);
    refused(args, "1 data key is still wrapped under");
    ck_assert_int_eq(h_count_in("TRM_TEST_KEYS_OWNER_URL",
                                "SELECT count(*) FROM retired_keks WHERE kek_id = $1", first),
                     0);
    ctl_ok("keys rotate --resume", out, sizeof out);
    ctl_ok(args, out, sizeof out);
    ck_assert(open_name("TRM_TEST_KEYS_OWNER_URL", id, "Late Wrap Person"));

    /* Retired for good: nothing can be wrapped under it again. */
    PGconn *pg = h_pg("TRM_TEST_KEYS_OWNER_URL");
    const char *p[] = {id, first};
    PGresult *r = PQexecParams(pg, "UPDATE case_keys SET kek_id = $2 WHERE case_id = $1", 2, NULL,
                               p, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "TR500");
    PQclear(r);
    PQfinish(pg);
    refused(args, "no key-encryption key");
}
END_TEST

struct holder {
    PGconn *pg;
    unsigned seconds;
};

static void *release_later(void *arg)
{
    struct holder *h = arg;
    sleep(h->seconds);
    PQclear(PQexec(h->pg, "COMMIT"));
    return NULL;
}

START_TEST(rotation_waits_for_locked_keys)
{
    char id[37], out[1024], now[TRM_KEK_ID_MAX + 1];
    create("Locked Key Person", id);
    /* Another transaction holds the case's key row while the rotation runs. */
    struct holder h = {h_pg("TRM_TEST_KEYS_OWNER_URL"), 5};
    sql_ok(h.pg, "BEGIN");
    const char *p[] = {id};
    PGresult *r = PQexecParams(h.pg, "SELECT 1 FROM case_keys WHERE case_id = $1 FOR UPDATE", 1,
                               NULL, p, NULL, NULL, 0);
    ck_assert_int_eq(PQntuples(r), 1);
    PQclear(r);
    pthread_t th;
    pthread_create(&th, NULL, release_later, &h);
    ctl_ok("keys rotate", out, sizeof out);
    pthread_join(th, NULL);
    PQfinish(h.pg);
    current_kek(now);
    ck_assert_int_eq(h_count_in("TRM_TEST_KEYS_OWNER_URL",
                                "SELECT count(*) FROM case_keys WHERE kek_id <> $1", now),
                     0);
    ck_assert(open_name("TRM_TEST_KEYS_OWNER_URL", id, "Locked Key Person"));
}
END_TEST

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
        setenv("TRM_CODES_DIR", TRM_SOURCE_DIR "/config/codes", 1);
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
    tcase_add_test(tc, erasure_reaches_backups_once_the_kek_is_retired);
    tcase_add_test(tc, retire_refuses_what_would_lose_data);
    tcase_add_test(tc, rotation_waits_for_locked_keys);
    tcase_add_test(tc, trmd_refuses_powerful_roles);
    tcase_add_test(tc, trmd_refuses_a_key_file_others_can_read);
    tcase_add_test(tc, keys_init_never_overwrites);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
