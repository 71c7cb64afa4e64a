/* trmctl sop load FILE...: validate SOP documents and store them as new versions. Loading
 * the same code and version again with the same content is a no-op; with other content it
 * is refused (a SOP version never changes: bump the version). A load is recorded in the
 * admin log. */
#include "cli.h"

#include "trm/admin_log_store.h"
#include "trm/sop.h"
#include "trm/sop_store.h"

#include <stdio.h>
#include <string.h>

struct load {
    const struct trm_sop *sop;
    json_t *doc;
    char id[TRM_UUID_STR_LEN + 1];
    bool exists, same;
};

static enum trm_db_status load_tx(struct trm_db_conn *c, void *arg)
{
    struct load *x = arg;
    enum trm_db_status st =
        trm_sop_existing(c, x->sop->code, x->sop->version, x->doc, &x->exists, &x->same);
    if (st != TRM_DB_OK || x->exists)
        return st;
    struct trm_sop_row row;
    trm_sop_row_of(x->sop, x->id, &row);
    st = trm_sop_insert(c, &row, x->doc, NULL);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_admin_log_add(c, TRM_ADMIN_SOP_LOAD, x->id, "document", NULL);
}

static int load_file(struct trm_db_pool *pool, const char *path)
{
    json_error_t e;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    if (doc == NULL)
        return trm_cli_fail("%s:%d: not valid JSON (%s)", path, e.line, e.text);
    json_t *errors = json_array();
    struct trm_sop *sop = trm_sop_parse(doc, errors);
    if (sop == NULL) {
        size_t i;
        json_t *err;
        json_array_foreach(errors, i, err) fprintf(
            stderr, "%s: %s: %s\n", path, json_string_value(json_object_get(err, "pointer")),
            json_string_value(json_object_get(err, "message")));
        size_t n = json_array_size(errors);
        json_decref(errors);
        json_decref(doc);
        return trm_cli_fail("%s: %zu problem(s); nothing loaded", path, n);
    }
    json_decref(errors);
    struct load x = {.sop = sop, .doc = doc};
    trm_uuid_v4(x.id);
    enum trm_db_status st = trm_db_tx_run(pool, NULL, false, load_tx, &x);
    int rc = 0;
    if (st != TRM_DB_OK)
        rc = trm_cli_fail("%s: the database refused the SOP", path);
    else if (x.exists && !x.same)
        rc = trm_cli_fail("%s: %s version %ld is loaded with other content: a SOP version never "
                          "changes, give this one a new version",
                          path, sop->code, sop->version);
    else
        printf("%s %s version %ld%s\n", x.exists ? "already loaded:" : "loaded", sop->code,
               sop->version, sop->country[0] ? "" : " (generic)");
    trm_sop_free(sop);
    json_decref(doc);
    return rc;
}

int trm_cmd_sop(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[0], "load") != 0)
        return trm_cli_fail("usage: trmctl sop load FILE...");
    struct trm_db_pool *pool = trm_cli_pool();
    if (pool == NULL)
        return 1;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++)
        rc = load_file(pool, argv[i]);
    trm_db_pool_close(pool);
    return rc;
}
