/* /v1/stats: registered victims (persons, not cases), assistance indicators and handovers,
 * after disclosure control. JSON, or CSV with Accept: text/csv. Coordinators and auditors
 * of a country see its statistics; cross-border auditors any country or all. */
#include "handlers.h"

#include "trm/http_util.h"
#include "trm/json_spec.h"
#include "trm/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct scope {
    const char *country; /* NULL: every country */
    char from[11], to[11];
    bool has_from, has_to;
};

/* country, from and to (months YYYY-MM); answers 400/403 and returns false when wrong. */
static bool read_scope(const struct trm_request *req, struct trm_response *res, struct scope *s)
{
    const struct trm_principal *p = req->principal;
    const char *country = trm_request_query(req, "country");
    const char *from = trm_request_query(req, "from"), *to = trm_request_query(req, "to");
    if ((country && !trm_json_is_country(country)) || (from && !trm_json_is_month(from)) ||
        (to && !trm_json_is_month(to))) {
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                             "country must be an ISO code; from and to months (YYYY-MM).");
        return false;
    }
    if (country && strcmp(country, p->country) != 0 && !p->cross_border) {
        trm_response_problem(res, req, TRM_E_FORBIDDEN,
                             "Only cross-border auditors see other countries' statistics.");
        return false;
    }
    s->country = country ? country : (p->cross_border ? NULL : p->country);
    s->has_from = from != NULL;
    s->has_to = to != NULL;
    if (from)
        snprintf(s->from, sizeof s->from, "%s-01", from);
    if (to)
        snprintf(s->to, sizeof s->to, "%s-01", to);
    return true;
}

static bool wants_csv(const struct trm_request *req)
{
    const char *accept = trm_request_header(req, "Accept");
    return accept && strncasecmp(accept, "text/csv", 8) == 0;
}

static void publish(const struct trm_request *req, struct trm_response *res, json_t *table)
{
    if (!wants_csv(req)) {
        trm_response_json(res, 200, table);
        return;
    }
    char *csv = trm_stats_csv(table);
    json_decref(table);
    if (csv == NULL) {
        trm_response_problem(res, req, TRM_E_INTERNAL, "The table could not be written.");
        return;
    }
    res->status = 200;
    res->content_type = "text/csv; charset=utf-8";
    res->body = csv;
    res->body_len = strlen(csv);
}

struct victims_args {
    struct scope s;
    const struct trm_victims_query *q;
    struct trm_victims_counter *counter;
};

static enum trm_db_status victims_tx(struct trm_db_conn *c, void *arg)
{
    struct victims_args *x = arg;
    /* A transaction that runs again counts again, from zero. */
    if (x->counter)
        json_decref(trm_victims_counter_finish(x->counter));
    x->counter = trm_victims_counter_new(x->q);
    if (x->counter == NULL)
        return TRM_DB_ERROR;
    return trm_stats_persons(c, x->s.country, x->s.has_from ? x->s.from : NULL,
                             x->s.has_to ? x->s.to : NULL, trm_victims_count, x->counter);
}

static bool parse_group_by(const struct trm_request *req, struct trm_response *res,
                           struct trm_victims_query *q, char *buf, size_t len)
{
    const char *g = trm_request_query(req, "group_by");
    trm_strlcpy(buf, g ? g : "status", len);
    char *save = NULL;
    for (char *d = strtok_r(buf, ",", &save); d; d = strtok_r(NULL, ",", &save)) {
        bool known = false;
        for (size_t i = 0; trm_stats_dimensions[i] && !known; i++)
            known = strcmp(d, trm_stats_dimensions[i]) == 0;
        if (!known || q->n_dims == 2) {
            trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                                 "group_by takes one or two of: country, sex, age_band, "
                                 "child_adult, citizenship, exploitation_form, month, year, "
                                 "phase, state, status.");
            return false;
        }
        q->dims[q->n_dims++] = d;
    }
    if (q->n_dims == 2 && strcmp(q->dims[0], q->dims[1]) == 0) {
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                             "group_by names one dimension twice.");
        return false;
    }
    return q->n_dims > 0 ||
           (trm_response_problem(res, req, TRM_E_INVALID_PARAMETER, "group_by is empty."), false);
}

TRM_HANDLER(trm_handle_stats_victims)
{
    struct victims_args x = {0};
    struct trm_victims_query q = {.k = app->config->stats_k,
                                  .rounding_base = app->config->stats_rounding_base};
    char buf[200];
    if (!read_scope(req, res, &x.s) || !parse_group_by(req, res, &q, buf, sizeof buf))
        return;
    x.q = &q;
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, victims_tx, &x);
    if (st != TRM_DB_OK) {
        if (x.counter)
            json_decref(trm_victims_counter_finish(x.counter));
        trm_http_db_problem(req, res, st);
        return;
    }
    json_t *table = trm_victims_counter_finish(x.counter);
    json_object_set_new(table, "country", x.s.country ? json_string(x.s.country) : json_null());
    publish(req, res, table);
}

struct rows_args {
    struct scope s;
    enum trm_db_status (*fn)(struct trm_db_conn *, const char *, const char *, const char *,
                             json_t **);
    json_t *out;
};

static enum trm_db_status rows_tx(struct trm_db_conn *c, void *arg)
{
    struct rows_args *x = arg;
    json_decref(x->out);
    return x->fn(c, x->s.country, x->s.has_from ? x->s.from : NULL, x->s.has_to ? x->s.to : NULL,
                 &x->out);
}

static bool fetch_rows(struct trm_app *app, const struct trm_request *req, struct trm_response *res,
                       struct rows_args *x)
{
    if (!read_scope(req, res, &x->s))
        return false;
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, false, rows_tx, x);
    if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    return st == TRM_DB_OK;
}

TRM_HANDLER(trm_handle_stats_assistance)
{
    struct rows_args x = {.fn = trm_stats_assistance};
    if (!fetch_rows(app, req, res, &x))
        return;
    json_t *table =
        trm_stats_publish_assistance(x.out, app->config->stats_k, app->config->stats_rounding_base);
    json_object_set_new(table, "country", x.s.country ? json_string(x.s.country) : json_null());
    publish(req, res, table);
}

TRM_HANDLER(trm_handle_stats_referrals)
{
    struct rows_args x = {.fn = trm_stats_referrals};
    if (!fetch_rows(app, req, res, &x))
        return;
    json_t *table =
        trm_stats_publish_referrals(x.out, app->config->stats_k, app->config->stats_rounding_base);
    json_object_set_new(table, "country", x.s.country ? json_string(x.s.country) : json_null());
    publish(req, res, table);
}
