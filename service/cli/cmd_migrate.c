/* trmctl migrate: apply pending migrations as the owner role. */
#include "cli.h"

#include "trm/build_info.h"
#include "trm/migrate.h"

#include <stdio.h>
#include <stdlib.h>

int trm_cmd_migrate(int argc, char **argv)
{
    const char *dir = trm_cli_opt(argc, argv, "--dir");
    if (dir == NULL)
        dir = getenv("TRM_MIGRATIONS_DIR");
    if (dir == NULL)
        dir = TRM_SOURCE_MIGRATIONS_DIR;
    PGconn *pg = trm_cli_connect();
    if (pg == NULL)
        return 1;
    int rc = trm_migrate(pg, dir, stdout, stderr);
    PQfinish(pg);
    return rc;
}
