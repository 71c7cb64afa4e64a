/* trmctl keys (init, rotate, status) and trmctl retention run. Rotation adds a KEK to the
 * key file, then re-wraps every data key under it in small transactions, online: running
 * trmd processes pick the new KEK up from the file within a second, and rows they hold are
 * skipped and taken in a later pass. Interrupted, `keys rotate --resume` carries on. */
#include "cli.h"

#include "trm/crypto.h"
#include "trm/key_store.h"
#include "trm/keyring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH 200

static const char *key_file(void)
{
    const char *path = getenv("TRM_KEY_FILE");
    return path && *path ? path : "var/keys/master.key";
}

struct rewrap {
    const struct trm_keyring *kr;
    unsigned done, batch;
    bool failed;
};

static enum trm_db_status rewrap_tx(struct trm_db_conn *c, void *arg)
{
    struct rewrap *x = arg;
    struct trm_wrapped_key keys[BATCH];
    const char *target = trm_keyring_current_kek_id(x->kr);
    x->batch = 0;
    enum trm_db_status st = trm_keys_take_batch(c, target, keys, BATCH, &x->batch);
    unsigned char *dek = trm_dek_alloc();
    for (unsigned i = 0; dek && st == TRM_DB_OK && i < x->batch; i++) {
        if (!trm_dek_unwrap(x->kr, keys[i].case_id, keys[i].kek_id, keys[i].wrapped,
                            sizeof keys[i].wrapped, dek) ||
            !trm_dek_wrap_with(x->kr, target, keys[i].case_id, dek, keys[i].wrapped)) {
            x->failed = true;
            st = TRM_DB_REFUSED;
            break;
        }
        trm_strlcpy(keys[i].kek_id, target, sizeof keys[i].kek_id);
        st = trm_keys_store(c, &keys[i]);
    }
    trm_dek_free(dek);
    return dek ? st : TRM_DB_ERROR;
}

static int rewrap_all(struct trm_db_pool *pool, const struct trm_keyring *kr)
{
    struct rewrap x = {.kr = kr};
    unsigned empty_passes = 0;
    /* Two empty passes a few seconds apart: trmd processes that had not yet seen the new
     * KEK may have wrapped a few more keys under the old one meanwhile. */
    while (empty_passes < 2) {
        enum trm_db_status st = trm_db_tx_run(pool, NULL, false, rewrap_tx, &x);
        if (x.failed)
            return trm_cli_fail("keys rotate: a data key did not unwrap: its KEK is missing "
                                "from the key file");
        if (st != TRM_DB_OK)
            return trm_cli_fail("keys rotate: database error; run trmctl keys rotate --resume");
        x.done += x.batch;
        if (x.batch == 0) {
            empty_passes++;
            if (empty_passes < 2)
                sleep(2);
        } else {
            empty_passes = 0;
        }
    }
    printf("re-wrapped %u data keys under %s\n", x.done, trm_keyring_current_kek_id(kr));
    return 0;
}

static enum trm_db_status status_tx(struct trm_db_conn *c, void *arg)
{
    return trm_keys_status(c, arg);
}

struct retention {
    long days, erased;
};

static enum trm_db_status retention_tx(struct trm_db_conn *c, void *arg)
{
    struct retention *x = arg;
    return trm_retention_erase(c, x->days, &x->erased);
}

int trm_cmd_keys(int argc, char **argv)
{
    char err[512];
    if (argc == 2 && strcmp(argv[0], "init") == 0) {
        if (!trm_keyring_create_file(argv[1], err, sizeof err))
            return trm_cli_fail("%s", err);
        printf("created %s\n", argv[1]);
        return 0;
    }
    bool rotate = argc >= 1 && strcmp(argv[0], "rotate") == 0;
    bool status = argc >= 1 && strcmp(argv[0], "status") == 0;
    if (!rotate && !status)
        return trm_cli_fail("usage: trmctl keys init FILE | rotate [--resume] | status");
    struct trm_db_pool *pool = trm_cli_pool();
    if (pool == NULL)
        return 1;
    int rc = 0;
    if (status) {
        char *text = NULL;
        enum trm_db_status st = trm_db_tx_run(pool, NULL, false, status_tx, &text);
        if (st == TRM_DB_OK)
            printf("%s", text ? text : "");
        else
            rc = trm_cli_fail("keys status: database error");
        free(text);
    } else {
        char id[TRM_KEK_ID_MAX + 1];
        if (!trm_cli_has(argc, argv, "--resume")) {
            if (!trm_keyring_add_kek(key_file(), id, err, sizeof err))
                rc = trm_cli_fail("%s", err);
            else
                printf("added key-encryption key %s\n", id);
        }
        struct trm_keyring *kr = rc == 0 ? trm_cli_keyring() : NULL;
        rc = kr ? rewrap_all(pool, kr) : 1;
        trm_keyring_free(kr);
    }
    trm_db_pool_close(pool);
    return rc;
}

int trm_cmd_retention(int argc, char **argv)
{
    const char *days_s = trm_cli_opt(argc, argv, "--days");
    struct retention x = {0};
    if (argc < 1 || strcmp(argv[0], "run") != 0 || days_s == NULL ||
        !trm_parse_long(days_s, 0, 36500, &x.days))
        return trm_cli_fail("usage: trmctl retention run --days N");
    struct trm_db_pool *pool = trm_cli_pool();
    if (pool == NULL)
        return 1;
    enum trm_db_status st = trm_db_tx_run(pool, NULL, false, retention_tx, &x);
    trm_db_pool_close(pool);
    if (st != TRM_DB_OK)
        return trm_cli_fail("retention run: database error");
    printf("erased the personal data of %ld closed case%s\n", x.erased, x.erased == 1 ? "" : "s");
    return 0;
}
