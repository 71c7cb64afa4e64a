/* trmctl: the admin CLI. Commands are rows of one table; each reads TRM_DATABASE_URL (and
 * TRM_KEY_FILE where it needs keys) like trmd, prints its result on stdout and errors as
 * one line on stderr with a non-zero exit. */
#include "cli.h"

#include "trm/build_info.h"
#include "trm/keyring.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
};

static const struct command commands[] = {
    {"migrate", trm_cmd_migrate, "migrate [--dir DIR]      apply pending schema migrations"},
    {"keys", trm_cmd_keys,
     "keys init FILE | rotate [--resume] | retire KEK | status   master key file, KEKs"},
    {"verify-log", trm_cmd_verify_log,
     "verify-log FILE --public-key HEX [--peer-key ID=HEX]... [--allow-unsigned-tail]   "
     "verify an exported handover log offline"},
    {"stats", trm_cmd_stats,
     "stats export [--from YYYY-MM] [--to YYYY-MM] [--country CC] [--format csv|json]"},
    {"sop", trm_cmd_sop, "sop load FILE...         validate and load SOP documents"},
    {"indicators", trm_cmd_indicators,
     "indicators load FILE...  validate and load identification indicator sets"},
    {"retention", trm_cmd_retention,
     "retention run --days N   erase personal data of cases closed more than N days ago"},
    {"agency", trm_cmd_directory, "agency add --name N --country CC --kind K | agency list"},
    {"user", trm_cmd_directory, "user add --agency ID --role R --name N [--cross-border]"},
    {"token", trm_cmd_directory, "token issue --user ID [--expires-days N] | token revoke ID"},
    {"signin-link", trm_cmd_signin,
     "signin-link --user ID [--minutes N] [--url URL]   a one-time sign-in link for the console"},
    {"bootstrap", trm_cmd_directory,
     "bootstrap [--country CC]  first admin user; prints 'admin token: ...' once"},
    {"demo", trm_cmd_directory,
     "demo [--country CC]      demo agencies and users of one country (default SE)"},
    {"instance", trm_cmd_federation,
     "instance init --id ID --country CC [--url URL] | instance show   federation identity"},
    {"peer", trm_cmd_federation,
     "peer add --id ID --country CC --url URL --signing-key HEX --box-key HEX [--countries "
     "CC,CC] | peer check ID | peer list"},
    {"seed", trm_cmd_seed,
     "seed cases --count N --agency ID --user ID [--country CC] [--first K]   benchmark cases"},
};

/* Commands that take their own name as argv[0]. */
static bool takes_name(int (*run)(int, char **))
{
    return run == trm_cmd_directory || run == trm_cmd_federation;
}

static int usage(void)
{
    fprintf(stderr, "usage: trmctl COMMAND ...\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(stderr, "  trmctl %s\n", commands[i].usage);
    return 2;
}

int trm_cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("trmctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

const char *trm_cli_opt(int argc, char **argv, const char *flag)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return argv[i + 1];
    return NULL;
}

bool trm_cli_has(int argc, char **argv, const char *flag)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return true;
    return false;
}

PGconn *trm_cli_connect(void)
{
    const char *url = getenv("TRM_DATABASE_URL");
    if (url == NULL || *url == '\0') {
        trm_cli_fail("set TRM_DATABASE_URL to the database connection string");
        return NULL;
    }
    const char *keys[] = {"dbname", "application_name", "connect_timeout", NULL};
    const char *vals[] = {url, "trmctl", "10", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(pg) != CONNECTION_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(pg));
        msg[strcspn(msg, "\n")] = '\0';
        trm_cli_fail("cannot connect to the database: %s", msg);
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

struct trm_db_pool *trm_cli_pool(void)
{
    const char *url = getenv("TRM_DATABASE_URL");
    if (url == NULL || *url == '\0') {
        trm_cli_fail("set TRM_DATABASE_URL to the database connection string");
        return NULL;
    }
    struct trm_db_pool_options o = {.conninfo = url,
                                    .size = 1,
                                    .acquire_timeout_ms = 10000,
                                    .connect_timeout_s = 10,
                                    .statement_timeout_ms = 60000,
                                    .tx_max_retries = 5,
                                    .application_name = "trmctl"};
    struct trm_db_pool *pool = NULL;
    if (trm_db_pool_open(&pool, &o) != 0) {
        trm_cli_fail("out of memory");
        return NULL;
    }
    return pool;
}

struct trm_keyring *trm_cli_keyring(void)
{
    const char *path = getenv("TRM_KEY_FILE");
    if (path == NULL || *path == '\0')
        path = "var/keys/master.key";
    struct trm_keyring *kr = NULL;
    char err[512];
    if (!trm_keyring_load(&kr, path, err, sizeof err)) {
        trm_cli_fail("%s", err);
        return NULL;
    }
    return kr;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "--version") == 0) {
        printf("trmctl %s (schema %d)\n", TRM_VERSION, TRM_SCHEMA_VERSION);
        return 0;
    }
    if (sodium_init() < 0)
        return trm_cli_fail("libsodium failed to initialise");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return takes_name(commands[i].run) ? commands[i].run(argc - 1, argv + 1)
                                               : commands[i].run(argc - 2, argv + 2);
    return usage();
}
