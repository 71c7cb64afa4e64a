/* Monitoring statistics without recognisable people: counting persons (not cases) by the
 * statistical fields, and disclosure control of the resulting tables (docs/statistics.md). */
#ifndef TRM_STATS_H
#define TRM_STATS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "trm/stats_store.h"

/* A table of counts: rows x cols cells plus row, column and grand totals. A one-way table
 * has cols == 1. A cell is published unless suppressed; published counts may be rounded. */
struct trm_stats_table {
    size_t rows, cols;
    long *cells;      /* rows * cols, row-major */
    long *row_totals; /* rows */
    long *col_totals; /* cols */
    long total;
    bool *cell_hidden; /* rows * cols */
    bool *row_hidden;  /* rows */
    bool *col_hidden;  /* cols */
    bool total_hidden;
    bool additive; /* totals are sums of cells (false: cells may overlap) */
    /* Rows that are regions, each grouped under its parent region (NULL: none): the parent's
     * count, which the table of the level above publishes, is a margin of its group. */
    const size_t *row_group;
};

/* Allocates a zeroed table; false when out of memory. */
bool trm_stats_table_init(struct trm_stats_table *t, size_t rows, size_t cols);
void trm_stats_table_free(struct trm_stats_table *t);
/* Fills the totals from the cells (additive tables). */
void trm_stats_table_sum(struct trm_stats_table *t);

/* Disclosure control: every count from 1 to k-1 (cells and totals) is suppressed; then, in
 * an additive table, suppression is extended until no row or column (totals included) has
 * exactly one suppressed entry, so no suppressed count can be recomputed by subtraction.
 * With row_group, the rows of one parent region in one column, with the parent's count (as
 * the level above publishes it: suppressed from 1 to k-1), are such a line too, so no
 * region's count can be recomputed by differencing with its parent level. The extra cells
 * are the smallest published ones. Returns how many entries were suppressed for each
 * reason. */
struct trm_suppression {
    size_t primary, secondary;
};
struct trm_suppression trm_stats_suppress(struct trm_stats_table *t, long k);
/* Rounds every published count to the nearest multiple of base (base <= 1: unchanged). */
void trm_stats_round(struct trm_stats_table *t, long base);

/* The dimensions victims can be grouped by. */
extern const char *const trm_stats_dimensions[];

/* Counts persons by up to two dimensions and applies disclosure control (k, rounding base);
 * returns the published table as JSON. */
struct trm_victims_query {
    const char *dims[2];
    size_t n_dims;
    long k, rounding_base;
    /* The NUTS level of the region dimension, 0 (country) to 3; a region of a documented list
     * (PH-00) is one level below its country. With region, the table's rows are regions, each
     * grouped under its parent (level - 1) so that no region's count can be recomputed by
     * differencing with the table of the level above. */
    int region_level;
};
/* A region code at a level (0 to 3) into out (at least 8 bytes): its NUTS prefix, or the
 * country for a listed region at level 0; "unknown" for none. */
void trm_stats_region_at(const char *code, int level, char *out, size_t len);
struct trm_victims_counter;
struct trm_victims_counter *trm_victims_counter_new(const struct trm_victims_query *q);
void trm_victims_count(const struct trm_person_row *row, void *counter);
json_t *trm_victims_counter_finish(struct trm_victims_counter *c);

/* Disclosure control of the assistance indicators and of handovers (rows are consumed). */
json_t *trm_stats_publish_assistance(json_t *rows, long k, long base);
/* ... and of screenings (trm_stats_screenings' rows, consumed): overlapping counts, primary
 * suppression. */
json_t *trm_stats_publish_screenings(json_t *rows, long k, long base);
json_t *trm_stats_publish_referrals(json_t *rows, long k, long base);
/* Disclosure control of services provided by type (rows consumed): the types overlap, so
 * primary suppression only, as for the assistance indicators. */
json_t *trm_stats_publish_services(json_t *rows, long k, long base);

/* A published table as CSV (one header row), from the JSON the stats functions return. */
char *trm_stats_csv(json_t *published);

#endif
