/* Applies sql/migrations in order under an advisory lock, so two trmctl migrate runs never
 * interleave. Every applied file's checksum is verified before anything new is applied. */
#include "trm/migrate.h"
#include "trm/util.h"

#include <dirent.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MIGRATE_LOCK_KEY 7283001
#define MAX_MIGRATIONS 1000

struct migration {
    int version;
    char name[256];
    char *text;
    size_t len;
    char checksum[65];
};

bool trm_migration_name_parse(const char *name, int *version)
{
    size_t n = strlen(name);
    if (n < 10 || n > 200 || strcmp(name + n - 4, ".sql") != 0 || name[4] != '_')
        return false;
    for (int i = 0; i < 4; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    for (size_t i = 5; i < n - 4; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    *version =
        (name[0] - '0') * 1000 + (name[1] - '0') * 100 + (name[2] - '0') * 10 + (name[3] - '0');
    return *version > 0;
}

void trm_migration_checksum(const char *text, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)text, len);
    trm_hex_encode(h, sizeof h, out);
}

static int by_version(const void *a, const void *b)
{
    return ((const struct migration *)a)->version - ((const struct migration *)b)->version;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        cap *= 2;
        char *bigger = realloc(buf, cap);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
        }
        buf = bigger;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static int load_dir(const char *dir, struct migration **out, size_t *count, FILE *err)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(err, "trmctl: cannot open migrations directory %s\n", dir);
        return -1;
    }
    struct migration *list = calloc(MAX_MIGRATIONS, sizeof *list);
    size_t n = 0;
    int rc = 0;
    struct dirent *e;
    while (list && rc == 0 && (e = readdir(d)) != NULL) {
        int v;
        if (!trm_migration_name_parse(e->d_name, &v))
            continue;
        if (n == MAX_MIGRATIONS) {
            fprintf(err, "trmctl: too many migrations\n");
            rc = -1;
            break;
        }
        struct migration *m = &list[n++];
        m->version = v;
        trm_strlcpy(m->name, e->d_name, sizeof m->name);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        m->text = read_file(path, &m->len);
        if (m->text == NULL) {
            fprintf(err, "trmctl: cannot read %s\n", path);
            rc = -1;
        } else {
            trm_migration_checksum(m->text, m->len, m->checksum);
        }
    }
    closedir(d);
    if (list == NULL)
        return -1;
    qsort(list, n, sizeof *list, by_version);
    for (size_t i = 1; rc == 0 && i < n; i++) {
        if (list[i].version == list[i - 1].version) {
            fprintf(err, "trmctl: two migrations share number %04d\n", list[i].version);
            rc = -1;
        }
    }
    *out = list;
    *count = n;
    return rc;
}

static void free_list(struct migration *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i].text);
    free(list);
}

static bool exec_ok(PGconn *pg, const char *sql, FILE *err, const char *what)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(err, "trmctl: %s: %s", what, PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

/* Refuses when an applied migration changed or is unknown to this build. */
static bool verify_applied(PGconn *pg, const struct migration *list, size_t n, FILE *err,
                           bool *applied)
{
    PGresult *r = PQexec(pg, "SELECT version, name, checksum FROM schema_migrations");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(err, "trmctl: reading schema_migrations: %s", PQresultErrorMessage(r));
        PQclear(r);
        return false;
    }
    bool ok = true;
    for (int row = 0; ok && row < PQntuples(r); row++) {
        int v = atoi(PQgetvalue(r, row, 0));
        const struct migration *m = NULL;
        for (size_t i = 0; i < n; i++)
            if (list[i].version == v)
                m = &list[i], applied[i] = true;
        if (m == NULL) {
            fprintf(err,
                    "trmctl: the database has migration %04d (%s), which this build does not "
                    "know: refusing\n",
                    v, PQgetvalue(r, row, 1));
            ok = false;
        } else if (strcmp(m->checksum, PQgetvalue(r, row, 2)) != 0) {
            fprintf(err,
                    "trmctl: migration %s has changed since it was applied (checksum %.12s, "
                    "applied %.12s): refusing; add a new migration instead\n",
                    m->name, m->checksum, PQgetvalue(r, row, 2));
            ok = false;
        }
    }
    PQclear(r);
    return ok;
}

static bool apply_one(PGconn *pg, const struct migration *m, FILE *err)
{
    if (!exec_ok(pg, "BEGIN", err, m->name))
        return false;
    if (!exec_ok(pg, m->text, err, m->name)) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return false;
    }
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *params[] = {version, m->name, m->checksum};
    PGresult *r = PQexecParams(pg,
                               "INSERT INTO schema_migrations (version, name, checksum) "
                               "VALUES ($1, $2, $3)",
                               3, NULL, params, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(err, "trmctl: recording %s: %s", m->name, PQresultErrorMessage(r));
    PQclear(r);
    if (!ok) {
        PQclear(PQexec(pg, "ROLLBACK"));
        return false;
    }
    return exec_ok(pg, "COMMIT", err, m->name);
}

int trm_migrate(PGconn *pg, const char *dir, FILE *out, FILE *err)
{
    struct migration *list = NULL;
    size_t n = 0;
    if (load_dir(dir, &list, &n, err) != 0) {
        free_list(list, n);
        return 1;
    }
    int rc = 1;
    bool *applied = calloc(n + 1, sizeof *applied);
    char lock[96];
    snprintf(lock, sizeof lock, "SELECT pg_advisory_lock(%d)", MIGRATE_LOCK_KEY);
    if (applied == NULL || !exec_ok(pg, "SET client_min_messages = warning", err, "setup") ||
        !exec_ok(pg, lock, err, "lock") ||
        !exec_ok(pg,
                 "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 err, "schema_migrations") ||
        !verify_applied(pg, list, n, err, applied))
        goto out;
    int latest = 0, fresh = 0;
    for (size_t i = 0; i < n; i++) {
        if (!applied[i]) {
            if (!apply_one(pg, &list[i], err))
                goto out;
            fprintf(out, "applied %s\n", list[i].name);
            fresh++;
        }
        latest = list[i].version;
    }
    fprintf(out, "schema at version %d (%d migration%s applied now)\n", latest, fresh,
            fresh == 1 ? "" : "s");
    rc = 0;
out:
    snprintf(lock, sizeof lock, "SELECT pg_advisory_unlock(%d)", MIGRATE_LOCK_KEY);
    PQclear(PQexec(pg, lock));
    free(applied);
    free_list(list, n);
    return rc;
}
