/* trmctl seed cases: many synthetic cases, fast, for benchmarks. Each case is sealed by trm
 * itself (its own data key, every personal category, blind indexes) exactly as trmd seals a
 * created case; the rows travel by COPY into a staging table and become cases through the
 * same trm_case_create function trmd calls, a batch per transaction. Case ids are
 * 00000000-0000-4000-8000-<12 decimal digits of the case number>, so a load generator can
 * name case k without asking. Never run against a production database. */
#include "cli.h"

#include "trm/cases.h"
#include "trm/config.h"
#include "trm/crypto.h"
#include "trm/keyring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 2000

struct seed {
    const struct trm_keyring *kr;
    const char *country;
    unsigned bits;
};

/* A person with a value in every category (synthetic: "Bench person <n>"). */
static json_t *bench_person(unsigned long n)
{
    char name[64], doc[32], phone[32];
    snprintf(name, sizeof name, "Bench person %lu", n);
    snprintf(doc, sizeof doc, "P%09lu", n);
    snprintf(phone, sizeof phone, "+46 70 %07lu", n % 10000000);
    return json_pack(
        "{s:{s:s, s:[s], s:s, s:[{s:s, s:s, s:s}]}, s:{s:s, s:s, s:s}, s:{s:s, s:[s]}, "
        "s:{s:s}, s:{s:s, s:[s], s:[s], s:[s]}}",
        "identity", "full_name", name, "aliases", "Alias", "date_of_birth", "1999-03-17",
        "documents", "type", "passport", "number", doc, "country", "PH", "contact", "phone", phone,
        "address", "Shelter street 1", "current_location", "Room 2", "health", "notes",
        "Notes on health", "vulnerabilities", "minor injuries", "narrative", "statement",
        "A statement of some length about what happened, as a caseworker would record it.",
        "exploitation_details", "recruitment", "Recruited online", "means_of_control", "debt",
        "places", "Factory", "dates", "2026-05");
}

/* Appends a PostgreSQL array literal of sealed values (hex or plain words) to line. */
static size_t put_array(char *line, size_t cap, size_t len, const struct trm_sealed_person *p,
                        int what)
{
    len += (size_t)snprintf(line + len, cap - len, "\t{");
    for (size_t i = 0; i < (what < 3 ? p->n : p->n_index); i++) {
        const char *sep = i ? "," : "";
        if (what == 0)
            len += (size_t)snprintf(line + len, cap - len, "%s%s", sep, p->fields[i].category);
        else if (what == 1)
            len += (size_t)snprintf(line + len, cap - len, "%s%s", sep, p->fields[i].field);
        else if (what == 2)
            len += (size_t)snprintf(line + len, cap - len, "%s%s", sep, p->fields[i].hex);
        else if (what == 3)
            len += (size_t)snprintf(line + len, cap - len, "%s%d", sep, p->index_kinds[i]);
        else
            len += (size_t)snprintf(line + len, cap - len, "%s%u", sep, p->index_values[i]);
    }
    return len + (size_t)snprintf(line + len, cap - len, "}");
}

/* One staging row (COPY text format) for case n; false when sealing failed. */
static bool seed_row(const struct seed *s, unsigned long n, char *line, size_t cap)
{
    char id[TRM_UUID_STR_LEN + 1], wrapped_hex[2 * TRM_WRAPPED_DEK_BYTES + 1];
    snprintf(id, sizeof id, "00000000-0000-4000-8000-%012lu", n);
    struct trm_case_sealed_new sealed;
    json_t *person = bench_person(n);
    bool ok = trm_case_seal_new(s->kr, id, person, s->bits, false, &sealed);
    json_decref(person);
    if (ok) {
        trm_hex_encode(sealed.wrapped, sizeof sealed.wrapped, wrapped_hex);
        size_t len = (size_t)snprintf(line, cap, "%s\t%s\t%s\t%s\tPH\t{labour}\t2026-01-01\t%s\t%s",
                                      id, s->country, n % 2 ? "female" : "male", "21-23",
                                      sealed.kek_id, wrapped_hex);
        for (int what = 0; what < 5; what++)
            len = put_array(line, cap, len, &sealed.person, what);
        ok = len + 8 < cap;
        snprintf(line + len, cap - len, "\t%u\n", s->bits);
        trm_case_sealed_new_free(&sealed);
    }
    return ok;
}

static bool run_sql(PGconn *pg, const char *sql, ExecStatusType want)
{
    PGresult *r = PQexec(pg, sql);
    bool ok = PQresultStatus(r) == want;
    if (!ok)
        trm_cli_fail("seed: %s", PQresultErrorField(r, PG_DIAG_SQLSTATE) ?: "no connection");
    PQclear(r);
    return ok;
}

static const char *const staging_sql =
    "CREATE TEMP TABLE IF NOT EXISTS seed_cases (id uuid, country text, sex text, "
    "age_band text, citizenship text, forms text[], month date, kek_id text, wrapped text, "
    "categories text[], fields text[], sealed text[], kinds smallint[], vals bigint[], "
    "bits smallint)";
static const char *const create_sql =
    "SELECT count(*) FROM seed_cases s, LATERAL trm_case_create(s.id, s.country, s.sex, "
    "s.age_band, s.citizenship, s.forms, s.month, s.kek_id, s.wrapped, s.categories, "
    "s.fields, s.sealed, s.kinds, s.vals, s.bits) c";

/* Cases first .. first + count - 1, in one transaction per batch. */
static bool seed_batch(PGconn *pg, const struct seed *s, unsigned long first, unsigned long n)
{
    static char line[16384];
    if (!run_sql(pg, "BEGIN", PGRES_COMMAND_OK) ||
        !run_sql(pg, "TRUNCATE seed_cases", PGRES_COMMAND_OK) ||
        !run_sql(pg, "COPY seed_cases FROM STDIN", PGRES_COPY_IN))
        return false;
    bool ok = true;
    for (unsigned long k = first; ok && k < first + n; k++)
        ok = seed_row(s, k, line, sizeof line) && PQputCopyData(pg, line, (int)strlen(line)) == 1;
    if (PQputCopyEnd(pg, ok ? NULL : "sealing failed") != 1)
        ok = false;
    PGresult *r = PQgetResult(pg);
    ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    while ((r = PQgetResult(pg)) != NULL)
        PQclear(r);
    if (!ok) {
        trm_cli_fail("seed: COPY failed");
        return false;
    }
    return run_sql(pg, create_sql, PGRES_TUPLES_OK) && run_sql(pg, "COMMIT", PGRES_COMMAND_OK);
}

/* The creating user and agency, as trmd's context would name them. */
static bool set_context(PGconn *pg, const char *agency, const char *user)
{
    const char *p[] = {agency, user};
    PGresult *r = PQexecParams(pg,
                               "SELECT set_config('trm.agency_id', $1, false), "
                               "set_config('trm.user_id', $2, false), "
                               "set_config('trm.role', 'caseworker', false)",
                               2, NULL, p, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok || trm_cli_fail("seed: cannot set the context") == 0;
}

int trm_cmd_seed(int argc, char **argv)
{
    const char *count = trm_cli_opt(argc, argv, "--count");
    const char *agency = trm_cli_opt(argc, argv, "--agency");
    const char *user = trm_cli_opt(argc, argv, "--user");
    const char *first_s = trm_cli_opt(argc, argv, "--first");
    const char *country = trm_cli_opt(argc, argv, "--country");
    if (argc < 1 || strcmp(argv[0], "cases") != 0 || !count || !agency || !user)
        return trm_cli_fail("usage: trmctl seed cases --count N --agency ID --user ID "
                            "[--country CC] [--first K]");
    struct trm_config cfg;
    trm_config_defaults(&cfg);
    struct trm_keyring *kr = trm_cli_keyring();
    if (kr == NULL)
        return 1;
    struct seed s = {kr, country ? country : "SE", (unsigned)cfg.blind_index_bits};
    unsigned long first = first_s ? strtoul(first_s, NULL, 10) : 1, n = strtoul(count, NULL, 10);
    PGconn *pg = trm_cli_connect();
    bool ok =
        pg != NULL && set_context(pg, agency, user) && run_sql(pg, staging_sql, PGRES_COMMAND_OK);
    for (unsigned long done = 0; ok && done < n; done += BATCH)
        ok = seed_batch(pg, &s, first + done, n - done < BATCH ? n - done : BATCH);
    if (ok)
        printf("seeded cases %lu..%lu\n", first, first + n - 1);
    PQfinish(pg);
    trm_keyring_free(kr);
    return ok ? 0 : 1;
}
