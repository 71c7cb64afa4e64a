/* Disclosure control of the assistance and handover tables (the victims table is built in
 * victims.c). Shared by trmd's /v1/stats and trmctl stats export. */
#include "trm/stats.h"

#include <stdlib.h>

static long round_to(long v, long base)
{
    return base > 1 ? ((v + base / 2) / base) * base : v;
}

/* Suppresses one small count in an item (or rounds it); true when suppressed. */
static bool hide_small(json_t *item, const char *member, long k, long base, size_t *n)
{
    json_t *v = json_object_get(item, member);
    long c = (long)json_integer_value(v);
    if (c > 0 && c < k) {
        json_object_set_new(item, member, json_null());
        (*n)++;
        return true;
    }
    if (json_is_integer(v))
        json_object_set_new(item, member, json_integer(round_to(c, base)));
    return false;
}

json_t *trm_stats_publish_assistance(json_t *rows, long k, long base)
{
    size_t primary = 0, i;
    json_t *item;
    /* The indicators overlap (a person is assisted and returned): no totals to protect. */
    json_array_foreach(rows, i, item)
    {
        bool hidden = hide_small(item, "persons", k, base, &primary);
        if (hidden)
            json_object_set_new(item, "median_days", json_null());
        json_object_set_new(item, "suppressed", json_boolean(hidden));
    }
    return json_pack("{s:o, s:I, s:I, s:{s:I, s:I}}", "items", rows, "k", (json_int_t)k,
                     "rounding_base", (json_int_t)base, "suppressed", "primary",
                     (json_int_t)primary, "secondary", (json_int_t)0);
}

json_t *trm_stats_publish_services(json_t *rows, long k, long base)
{
    size_t primary = 0, i;
    json_t *item;
    /* A person receives several types of service: no totals to protect. */
    json_array_foreach(rows, i, item) json_object_set_new(
        item, "suppressed", json_boolean(hide_small(item, "persons", k, base, &primary)));
    return json_pack("{s:o, s:I, s:I, s:{s:I, s:I}}", "items", rows, "k", (json_int_t)k,
                     "rounding_base", (json_int_t)base, "suppressed", "primary",
                     (json_int_t)primary, "secondary", (json_int_t)0);
}

static void publish_referral(json_t *item, long offered, bool hidden, long k, long base,
                             size_t *primary)
{
    static const char *const outcomes[] = {"accepted", "declined", "withdrawn", "expired"};
    for (size_t o = 0; o < 4; o++) {
        if (hidden)
            json_object_set_new(item, outcomes[o], json_null());
        else
            hide_small(item, outcomes[o], k, base, primary);
    }
    /* Rates from the published (suppressed, rounded) counts only: a rate from exact counts
     * would give a hidden count back. */
    offered = round_to(offered, base);
    static const char *const rates[][2] = {{"accepted", "acceptance_rate"},
                                           {"declined", "decline_rate"}};
    for (size_t r = 0; r < 2; r++) {
        json_t *v = json_object_get(item, rates[r][0]);
        json_object_set_new(item, rates[r][1],
                            hidden || !json_is_integer(v) || offered == 0
                                ? json_null()
                                : json_real((double)json_integer_value(v) / (double)offered));
    }
    if (hidden)
        json_object_set_new(item, "median_hours_to_answer", json_null());
    json_object_set_new(item, "offered", hidden ? json_null() : json_integer(offered));
    json_object_set_new(item, "suppressed", json_boolean(hidden));
}

json_t *trm_stats_publish_referrals(json_t *rows, long k, long base)
{
    size_t n = json_array_size(rows), i;
    struct trm_stats_table t;
    if (!trm_stats_table_init(&t, n, 1)) {
        json_decref(rows);
        return NULL;
    }
    json_t *item;
    /* Offers form an additive one-way table (rows: country and agency-kind pairs). */
    json_array_foreach(rows, i, item) t.cells[i] =
        (long)json_integer_value(json_object_get(item, "offered"));
    trm_stats_table_sum(&t);
    struct trm_suppression s = trm_stats_suppress(&t, k);
    json_array_foreach(rows, i, item)
        publish_referral(item, t.cells[i], t.cell_hidden[i], k, base, &s.primary);
    json_t *out = json_pack(
        "{s:o, s:{s:o, s:b}, s:I, s:I, s:{s:I, s:I}}", "items", rows, "total", "offered",
        t.total_hidden ? json_null() : json_integer(round_to(t.total, base)), "suppressed",
        t.total_hidden, "k", (json_int_t)k, "rounding_base", (json_int_t)base, "suppressed",
        "primary", (json_int_t)s.primary, "secondary", (json_int_t)s.secondary);
    trm_stats_table_free(&t);
    return out;
}

json_t *trm_stats_publish_screenings(json_t *rows, long k, long base)
{
    size_t primary = 0, i;
    json_t *item;
    /* A person counts in every dimension and indicator of their latest screening: the counts
     * overlap, with no total to subtract from (primary suppression only). */
    json_t *items = json_array();
    json_array_foreach(rows, i, item)
    {
        /* The members in a fixed order (the CSV's columns). */
        json_t *out = json_object();
        static const char *const order[] = {"set",       "version",   "measure",
                                            "dimension", "indicator", "persons"};
        for (size_t m = 0; m < 6; m++)
            json_object_set(out, order[m], json_object_get(item, order[m]));
        bool hidden = hide_small(out, "persons", k, base, &primary);
        json_object_set_new(out, "suppressed", json_boolean(hidden));
        json_array_append_new(items, out);
    }
    json_decref(rows);
    return json_pack("{s:o, s:I, s:I, s:{s:I, s:I}}", "items", items, "k", (json_int_t)k,
                     "rounding_base", (json_int_t)base, "suppressed", "primary",
                     (json_int_t)primary, "secondary", (json_int_t)0);
}
