/* Statistics queries (see stats.h); the SQL functions check who may see which country. */
#include "trm/stats_store.h"

#include <stdlib.h>

/* clang-format off */
TRM_DB_STMT(stmt_persons, 3,
            "SELECT country, sex, age_band, citizenship, array_to_string(forms, ',') AS forms, "
            "month, state, phase, status, cases, coalesce(region, '') AS region, "
            "coalesce(sector, '') AS sector FROM trm_stats_persons($1, $2::date, $3::date)");
TRM_DB_STMT(stmt_screenings, 3,
            "SELECT coalesce(jsonb_agg(jsonb_build_object('set', set_code, 'version', set_version, "
            "'measure', measure, 'dimension', dimension, 'indicator', indicator, 'persons', "
            "persons) ORDER BY set_code, set_version, measure, dimension, indicator), '[]') "
            "FROM trm_stats_screenings($1, $2::date, $3::date)");
TRM_DB_STMT(stmt_assistance, 3,
            "SELECT coalesce(jsonb_agg(jsonb_build_object('indicator', indicator, 'persons', "
            "persons, 'median_days', round(median_days::numeric, 1))), '[]') "
            "FROM trm_stats_assistance($1, $2::date, $3::date)");
TRM_DB_STMT(stmt_referrals, 3,
            "SELECT coalesce(jsonb_agg(jsonb_build_object('from_country', from_country, "
            "'to_country', to_country, 'from_kind', from_kind, 'to_kind', to_kind, 'offered', "
            "offered, 'accepted', accepted, 'declined', declined, 'withdrawn', withdrawn, "
            "'expired', expired, 'median_hours_to_answer', "
            "round(median_hours_to_answer::numeric, 1))), '[]') "
            "FROM trm_stats_referrals($1, $2::date, $3::date)");
TRM_DB_STMT(stmt_services, 3,
            "SELECT coalesce(jsonb_agg(jsonb_build_object('type', type, 'persons', persons) "
            "ORDER BY type), '[]') FROM trm_stats_services($1, $2::date, $3::date)");
/* clang-format on */

#define PERSON_COL(kind, member) TRM_DB_COL(kind, struct trm_person_row, member, #member)
static const struct trm_db_col person_cols[] = {
    PERSON_COL(TRM_DB_STR, country),
    PERSON_COL(TRM_DB_STR, sex),
    PERSON_COL(TRM_DB_STR, age_band),
    PERSON_COL(TRM_DB_STR, citizenship),
    PERSON_COL(TRM_DB_STR, forms),
    PERSON_COL(TRM_DB_STR, month),
    PERSON_COL(TRM_DB_STR, state),
    PERSON_COL(TRM_DB_STR, phase),
    PERSON_COL(TRM_DB_STR, status),
    PERSON_COL(TRM_DB_LONG, cases),
    PERSON_COL(TRM_DB_STR, region),
    PERSON_COL(TRM_DB_STR, sector),
    {0},
};

enum trm_db_status trm_stats_persons(struct trm_db_conn *c, const char *country, const char *from,
                                     const char *to, trm_person_fn fn, void *arg)
{
    const char *p[] = {country, from, to};
    enum trm_db_status st;
    PGresult *r = trm_db_exec(c, &stmt_persons, p, &st);
    for (int i = 0; st == TRM_DB_OK && i < PQntuples(r); i++) {
        struct trm_person_row row;
        if (!trm_db_row(r, i, person_cols, &row))
            st = TRM_DB_ERROR;
        else
            fn(&row, arg);
    }
    PQclear(r);
    return st;
}

enum trm_db_status trm_stats_assistance(struct trm_db_conn *c, const char *country,
                                        const char *from, const char *to, json_t **out)
{
    const char *p[] = {country, from, to};
    return trm_db_json_cell(c, &stmt_assistance, p, out);
}

enum trm_db_status trm_stats_referrals(struct trm_db_conn *c, const char *country, const char *from,
                                       const char *to, json_t **out)
{
    const char *p[] = {country, from, to};
    return trm_db_json_cell(c, &stmt_referrals, p, out);
}

enum trm_db_status trm_stats_services(struct trm_db_conn *c, const char *country, const char *from,
                                      const char *to, json_t **out)
{
    const char *p[] = {country, from, to};
    return trm_db_json_cell(c, &stmt_services, p, out);
}

enum trm_db_status trm_stats_screenings(struct trm_db_conn *c, const char *country,
                                        const char *from, const char *to, json_t **out)
{
    const char *p[] = {country, from, to};
    return trm_db_json_cell(c, &stmt_screenings, p, out);
}
