/* /v1/stats: registered victims (persons, not cases), assistance indicators and handovers,
 * after disclosure control. JSON, or CSV with Accept: text/csv. Coordinators and auditors
 * of a country see its statistics; cross-border auditors any country or all. */
#include "handlers.h"

#include "trm/http_util.h"
#include "trm/json_spec.h"
#include "trm/stats.h"
#include "trm/stats_store.h"

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
    static const char wrong[] = "country must be an ISO code; from and to months (YYYY-MM).";
    const struct trm_principal *p = req->principal;
    const char *country = NULL, *from = NULL, *to = NULL;
    const struct trm_param params[] = {
        TRM_Q_COUNTRY("country", &country, .detail = wrong),
        TRM_Q_MONTH("from", &from, .detail = wrong),
        TRM_Q_MONTH("to", &to, .detail = wrong),
        TRM_Q_END,
    };
    if (!trm_http_query(req, res, params))
        return false;
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
    if (csv == NULL)
        trm_response_problem(res, req, TRM_E_INTERNAL, "The table could not be written.");
    else
        trm_response_text(res, 200, "text/csv; charset=utf-8", csv, strlen(csv));
}

struct victims_args {
    struct scope s;
    struct trm_victims_query q;
    char group_by[200];
    struct trm_victims_counter *counter;
};

static void victims_free(void *state)
{
    struct victims_args *x = state;
    if (x->counter)
        json_decref(trm_victims_counter_finish(x->counter));
    x->counter = NULL;
}

static enum trm_db_status victims_tx(struct trm_db_conn *c, void *arg)
{
    struct victims_args *x = arg;
    /* A transaction that runs again counts again, from zero. */
    victims_free(x);
    x->counter = trm_victims_counter_new(&x->q);
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
        if (!trm_str_in(d, trm_stats_dimensions) || q->n_dims == 2) {
            trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                                 "group_by takes one or two of: country, sex, age_band, "
                                 "child_adult, citizenship, exploitation_form, month, year, "
                                 "phase, state, status, region, sector.");
            return false;
        }
        q->dims[q->n_dims++] = d;
    }
    if (q->n_dims == 2 && strcmp(q->dims[0], q->dims[1]) == 0) {
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                             "group_by names one dimension twice.");
        return false;
    }
    if (q->n_dims == 0)
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER, "group_by is empty.");
    return q->n_dims > 0;
}

TRM_HANDLER(trm_handle_stats_victims)
{
    static const struct trm_tx tx = {.fn = victims_tx};
    struct victims_args *x = trm_handler_state(req, sizeof *x, victims_free);
    if (x == NULL)
        return;
    static const char *const levels[] = {"0", "1", "2", "3", NULL};
    const char *level = "3";
    const struct trm_param params[] = {
        TRM_Q_ENUM("region_level", &level, levels,
                   .detail = "region_level must be a NUTS level, 0 to 3."),
        TRM_Q_END,
    };
    x->q.k = app->config->stats_k;
    x->q.rounding_base = app->config->stats_rounding_base;
    if (!trm_http_query(req, res, params))
        return;
    x->q.region_level = level[0] - '0';
    if (!read_scope(req, res, &x->s) ||
        !parse_group_by(req, res, &x->q, x->group_by, sizeof x->group_by) ||
        !trm_handler_tx(app, req, res, &tx, x))
        return;
    json_t *table = trm_victims_counter_finish(x->counter);
    x->counter = NULL;
    json_object_set_new(table, "country", x->s.country ? json_string(x->s.country) : json_null());
    publish(req, res, table);
}

/* Assistance indicators and handovers: rows from the database, then disclosure control. */
struct rows_args {
    json_t *out; /* first */
    struct scope s;
    enum trm_db_status (*fn)(struct trm_db_conn *, const char *, const char *, const char *,
                             json_t **);
};

static enum trm_db_status rows_tx(struct trm_db_conn *c, void *arg)
{
    struct rows_args *x = arg;
    json_decref(x->out);
    x->out = NULL;
    return x->fn(c, x->s.country, x->s.has_from ? x->s.from : NULL, x->s.has_to ? x->s.to : NULL,
                 &x->out);
}

static void table_answer(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                         enum trm_db_status (*fn)(struct trm_db_conn *, const char *, const char *,
                                                  const char *, json_t **),
                         json_t *(*publish_rows)(json_t *, long, long))
{
    static const struct trm_tx tx = {.fn = rows_tx};
    struct rows_args *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL)
        return;
    x->fn = fn;
    if (!read_scope(req, res, &x->s) || !trm_handler_tx(app, req, res, &tx, x))
        return;
    json_t *table = publish_rows(x->out, app->config->stats_k, app->config->stats_rounding_base);
    x->out = NULL; /* consumed */
    json_object_set_new(table, "country", x->s.country ? json_string(x->s.country) : json_null());
    publish(req, res, table);
}

TRM_HANDLER(trm_handle_stats_assistance)
{
    table_answer(app, req, res, trm_stats_assistance, trm_stats_publish_assistance);
}

TRM_HANDLER(trm_handle_stats_referrals)
{
    table_answer(app, req, res, trm_stats_referrals, trm_stats_publish_referrals);
}

TRM_HANDLER(trm_handle_stats_services)
{
    table_answer(app, req, res, trm_stats_services, trm_stats_publish_services);
}

TRM_HANDLER(trm_handle_stats_screenings)
{
    table_answer(app, req, res, trm_stats_screenings, trm_stats_publish_screenings);
}
