/* Counting registered victims by up to two dimensions, then disclosure control, then the
 * published JSON table; and CSV from it. */
#include "trm/stats.h"
#include "trm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VALUES 256

const char *const trm_stats_dimensions[] = {
    "country", "sex",  "age_band", "child_adult", "citizenship", "exploitation_form",
    "month",   "year", "phase",    "state",       "status",      "region",
    "sector",  NULL};

void trm_stats_region_at(const char *code, int level, char *out, size_t len)
{
    size_t n = strlen(code);
    if (n < 3) {
        trm_strlcpy(out, "unknown", len);
        return;
    }
    /* NUTS: the country's two letters, then one character a level (SE110: SE, SE1, SE11,
     * SE110). A listed region (PH-00) is one level below its country. */
    size_t keep = code[2] == '-' ? (level == 0 ? 2 : n) : 2 + (size_t)level;
    snprintf(out, len, "%.*s", (int)(keep < n ? keep : n), code);
}

struct dim_values {
    char *names[MAX_VALUES];
    size_t n;
    bool overflow;
};

struct trm_victims_counter {
    struct trm_victims_query q;
    struct dim_values values[2];
    long *counts; /* MAX_VALUES x MAX_VALUES */
    long persons, cases;
    long *row_persons, *col_persons;
    bool multi; /* exploitation_form: a person in several cells */
};

struct trm_victims_counter *trm_victims_counter_new(const struct trm_victims_query *q)
{
    struct trm_victims_counter *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->q = *q;
    c->counts = calloc((size_t)MAX_VALUES * MAX_VALUES, sizeof *c->counts);
    c->row_persons = calloc(MAX_VALUES, sizeof *c->row_persons);
    c->col_persons = calloc(MAX_VALUES, sizeof *c->col_persons);
    if (!c->counts || !c->row_persons || !c->col_persons) {
        free(c->counts);
        free(c->row_persons);
        free(c->col_persons);
        free(c);
        return NULL;
    }
    for (size_t i = 0; i < q->n_dims; i++)
        c->multi = c->multi || strcmp(q->dims[i], "exploitation_form") == 0;
    /* Regions are the rows (their groups protect the rows against the level above). */
    if (q->n_dims == 2 && strcmp(q->dims[1], "region") == 0) {
        c->q.dims[1] = q->dims[0];
        c->q.dims[0] = q->dims[1];
    }
    return c;
}

static size_t value_index(struct dim_values *d, const char *v)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->names[i], v) == 0)
            return i;
    if (d->n == MAX_VALUES) {
        d->overflow = true;
        return MAX_VALUES;
    }
    d->names[d->n] = strdup(v);
    return d->names[d->n] ? d->n++ : MAX_VALUES;
}

/* The values of one dimension for a person (several for exploitation_form). */
static size_t dim_values(const struct trm_person_row *r, const char *dim, int level,
                         char out[8][40])
{
    const char *v = NULL;
    if (strcmp(dim, "exploitation_form") == 0) {
        size_t n = 0;
        char buf[256];
        trm_strlcpy(buf, r->forms, sizeof buf);
        char *save = NULL;
        for (char *w = strtok_r(buf, ",", &save); w && n < 8; w = strtok_r(NULL, ",", &save))
            trm_strlcpy(out[n++], w, 40);
        return n;
    }
    if (strcmp(dim, "child_adult") == 0)
        v = strcmp(r->age_band, "unknown") == 0                                     ? "unknown"
            : (strcmp(r->age_band, "0-8") == 0 || strcmp(r->age_band, "9-17") == 0) ? "child"
                                                                                    : "adult";
    else if (strcmp(dim, "year") == 0) {
        snprintf(out[0], 40, "%.4s", r->month);
        return 1;
    } else if (strcmp(dim, "country") == 0)
        v = r->country;
    else if (strcmp(dim, "sex") == 0)
        v = r->sex;
    else if (strcmp(dim, "age_band") == 0)
        v = r->age_band;
    else if (strcmp(dim, "citizenship") == 0)
        v = r->citizenship;
    else if (strcmp(dim, "month") == 0)
        v = r->month;
    else if (strcmp(dim, "phase") == 0)
        v = r->phase;
    else if (strcmp(dim, "region") == 0) {
        trm_stats_region_at(r->region, level, out[0], 40);
        return 1;
    } else if (strcmp(dim, "sector") == 0)
        v = r->sector[0] ? r->sector : "unknown";
    else if (strcmp(dim, "state") == 0)
        v = r->state;
    else
        v = r->status;
    trm_strlcpy(out[0], v, 40);
    return 1;
}

void trm_victims_count(const struct trm_person_row *r, void *arg)
{
    struct trm_victims_counter *c = arg;
    char a[8][40], b[8][40];
    size_t na = dim_values(r, c->q.dims[0], c->q.region_level, a);
    size_t nb = c->q.n_dims > 1 ? dim_values(r, c->q.dims[1], c->q.region_level, b) : 1;
    bool row_seen[8] = {false}, col_seen[8] = {false};
    c->persons++;
    c->cases += r->cases;
    for (size_t i = 0; i < na; i++) {
        size_t ri = value_index(&c->values[0], a[i]);
        for (size_t j = 0; j < nb && ri < MAX_VALUES; j++) {
            size_t ci = c->q.n_dims > 1 ? value_index(&c->values[1], b[j]) : 0;
            if (ci >= MAX_VALUES)
                continue;
            c->counts[ri * MAX_VALUES + ci]++;
            if (!row_seen[i])
                c->row_persons[ri]++, row_seen[i] = true;
            if (!col_seen[j])
                c->col_persons[ci]++, col_seen[j] = true;
        }
    }
}

static int by_name(const void *a, const void *b, char *const *n)
{
    return strcmp(n[*(const size_t *)a], n[*(const size_t *)b]);
}

/* Sorted order of a dimension's values (insertion sort: at most MAX_VALUES). */
static void order(const struct dim_values *d, size_t *idx)
{
    for (size_t i = 0; i < d->n; i++)
        idx[i] = i;
    for (size_t i = 1; i < d->n; i++)
        for (size_t j = i; j > 0 && by_name(&idx[j - 1], &idx[j], d->names) > 0; j--) {
            size_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
}

static json_t *entry(json_t *keys, long count, bool hidden)
{
    json_t *e = json_deep_copy(keys);
    json_object_set_new(e, "count", hidden ? json_null() : json_integer(count));
    json_object_set_new(e, "suppressed", json_boolean(hidden));
    return e;
}

json_t *trm_victims_counter_finish(struct trm_victims_counter *c)
{
    size_t rows = c->values[0].n, cols = c->q.n_dims > 1 ? c->values[1].n : 1;
    size_t ri[MAX_VALUES], ci[MAX_VALUES];
    order(&c->values[0], ri);
    if (c->q.n_dims > 1)
        order(&c->values[1], ci);
    else
        ci[0] = 0;
    struct trm_stats_table t;
    json_t *out = NULL;
    if (!trm_stats_table_init(&t, rows, cols))
        goto done;
    for (size_t r = 0; r < rows; r++)
        for (size_t k = 0; k < cols; k++)
            t.cells[r * cols + k] = c->counts[ri[r] * MAX_VALUES + ci[k]];
    trm_stats_table_sum(&t);
    if (c->multi) {
        /* A person with several forms is in several cells: totals count persons once. */
        t.additive = false;
        for (size_t r = 0; r < rows; r++)
            t.row_totals[r] = c->row_persons[ri[r]];
        for (size_t k = 0; k < cols; k++)
            t.col_totals[k] = c->q.n_dims > 1 ? c->col_persons[ci[k]] : c->persons;
        t.total = c->persons;
    }
    /* Regions: each row in the group of its parent region (the level above). */
    size_t *groups = NULL;
    if (strcmp(c->q.dims[0], "region") == 0 && c->q.region_level > 0 && rows > 0) {
        groups = calloc(rows, sizeof *groups);
        char parents[MAX_VALUES][16], parent[16];
        size_t n_parents = 0;
        for (size_t r = 0; groups && r < rows; r++) {
            const char *name = c->values[0].names[ri[r]];
            if (strcmp(name, "unknown") == 0)
                trm_strlcpy(parent, name, sizeof parent);
            else
                trm_stats_region_at(name, c->q.region_level - 1, parent, sizeof parent);
            size_t g = 0;
            while (g < n_parents && strcmp(parents[g], parent) != 0)
                g++;
            if (g == n_parents)
                trm_strlcpy(parents[n_parents++], parent, sizeof parents[0]);
            groups[r] = g;
        }
        t.row_group = groups;
    }
    struct trm_suppression s = trm_stats_suppress(&t, c->q.k);
    trm_stats_round(&t, c->q.rounding_base);
    const char *d0 = c->q.dims[0], *d1 = c->q.n_dims > 1 ? c->q.dims[1] : NULL;
    json_t *cells = json_array(), *row_totals = json_array(), *col_totals = json_array();
    for (size_t r = 0; r < rows; r++) {
        for (size_t k = 0; k < cols; k++) {
            json_t *keys = json_pack("{s:s}", d0, c->values[0].names[ri[r]]);
            if (d1)
                json_object_set_new(keys, d1, json_string(c->values[1].names[ci[k]]));
            json_array_append_new(cells,
                                  entry(keys, t.cells[r * cols + k], t.cell_hidden[r * cols + k]));
            json_decref(keys);
        }
        if (d1) {
            json_t *keys = json_pack("{s:s}", d0, c->values[0].names[ri[r]]);
            json_array_append_new(row_totals, entry(keys, t.row_totals[r], t.row_hidden[r]));
            json_decref(keys);
        }
    }
    for (size_t k = 0; d1 && k < cols; k++) {
        json_t *keys = json_pack("{s:s}", d1, c->values[1].names[ci[k]]);
        json_array_append_new(col_totals, entry(keys, t.col_totals[k], t.col_hidden[k]));
        json_decref(keys);
    }
    json_t *empty = json_object();
    out = json_pack("{s:[s, s?], s:I, s:I, s:o, s:o, s:o, s:o, s:I, s:b, s:{s:I, s:I}}", "group_by",
                    d0, d1, "k", (json_int_t)c->q.k, "rounding_base",
                    (json_int_t)c->q.rounding_base, "cells", cells, "row_totals", row_totals,
                    "column_totals", col_totals, "total", entry(empty, t.total, t.total_hidden),
                    "cases_merged", (json_int_t)(c->cases - c->persons), "truncated",
                    c->values[0].overflow || c->values[1].overflow, "suppressed", "primary",
                    (json_int_t)s.primary, "secondary", (json_int_t)s.secondary);
    json_decref(empty);
    if (strcmp(d0, "region") == 0)
        json_object_set_new(out, "region_level", json_integer(c->q.region_level));
    free(groups);
    trm_stats_table_free(&t);
done:
    for (size_t d = 0; d < 2; d++)
        for (size_t i = 0; i < c->values[d].n; i++)
            free(c->values[d].names[i]);
    free(c->counts);
    free(c->row_persons);
    free(c->col_persons);
    free(c);
    return out;
}

/* CSV: the columns are the keys of the entries in order of first appearance. */
static void csv_value(char **buf, size_t *len, size_t *cap, json_t *v)
{
    char text[64];
    const char *s = "";
    if (json_is_string(v))
        s = json_string_value(v);
    else if (json_is_integer(v))
        snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v)), s = text;
    else if (json_is_real(v))
        snprintf(text, sizeof text, "%.1f", json_real_value(v)), s = text;
    else if (json_is_boolean(v))
        s = json_is_true(v) ? "true" : "false";
    size_t n = strlen(s) + 3;
    if (*len + n + 4 > *cap) {
        *cap = (*cap + n) * 2;
        char *b = realloc(*buf, *cap);
        if (b == NULL)
            return;
        *buf = b;
    }
    /* Values are codes and numbers, but quote anything with a comma or quote anyway. */
    bool quote = strpbrk(s, ",\"\n") != NULL;
    *len += (size_t)snprintf(*buf + *len, *cap - *len, quote ? "\"%s\"" : "%s", s);
}

char *trm_stats_csv(json_t *published)
{
    json_t *rows = json_array(), *columns = json_array();
    static const char *const parts[] = {"cells", "row_totals", "column_totals", "items", NULL};
    for (size_t p = 0; parts[p]; p++) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(published, parts[p]), i, e) json_array_append(rows, e);
    }
    if (json_is_object(json_object_get(published, "total")))
        json_array_append(rows, json_object_get(published, "total"));
    size_t i;
    json_t *e;
    json_array_foreach(rows, i, e)
    {
        const char *k;
        json_t *v;
        json_object_foreach(e, k, v)
        {
            bool seen = false;
            for (size_t c = 0; c < json_array_size(columns) && !seen; c++)
                seen = strcmp(json_string_value(json_array_get(columns, c)), k) == 0;
            if (!seen)
                json_array_append_new(columns, json_string(k));
        }
    }
    size_t len = 0, cap = 1024;
    char *buf = malloc(cap);
    if (buf == NULL)
        goto out;
    buf[0] = '\0';
    for (size_t c = 0; c < json_array_size(columns); c++) {
        if (c)
            buf[len++] = ',';
        csv_value(&buf, &len, &cap, json_array_get(columns, c));
    }
    buf[len++] = '\n';
    json_array_foreach(rows, i, e)
    {
        for (size_t c = 0; c < json_array_size(columns); c++) {
            if (c)
                buf[len++] = ',';
            json_t *v = json_object_get(e, json_string_value(json_array_get(columns, c)));
            /* Totals have no value for the grouping columns: "(all)". */
            json_t *all = v ? NULL : json_string("(all)");
            csv_value(&buf, &len, &cap, v ? v : all);
            json_decref(all);
        }
        buf[len++] = '\n';
        buf[len] = '\0';
    }
out:
    json_decref(rows);
    json_decref(columns);
    return buf;
}
