/* trmctl keys: create the master key file (rotation and status come with case records). */
#include "cli.h"

#include "trm/keyring.h"

#include <stdio.h>
#include <string.h>

int trm_cmd_keys(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[0], "init") == 0) {
        char err[512];
        if (!trm_keyring_create_file(argv[1], err, sizeof err))
            return trm_cli_fail("%s", err);
        printf("created %s\n", argv[1]);
        return 0;
    }
    return trm_cli_fail("usage: trmctl keys init FILE");
}
