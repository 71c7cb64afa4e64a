/* trmctl verify-log FILE --public-key HEX [--peer-key ID=HEX]... [--allow-unsigned-tail]:
 * verifies an exported handover log (NDJSON from GET /v1/handovers/export) offline, without a
 * database: the hash chain and its sequence, entries and links alike; every checkpoint, by
 * its seq wherever it stands, signed with the given key; the checkpoint before the export's
 * start and the one over its last entry; the signatures of peer instances (their receipts and
 * packages) whose keys are given. Prints the first broken entry and exits non-zero. */
#include "cli.h"

#include "trm/handover.h"
#include "trm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PEERS 32

/* The --peer-key ID=HEX options; false on a malformed one. */
static bool peer_keys(int argc, char **argv, struct trm_peer_key *out, size_t *n)
{
    *n = 0;
    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--peer-key") != 0)
            continue;
        char *eq = strchr(argv[i + 1], '=');
        if (eq == NULL || *n == MAX_PEERS || strlen(eq + 1) != 2 * TRM_SIGN_PUBLIC_BYTES ||
            !trm_hex_decode(eq + 1, out[*n].key, TRM_SIGN_PUBLIC_BYTES))
            return false;
        *eq = '\0';
        out[(*n)++].instance_id = argv[i + 1];
    }
    return true;
}

/* Feeds every line of f; false at the first line that is not JSON or breaks the chain. */
static bool feed_file(FILE *f, struct trm_chain_check *check)
{
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
        ok = trm_chain_feed(check, item);
        json_decref(item);
    }
    free(line);
    return ok;
}

int trm_cmd_verify_log(int argc, char **argv)
{
    struct trm_peer_key peers[MAX_PEERS];
    size_t n_peers = 0;
    if (!peer_keys(argc, argv, peers, &n_peers))
        return trm_cli_fail("verify-log: --peer-key takes INSTANCE_ID=64 hex digits");
    const char *key = trm_cli_opt(argc, argv, "--public-key");
    uint8_t pk[TRM_SIGN_PUBLIC_BYTES];
    if (argc < 1 || argv[0][0] == '-' || key == NULL)
        return trm_cli_fail("usage: trmctl verify-log FILE --public-key HEX [--peer-key ID=HEX]... "
                            "[--allow-unsigned-tail]");
    if (strlen(key) != 64 || !trm_hex_decode(key, pk, sizeof pk))
        return trm_cli_fail(
            "verify-log: --public-key must be 64 hex digits (GET /v1/keys/signing)");
    FILE *f = fopen(argv[0], "r");
    if (f == NULL)
        return trm_cli_fail("verify-log: cannot open %s", argv[0]);
    struct trm_chain_check check = {.public_key = pk,
                                    .peers = peers,
                                    .n_peers = n_peers,
                                    .allow_unsigned_tail =
                                        trm_cli_has(argc, argv, "--allow-unsigned-tail")};
    bool ok = feed_file(f, &check) && trm_chain_finish(&check);
    fclose(f);
    trm_chain_free(&check);
    if (!ok && check.bad_seq) {
        printf("entry %lld: %s\n", check.bad_seq, check.reason);
        return 1;
    }
    if (!ok)
        return 1;
    printf("ok: entries %lld to %lld (%lld verified in full, %lld only as links), %lld checkpoints "
           "verified",
           check.first_seq, check.last_seq, check.entries, check.links, check.checkpoints);
    if (check.peer_signatures_checked || check.peer_signatures_unchecked)
        printf("; %lld peer signatures verified, %lld not checked (no --peer-key)",
               check.peer_signatures_checked, check.peer_signatures_unchecked);
    putchar('\n');
    /* Accepted only when asked for, and never silently. */
    if (check.unsigned_tail)
        printf("warning: %lld entries after the last checkpoint are not signed\n",
               check.unsigned_tail);
    return 0;
}
