/* How wrong person counts are. Statistics count persons, not cases: within one group (the
 * same country, sex and citizenship) cases with the same full-name blind index AND the same
 * name-and-birth-year blind index count as one person (trm_stats_person_key,
 * sql/migrations/0027_indicators_regions_access.sql). Each index is truncated to
 * blind_index_bits bits, so distinct people can still collide on both, and the count falls
 * short. This measures the shortfall on synthetic people, each with one case, through the real
 * normalisation and blind indexes, at 1 000, 10 000 and 100 000 people of one group, for the
 * rule in force (the pair of values) and for the rule before it (the name-and-birth-year value
 * alone), and checks each against the birthday formula: N people in m values occupy on
 * average m (1 - (1 - 1/m)^N) of them (m = 2^bits for one value, 2^(2 bits) for the pair,
 * the two kinds having independent keys), with the variance the same occupancy argument
 * gives. The printed tables are what docs/encryption.md quotes. */
#include "check_run.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trm/config.h"
#include "trm/crypto.h"
#include "trm/keyring.h"

/* A fixed keyring, so the printed figures are the same on every run. */
static struct trm_keyring *keyring(void)
{
    static const char text[] =
        "index 5d41402abc4b2a76b9719d911017c592aa59af80e3d4e4f21c2b7fd8e7e90c0b\n"
        "token 1111111111111111111111111111111111111111111111111111111111111111\n"
        "signing 2222222222222222222222222222222222222222222222222222222222222222\n"
        "kek k1 3333333333333333333333333333333333333333333333333333333333333333\n";
    struct trm_keyring *kr = NULL;
    char err[128];
    ck_assert_msg(trm_keyring_parse(&kr, text, strlen(text), err, sizeof err), "%s", err);
    return kr;
}

#define MAX_PEOPLE 100000

/* The full 32-bit indexes of one synthetic person: the full name (kind 1) and the name with
 * the year of birth (kind 2). */
struct person_index {
    uint32_t name, name_year;
};

static uint32_t index_of(const struct trm_keyring *kr, enum trm_blind_kind kind, const char *raw)
{
    char *norm = trm_normalize(raw);
    ck_assert_ptr_nonnull(norm);
    uint32_t v = trm_blind_index(kr, kind, norm, 32);
    /* A narrower index is the top bits of the full one, so one pass serves every width. */
    ck_assert_uint_eq(trm_blind_index(kr, kind, norm, 14), v >> 18);
    free(norm);
    return v;
}

/* The indexes of MAX_PEOPLE distinct synthetic people (one case each), as person.c builds
 * them: "<full name>" and "<full name>|<year of birth>", normalised. */
static struct person_index *people_indexes(const struct trm_keyring *kr)
{
    struct person_index *v = calloc(MAX_PEOPLE, sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (long i = 0; i < MAX_PEOPLE; i++) {
        char name[64], raw[96];
        snprintf(name, sizeof name, "Synthetic  Person %06ld", i);
        snprintf(raw, sizeof raw, "%s|%04ld", name, 1960 + i % 45);
        v[i].name = index_of(kr, TRM_BLIND_NAME, name);
        v[i].name_year = index_of(kr, TRM_BLIND_NAME_BIRTH_YEAR, raw);
    }
    return v;
}

/* What keys a person: the name-and-birth-year value alone (the rule before migration 0027),
 * or the pair of both values (the rule now). */
enum rule { RULE_NAME_YEAR, RULE_PAIR };

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Persons counted among the first n people: distinct keys of the bits-wide indexes. */
static long persons_counted(const struct person_index *people, long n, unsigned bits,
                            enum rule rule)
{
    uint64_t *keys = calloc((size_t)n, sizeof *keys);
    ck_assert_ptr_nonnull(keys);
    for (long i = 0; i < n; i++) {
        uint64_t name_year = people[i].name_year >> (32 - bits);
        keys[i] = rule == RULE_PAIR
                      ? ((uint64_t)(people[i].name >> (32 - bits)) << bits) | name_year
                      : name_year;
    }
    qsort(keys, (size_t)n, sizeof *keys, by_value);
    long distinct = n > 0;
    for (long i = 1; i < n; i++)
        distinct += keys[i] != keys[i - 1];
    free(keys);
    return distinct;
}

struct expectation {
    double persons, sd;
};

/* Occupied values when n people fall uniformly into m = 2^key_bits values. */
static struct expectation birthday(long n, unsigned key_bits)
{
    double m = ldexp(1.0, (int)key_bits), N = (double)n;
    double p1 = exp(N * log1p(-1.0 / m)), p2 = exp(N * log1p(-2.0 / m));
    double empty = m * p1;
    double var = m * (m - 1) * p2 + m * p1 - m * m * p1 * p1;
    return (struct expectation){m - empty, sqrt(var > 0 ? var : 0)};
}

static void measure(const struct person_index *people, unsigned bits, enum rule rule)
{
    static const long sizes[] = {1000, 10000, 100000};
    unsigned key_bits = rule == RULE_PAIR ? 2 * bits : bits;
    printf("blind_index_bits = %u, key: %s (%u bits)\n", bits,
           rule == RULE_PAIR ? "full name and name-and-year values" : "name-and-year value",
           key_bits);
    printf("%8s %8s %10s %8s %18s\n", "people", "counted", "undercount", "error", "expected");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        long n = sizes[i], counted = persons_counted(people, n, bits, rule);
        struct expectation e = birthday(n, key_bits);
        printf("%8ld %8ld %10ld %7.2f%% %10.1f +- %5.1f\n", n, counted, n - counted,
               100.0 * (double)(n - counted) / (double)n, (double)n - e.persons, e.sd);
        /* Never more persons than people or than key values; and the shortfall is the one
         * collisions explain: within five standard deviations of the formula. */
        ck_assert_int_le(counted, n);
        ck_assert_msg(key_bits >= 62 || counted <= (1L << key_bits), "more than 2^%u", key_bits);
        ck_assert_msg(fabs((double)counted - e.persons) <= 5 * e.sd + 1,
                      "%ld people, %u bits: %ld counted, %.1f +- %.1f expected", n, key_bits,
                      counted, e.persons, e.sd);
    }
}

START_TEST(person_count_error)
{
    struct trm_config cfg;
    trm_config_defaults(&cfg);
    struct trm_keyring *kr = keyring();
    struct person_index *people = people_indexes(kr);
    /* The default width; 12 bits, which docs/encryption.md suggests for small deployments;
     * 20, what a wider index would buy (and cost in linkability). The rule in force, then
     * the one before it, for comparison. */
    unsigned widths[] = {(unsigned)cfg.blind_index_bits, 12, 20};
    for (size_t i = 0; i < 3; i++)
        measure(people, widths[i], RULE_PAIR);
    for (size_t i = 0; i < 3; i++)
        measure(people, widths[i], RULE_NAME_YEAR);
    /* The rule in force at the default width counts 10 000 people of one group to within a
     * few (the old one fell a quarter short), and never stops at 2^bits. */
    long pair = persons_counted(people, 10000, (unsigned)cfg.blind_index_bits, RULE_PAIR);
    long old = persons_counted(people, 10000, (unsigned)cfg.blind_index_bits, RULE_NAME_YEAR);
    ck_assert_int_ge(pair, 9990);
    ck_assert_int_lt(old, 8000);
    ck_assert_int_gt(persons_counted(people, MAX_PEOPLE, 14, RULE_PAIR), 1L << 14);
    free(people);
    trm_keyring_free(kr);
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("person_counts");
    TCase *tc = tcase_create("person_counts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, person_count_error);
    suite_add_tcase(s, tc);
    return trm_check_run(s, false);
}
