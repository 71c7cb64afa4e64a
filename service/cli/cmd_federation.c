/* trmctl instance and peer: this instance's federation identity (its keys come from the key
 * file: the signing key it already has and a box key added here) and the peers an admin
 * registers out of band, after checking their public keys with the peer's operators. */
#include "cli.h"

#include "trm/admin_log_store.h"
#include "trm/federation.h"
#include "trm/federation_store.h"
#include "trm/json_spec.h"
#include "trm/keyring.h"
#include "trm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *key_path(void)
{
    const char *path = getenv("TRM_KEY_FILE");
    return path && *path ? path : "var/keys/master.key";
}

static bool url_ok(const char *url)
{
    return url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) &&
           strlen(url) < 500 && strcspn(url, " \t\r\n") == strlen(url) &&
           url[strlen(url) - 1] != '/';
}

static enum trm_db_status identity_set_tx(struct trm_db_conn *c, void *arg)
{
    return trm_fed_identity_set(c, arg);
}

static enum trm_db_status identity_get_tx(struct trm_db_conn *c, void *arg)
{
    return trm_fed_identity_get(c, arg);
}

/* Prints what a peer's admin needs to register us. */
static int print_identity(const struct trm_fed_identity *me)
{
    struct trm_keyring *kr = trm_cli_keyring();
    uint8_t sign[TRM_FED_KEY_BYTES], box[TRM_FED_KEY_BYTES];
    char sh[2 * TRM_FED_KEY_BYTES + 1], bh[2 * TRM_FED_KEY_BYTES + 1];
    if (kr == NULL)
        return 1;
    trm_fed_signing_public(kr, sign);
    bool has_box = trm_fed_box_public(kr, box);
    trm_keyring_free(kr);
    if (!has_box)
        return trm_cli_fail("instance: the key file has no box key (trmctl instance init)");
    trm_hex_encode(sign, sizeof sign, sh);
    trm_hex_encode(box, sizeof box, bh);
    printf("instance_id %s\ncountry %s\nurl %s\nsigning_key %s\nbox_key %s\n", me->instance_id,
           me->country, me->url[0] ? me->url : "-", sh, bh);
    return 0;
}

static int instance_cmd(int argc, char **argv)
{
    struct trm_db_pool *pool = NULL;
    struct trm_fed_identity me = {0};
    int rc = 1;
    if (argc >= 1 && strcmp(argv[0], "init") == 0) {
        const char *id = trm_cli_opt(argc, argv, "--id"),
                   *cc = trm_cli_opt(argc, argv, "--country");
        const char *url = trm_cli_opt(argc, argv, "--url");
        if (!trm_fed_instance_id_ok(id) || !cc || !trm_json_is_country(cc) || (url && !url_ok(url)))
            return trm_cli_fail("usage: trmctl instance init --id ID --country CC [--url URL] "
                                "(id: 2-63 of a-z 0-9 . -; url without a trailing /)");
        char err[512];
        bool added = false;
        if (!trm_keyring_ensure_box_key(key_path(), &added, err, sizeof err))
            return trm_cli_fail("%s", err);
        trm_strlcpy(me.instance_id, id, sizeof me.instance_id);
        trm_strlcpy(me.country, cc, sizeof me.country);
        trm_strlcpy(me.url, url ? url : "", sizeof me.url);
        if ((pool = trm_cli_pool()) == NULL)
            return 1;
        enum trm_db_status st = trm_db_tx_run(pool, NULL, false, identity_set_tx, &me);
        if (st != TRM_DB_OK)
            rc = trm_cli_fail("instance init: %s",
                              st == TRM_DB_INVALID ? "unknown country" : "database error");
        else
            rc = print_identity(&me);
        if (added)
            fprintf(stderr, "trmctl: a box key was added to the key file; restart trmd\n");
    } else if (argc >= 1 && strcmp(argv[0], "show") == 0) {
        if ((pool = trm_cli_pool()) == NULL)
            return 1;
        enum trm_db_status st = trm_db_run(pool, identity_get_tx, &me);
        rc = st == TRM_DB_OK ? print_identity(&me)
                             : trm_cli_fail("instance show: %s", st == TRM_DB_NOT_FOUND
                                                                     ? "not set up (instance init)"
                                                                     : "database error");
    } else {
        return trm_cli_fail("usage: trmctl instance init --id ID --country CC [--url URL] | "
                            "instance show");
    }
    trm_db_pool_close(pool);
    return rc;
}

static bool hex_key(const char *hex, uint8_t out[TRM_FED_KEY_BYTES])
{
    return hex && strlen(hex) == 2 * TRM_FED_KEY_BYTES &&
           trm_hex_decode(hex, out, TRM_FED_KEY_BYTES);
}

/* The peer and its admin-log entry (actor: the operator, trmctl). */
static enum trm_db_status peer_put_tx(struct trm_db_conn *c, void *arg)
{
    const struct trm_fed_peer *p = arg;
    enum trm_db_status st = trm_fed_peer_put(c, p);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_admin_log_add(c, TRM_ADMIN_PEER_ADD, p->instance_id,
                             "country,url,signing_key,box_key,active", NULL);
}

static enum trm_db_status peer_list_tx(struct trm_db_conn *c, void *arg)
{
    json_t **out = arg;
    json_decref(*out);
    return trm_fed_peer_list(c, out);
}

/* --countries CC,CC,...: the other countries a peer's agencies may be in (at most 49). */
static bool countries_ok(const char *list, char *out, size_t cap)
{
    out[0] = '\0';
    if (list == NULL)
        return true;
    if (strlen(list) >= cap || strlen(list) > 49 * 3)
        return false;
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        char cc[3];
        if (n != 2)
            return false;
        memcpy(cc, p, 2);
        cc[2] = '\0';
        if (!trm_json_is_country(cc))
            return false;
        p += n + (p[n] == ',');
    }
    trm_strlcpy(out, list, cap);
    return true;
}

static int peer_cmd(int argc, char **argv)
{
    struct trm_db_pool *pool = NULL;
    int rc;
    if (argc >= 1 && strcmp(argv[0], "add") == 0) {
        struct trm_fed_peer p = {.active = !trm_cli_has(argc, argv, "--inactive")};
        const char *id = trm_cli_opt(argc, argv, "--id"),
                   *cc = trm_cli_opt(argc, argv, "--country");
        const char *url = trm_cli_opt(argc, argv, "--url");
        if (!trm_fed_instance_id_ok(id) || !cc || !trm_json_is_country(cc) || !url_ok(url) ||
            !hex_key(trm_cli_opt(argc, argv, "--signing-key"), p.signing_key) ||
            !hex_key(trm_cli_opt(argc, argv, "--box-key"), p.box_key) ||
            !countries_ok(trm_cli_opt(argc, argv, "--countries"), p.countries, sizeof p.countries))
            return trm_cli_fail("usage: trmctl peer add --id ID --country CC --url URL "
                                "--signing-key HEX --box-key HEX [--countries CC,CC] "
                                "[--inactive]");
        trm_strlcpy(p.instance_id, id, sizeof p.instance_id);
        trm_strlcpy(p.country, cc, sizeof p.country);
        trm_strlcpy(p.url, url, sizeof p.url);
        if ((pool = trm_cli_pool()) == NULL)
            return 1;
        enum trm_db_status st = trm_db_tx_run(pool, NULL, false, peer_put_tx, &p);
        rc = st == TRM_DB_OK
                 ? (printf("%s\n", p.instance_id), 0)
                 : trm_cli_fail("peer add: %s",
                                st == TRM_DB_INVALID ? "unknown country" : "database error");
    } else if (argc >= 1 && strcmp(argv[0], "list") == 0) {
        json_t *peers = NULL;
        if ((pool = trm_cli_pool()) == NULL)
            return 1;
        enum trm_db_status st = trm_db_run(pool, peer_list_tx, &peers);
        rc = st == TRM_DB_OK ? 0 : trm_cli_fail("peer list: database error");
        if (st == TRM_DB_OK)
            json_dumpf(peers, stdout, JSON_INDENT(2)), putchar('\n');
        json_decref(peers);
    } else {
        return trm_cli_fail("usage: trmctl peer add ... | peer list");
    }
    trm_db_pool_close(pool);
    return rc;
}

int trm_cmd_federation(int argc, char **argv)
{
    if (strcmp(argv[0], "instance") == 0)
        return instance_cmd(argc - 1, argv + 1);
    return peer_cmd(argc - 1, argv + 1);
}
