/* trmctl stats export --from YYYY-MM --to YYYY-MM [--country CC] [--group-by D[,D]]
 * [--format csv|json]: the /v1/stats tables for a monitoring report, with the same
 * disclosure control (stats_k and stats_rounding_base from TRM_STATS_K and
 * TRM_STATS_ROUNDING_BASE, as for trmd). */
#include "cli.h"

#include "trm/config.h"
#include "trm/json_spec.h"
#include "trm/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct export
{
    const char *country, *from, *to;
    struct trm_victims_query q;
    struct trm_victims_counter *counter;
    json_t *assistance, *referrals, *services;
};

static enum trm_db_status export_tx(struct trm_db_conn *c, void *arg)
{
    struct export *x = arg;
    if (x->counter)
        json_decref(trm_victims_counter_finish(x->counter));
    json_decref(x->assistance);
    json_decref(x->referrals);
    json_decref(x->services);
    x->assistance = x->referrals = x->services = NULL;
    x->counter = trm_victims_counter_new(&x->q);
    if (x->counter == NULL)
        return TRM_DB_ERROR;
    enum trm_db_status st =
        trm_stats_persons(c, x->country, x->from, x->to, trm_victims_count, x->counter);
    if (st == TRM_DB_OK)
        st = trm_stats_assistance(c, x->country, x->from, x->to, &x->assistance);
    if (st == TRM_DB_OK)
        st = trm_stats_referrals(c, x->country, x->from, x->to, &x->referrals);
    if (st == TRM_DB_OK)
        st = trm_stats_services(c, x->country, x->from, x->to, &x->services);
    return st;
}

static void print_table(const char *title, json_t *table, bool csv)
{
    if (csv) {
        char *text = trm_stats_csv(table);
        printf("# %s\n%s\n", title, text ? text : "");
        free(text);
    } else {
        char *text = json_dumps(table, JSON_INDENT(2));
        printf("%s\n", text ? text : "null");
        free(text);
    }
}

int trm_cmd_stats(int argc, char **argv)
{
    const char *from = trm_cli_opt(argc, argv, "--from"), *to = trm_cli_opt(argc, argv, "--to");
    const char *format = trm_cli_opt(argc, argv, "--format");
    const char *group = trm_cli_opt(argc, argv, "--group-by");
    struct export x = {.country = trm_cli_opt(argc, argv, "--country")};
    if (argc < 1 || strcmp(argv[0], "export") != 0 || (from && !trm_json_is_month(from)) ||
        (to && !trm_json_is_month(to)) || (x.country && !trm_json_is_country(x.country)) ||
        (format && strcmp(format, "csv") != 0 && strcmp(format, "json") != 0))
        return trm_cli_fail("usage: trmctl stats export [--from YYYY-MM] [--to YYYY-MM] "
                            "[--country CC] [--group-by D[,D]] [--format csv|json]");
    struct trm_config cfg;
    char err[256], dims[128], from_date[16], to_date[16];
    trm_config_defaults(&cfg);
    if (!trm_config_apply_env(&cfg, err, sizeof err))
        return trm_cli_fail("%s", err);
    snprintf(dims, sizeof dims, "%s", group ? group : "status");
    char *save = NULL;
    for (char *d = strtok_r(dims, ",", &save); d && x.q.n_dims < 2; d = strtok_r(NULL, ",", &save))
        x.q.dims[x.q.n_dims++] = d;
    x.q.k = cfg.stats_k;
    x.q.region_level = 3;
    x.q.rounding_base = cfg.stats_rounding_base;
    if (from)
        snprintf(from_date, sizeof from_date, "%s-01", from), x.from = from_date;
    if (to)
        snprintf(to_date, sizeof to_date, "%s-01", to), x.to = to_date;
    struct trm_db_pool *pool = trm_cli_pool();
    if (pool == NULL)
        return 1;
    /* The owner exports as a cross-border auditor would see it. */
    struct trm_db_context ctx = {.role = "auditor", .cross_border = true};
    enum trm_db_status st = trm_db_tx_run(pool, &ctx, false, export_tx, &x);
    trm_db_pool_close(pool);
    json_t *victims = x.counter ? trm_victims_counter_finish(x.counter) : NULL;
    int rc = 0;
    if (st != TRM_DB_OK || victims == NULL) {
        rc = trm_cli_fail("stats export: the database refused the query");
    } else {
        bool csv = format == NULL || strcmp(format, "csv") == 0;
        print_table("registered victims", victims, csv);
        json_t *assistance =
            trm_stats_publish_assistance(json_incref(x.assistance), x.q.k, x.q.rounding_base);
        json_t *handovers =
            trm_stats_publish_referrals(json_incref(x.referrals), x.q.k, x.q.rounding_base);
        print_table("assistance", assistance, csv);
        json_t *services =
            trm_stats_publish_services(json_incref(x.services), x.q.k, x.q.rounding_base);
        print_table("handovers", handovers, csv);
        print_table("services provided", services, csv);
        json_decref(assistance);
        json_decref(handovers);
        json_decref(services);
    }
    json_decref(victims);
    json_decref(x.assistance);
    json_decref(x.referrals);
    json_decref(x.services);
    return rc;
}
