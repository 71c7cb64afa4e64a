/* An upgrade from the previous release (migrations 0001-0015) keeps every case readable: a
 * database is built with only those migrations, filled through their own functions and tables
 * (a case sealed by trm, a timeline note, an accepted referral with a free-text purpose and
 * answer reason, a withdrawn consent, an erasure with a free-text reason, the reference
 * counter), then migrated to the current schema and served by the current trmd. The owner
 * still opens everything, the recipient exactly its categories, free text in clear is gone,
 * and references continue after the old counter. */
#include "check_run.h"
#include "harness.h"

#include "trm/cases.h"
#include "trm/crypto.h"
#include "trm/keyring.h"
#include "trm/util.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LAST_OLD_MIGRATION 15

static char owner_url[1024], app_url[1024], sentinel[24];
static char a_agency[37], b_agency[37], a_user[37], b_user[37];

/* A connection string of the test cluster for database db. */
static void url_for(const char *env, const char *db, char *out, size_t cap)
{
    const char *base = h_env(env);
    const char *p = strstr(base, "dbname=");
    ck_assert_ptr_nonnull(p);
    size_t head = (size_t)(p - base);
    const char *rest = p + strcspn(p, " ");
    snprintf(out, cap, "%.*sdbname=%s%s", (int)head, base, db, rest);
}

static void exec_ok(PGconn *pg, const char *sql)
{
    PGresult *r = PQexec(pg, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
}

static void fresh_database(void)
{
    char super[1024];
    url_for("TRM_TEST_SUPER_URL", "postgres", super, sizeof super);
    PGconn *pg = PQconnectdb(super);
    ck_assert_int_eq(PQstatus(pg), CONNECTION_OK);
    exec_ok(pg, "DROP DATABASE IF EXISTS trm_upgrade WITH (FORCE)");
    exec_ok(pg, "CREATE DATABASE trm_upgrade OWNER trm_owner");
    exec_ok(pg, "REVOKE ALL ON DATABASE trm_upgrade FROM PUBLIC");
    exec_ok(pg, "GRANT CONNECT ON DATABASE trm_upgrade TO trm_owner, trm_app");
    PQfinish(pg);
    url_for("TRM_TEST_SUPER_URL", "trm_upgrade", super, sizeof super);
    pg = PQconnectdb(super);
    exec_ok(pg, "ALTER SCHEMA public OWNER TO trm_owner");
    exec_ok(pg, "REVOKE ALL ON SCHEMA public FROM PUBLIC");
    exec_ok(pg, "GRANT USAGE ON SCHEMA public TO trm_app");
    PQfinish(pg);
}

static void drop_database(void)
{
    char super[1024];
    url_for("TRM_TEST_SUPER_URL", "postgres", super, sizeof super);
    PGconn *pg = PQconnectdb(super);
    exec_ok(pg, "DROP DATABASE IF EXISTS trm_upgrade WITH (FORCE)");
    PQfinish(pg);
}

static void ctl(const char *args, char *out, size_t cap)
{
    int rc = h_trmctl_with("TRM_TEST_UPGRADE_OWNER_URL", h_key_file(), args, out, cap);
    ck_assert_msg(rc == 0, "trmctl %s: %s", args, out);
}

/* The previous release's migrations only, in a directory of their own. */
static void migrate_old(void)
{
    char dir[512], cmd[2048], out[4096];
    h_tmp_path(dir, sizeof dir, "old-migrations");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    ck_assert_int_eq(h_sh(cmd), 0);
    for (int v = 1; v <= LAST_OLD_MIGRATION; v++) {
        snprintf(cmd, sizeof cmd, "cp '%s'/sql/migrations/%04d_*.sql '%s'/", TRM_SOURCE_DIR, v,
                 dir);
        ck_assert_int_eq(h_sh(cmd), 0);
    }
    snprintf(cmd, sizeof cmd, "migrate --dir '%s'", dir);
    ctl(cmd, out, sizeof out);
    ck_assert_ptr_nonnull(strstr(out, "schema at version 15"));
    /* Sweden's SOP, as the previous release stored it (today's trmctl writes more). */
    char path[600];
    snprintf(path, sizeof path, "%s/config/sops/trm-se.json", TRM_SOURCE_DIR);
    json_error_t e;
    json_t *doc = json_load_file(path, 0, &e);
    ck_assert_ptr_nonnull(doc);
    char *text = json_dumps(doc, JSON_COMPACT), version[16];
    snprintf(version, sizeof version, "%lld",
             (long long)json_integer_value(json_object_get(doc, "version")));
    const char *p[] = {json_string_value(json_object_get(doc, "code")), version,
                       json_string_value(json_object_get(doc, "country")),
                       json_string_value(json_object_get(doc, "title")), text};
    PGconn *pg = h_pg("TRM_TEST_UPGRADE_OWNER_URL");
    PGresult *r = PQexecParams(pg,
                               "INSERT INTO sops (id, code, version, country, title, document) "
                               "VALUES (gen_random_uuid(), $1, $2::integer, $3, $4, $5::jsonb)",
                               5, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
    free(text);
    json_decref(doc);
}

static void one_value(PGconn *pg, const char *sql, const char *const *p, int n, char *out,
                      size_t cap)
{
    PGresult *r = PQexecParams(pg, sql, n, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK,
                  "%s: %s", sql, PQerrorMessage(pg));
    snprintf(out, cap, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
}

/* Comma-joined PostgreSQL array literal of the sealed person's parts. */
static void array_of(const struct trm_sealed_person *sp, int what, char *out, size_t cap)
{
    size_t len = (size_t)snprintf(out, cap, "{");
    for (size_t i = 0; i < sp->n; i++) {
        const char *v = what == 0   ? sp->fields[i].category
                        : what == 1 ? sp->fields[i].field
                                    : sp->fields[i].hex;
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "", v);
    }
    snprintf(out + len, cap - len, "}");
}

/* The old world, written as the previous release wrote it. */
static void fill_old(char case_id[37], char note_id[37], char referral_id[37])
{
    PGconn *pg = h_pg("TRM_TEST_UPGRADE_OWNER_URL");
    trm_uuid_v4(a_agency);
    trm_uuid_v4(b_agency);
    trm_uuid_v4(a_user);
    trm_uuid_v4(b_user);
    const char *ag[] = {a_agency, b_agency, a_user, b_user};
    one_value(pg,
              "INSERT INTO agencies (id, name, country, kind) VALUES ($1, 'Old services', 'SE', "
              "'social_services'), ($2, 'Old shelter', 'SE', 'ngo')",
              ag, 2, NULL, 0);
    one_value(pg,
              "INSERT INTO users (id, agency_id, role, display_name) VALUES ($3, $1, "
              "'coordinator', 'Old coordinator'), ($4, $2, 'caseworker', 'Old caseworker')",
              ag, 4, NULL, 0);
    /* A case sealed with its own key, through the old trm_case_create. */
    struct trm_keyring *kr = NULL;
    char err[200];
    ck_assert_msg(trm_keyring_load(&kr, h_key_file(), err, sizeof err), "%s", err);
    unsigned char *dek = trm_dek_new();
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES];
    char kek[TRM_KEK_ID_MAX + 1], wrapped_hex[2 * TRM_WRAPPED_DEK_BYTES + 1];
    trm_uuid_v4(case_id);
    ck_assert(trm_dek_wrap(kr, case_id, dek, wrapped, kek));
    trm_hex_encode(wrapped, sizeof wrapped, wrapped_hex);
    char name[96], story[96];
    snprintf(name, sizeof name, "Old Name %s", sentinel);
    snprintf(story, sizeof story, "Old story %s", sentinel);
    json_t *person = json_pack("{s:{s:s}, s:{s:s}, s:{s:s}}", "identity", "full_name", name,
                               "contact", "address", "Old street", "narrative", "statement", story);
    struct trm_sealed_person sp = {0};
    ck_assert(trm_person_seal(kr, dek, case_id, 1, person, 14, &sp));
    json_decref(person);
    static char cats[512], fields[512], sealed[16384];
    array_of(&sp, 0, cats, sizeof cats);
    array_of(&sp, 1, fields, sizeof fields);
    array_of(&sp, 2, sealed, sizeof sealed);
    exec_ok(pg, "BEGIN");
    const char *ctx[] = {a_user, a_agency};
    one_value(pg,
              "SELECT set_config('trm.user_id', $1, true), set_config('trm.agency_id', $2, true), "
              "set_config('trm.role', 'coordinator', true), set_config('trm.country', 'SE', true)",
              ctx, 2, NULL, 0);
    const char *cp[] = {case_id, kek, wrapped_hex, cats, fields, sealed};
    one_value(pg,
              "SELECT reference FROM trm_case_create($1, 'SE', 'female', '21-23', 'PH', "
              "'{labour}', '2026-10-01', $2, $3, $4::text[], $5::text[], $6::text[], "
              "'{}'::smallint[], '{}'::bigint[], 14::smallint)",
              cp, 6, NULL, 0);
    /* A timeline note, in the old column. */
    trm_uuid_v4(note_id);
    char note_text[96];
    snprintf(note_text, sizeof note_text, "Old note %s", sentinel);
    json_t *note = json_pack("{s:s}", "note", note_text);
    char *note_hex = trm_seal_json(dek, case_id, "notes", note_id, 1, note);
    json_decref(note);
    const char *np[] = {case_id, note_id, note_hex, a_user, a_agency};
    one_value(pg,
              "INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details, "
              "sealed_note) VALUES ($1, 'note', $4, $5, jsonb_build_object('note_id', $2::text), "
              "decode($3, 'hex'))",
              np, 5, NULL, 0);
    free(note_hex);
    /* A consent and a referral accepted under it, with free text where codes are now. */
    char consent_id[37], reason[96];
    trm_uuid_v4(consent_id);
    trm_uuid_v4(referral_id);
    snprintf(reason, sizeof reason, "Old answer %s", sentinel);
    const char *rp[] = {consent_id, case_id, b_agency, a_user, referral_id, a_agency, reason};
    one_value(pg,
              "INSERT INTO consents (id, case_id, kind, categories, recipient_agency_ids, "
              "given_at, recorded_by) VALUES ($1, $2, 'data_sharing', '{identity}', "
              "ARRAY[$3::uuid], now() - interval '1 day', $4)",
              rp, 4, NULL, 0);
    one_value(pg,
              "INSERT INTO referrals (id, case_id, kind, from_agency_id, to_agency_id, "
              "from_country, to_country, purpose, categories, legal_basis, handling_code, "
              "consent_id, sex, age_band, citizenship, status, created_by, expires_at, "
              "answered_at, answered_by, answer_reason) VALUES ($5, $2, 'referral', $6, $3, "
              "'SE', 'SE', 'Shelter placement', '{identity}', 'consent', 'H2', $1::uuid, 'female', "
              "'21-23', 'PH', 'accepted', $4, now() + interval '1 day', now(), $4, $7)",
              rp, 7, NULL, 0);
    exec_ok(pg, "COMMIT");
    trm_dek_free(dek);
    trm_sealed_person_free(&sp);
    trm_keyring_free(kr);
    PQfinish(pg);
}

static void token_for(const char *user, char token[128])
{
    char args[200];
    snprintf(args, sizeof args, "token issue --user %s --expires-days 1", user);
    ctl(args, token, 128);
}

START_TEST(previous_release_data_opens_after_upgrade)
{
    char case_id[37], note_id[37], referral_id[37], out[4096], args[600];
    url_for("TRM_TEST_OWNER_URL", "trm_upgrade", owner_url, sizeof owner_url);
    url_for("TRM_TEST_APP_URL", "trm_upgrade", app_url, sizeof app_url);
    setenv("TRM_TEST_UPGRADE_OWNER_URL", owner_url, 1);
    fresh_database();
    migrate_old();
    fill_old(case_id, note_id, referral_id);
    char ref_before[40];
    PGconn *pg = h_pg("TRM_TEST_UPGRADE_OWNER_URL");
    one_value(pg, "SELECT max(reference) FROM cases", NULL, 0, ref_before, sizeof ref_before);
    PQfinish(pg);

    snprintf(args, sizeof args, "migrate --dir '%s'/sql/migrations", TRM_SOURCE_DIR);
    ctl(args, out, sizeof out);
    /* The free text that was in clear is gone; notes and references moved. */
    const char *db = "TRM_TEST_UPGRADE_OWNER_URL";
    char like[64];
    snprintf(like, sizeof like, "%%%s%%", sentinel);
    ck_assert_int_eq(h_count_in(db,
                                "SELECT count(*) FROM referrals WHERE purpose = "
                                "'accommodation'",
                                NULL),
                     1);
    ck_assert_int_eq(h_count_in(db, "SELECT count(*) FROM case_notes", NULL), 1);
    ck_assert_int_eq(
        h_count_in(db, "SELECT count(*) FROM case_grants WHERE basis = 'referral'", NULL), 1);

    struct trmd t;
    char env_db[1100], env_key[600];
    snprintf(env_db, sizeof env_db, "TRM_DATABASE_URL=%s", app_url);
    snprintf(env_key, sizeof env_key, "TRM_KEY_FILE=%s", h_key_file());
    const char *env[] = {env_db, env_key, NULL};
    h_trmd_start(&t, env);
    char a_token[128], b_token[128], path[200];
    token_for(a_user, a_token);
    token_for(b_user, b_token);
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s", case_id);
    h_api(&t, a_token, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the owner reads the old case");
    ck_assert_ptr_nonnull(strstr(r.body, "Old Name"));
    ck_assert_ptr_nonnull(strstr(r.body, "Old story"));
    h_resp_free(&r);
    h_api(&t, b_token, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the recipient reads its category");
    ck_assert_ptr_nonnull(strstr(r.body, "Old Name"));
    ck_assert_ptr_null(strstr(r.body, "Old story"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/events", case_id);
    h_api(&t, a_token, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the old timeline");
    ck_assert_ptr_nonnull(strstr(r.body, "Old note"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/referrals/%s", referral_id);
    h_api(&t, a_token, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "the old referral");
    ck_assert_str_eq(h_str(&r, "purpose"), "accommodation");
    h_resp_free(&r);
    /* The next case of the year continues after the old counter. */
    h_api(&t, a_token, "POST", "/v1/cases",
          "{\"country\": \"SE\", \"sex\": \"male\", \"age_band\": \"30-38\", \"citizenship\": "
          "\"unknown\", \"exploitation_forms\": [\"labour\"], \"identified_month\": \"2026-10\"}",
          NULL, &r);
    h_expect(&r, 201, "a new case after the upgrade");
    ck_assert_str_gt(h_str(&r, "reference"), ref_before);
    h_resp_free(&r);
    h_trmd_stop(&t);
    /* Nothing personal in clear anywhere in the upgraded database. */
    ck_assert_int_eq(h_count_in(db,
                                "SELECT count(*) FROM (SELECT row_to_json(x)::text AS t FROM "
                                "referrals x UNION ALL SELECT row_to_json(e)::text FROM "
                                "case_events e) z WHERE t LIKE $1",
                                like),
                     0);
    drop_database();
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    snprintf(sentinel, sizeof sentinel, "Up%dGr", getpid());
    Suite *s = suite_create("upgrade");
    TCase *tc = tcase_create("upgrade");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, previous_release_data_opens_after_upgrade);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
