/* trmctl instance and peer: this instance's federation identity (its keys come from the key
 * file: the signing key it already has and a box key added here) and the peers an admin
 * registers out of band, after checking their public keys with the peer's operators. */
#include "cli.h"

#include "trm/admin_log_store.h"
#include "trm/federation.h"
#include "trm/federation_ops.h"
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

/* What is wrong with a base URL, or NULL when nothing is. */
static const char *url_problem(const char *url)
{
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return "must start with http:// or https:// (e.g. https://trm.example.ph)";
    if (strlen(url) >= 500)
        return "must be shorter than 500 characters";
    if (strcspn(url, " \t\r\n") != strlen(url))
        return "must not contain spaces";
    if (url[strlen(url) - 1] == '/')
        return "must not end with / (the base URL: trm adds /v1/federation/...)";
    return NULL;
}

/* Names the first argument of flags that is missing or malformed, and why: writes
 * "--flag ..." into out and returns false. */
static bool arg_check(const char *flag, const char *value, const char *problem, char *out,
                      size_t cap)
{
    if (value == NULL)
        snprintf(out, cap, "%s is missing", flag);
    else if (problem != NULL)
        snprintf(out, cap, "%s %s", flag, problem);
    else
        return true;
    return false;
}

static const char *id_problem(const char *id)
{
    return trm_fed_instance_id_ok(id) ? NULL
                                      : "must be 2 to 63 of a-z 0-9 . - starting with a letter "
                                        "or digit (e.g. ph.trm)";
}

static const char *country_problem(const char *cc)
{
    return trm_json_is_country(cc) ? NULL : "must be a country code of two capital letters";
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
        char bad[200];
        if (!arg_check("--id", id, id ? id_problem(id) : NULL, bad, sizeof bad) ||
            !arg_check("--country", cc, cc ? country_problem(cc) : NULL, bad, sizeof bad) ||
            (url && !arg_check("--url", url, url_problem(url), bad, sizeof bad)))
            return trm_cli_fail("instance init: %s (usage: trmctl instance init --id ID "
                                "--country CC [--url URL])",
                                bad);
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
        /* A running trmd reads the key file anew when it changes: no restart. */
        if (added)
            fprintf(stderr, "trmctl: a box key was added to the key file\n");
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

/* Decodes a public key; what is wrong with it otherwise (its length when that is it). */
static const char *key_problem(const char *hex, uint8_t out[TRM_FED_KEY_BYTES], char *buf,
                               size_t cap)
{
    if (strlen(hex) != 2 * TRM_FED_KEY_BYTES) {
        snprintf(buf, cap,
                 "must be 64 hex digits, not %zu (copy it from the peer's trmctl "
                 "instance show)",
                 strlen(hex));
        return buf;
    }
    return trm_hex_decode(hex, out, TRM_FED_KEY_BYTES) ? NULL : "must be 64 hex digits (0-9 a-f)";
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

/* The arguments of peer add into p; false with the first one refused and why. */
static bool peer_args(int argc, char **argv, struct trm_fed_peer *p, char *bad, size_t cap)
{
    const char *id = trm_cli_opt(argc, argv, "--id"), *cc = trm_cli_opt(argc, argv, "--country");
    const char *url = trm_cli_opt(argc, argv, "--url");
    const char *sk = trm_cli_opt(argc, argv, "--signing-key");
    const char *bk = trm_cli_opt(argc, argv, "--box-key");
    const char *countries = trm_cli_opt(argc, argv, "--countries");
    char why[160];
    if (!arg_check("--id", id, id ? id_problem(id) : NULL, bad, cap) ||
        !arg_check("--country", cc, cc ? country_problem(cc) : NULL, bad, cap) ||
        !arg_check("--url", url, url ? url_problem(url) : NULL, bad, cap) ||
        !arg_check("--signing-key", sk,
                   sk ? key_problem(sk, p->signing_key, why, sizeof why) : NULL, bad, cap) ||
        !arg_check("--box-key", bk, bk ? key_problem(bk, p->box_key, why, sizeof why) : NULL, bad,
                   cap))
        return false;
    if (countries && !countries_ok(countries, p->countries, sizeof p->countries)) {
        snprintf(bad, cap,
                 "--countries must be country codes separated by commas (PH,GU), at "
                 "most 49");
        return false;
    }
    trm_strlcpy(p->instance_id, id, sizeof p->instance_id);
    trm_strlcpy(p->country, cc, sizeof p->country);
    trm_strlcpy(p->url, url, sizeof p->url);
    return true;
}

struct check_args {
    const char *id;
    struct trm_fed_identity me;
    struct trm_fed_peer peer;
    enum trm_db_status me_st, peer_st;
};

static enum trm_db_status check_tx(struct trm_db_conn *c, void *arg)
{
    struct check_args *x = arg;
    x->me_st = trm_fed_identity_get(c, &x->me);
    x->peer_st = trm_fed_peer_get(c, x->id, &x->peer);
    bool found = x->me_st != TRM_DB_OK && x->me_st != TRM_DB_NOT_FOUND;
    return found ? x->me_st
                 : (x->peer_st != TRM_DB_OK && x->peer_st != TRM_DB_NOT_FOUND ? x->peer_st
                                                                              : TRM_DB_OK);
}

/* One signed fetch of the peer's directory, and the verdict in words (the sentence the
 * delivery worker logs for the same outcome). Changes nothing. */
static int peer_check(const char *id)
{
    struct check_args x = {.id = id};
    struct trm_db_pool *pool = trm_cli_pool();
    if (pool == NULL)
        return 1;
    enum trm_db_status st = trm_db_run(pool, check_tx, &x);
    trm_db_pool_close(pool);
    if (st != TRM_DB_OK)
        return trm_cli_fail("peer check: database error");
    if (x.me_st == TRM_DB_NOT_FOUND)
        return trm_cli_fail("peer check: this instance has no federation identity yet (trmctl "
                            "instance init)");
    if (x.peer_st == TRM_DB_NOT_FOUND)
        return trm_cli_fail("peer check: no peer %s is registered here (trmctl peer list)", id);
    struct trm_keyring *kr = trm_cli_keyring();
    if (kr == NULL)
        return 1;
    struct trm_fed_directory r;
    trm_fed_directory_fetch(kr, x.me.instance_id, x.peer.instance_id, x.peer.url,
                            x.peer.signing_key, 10, &r);
    trm_keyring_free(kr);
    json_decref(r.items);
    const char *inactive = x.peer.active ? "" : " (it is marked inactive here: no traffic)";
    if (r.verdict != TRM_FED_CONNECTED)
        return trm_cli_fail("peer check: %s%s", r.sentence, inactive);
    printf("%s%s\n", r.sentence, inactive);
    return 0;
}

static int peer_cmd(int argc, char **argv)
{
    struct trm_db_pool *pool = NULL;
    int rc;
    if (argc >= 1 && strcmp(argv[0], "add") == 0) {
        struct trm_fed_peer p = {.active = !trm_cli_has(argc, argv, "--inactive")};
        char bad[300];
        if (!peer_args(argc, argv, &p, bad, sizeof bad))
            return trm_cli_fail("peer add: %s (usage: trmctl peer add --id ID --country CC "
                                "--url URL --signing-key HEX --box-key HEX [--countries CC,CC] "
                                "[--inactive])",
                                bad);
        if ((pool = trm_cli_pool()) == NULL)
            return 1;
        enum trm_db_status st = trm_db_tx_run(pool, NULL, false, peer_put_tx, &p);
        rc = st == TRM_DB_OK ? (printf("%s\n", p.instance_id), 0)
             : st == TRM_DB_INVALID
                 ? trm_cli_fail("peer add: --country or --countries names a country this "
                                "database does not know")
                 : trm_cli_fail("peer add: database error");
    } else if (argc >= 2 && strcmp(argv[0], "check") == 0) {
        rc = peer_check(argv[1]);
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
        return trm_cli_fail("usage: trmctl peer add ... | peer check ID | peer list");
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
