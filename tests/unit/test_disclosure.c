/* Disclosure control on hand-made tables. */
#include "check_run.h"

#include <string.h>

#include "trm/stats.h"

static void fill(struct trm_stats_table *t, const long *cells)
{
    memcpy(t->cells, cells, t->rows * t->cols * sizeof *cells);
    trm_stats_table_sum(t);
}

/* No line of the grid (cells + margin) may hold exactly one suppressed entry. */
static void assert_no_lonely_suppression(const struct trm_stats_table *t)
{
    for (size_t r = 0; r < t->rows; r++) {
        int n = t->row_hidden[r];
        for (size_t c = 0; c < t->cols; c++)
            n += t->cell_hidden[r * t->cols + c];
        ck_assert_msg(n != 1 || t->cols == 1, "row %zu has one suppressed entry", r);
    }
    for (size_t c = 0; c < t->cols; c++) {
        int n = t->col_hidden[c];
        for (size_t r = 0; r < t->rows; r++)
            n += t->cell_hidden[r * t->cols + c];
        ck_assert_msg(n != 1, "column %zu has one suppressed entry", c);
    }
}

START_TEST(small_cells_are_suppressed)
{
    struct trm_stats_table t;
    ck_assert(trm_stats_table_init(&t, 2, 2));
    fill(&t, (long[]){20, 30, 40, 50});
    struct trm_suppression s = trm_stats_suppress(&t, 11);
    ck_assert_int_eq(s.primary + s.secondary, 0);
    trm_stats_table_free(&t);

    ck_assert(trm_stats_table_init(&t, 2, 2));
    fill(&t, (long[]){0, 30, 40, 50}); /* zeros are not hidden */
    s = trm_stats_suppress(&t, 11);
    ck_assert_int_eq(s.primary, 0);
    trm_stats_table_free(&t);
}
END_TEST

START_TEST(one_small_cell_cannot_be_recomputed)
{
    /* 3 x 3: a single small cell (4) could be recomputed from its row total and the other
     * cells of its row, or from its column: secondary suppression must prevent both. */
    struct trm_stats_table t;
    ck_assert(trm_stats_table_init(&t, 3, 3));
    fill(&t, (long[]){4, 30, 25, 40, 50, 60, 70, 80, 90});
    struct trm_suppression s = trm_stats_suppress(&t, 11);
    ck_assert_int_eq(s.primary, 1);
    ck_assert_int_ge(s.secondary, 3);
    ck_assert(t.cell_hidden[0]);
    assert_no_lonely_suppression(&t);
    /* Row totals and column totals (all >= 11) stay published. */
    ck_assert(!t.total_hidden);
    trm_stats_table_free(&t);
}
END_TEST

START_TEST(small_totals_are_protected_too)
{
    struct trm_stats_table t;
    ck_assert(trm_stats_table_init(&t, 2, 3));
    fill(&t, (long[]){3, 2, 1, 50, 60, 70}); /* row 0 total is 6: suppressed with its cells */
    trm_stats_suppress(&t, 11);
    ck_assert(t.row_hidden[0]);
    ck_assert(t.cell_hidden[0] && t.cell_hidden[1] && t.cell_hidden[2]);
    assert_no_lonely_suppression(&t);
    trm_stats_table_free(&t);
}
END_TEST

START_TEST(one_way_table)
{
    struct trm_stats_table t;
    ck_assert(trm_stats_table_init(&t, 4, 1));
    fill(&t, (long[]){5, 100, 40, 30});
    struct trm_suppression s = trm_stats_suppress(&t, 11);
    ck_assert_int_eq(s.primary, 1);
    /* The 5 could be recomputed from the total: the next smallest (30) goes too. */
    ck_assert(t.cell_hidden[0]);
    ck_assert(t.cell_hidden[3]);
    ck_assert(!t.cell_hidden[1] && !t.cell_hidden[2]);
    ck_assert(!t.total_hidden);
    trm_stats_table_free(&t);
}
END_TEST

START_TEST(non_additive_tables_get_primary_only)
{
    struct trm_stats_table t;
    ck_assert(trm_stats_table_init(&t, 3, 1));
    t.additive = false;
    long cells[] = {5, 100, 40};
    memcpy(t.cells, cells, sizeof cells);
    t.total = 120;
    struct trm_suppression s = trm_stats_suppress(&t, 11);
    ck_assert_int_eq(s.primary, 1);
    ck_assert_int_eq(s.secondary, 0);
    trm_stats_table_free(&t);
}
END_TEST

START_TEST(rounding)
{
    struct trm_stats_table t;
    ck_assert(trm_stats_table_init(&t, 1, 3));
    fill(&t, (long[]){14, 15, 26});
    trm_stats_round(&t, 10);
    ck_assert_int_eq(t.cells[0], 10);
    ck_assert_int_eq(t.cells[1], 20);
    ck_assert_int_eq(t.cells[2], 30);
    ck_assert_int_eq(t.total, 60);
    trm_stats_table_free(&t);
}
END_TEST

/* Services provided by type: a person may receive several types, so primary suppression
 * only; small counts are null with "suppressed", zeros and large counts published (rounded). */
START_TEST(services_table)
{
    json_t *rows =
        json_pack("[{s:s, s:i}, {s:s, s:i}, {s:s, s:i}]", "type", "accommodation", "persons", 3,
                  "type", "legal", "persons", 0, "type", "medical", "persons", 26);
    json_t *out = trm_stats_publish_services(rows, 11, 5);
    json_t *items = json_object_get(out, "items");
    ck_assert(json_is_null(json_object_get(json_array_get(items, 0), "persons")));
    ck_assert(json_is_true(json_object_get(json_array_get(items, 0), "suppressed")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 1), "persons")), 0);
    ck_assert(json_is_false(json_object_get(json_array_get(items, 1), "suppressed")));
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, 2), "persons")), 25);
    json_t *suppressed = json_object_get(out, "suppressed");
    ck_assert_int_eq(json_integer_value(json_object_get(suppressed, "primary")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(suppressed, "secondary")), 0);
    json_decref(out);
}
END_TEST

/* A region table by NUTS 3: SE110 (12) alone in SE11; SE121 (15), SE122 (3), SE123 (20) in
 * SE12. The 3 is suppressed, and the table's own margin makes a second cell suppressed: the
 * smallest, SE110. But the table of NUTS 2 publishes SE12 = 38, so SE122 = 38 - 15 - 20: the
 * single case would be recognised by differencing with the parent level. Grouped by parent, a
 * sibling of SE122 is suppressed as well. */
START_TEST(region_differencing_with_parent_level)
{
    long cells[] = {12, 15, 3, 20};
    static const size_t parents[] = {0, 1, 1, 1};
    struct trm_stats_table t;
    ck_assert(trm_stats_table_init(&t, 4, 1));
    fill(&t, cells);
    trm_stats_suppress(&t, 11);
    ck_assert(t.cell_hidden[2]);
    ck_assert(!t.cell_hidden[1] && !t.cell_hidden[3]); /* SE122 = SE12 - 15 - 20 */
    trm_stats_table_free(&t);

    ck_assert(trm_stats_table_init(&t, 4, 1));
    t.row_group = parents;
    fill(&t, cells);
    struct trm_suppression s = trm_stats_suppress(&t, 11);
    ck_assert_int_eq(s.primary, 1);
    ck_assert(t.cell_hidden[2]);
    ck_assert(t.cell_hidden[1] || t.cell_hidden[3]);
    ck_assert(t.cell_hidden[1]); /* the smaller sibling */
    ck_assert(!t.total_hidden);
    trm_stats_table_free(&t);

    /* A parent whose own count is suppressed at the level above (3 + 4 = 7) gives nothing
     * away: its two small children are suppressed by the primary rule, nothing more. */
    long small[] = {30, 3, 4, 25};
    static const size_t parents2[] = {0, 1, 1, 2};
    ck_assert(trm_stats_table_init(&t, 4, 1));
    t.row_group = parents2;
    fill(&t, small);
    s = trm_stats_suppress(&t, 11);
    ck_assert_int_eq(s.primary, 2);
    ck_assert_int_eq(s.secondary, 0);
    trm_stats_table_free(&t);
}
END_TEST

/* A table whose cells overlap (regions by exploitation form): the persons of each region (the
 * row totals) still add up to the parent's, so a lonely suppressed region total in a group is
 * joined by its smallest sibling. */
START_TEST(region_groups_in_overlapping_tables)
{
    struct trm_stats_table t;
    ck_assert(trm_stats_table_init(&t, 3, 2));
    static const size_t parents[] = {0, 0, 0};
    t.row_group = parents;
    t.additive = false;
    long cells[] = {12, 5, 3, 3, 20, 4};
    memcpy(t.cells, cells, sizeof cells);
    t.row_totals[0] = 14, t.row_totals[1] = 4, t.row_totals[2] = 22; /* persons */
    t.col_totals[0] = 35, t.col_totals[1] = 12, t.total = 40;
    struct trm_suppression s = trm_stats_suppress(&t, 11);
    ck_assert(t.row_hidden[1]);  /* 4: primary */
    ck_assert(t.row_hidden[0]);  /* 14: the smaller sibling, else 40 - 14 - 22 = 4 */
    ck_assert(!t.row_hidden[2]); /* 22 */
    ck_assert_int_eq(s.secondary, 1);
    trm_stats_table_free(&t);
}
END_TEST

/* A region code at each level: NUTS prefixes, a listed region below its country. */
START_TEST(region_levels)
{
    char out[16];
    static const struct {
        const char *code;
        int level;
        const char *want;
    } cases[] = {{"SE110", 0, "SE"},    {"SE110", 1, "SE1"}, {"SE110", 2, "SE11"},
                 {"SE110", 3, "SE110"}, {"PH-00", 0, "PH"},  {"PH-00", 1, "PH-00"},
                 {"PH-00", 3, "PH-00"}, {"", 3, "unknown"},  {"", 0, "unknown"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        trm_stats_region_at(cases[i].code, cases[i].level, out, sizeof out);
        ck_assert_str_eq(out, cases[i].want);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("disclosure");
    TCase *tc = tcase_create("disclosure");
    tcase_add_test(tc, small_cells_are_suppressed);
    tcase_add_test(tc, one_small_cell_cannot_be_recomputed);
    tcase_add_test(tc, small_totals_are_protected_too);
    tcase_add_test(tc, one_way_table);
    tcase_add_test(tc, non_additive_tables_get_primary_only);
    tcase_add_test(tc, rounding);
    tcase_add_test(tc, services_table);
    tcase_add_test(tc, region_differencing_with_parent_level);
    tcase_add_test(tc, region_groups_in_overlapping_tables);
    tcase_add_test(tc, region_levels);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
