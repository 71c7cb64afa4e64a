/* The authorization matrix of every route of trmd (service/handlers/routes.c): for each route,
 * at least one request and the status each caller gets with it. test_access_control runs the
 * directory rows, test_lifecycle the case rows; test_route_matrix (a unit test) fails when a
 * route has no row, when a row names no route or a path that routes elsewhere, or when a row
 * does not say who may and who may not (a role the role table refuses must be expected 403;
 * anonymous callers 401). */
#ifndef TRM_TEST_MATRIX_H
#define TRM_TEST_MATRIX_H

enum matrix_caller {
    M_CASEWORKER,  /* of agency A (the case's owner in the case rows) */
    M_COORDINATOR, /* of agency A */
    M_AUDITOR,     /* of agency A */
    M_ADMIN,
    M_OTHER,     /* a caseworker of another agency (case rows: the offers' recipient) */
    M_ANONYMOUS, /* no token */
    M_CALLERS
};

/* What each request needs made first, anew for every caller (case rows). */
enum matrix_fresh {
    M_SHARED,        /* the test's case, consent and offer */
    M_FRESH_CASE,    /* a case of A with a data-sharing consent covering the other agency */
    M_FRESH_CONSENT, /* an assistance consent on the test's case */
    M_FRESH_OFFER,   /* an open offer of a fresh case from A to the other agency */
};

/* A request: method and route as the route table spells them, the path and body with
 * placeholders (directory rows: {A} agency A, {B} another agency, {U} a user of B, {T} a
 * token, {S} a SOP, {N} something unique; a body "@FILE" is that file of the source tree;
 * case rows: {C} the case, {K} a consent, {R} a referral, {O} the other agency), what it
 * needs made, and the status of each caller (0: not asked). */
struct matrix_row {
    const char *method, *route, *path, *body;
    enum matrix_fresh fresh;
    long expect[M_CALLERS];
};

/* A row of an authenticated route: caseworker, coordinator, auditor, admin, another agency's
 * caseworker (0: not asked); anonymous callers get 401. */
#define M_ROW(method, route, path, body, cw, co, au, ad, ot)                                       \
    {                                                                                              \
        (method), (route), (path), (body), M_SHARED,                                               \
        {                                                                                          \
            (cw), (co), (au), (ad), (ot), 401                                                      \
        }                                                                                          \
    }
#define M_ROW_FRESH(fresh, method, route, path, body, cw, co, au, ad, ot)                          \
    {                                                                                              \
        (method), (route), (path), (body), (fresh),                                                \
        {                                                                                          \
            (cw), (co), (au), (ad), (ot), 401                                                      \
        }                                                                                          \
    }
/* A row of a public route: anonymous callers only. */
#define M_PUBLIC(method, route, path, body, an)                                                    \
    {                                                                                              \
        (method), (route), (path), (body), M_SHARED,                                               \
        {                                                                                          \
            0, 0, 0, 0, 0, (an)                                                                    \
        }                                                                                          \
    }

/* Both ended by a row without a method. */
extern const struct matrix_row matrix_directory[];
extern const struct matrix_row matrix_cases[];

#endif
