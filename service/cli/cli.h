/* Shared by the trmctl commands: connecting, loading keys, reporting errors. */
#ifndef TRM_CLI_H
#define TRM_CLI_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "trm/db.h"

struct trm_keyring;

/* Connects with TRM_DATABASE_URL; prints one error line and returns NULL on failure. */
PGconn *trm_cli_connect(void);
/* A one-connection pool on TRM_DATABASE_URL (for the stores); NULL after an error line. */
struct trm_db_pool *trm_cli_pool(void);
/* Loads the key file named by TRM_KEY_FILE (default var/keys/master.key). */
struct trm_keyring *trm_cli_keyring(void);
/* Prints "trmctl: <message>" on stderr and returns 1 (the exit code). */
int trm_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The value following flag in argv (e.g. --name), or NULL. */
const char *trm_cli_opt(int argc, char **argv, const char *flag);
bool trm_cli_has(int argc, char **argv, const char *flag);

int trm_cmd_migrate(int argc, char **argv);
int trm_cmd_keys(int argc, char **argv);
int trm_cmd_retention(int argc, char **argv);
int trm_cmd_sop(int argc, char **argv);
int trm_cmd_indicators(int argc, char **argv);
int trm_cmd_verify_log(int argc, char **argv);
int trm_cmd_stats(int argc, char **argv);
int trm_cmd_seed(int argc, char **argv);
int trm_cmd_signin(int argc, char **argv);
/* agency, user, token, bootstrap and demo: argv[0] is the command name. */
int trm_cmd_directory(int argc, char **argv);
/* instance and peer: argv[0] is the command name. */
int trm_cmd_federation(int argc, char **argv);

#endif
