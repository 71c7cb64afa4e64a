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
    M_SHARED,         /* the test's case, consent and offer */
    M_FRESH_CASE,     /* a case of A with a data-sharing consent covering the other agency */
    M_FRESH_CONSENT,  /* an assistance consent on the test's case */
    M_FRESH_OFFER,    /* an open offer of a fresh case from A to the other agency */
    M_FRESH_DOCUMENT, /* a document of the test's case (a medical text) */
    M_FRESH_SERVICE,  /* a service A recorded on the test's case (If-Match: its version) */
    M_FRESH_PLAN,     /* a plan A made for the test's case (If-Match: its version) */
};

/* A request: method and route as the route table spells them, the path and body with
 * placeholders (directory rows: {A} agency A, {B} another agency, {U} a user of B, {T} a
 * token, {S} a SOP, {N} something unique; a body "@FILE" is that file of the source tree;
 * case rows: {C} the case, {K} a consent, {R} a referral, {O} the other agency, {D} a
 * document, {V} a service, {P} a plan, {M} the other agency's notification of the test's
 * offer, {W} the caseworker's user id), what it needs made, and the status of each caller
 * (0: not asked). Case rows send If-Match with the case's version (the service's or plan's
 * for M_FRESH_SERVICE and M_FRESH_PLAN). A row with an upload type sends its body as that
 * type, not JSON (a document's content). */
struct matrix_row {
    const char *method, *route, *path, *body;
    enum matrix_fresh fresh;
    long expect[M_CALLERS];
    const char *upload_type;
};

/* A row of an authenticated route: caseworker, coordinator, auditor, admin, another agency's
 * caseworker (0: not asked); anonymous callers get 401. */
#define M_ROW(method, route, path, body, cw, co, au, ad, ot)                                       \
    {                                                                                              \
        (method), (route), (path), (body), M_SHARED, {(cw), (co), (au), (ad), (ot), 401}, NULL     \
    }
#define M_ROW_FRESH(fresh, method, route, path, body, cw, co, au, ad, ot)                          \
    {                                                                                              \
        (method), (route), (path), (body), (fresh), {(cw), (co), (au), (ad), (ot), 401}, NULL      \
    }
/* A row whose body is a file of the given type (an upload), not JSON. */
#define M_ROW_UPLOAD(type, method, route, path, body, cw, co, au, ad, ot)                          \
    {                                                                                              \
        (method), (route), (path), (body), M_SHARED, {(cw), (co), (au), (ad), (ot), 401}, (type)   \
    }
/* A row of a public route: anonymous callers only. */
#define M_PUBLIC(method, route, path, body, an)                                                    \
    {                                                                                              \
        (method), (route), (path), (body), M_SHARED, {0, 0, 0, 0, 0, (an)}, NULL                   \
    }

/* Both ended by a row without a method. */
extern const struct matrix_row matrix_directory[];
extern const struct matrix_row matrix_cases[];

#endif
