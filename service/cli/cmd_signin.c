/* trmctl signin-link --user ID [--minutes N] [--url URL]: a one-time sign-in link for the web
 * console. The code is a token of kind 'signin' (recorded as issued by the operator, in the
 * admin log): it opens one console session and nothing else, within N minutes (default
 * 15). It travels in the link's fragment (after #), which a browser never sends to a server
 * or in a Referer. */
#include "cli.h"

#include "trm/auth.h"
#include "trm/keyring.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int trm_cmd_signin(int argc, char **argv)
{
    const char *user = trm_cli_opt(argc, argv, "--user");
    const char *minutes_s = trm_cli_opt(argc, argv, "--minutes");
    const char *url = trm_cli_opt(argc, argv, "--url");
    long minutes = 15;
    char user_id[TRM_UUID_STR_LEN + 1];
    if (user == NULL || !trm_uuid_parse(user, user_id))
        return trm_cli_fail("signin-link: --user takes a user's id (trmctl user add printed it)");
    if (minutes_s && !trm_parse_long(minutes_s, 1, 1440, &minutes))
        return trm_cli_fail("signin-link: --minutes is a whole number from 1 to 1440");
    if (url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return trm_cli_fail("signin-link: --url must start with http:// or https:// "
                            "(the console's address, e.g. http://127.0.0.1:8080)");
    struct trm_keyring *kr = trm_cli_keyring();
    if (kr == NULL)
        return 1;
    struct trm_db_pool *pool = trm_cli_pool();
    if (pool == NULL) {
        trm_keyring_free(kr);
        return 1;
    }
    struct trm_token code;
    char expires[32];
    enum trm_db_status st = trm_signin_issue(pool, kr, user_id, (unsigned)minutes, &code, expires);
    int rc = 0;
    if (st == TRM_DB_OK) {
        char base[512];
        trm_strlcpy(base, url ? url : "http://127.0.0.1:8080", sizeof base);
        size_t n = strlen(base);
        while (n > 0 && base[n - 1] == '/')
            base[--n] = '\0';
        printf("%s/#/signin/%s\n", base, code.text);
        fflush(stdout);
        fprintf(stderr, "one-time sign-in link, valid until %s\n", expires);
        sodium_memzero(&code, sizeof code);
    } else {
        rc =
            trm_cli_fail("signin-link: %s", st == TRM_DB_NOT_FOUND
                                                ? "no enabled user with that id in an active agency"
                                                : "database error");
    }
    trm_db_pool_close(pool);
    trm_keyring_free(kr);
    return rc;
}
