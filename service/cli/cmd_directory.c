/* trmctl agency, user, token, bootstrap and demo: the directory from the command line.
 * Works through the same store as trmd, on a one-connection pool; every change is recorded in
 * the admin log with the operator (trmctl) as its actor. */
#include "cli.h"

#include "trm/admin_log_store.h"
#include "trm/auth.h"
#include "trm/directory_store.h"
#include "trm/json_spec.h"
#include "trm/keyring.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int db_fail(enum trm_db_status st, const char *what)
{
    switch (st) {
    case TRM_DB_NOT_FOUND:
        return trm_cli_fail("%s: not found", what);
    case TRM_DB_CONFLICT:
        return trm_cli_fail("%s: already exists", what);
    case TRM_DB_INVALID:
        return trm_cli_fail("%s: the values are not consistent with the directory", what);
    case TRM_DB_UNAVAILABLE:
        return trm_cli_fail("%s: the database is not reachable", what);
    default:
        return trm_cli_fail("%s: database error", what);
    }
}

/* The agency and its admin-log entry (actor: the operator, trmctl). */
static enum trm_db_status agency_insert_tx(struct trm_db_conn *c, void *arg)
{
    const struct trm_agency *a = arg;
    enum trm_db_status st = trm_directory_agency_insert(c, a);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_admin_log_add(c, TRM_ADMIN_AGENCY_CREATE, a->id, "name,country,kind", NULL);
}

static int agency_add(struct trm_db_pool *pool, struct trm_agency *a)
{
    trm_uuid_v4(a->id);
    a->active = true;
    enum trm_db_status st = trm_db_tx_run(pool, NULL, false, agency_insert_tx, a);
    if (st == TRM_DB_NOT_FOUND)
        return trm_cli_fail("agency add: unknown country %s", a->country);
    return st == TRM_DB_OK ? 0 : db_fail(st, "agency add");
}

struct list_args {
    struct trm_agency rows[100];
    unsigned n;
    const char *after[3];
};

static enum trm_db_status agency_list_tx(struct trm_db_conn *c, void *arg)
{
    struct list_args *x = arg;
    return trm_directory_agency_list(c, NULL, NULL, x->after[0], x->after[1], x->after[2], x->rows,
                                     100, &x->n);
}

static int cmd_agency(struct trm_db_pool *pool, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "add") == 0) {
        const char *name = trm_cli_opt(argc, argv, "--name");
        const char *country = trm_cli_opt(argc, argv, "--country");
        const char *kind = trm_cli_opt(argc, argv, "--kind");
        if (!name || !country || !kind)
            return trm_cli_fail("usage: trmctl agency add --name N --country CC --kind K");
        if (!trm_str_in(kind, trm_agency_kinds))
            return trm_cli_fail("agency add: unknown kind (police, prosecution, "
                                "migration_authority, social_services, labour_inspectorate, ngo, "
                                "embassy, international_org, national_coordinator, other)");
        struct trm_agency a = {0};
        if (strlen(name) == 0 || !trm_strlcpy(a.name, name, sizeof a.name) ||
            strlen(country) != 2 || !trm_strlcpy(a.country, country, sizeof a.country))
            return trm_cli_fail("agency add: name must be 1 to 200 bytes, country 2 letters");
        trm_strlcpy(a.kind, trm_agency_kind_canonical(kind), sizeof a.kind);
        int rc = agency_add(pool, &a);
        if (rc == 0)
            printf("%s\n", a.id);
        return rc;
    }
    if (argc >= 1 && strcmp(argv[0], "list") == 0) {
        struct list_args x = {0};
        for (;;) {
            enum trm_db_status st = trm_db_tx_run(pool, NULL, false, agency_list_tx, &x);
            if (st != TRM_DB_OK)
                return db_fail(st, "agency list");
            for (unsigned i = 0; i < x.n; i++)
                printf("%s\t%s\t%s\t%s%s\n", x.rows[i].id, x.rows[i].country, x.rows[i].kind,
                       x.rows[i].name, x.rows[i].active ? "" : "\t(inactive)");
            if (x.n < 100)
                return 0;
            static struct trm_agency last;
            last = x.rows[x.n - 1];
            x.after[0] = last.country;
            x.after[1] = last.name;
            x.after[2] = last.id;
        }
    }
    return trm_cli_fail("usage: trmctl agency add|list ...");
}

static enum trm_db_status user_insert_tx(struct trm_db_conn *c, void *arg)
{
    const struct trm_user *u = arg;
    enum trm_db_status st = trm_directory_user_insert(c, u);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_admin_log_add(c, TRM_ADMIN_USER_CREATE, u->id,
                             u->cross_border ? "agency_id,role,display_name,cross_border"
                                             : "agency_id,role,display_name",
                             NULL);
}

static int user_add(struct trm_db_pool *pool, struct trm_user *u)
{
    trm_uuid_v4(u->id);
    enum trm_db_status st = trm_db_tx_run(pool, NULL, false, user_insert_tx, u);
    if (st == TRM_DB_NOT_FOUND)
        return trm_cli_fail("user add: unknown agency");
    return st == TRM_DB_OK ? 0 : db_fail(st, "user add");
}

static int cmd_user(struct trm_db_pool *pool, int argc, char **argv)
{
    const char *agency = trm_cli_opt(argc, argv, "--agency");
    const char *role = trm_cli_opt(argc, argv, "--role");
    const char *name = trm_cli_opt(argc, argv, "--name");
    if (argc < 1 || strcmp(argv[0], "add") != 0 || !agency || !role || !name)
        return trm_cli_fail("usage: trmctl user add --agency ID --role R --name N "
                            "[--cross-border]");
    struct trm_user u = {0};
    if (!trm_uuid_parse(agency, u.agency_id))
        return trm_cli_fail("user add: --agency must be an agency id (UUID)");
    if (!trm_str_in(role, trm_user_roles))
        return trm_cli_fail("user add: role must be caseworker, coordinator, auditor or admin");
    if (strlen(name) == 0 || !trm_strlcpy(u.display_name, name, sizeof u.display_name))
        return trm_cli_fail("user add: name must be 1 to 200 bytes");
    trm_strlcpy(u.role, role, sizeof u.role);
    u.cross_border = trm_cli_has(argc, argv, "--cross-border");
    int rc = user_add(pool, &u);
    if (rc == 0)
        printf("%s\n", u.id);
    return rc;
}

/* Issues a token for user_id and prints it with prefix (the token alone when prefix is ""). */
static int token_issue(struct trm_db_pool *pool, const struct trm_keyring *kr, const char *user_id,
                       long days, const char *prefix)
{
    struct trm_token_issued t;
    enum trm_db_status st = trm_token_issue(pool, kr, NULL, user_id, days, NULL, &t);
    if (st == TRM_DB_OK)
        printf("%s%s\n", prefix, t.token.text);
    sodium_memzero(&t, sizeof t);
    if (st == TRM_DB_NOT_FOUND)
        return trm_cli_fail("token issue: unknown user");
    return st == TRM_DB_OK ? 0 : db_fail(st, "token issue");
}

static int cmd_token(struct trm_db_pool *pool, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "issue") == 0) {
        const char *user = trm_cli_opt(argc, argv, "--user");
        const char *days_s = trm_cli_opt(argc, argv, "--expires-days");
        char user_id[TRM_UUID_STR_LEN + 1];
        long days = 90;
        if (user == NULL || !trm_uuid_parse(user, user_id))
            return trm_cli_fail("usage: trmctl token issue --user ID [--expires-days N]");
        if (days_s && !trm_parse_long(days_s, 1, 3650, &days))
            return trm_cli_fail("token issue: --expires-days must be 1 to 3650");
        struct trm_keyring *kr = trm_cli_keyring();
        if (kr == NULL)
            return 1;
        int rc = token_issue(pool, kr, user_id, days, "");
        trm_keyring_free(kr);
        return rc;
    }
    if (argc == 2 && strcmp(argv[0], "revoke") == 0) {
        char id[TRM_UUID_STR_LEN + 1];
        if (!trm_uuid_parse(argv[1], id))
            return trm_cli_fail("usage: trmctl token revoke ID");
        enum trm_db_status st = trm_token_revoke(pool, NULL, id, NULL);
        if (st != TRM_DB_OK)
            return db_fail(st, "token revoke");
        printf("revoked %s\n", id);
        return 0;
    }
    return trm_cli_fail("usage: trmctl token issue --user ID [--expires-days N] | revoke ID");
}

static enum trm_db_status admin_exists_tx(struct trm_db_conn *c, void *arg)
{
    return trm_directory_admin_exists(c, arg);
}

/* First start: an administration agency and an admin user, whose token is printed once. */
static int cmd_bootstrap(struct trm_db_pool *pool, int argc, char **argv)
{
    const char *country = trm_cli_opt(argc, argv, "--country");
    if (country != NULL && !trm_json_is_country(country))
        return trm_cli_fail("bootstrap: --country must be a country code of two capital letters");
    bool exists = false;
    enum trm_db_status st = trm_db_tx_run(pool, NULL, false, admin_exists_tx, &exists);
    if (st != TRM_DB_OK)
        return db_fail(st, "bootstrap");
    if (exists) {
        printf("an admin user exists already; issue more tokens with trmctl token issue\n");
        return 0;
    }
    struct trm_keyring *kr = trm_cli_keyring();
    if (kr == NULL)
        return 1;
    struct trm_agency a = {.kind = "other"};
    trm_strlcpy(a.name, "trm administration", sizeof a.name);
    trm_strlcpy(a.country, country ? country : "SE", sizeof a.country);
    struct trm_user u = {.role = "admin", .display_name = "Administrator"};
    int rc = agency_add(pool, &a);
    if (rc == 0) {
        memcpy(u.agency_id, a.id, sizeof a.id);
        rc = user_add(pool, &u);
    }
    if (rc == 0)
        rc = token_issue(pool, kr, u.id, 365, "admin token: ");
    trm_keyring_free(kr);
    return rc;
}

/* The demo agencies of a country: a few countries have local names, the others generic ones
 * with the country code. */
struct demo_names {
    const char *country, *social, *ngo, *police, *coordinator;
};

static const struct demo_names demo_named[] = {
    {"SE", "Demo Stockholm social services", "Demo Stockholm shelter NGO", "Demo Swedish police",
     "Demo national coordinator SE"},
    {"PH", "Demo Manila social welfare office", "Demo Manila reintegration NGO",
     "Demo Philippine police", "Demo national coordinator PH"},
};

static void demo_names_for(const char *cc, struct demo_names *out, char buf[4][80])
{
    for (size_t i = 0; i < sizeof demo_named / sizeof demo_named[0]; i++)
        if (strcmp(demo_named[i].country, cc) == 0) {
            *out = demo_named[i];
            return;
        }
    snprintf(buf[0], 80, "Demo social services %s", cc);
    snprintf(buf[1], 80, "Demo shelter NGO %s", cc);
    snprintf(buf[2], 80, "Demo police %s", cc);
    snprintf(buf[3], 80, "Demo national coordinator %s", cc);
    *out = (struct demo_names){cc, buf[0], buf[1], buf[2], buf[3]};
}

/* Demo data of one country (the instance's), marked demo, with a token per user. Demo
 * agencies are never published to peer instances (docs/federation.md). */
static int cmd_demo(struct trm_db_pool *pool, int argc, char **argv)
{
    const char *country = trm_cli_opt(argc, argv, "--country");
    if (country == NULL)
        country = "SE";
    if (!trm_json_is_country(country))
        return trm_cli_fail("demo: --country must be a country code of two capital letters");
    struct demo_names n;
    char buf[4][80];
    demo_names_for(country, &n, buf);
    const struct {
        const char *name, *kind;
    } agencies[] = {
        {n.social, "social_services"},
        {n.ngo, "ngo"},
        {n.police, "police"},
        {n.coordinator, "national_coordinator"},
    };
    static const struct {
        int agency;
        const char *role, *who;
        bool cross_border;
    } users[] = {
        {0, "caseworker", "Demo caseworker", false}, {0, "coordinator", "Demo coordinator", false},
        {1, "caseworker", "Demo caseworker", false}, {2, "caseworker", "Demo investigator", false},
        {3, "auditor", "Demo auditor", true},
    };
    struct trm_keyring *kr = trm_cli_keyring();
    if (kr == NULL)
        return 1;
    struct trm_agency a[4];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < 4; i++) {
        memset(&a[i], 0, sizeof a[i]);
        trm_strlcpy(a[i].name, agencies[i].name, sizeof a[i].name);
        trm_strlcpy(a[i].country, country, sizeof a[i].country);
        trm_strlcpy(a[i].kind, agencies[i].kind, sizeof a[i].kind);
        a[i].demo = true;
        rc = agency_add(pool, &a[i]);
    }
    for (size_t i = 0; rc == 0 && i < sizeof users / sizeof users[0]; i++) {
        struct trm_user u = {.demo = true, .cross_border = users[i].cross_border};
        memcpy(u.agency_id, a[users[i].agency].id, sizeof u.agency_id);
        trm_strlcpy(u.role, users[i].role, sizeof u.role);
        /* "Demo caseworker (Demo Manila reintegration NGO)" without the second "Demo ". */
        snprintf(u.display_name, sizeof u.display_name, "%s (%s)", users[i].who,
                 a[users[i].agency].name + 5);
        rc = user_add(pool, &u);
        char prefix[300];
        snprintf(prefix, sizeof prefix, "%s token: ", u.display_name);
        if (rc == 0)
            rc = token_issue(pool, kr, u.id, 30, prefix);
    }
    trm_keyring_free(kr);
    return rc;
}

int trm_cmd_directory(int argc, char **argv)
{
    struct trm_db_pool *pool = trm_cli_pool();
    if (pool == NULL)
        return 1;
    int rc;
    if (strcmp(argv[0], "agency") == 0)
        rc = cmd_agency(pool, argc - 1, argv + 1);
    else if (strcmp(argv[0], "user") == 0)
        rc = cmd_user(pool, argc - 1, argv + 1);
    else if (strcmp(argv[0], "token") == 0)
        rc = cmd_token(pool, argc - 1, argv + 1);
    else if (strcmp(argv[0], "bootstrap") == 0)
        rc = cmd_bootstrap(pool, argc - 1, argv + 1);
    else
        rc = cmd_demo(pool, argc - 1, argv + 1);
    trm_db_pool_close(pool);
    return rc;
}
