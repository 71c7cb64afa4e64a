/* trmctl migrate: apply pending migrations as the owner role. */
#include "cli.h"

#include "trm/build_info.h"
#include "trm/migrate.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where an installed trmctl finds the migrations shipped with it: <prefix>/share/trm/
 * migrations beside <prefix>/bin/trmctl (the Debian package, cmake --install, a package
 * unpacked anywhere). NULL when there is no such directory (a build tree). */
static const char *installed_dir(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    struct stat st;
    int w = snprintf(buf, len, "%s/../share/trm/migrations", exe);
    return w > 0 && (size_t)w < len && stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? buf : NULL;
}

int trm_cmd_migrate(int argc, char **argv)
{
    const char *dir = trm_cli_opt(argc, argv, "--dir");
    if (dir == NULL)
        dir = getenv("TRM_MIGRATIONS_DIR");
    char installed[PATH_MAX + 32];
    if (dir == NULL)
        dir = installed_dir(installed, sizeof installed);
    if (dir == NULL)
        dir = TRM_SOURCE_MIGRATIONS_DIR;
    PGconn *pg = trm_cli_connect();
    if (pg == NULL)
        return 1;
    int rc = trm_migrate(pg, dir, stdout, stderr);
    PQfinish(pg);
    return rc;
}
