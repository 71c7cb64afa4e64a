/* trmctl verify-log FILE --public-key HEX: verifies an exported handover log (NDJSON from
 * GET /v1/handovers/export) offline, without a database: the hash chain, the sequence, and
 * every checkpoint signature. Prints the first broken entry, if any. */
#include "cli.h"

#include "trm/handover.h"
#include "trm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int trm_cmd_verify_log(int argc, char **argv)
{
    const char *key = trm_cli_opt(argc, argv, "--public-key");
    uint8_t pk[TRM_SIGN_PUBLIC_BYTES];
    if (argc < 1 || argv[0][0] == '-' || key == NULL)
        return trm_cli_fail("usage: trmctl verify-log FILE --public-key HEX");
    if (strlen(key) != 64 || !trm_hex_decode(key, pk, sizeof pk))
        return trm_cli_fail(
            "verify-log: --public-key must be 64 hex digits (GET /v1/keys/signing)");
    FILE *f = fopen(argv[0], "r");
    if (f == NULL)
        return trm_cli_fail("verify-log: cannot open %s", argv[0]);
    struct trm_chain_check check = {.public_key = pk};
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    bool ok = true;
    while (ok && getline(&line, &cap, f) > 0) {
        lineno++;
        if (line[0] == '\n')
            continue;
        json_error_t e;
        json_t *item = json_loads(line, JSON_REJECT_DUPLICATES, &e);
        if (item == NULL) {
            printf("line %ld: not valid JSON\n", lineno);
            ok = false;
            break;
        }
        ok = trm_chain_feed(&check, item);
        json_decref(item);
    }
    free(line);
    fclose(f);
    if (!ok && check.bad_seq) {
        printf("entry %lld: %s\n", check.bad_seq, check.reason);
        return 1;
    }
    if (!ok)
        return 1;
    printf("ok: %lld entries, %lld checkpoints verified\n", check.entries, check.checkpoints);
    return 0;
}
