/* The schema and its guardians: trmctl migrate is idempotent and refuses changed files;
 * the application role cannot create or drop tables. */
#include "check_run.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *sqlstate(PGresult *r)
{
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return s ? s : "";
}

START_TEST(app_role_cannot_change_the_schema)
{
    PGconn *pg = h_pg("TRM_TEST_APP_URL");
    PGresult *r = PQexec(pg, "CREATE TABLE intruder (x int)");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(sqlstate(r), "42501");
    PQclear(r);
    r = PQexec(pg, "DROP TABLE schema_migrations");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(sqlstate(r), "42501");
    PQclear(r);
    r = PQexec(pg, "DELETE FROM schema_migrations");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    r = PQexec(pg, "CREATE SCHEMA intruder");
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    r = PQexec(pg, "SELECT count(*) FROM schema_migrations");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    r = PQexec(pg, "SELECT rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb "
                   "FROM pg_roles WHERE rolname = current_user");
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "f");
    PQclear(r);
    r = PQexec(pg, "SELECT count(*) FROM pg_tables WHERE tableowner = current_user");
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    PQfinish(pg);
}
END_TEST

static int migrate(const char *dir, char *out, size_t cap)
{
    char cmd[2048], outfile[512];
    h_tmp_path(outfile, sizeof outfile, "migrate.out");
    snprintf(cmd, sizeof cmd, "TRM_DATABASE_URL='%s' '%s' migrate --dir '%s' >'%s' 2>&1",
             h_env("TRM_TEST_OWNER_URL"), TRMCTL_PATH, dir, outfile);
    int rc = h_sh(cmd);
    FILE *f = fopen(outfile, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    return rc;
}

START_TEST(migrate_is_idempotent_and_refuses_changed_files)
{
    char out[4096];
    ck_assert_int_eq(migrate(TRM_SOURCE_DIR "/sql/migrations", out, sizeof out), 0);
    ck_assert_msg(strstr(out, "(0 migrations applied now)") != NULL, "%s", out);

    char dir[512], cmd[2048];
    h_tmp_path(dir, sizeof dir, "migrations");
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && cp -r '%s/sql/migrations' '%s' && "
             "printf -- '-- edited\\n' >> '%s/0001_foundation.sql'",
             dir, TRM_SOURCE_DIR, dir, dir);
    ck_assert_int_eq(h_sh(cmd), 0);
    ck_assert_int_ne(migrate(dir, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "0001_foundation.sql has changed") != NULL, "%s", out);
}
END_TEST

START_TEST(trmd_never_migrates)
{
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    PGresult *r = PQexec(pg, "SELECT count(*) FROM schema_migrations");
    char before[16];
    snprintf(before, sizeof before, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    struct trmd t;
    h_trmd_start(&t, NULL);
    ck_assert_int_eq(h_trmd_stop(&t), 0);
    r = PQexec(pg, "SELECT count(*) FROM schema_migrations");
    ck_assert_str_eq(PQgetvalue(r, 0, 0), before);
    PQclear(r);
    PQfinish(pg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("schema");
    TCase *tc = tcase_create("schema");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, app_role_cannot_change_the_schema);
    tcase_add_test(tc, migrate_is_idempotent_and_refuses_changed_files);
    tcase_add_test(tc, trmd_never_migrates);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
