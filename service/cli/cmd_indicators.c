/* trmctl indicators load FILE...: validate identification indicator sets
 * (docs/identification.md) and store them as new versions. Loading the same code and version
 * again with the same content is a no-op; with other content it is refused (a loaded version
 * never changes: bump the version). */
#include "cli.h"

#include "trm/identification.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int report(const char *path, json_t *errors)
{
    size_t i;
    json_t *err;
    json_array_foreach(errors, i, err)
        fprintf(stderr, "%s: %s: %s\n", path, json_string_value(json_object_get(err, "pointer")),
                json_string_value(json_object_get(err, "message")));
    return trm_cli_fail("%s: %zu problem(s); nothing loaded", path, json_array_size(errors));
}

static int store(PGconn *pg, const char *path, json_t *doc, const struct trm_indicator_set *set)
{
    char version[24], *text = json_dumps(doc, JSON_COMPACT);
    snprintf(version, sizeof version, "%ld", set->version);
    const char *p[] = {set->code, version, set->children ? "children" : "adults",
                       json_string_value(json_object_get(doc, "exploitation")), text};
    PGresult *r = PQexecParams(pg, "SELECT trm_indicator_set_load($1, $2::integer, $3, $4, $5)", 5,
                               NULL, p, NULL, NULL, 0);
    free(text);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        rc = trm_cli_fail("%s: the database refused the set", path);
    else if (strcmp(PQgetvalue(r, 0, 0), "different") == 0)
        rc = trm_cli_fail("%s: %s version %ld is loaded with other content: a version never "
                          "changes, give this one a new version",
                          path, set->code, set->version);
    else
        printf("%s %s version %ld\n",
               strcmp(PQgetvalue(r, 0, 0), "same") == 0 ? "already loaded:" : "loaded", set->code,
               set->version);
    PQclear(r);
    return rc;
}

static int load_file(PGconn *pg, const char *path)
{
    json_error_t e;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
    if (doc == NULL)
        return trm_cli_fail("%s:%d: not valid JSON (%s)", path, e.line, e.text);
    json_t *errors = json_array();
    struct trm_indicator_set *set = trm_indicator_set_parse(doc, errors);
    int rc = set ? store(pg, path, doc, set) : report(path, errors);
    trm_indicator_set_free(set);
    json_decref(errors);
    json_decref(doc);
    return rc;
}

int trm_cmd_indicators(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[0], "load") != 0)
        return trm_cli_fail("usage: trmctl indicators load FILE...");
    PGconn *pg = trm_cli_connect();
    if (pg == NULL)
        return 1;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++)
        rc = load_file(pg, argv[i]);
    PQfinish(pg);
    return rc;
}
