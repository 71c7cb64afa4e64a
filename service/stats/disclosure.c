/* Disclosure control of count tables (see stats.h and docs/statistics.md). The table is
 * seen as a grid with a margin: row totals are an extra column, column totals an extra row,
 * and the grand total their corner. Every line of that grid (each row with its total, each
 * column with its total) must not hold exactly one suppressed entry. */
#include "trm/stats.h"

#include <stdlib.h>
#include <string.h>

bool trm_stats_table_init(struct trm_stats_table *t, size_t rows, size_t cols)
{
    memset(t, 0, sizeof *t);
    t->rows = rows;
    t->cols = cols;
    t->additive = true;
    size_t n = rows * cols;
    if (n == 0)
        n = 1;
    t->cells = calloc(n, sizeof *t->cells);
    t->cell_hidden = calloc(n, sizeof *t->cell_hidden);
    t->row_totals = calloc(rows ? rows : 1, sizeof *t->row_totals);
    t->row_hidden = calloc(rows ? rows : 1, sizeof *t->row_hidden);
    t->col_totals = calloc(cols ? cols : 1, sizeof *t->col_totals);
    t->col_hidden = calloc(cols ? cols : 1, sizeof *t->col_hidden);
    if (!t->cells || !t->cell_hidden || !t->row_totals || !t->row_hidden || !t->col_totals ||
        !t->col_hidden) {
        trm_stats_table_free(t);
        return false;
    }
    return true;
}

void trm_stats_table_free(struct trm_stats_table *t)
{
    free(t->cells);
    free(t->cell_hidden);
    free(t->row_totals);
    free(t->row_hidden);
    free(t->col_totals);
    free(t->col_hidden);
    memset(t, 0, sizeof *t);
}

void trm_stats_table_sum(struct trm_stats_table *t)
{
    t->total = 0;
    memset(t->row_totals, 0, t->rows * sizeof *t->row_totals);
    memset(t->col_totals, 0, t->cols * sizeof *t->col_totals);
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t c = 0; c < t->cols; c++) {
            long v = t->cells[r * t->cols + c];
            t->row_totals[r] += v;
            t->col_totals[c] += v;
            t->total += v;
        }
    }
}

/* The grid with margin: (rows+1) x (cols+1); index rows/cols is the margin. */
struct grid {
    struct trm_stats_table *t;
    size_t R, C;
};

static long *value(struct grid *g, size_t r, size_t c)
{
    struct trm_stats_table *t = g->t;
    if (r < t->rows && c < t->cols)
        return &t->cells[r * t->cols + c];
    if (r < t->rows)
        return &t->row_totals[r];
    if (c < t->cols)
        return &t->col_totals[c];
    return &t->total;
}

static bool *hidden(struct grid *g, size_t r, size_t c)
{
    struct trm_stats_table *t = g->t;
    if (r < t->rows && c < t->cols)
        return &t->cell_hidden[r * t->cols + c];
    if (r < t->rows)
        return &t->row_hidden[r];
    if (c < t->cols)
        return &t->col_hidden[c];
    return &t->total_hidden;
}

/* In one line of the grid (a row if is_row, else a column), when exactly one entry is
 * suppressed, suppress the smallest other published entry (non-zero first). */
static bool protect_line(struct grid *g, bool is_row, size_t line)
{
    size_t len = is_row ? g->C : g->R, n_hidden = 0, best = (size_t)-1;
    for (size_t i = 0; i < len; i++) {
        size_t r = is_row ? line : i, c = is_row ? i : line;
        if (*hidden(g, r, c)) {
            n_hidden++;
            continue;
        }
        long v = *value(g, r, c);
        if (best == (size_t)-1) {
            best = i;
            continue;
        }
        long bv = *value(g, is_row ? line : best, is_row ? best : line);
        /* Prefer a non-zero cell (a suppressed zero hides little), then the smallest. */
        if ((bv == 0 && v != 0) || (v != 0 && v < bv))
            best = i;
    }
    if (n_hidden != 1 || best == (size_t)-1)
        return false;
    *hidden(g, is_row ? line : best, is_row ? best : line) = true;
    return true;
}

/* The rows of parent region `group` in column c (c == cols: the row totals), with the
 * parent's count as the level above publishes it: when exactly one entry is suppressed,
 * suppress the smallest other published row of the group (non-zero first). */
static bool protect_group(struct grid *g, size_t group, size_t c, long k)
{
    struct trm_stats_table *t = g->t;
    long parent = 0;
    size_t n_hidden = 0, best = (size_t)-1;
    for (size_t r = 0; r < t->rows; r++) {
        if (t->row_group[r] != group)
            continue;
        long v = *value(g, r, c);
        parent += v;
        if (*hidden(g, r, c)) {
            n_hidden++;
            continue;
        }
        long bv = best == (size_t)-1 ? 0 : *value(g, best, c);
        if (best == (size_t)-1 || (bv == 0 && v != 0) || (v != 0 && v < bv))
            best = r;
    }
    n_hidden += parent > 0 && parent < k;
    if (n_hidden != 1 || best == (size_t)-1 || (parent > 0 && parent < k))
        return false;
    *hidden(g, best, c) = true;
    return true;
}

/* Every group of every column (and of the row totals of a two-way table). */
static size_t protect_groups(struct grid *g, long k)
{
    struct trm_stats_table *t = g->t;
    size_t added = 0;
    for (size_t c = 0; t->row_group && c < (t->cols == 1 ? 1 : g->C); c++)
        for (size_t r = 0; r < t->rows; r++) {
            /* Each group once: at its first row. */
            bool first = true;
            for (size_t q = 0; q < r && first; q++)
                first = t->row_group[q] != t->row_group[r];
            if (first && protect_group(g, t->row_group[r], c, k))
                added++;
        }
    return added;
}

struct trm_suppression trm_stats_suppress(struct trm_stats_table *t, long k)
{
    struct trm_suppression s = {0, 0};
    struct grid g = {t, t->rows + 1, t->cols + 1};
    for (size_t r = 0; r < g.R; r++) {
        for (size_t c = 0; c < g.C; c++) {
            /* One-way tables have no column margin beyond the single column. */
            if (t->cols == 1 && c == 1 && r < t->rows)
                continue;
            long v = *value(&g, r, c);
            if (v > 0 && v < k) {
                *hidden(&g, r, c) = true;
                s.primary++;
            }
        }
    }
    if (t->cols == 1) {
        /* Keep row totals in step with the single column. */
        for (size_t r = 0; r < t->rows; r++)
            t->row_hidden[r] = t->cell_hidden[r];
    }
    if (!t->additive) {
        /* Cells overlap, but the persons of each region (the row totals) add up to their
         * parent's: protect those against the level above. */
        struct grid margin = g;
        for (bool changed = t->row_group != NULL; changed;) {
            changed = false;
            for (size_t r = 0; r < t->rows; r++) {
                bool first = true;
                for (size_t q = 0; q < r && first; q++)
                    first = t->row_group[q] != t->row_group[r];
                if (first && protect_group(&margin, t->row_group[r], t->cols, k))
                    s.secondary++, changed = true;
            }
        }
        return s;
    }
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t r = 0; r < g.R; r++)
            if (protect_line(&g, true, r))
                s.secondary++, changed = true;
        /* In a one-way table the margin column repeats column 0: one line is enough. */
        for (size_t c = 0; c < (t->cols == 1 ? 1 : g.C); c++)
            if (protect_line(&g, false, c))
                s.secondary++, changed = true;
        size_t grouped = protect_groups(&g, k);
        s.secondary += grouped;
        changed = changed || grouped > 0;
        if (t->cols == 1) {
            for (size_t r = 0; r < t->rows; r++)
                t->row_hidden[r] = t->cell_hidden[r] = t->cell_hidden[r] || t->row_hidden[r];
            t->total_hidden = t->col_hidden[0] = t->total_hidden || t->col_hidden[0];
        }
    }
    return s;
}

static long round_to(long v, long base)
{
    return ((v + base / 2) / base) * base;
}

void trm_stats_round(struct trm_stats_table *t, long base)
{
    if (base <= 1)
        return;
    for (size_t i = 0; i < t->rows * t->cols; i++)
        t->cells[i] = round_to(t->cells[i], base);
    for (size_t r = 0; r < t->rows; r++)
        t->row_totals[r] = round_to(t->row_totals[r], base);
    for (size_t c = 0; c < t->cols; c++)
        t->col_totals[c] = round_to(t->col_totals[c], base);
    t->total = round_to(t->total, base);
}
