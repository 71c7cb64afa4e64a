/* The authorization matrix covers every route: each route of the route table has a row in
 * the matrix tests (tests/integration/matrix.c), each row routes to the route it names, and
 * says who may and who may not: a role the role table refuses is expected 403, an anonymous
 * caller 401, and some caller gets past both. */
#include "check_run.h"

#include <stdio.h>
#include <string.h>

#include "matrix.h"
#include "trm/app.h"

static const enum trm_role caller_role[] = {
    [M_CASEWORKER] = TRM_ROLE_CASEWORKER, [M_COORDINATOR] = TRM_ROLE_COORDINATOR,
    [M_AUDITOR] = TRM_ROLE_AUDITOR,       [M_ADMIN] = TRM_ROLE_ADMIN,
    [M_OTHER] = TRM_ROLE_CASEWORKER,
};

static bool is_refusal(long status)
{
    return status == 401 || status == 403 || status == 404;
}

/* The route a row's path finds (placeholders stand for an id). */
static const struct trm_route *route_of(const struct matrix_row *row)
{
    char path[512];
    size_t o = 0;
    for (const char *p = row->path; *p && *p != '?' && o + 40 < sizeof path; p++) {
        if (p[0] == '{' && p[1] && p[2] == '}') {
            o += (size_t)snprintf(path + o, sizeof path - o,
                                  "00000000-0000-4000-8000-0000000000%02d", p[1] % 100);
            p += 2;
        } else {
            path[o++] = *p;
        }
    }
    path[o] = '\0';
    struct trm_request req = {.method = row->method, .path = path};
    char store[TRM_MAX_PATH_PARAMS][72], allow[96];
    const struct trm_route *found = NULL;
    return trm_route_find(trm_routes, trm_routes_count, &req, store, &found, allow, sizeof allow) ==
                   TRM_ROUTE_FOUND
               ? found
               : NULL;
}

/* Routes only a console session gets past (a bearer token's request is no session: 404):
 * the matrix asks who may not; tests/integration/test_sessions.c signs in and shows who may. */
static bool session_only(const struct trm_route *route)
{
    return strcmp(route->pattern, "/v1/sessions/current") == 0;
}

/* Why a row does not say who may and who may not for its route (NULL when it does). */
static const char *row_problem(const struct matrix_row *row, const struct trm_route *route)
{
    if (route == NULL || strcmp(route->pattern, row->route) != 0 ||
        strcmp(route->method, row->method) != 0)
        return "its path does not route to the route it names";
    if (route->flags & TRM_ROUTE_PUBLIC)
        return row->expect[M_ANONYMOUS] ? NULL : "a public route needs an anonymous caller";
    if (row->expect[M_ANONYMOUS] != 401)
        return "an anonymous caller must get 401";
    bool may = false;
    for (int c = M_CASEWORKER; c <= M_OTHER; c++) {
        long want = row->expect[c];
        if (want == 0 && c != M_OTHER)
            return "every role must be asked";
        if (want != 0 && !trm_authz_allows(caller_role[c], route->action) && want != 403)
            return "a role the role table refuses must get 403";
        may = may || (want != 0 && !is_refusal(want));
    }
    return may || session_only(route) ? NULL : "no caller gets past authorization";
}

static size_t rows_of(const struct matrix_row *rows, const struct trm_route *r)
{
    size_t n = 0;
    for (const struct matrix_row *row = rows; row->method; row++)
        n += strcmp(row->method, r->method) == 0 && strcmp(row->route, r->pattern) == 0;
    return n;
}

START_TEST(every_route_has_a_row)
{
    for (size_t i = 0; i < trm_routes_count; i++) {
        const struct trm_route *r = &trm_routes[i];
        ck_assert_msg(rows_of(matrix_directory, r) + rows_of(matrix_cases, r) > 0,
                      "%s %s has no row in the authorization matrix (tests/integration/matrix.c)",
                      r->method, r->pattern);
    }
}
END_TEST

START_TEST(every_row_says_who_may_and_who_may_not)
{
    const struct matrix_row *tables[] = {matrix_directory, matrix_cases};
    for (size_t t = 0; t < 2; t++) {
        for (const struct matrix_row *row = tables[t]; row->method; row++) {
            const char *why = row_problem(row, route_of(row));
            ck_assert_msg(why == NULL, "matrix row %s %s: %s", row->method, row->path, why);
        }
    }
}
END_TEST

/* The checks themselves: a route without a row, and rows that say too little, are caught. */
START_TEST(the_checks_catch_what_is_missing)
{
    const struct trm_route *me = NULL;
    for (size_t i = 0; i < trm_routes_count; i++)
        if (strcmp(trm_routes[i].pattern, "/v1/users") == 0 &&
            strcmp(trm_routes[i].method, "GET") == 0)
            me = &trm_routes[i];
    ck_assert_ptr_nonnull(me);
    const struct matrix_row none[] = {{NULL}};
    ck_assert_int_eq(rows_of(none, me), 0);
    const struct matrix_row lax =
        M_ROW("GET", "/v1/users", "/v1/users", NULL, 200, 200, 200, 200, 0);
    ck_assert_str_eq(row_problem(&lax, route_of(&lax)),
                     "a role the role table refuses must get 403");
    const struct matrix_row nobody =
        M_ROW("GET", "/v1/users", "/v1/users", NULL, 403, 403, 403, 403, 0);
    ck_assert_str_eq(row_problem(&nobody, route_of(&nobody)), "no caller gets past authorization");
    const struct matrix_row elsewhere =
        M_ROW("GET", "/v1/users", "/v1/users/{U}", NULL, 403, 403, 403, 200, 0);
    ck_assert_str_eq(row_problem(&elsewhere, route_of(&elsewhere)),
                     "its path does not route to the route it names");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("route_matrix");
    TCase *tc = tcase_create("route_matrix");
    tcase_add_test(tc, every_route_has_a_row);
    tcase_add_test(tc, every_row_says_who_may_and_who_may_not);
    tcase_add_test(tc, the_checks_catch_what_is_missing);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
