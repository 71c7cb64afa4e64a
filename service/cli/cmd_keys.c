/* trmctl keys (init, rotate, retire, status) and trmctl retention run. Rotation adds a KEK
 * to the key file, then re-wraps every data key under it in small transactions, online:
 * running trmd processes pick the new KEK up from the file within a second, and rows they
 * hold are waited for. Interrupted, `keys rotate --resume` carries on. Retiring removes an
 * old KEK from the key file once no data key is wrapped under it: from then on, backups
 * holding keys wrapped under it cannot be opened (docs/encryption.md). */
#include "cli.h"

#include "trm/crypto.h"
#include "trm/key_store.h"
#include "trm/keyring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BATCH 200
/* How long rotation waits for rows other transactions keep locked, without progress. */
#define LOCKED_WAIT_S 60

static const char *key_file(void)
{
    const char *path = getenv("TRM_KEY_FILE");
    return path && *path ? path : "var/keys/master.key";
}

struct rewrap {
    const struct trm_keyring *kr;
    unsigned done, batch;
    long remaining; /* after an empty batch: keys under other KEKs, locked ones included */
    bool failed;
};

static enum trm_db_status rewrap_tx(struct trm_db_conn *c, void *arg)
{
    struct rewrap *x = arg;
    struct trm_wrapped_key keys[BATCH];
    const char *target = trm_keyring_current_kek_id(x->kr);
    x->batch = 0;
    x->remaining = 0;
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
    if (dek && st == TRM_DB_OK && x->batch == 0)
        st = trm_keys_remaining(c, target, &x->remaining);
    return dek ? st : TRM_DB_ERROR;
}

/* Batches until no data key is left under another KEK, then that checked again two
 * seconds later: trmd processes that had not yet seen the new KEK may have wrapped a few
 * more under the old one meanwhile. Rows that other transactions hold locked are skipped
 * by a batch, and waited for. */
static int rewrap_all(struct trm_db_pool *pool, const struct trm_keyring *kr)
{
    struct rewrap x = {.kr = kr};
    unsigned quiet = 0, waited = 0;
    while (quiet < 2) {
        enum trm_db_status st = trm_db_tx_run(pool, NULL, false, rewrap_tx, &x);
        if (x.failed)
            return trm_cli_fail("keys rotate: a data key did not unwrap: its KEK is missing "
                                "from the key file");
        if (st != TRM_DB_OK)
            return trm_cli_fail("keys rotate: database error; run trmctl keys rotate --resume");
        x.done += x.batch;
        if (x.batch > 0) {
            quiet = waited = 0;
        } else if (x.remaining > 0) {
            quiet = 0;
            if (++waited > LOCKED_WAIT_S)
                return trm_cli_fail("keys rotate: %ld data keys stayed locked by other "
                                    "transactions for a minute; run trmctl keys rotate --resume",
                                    x.remaining);
            sleep(1);
        } else if (++quiet < 2) {
            sleep(2);
        }
    }
    printf("re-wrapped %u data keys under %s\n", x.done, trm_keyring_current_kek_id(kr));
    return 0;
}

static int rotate(struct trm_db_pool *pool, bool resume)
{
    char err[512], id[TRM_KEK_ID_MAX + 1];
    if (!resume) {
        if (!trm_keyring_add_kek(key_file(), id, err, sizeof err))
            return trm_cli_fail("%s", err);
        printf("added key-encryption key %s\n", id);
    }
    struct trm_keyring *kr = trm_cli_keyring();
    int rc = kr ? rewrap_all(pool, kr) : 1;
    trm_keyring_free(kr);
    return rc;
}

struct usage {
    struct trm_kek_use *keks;
    size_t n;
};

static enum trm_db_status usage_tx(struct trm_db_conn *c, void *arg)
{
    struct usage *u = arg;
    free(u->keks);
    u->keks = NULL;
    return trm_keys_usage(c, &u->keks, &u->n);
}

static const struct trm_kek_use *use_of(const struct usage *u, const char *id)
{
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->keks[i].kek_id, id) == 0)
            return &u->keks[i];
    return NULL;
}

/* One line per KEK: those of the key file (oldest first, the current one last), then those
 * only the database knows (retired, or missing from the key file). */
static void print_status(const struct usage *u, const struct trm_keyring *kr)
{
    printf("key-encryption key\tdata keys\tstate\n");
    size_t n = kr ? trm_keyring_kek_count(kr) : 0;
    for (size_t i = 0; i < n; i++) {
        const char *id = trm_keyring_kek_id_at(kr, i);
        const struct trm_kek_use *k = use_of(u, id);
        const char *state = i + 1 == n ? "current" : "in the key file";
        if (k && k->retired_on[0])
            state = "in the key file, but retired in the database: run trmctl keys retire again";
        printf("%s\t%ld\t%s\n", id, k ? k->data_keys : 0, state);
    }
    for (size_t i = 0; i < u->n; i++) {
        const struct trm_kek_use *k = &u->keks[i];
        if (kr && trm_keyring_kek(kr, k->kek_id))
            continue;
        if (k->retired_on[0])
            printf("%s\t%ld\tretired %s\n", k->kek_id, k->data_keys, k->retired_on);
        else
            printf("%s\t%ld\t%s\n", k->kek_id, k->data_keys,
                   kr ? "NOT in the key file: these data keys cannot be opened" : "?");
    }
}

static int status(struct trm_db_pool *pool)
{
    struct usage u = {0};
    if (trm_db_tx_run(pool, NULL, false, usage_tx, &u) != TRM_DB_OK) {
        free(u.keks);
        return trm_cli_fail("keys status: database error");
    }
    char err[512];
    struct trm_keyring *kr = NULL;
    if (!trm_keyring_load(&kr, key_file(), err, sizeof err))
        fprintf(stderr, "trmctl: without the key file, only the database's view: %s\n", err);
    print_status(&u, kr);
    trm_keyring_free(kr);
    free(u.keks);
    return 0;
}

struct retire {
    const char *kek_id;
    long still_wrapped;
};

static enum trm_db_status retire_tx(struct trm_db_conn *c, void *arg)
{
    struct retire *x = arg;
    return trm_keys_retire(c, x->kek_id, &x->still_wrapped);
}

/* The database first: it refuses while data keys are wrapped under the KEK, and once it has
 * recorded the retirement no key can be wrapped under it again. Then the key file. */
static int retire(struct trm_db_pool *pool, const char *id)
{
    char err[512];
    struct trm_keyring *kr = trm_cli_keyring();
    if (kr == NULL)
        return 1;
    bool allowed = trm_keyring_can_retire(kr, id, err, sizeof err);
    trm_keyring_free(kr);
    if (!allowed)
        return trm_cli_fail("keys retire: %s", err);
    struct retire x = {.kek_id = id};
    if (trm_db_tx_run(pool, NULL, false, retire_tx, &x) != TRM_DB_OK)
        return trm_cli_fail("keys retire: database error; nothing was changed");
    if (x.still_wrapped > 0)
        return trm_cli_fail("keys retire: %ld data key%s still wrapped under %s: run trmctl keys "
                            "rotate --resume, then retire it; nothing was changed",
                            x.still_wrapped, x.still_wrapped == 1 ? " is" : "s are", id);
    if (!trm_keyring_retire_kek(key_file(), id, err, sizeof err))
        return trm_cli_fail("keys retire: %s (the database already counts %s as retired: run "
                            "trmctl keys retire %s again)",
                            err, id, id);
    printf("retired key-encryption key %s: removed from %s; what it wrapped, in any backup, "
           "cannot be opened any more\n",
           id, key_file());
    return 0;
}

int trm_cmd_keys(int argc, char **argv)
{
    char err[512];
    const char *cmd = argc >= 1 ? argv[0] : "";
    if (argc == 2 && strcmp(cmd, "init") == 0) {
        if (!trm_keyring_create_file(argv[1], err, sizeof err))
            return trm_cli_fail("keys init: %s", err);
        printf("created %s\n", argv[1]);
        return 0;
    }
    bool known = strcmp(cmd, "rotate") == 0 || strcmp(cmd, "status") == 0 ||
                 (strcmp(cmd, "retire") == 0 && argc == 2);
    if (!known)
        return trm_cli_fail(
            "usage: trmctl keys init FILE | rotate [--resume] | retire KEK | status");
    struct trm_db_pool *pool = trm_cli_pool();
    if (pool == NULL)
        return 1;
    int rc = strcmp(cmd, "status") == 0   ? status(pool)
             : strcmp(cmd, "retire") == 0 ? retire(pool, argv[1])
                                          : rotate(pool, trm_cli_has(argc, argv, "--resume"));
    trm_db_pool_close(pool);
    return rc;
}

struct retention {
    long days, erased;
};

static enum trm_db_status retention_tx(struct trm_db_conn *c, void *arg)
{
    struct retention *x = arg;
    return trm_retention_erase(c, x->days, &x->erased);
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
