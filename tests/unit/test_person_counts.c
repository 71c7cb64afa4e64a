/* How wrong person counts are. Statistics count persons, not cases: within one group (the
 * same country, sex and citizenship) cases with the same name-and-birth-year blind index
 * count as one person (trm_stats_person_key, sql/migrations/0007_stats.sql). The index is
 * truncated to blind_index_bits bits, so distinct people collide, and the count falls short.
 * This measures the shortfall on synthetic people, each with one case, through the real
 * normalisation and blind index, at 1 000, 10 000 and 100 000 people of one group, and checks
 * it against the birthday formula: N people in m = 2^bits values occupy on average
 * m (1 - (1 - 1/m)^N) values, with a variance the same occupancy argument gives. The printed
 * table is what docs/encryption.md quotes. */
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

/* The full 32-bit name-and-birth-year index of MAX_PEOPLE distinct synthetic people (one
 * case each); a narrower index is its top bits (checked below), so one pass serves every
 * width. */
static uint32_t *people_indexes(const struct trm_keyring *kr)
{
    uint32_t *v = calloc(MAX_PEOPLE, sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (long i = 0; i < MAX_PEOPLE; i++) {
        char raw[96];
        /* As person.c builds it: "<full name>|<year of birth>", then normalised. */
        snprintf(raw, sizeof raw, "Synthetic  Person %06ld|%04ld", i, 1960 + i % 45);
        char *norm = trm_normalize(raw);
        ck_assert_ptr_nonnull(norm);
        v[i] = trm_blind_index(kr, TRM_BLIND_NAME_BIRTH_YEAR, norm, 32);
        if (i % 997 == 0)
            ck_assert_uint_eq(trm_blind_index(kr, TRM_BLIND_NAME_BIRTH_YEAR, norm, 14), v[i] >> 18);
        free(norm);
    }
    return v;
}

/* Persons counted among the first n people: distinct values of the bits-wide index. */
static long persons_counted(const uint32_t *full, long n, unsigned bits)
{
    size_t m = (size_t)1 << bits;
    unsigned char *seen = calloc(m, 1);
    ck_assert_ptr_nonnull(seen);
    long distinct = 0;
    for (long i = 0; i < n; i++) {
        uint32_t v = full[i] >> (32 - bits);
        distinct += !seen[v];
        seen[v] = 1;
    }
    free(seen);
    return distinct;
}

struct expectation {
    double persons, sd;
};

/* Occupied values when n people fall uniformly into m values. */
static struct expectation birthday(long n, unsigned bits)
{
    double m = ldexp(1.0, (int)bits), N = (double)n;
    double p1 = exp(N * log1p(-1.0 / m)), p2 = exp(N * log1p(-2.0 / m));
    double empty = m * p1;
    double var = m * (m - 1) * p2 + m * p1 - m * m * p1 * p1;
    return (struct expectation){m - empty, sqrt(var > 0 ? var : 0)};
}

static void measure(const uint32_t *full, unsigned bits)
{
    static const long sizes[] = {1000, 10000, 100000};
    printf("blind_index_bits = %u (%ld values)\n", bits, 1L << bits);
    printf("%8s %8s %10s %8s %18s\n", "people", "counted", "undercount", "error", "expected");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        long n = sizes[i], counted = persons_counted(full, n, bits);
        struct expectation e = birthday(n, bits);
        printf("%8ld %8ld %10ld %7.1f%% %10.0f +- %4.0f\n", n, counted, n - counted,
               100.0 * (double)(n - counted) / (double)n, (double)n - e.persons, e.sd);
        /* Never more persons than people or than index values; and the shortfall is the
         * one collisions explain: within five standard deviations of the formula. */
        ck_assert_int_le(counted, n);
        ck_assert_int_le(counted, 1L << bits);
        ck_assert_msg(fabs((double)counted - e.persons) <= 5 * e.sd + 1,
                      "%ld people, %u bits: %ld counted, %.0f +- %.0f expected", n, bits, counted,
                      e.persons, e.sd);
    }
}

START_TEST(person_count_error)
{
    struct trm_config cfg;
    trm_config_defaults(&cfg);
    struct trm_keyring *kr = keyring();
    uint32_t *full = people_indexes(kr);
    /* The default width; 12 bits, which docs/encryption.md suggests for small deployments;
     * 20, what a wider index would buy (and cost in linkability). */
    measure(full, (unsigned)cfg.blind_index_bits);
    measure(full, 12);
    measure(full, 20);
    free(full);
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
