/* The application: what every handler may use (configuration, database pool, keys), and
 * the route table that maps requests to handlers. */
#ifndef TRM_APP_H
#define TRM_APP_H

#include <stdatomic.h>
#include <stdbool.h>

#include "trm/auth.h"
#include "trm/config.h"
#include "trm/http.h"

struct trm_codes;
struct trm_db_pool;
struct trm_keyring;
struct trm_keyring_source;

struct trm_app {
    const struct trm_config *config;
    struct trm_db_pool *db;
    struct trm_keyring_source *keys;
    struct trm_authn_cache *authn_cache; /* NULL: every request looks its token up */
    struct trm_web *web;                 /* the console's files (NULL: none) */
    struct trm_codes *codes;             /* regions and sectors a case may name (codes_dir) */
    atomic_bool stopping;
};

struct trm_web;

/* The current keyring (follows key rotation); valid for the whole request. */
const struct trm_keyring *trm_app_keys(struct trm_app *app);

typedef void (*trm_handler_fn)(struct trm_app *app, struct trm_request *req,
                               struct trm_response *res);

enum trm_route_flags {
    TRM_ROUTE_PUBLIC = 1 << 0,   /* no authentication (health checks) */
    TRM_ROUTE_STREAMED = 1 << 1, /* the body streams to the handler (http.h): any type, size */
};

struct trm_route {
    const char *method;
    const char *pattern; /* segments; "{}" matches one path parameter */
    trm_handler_fn handler;
    unsigned flags;
    enum trm_action action; /* checked against the caller's role before the handler */
};

/* The route table of trmd (service/handlers/routes.c). */
extern const struct trm_route trm_routes[];
extern const size_t trm_routes_count;

enum trm_route_result { TRM_ROUTE_FOUND, TRM_ROUTE_NO_PATH, TRM_ROUTE_NO_METHOD };

/* Finds the route for method and path; fills req->params and req->route on success, and
 * the Allow header value (e.g. "GET, HEAD, POST") when only the method is wrong. */
enum trm_route_result trm_route_find(const struct trm_route *routes, size_t n,
                                     struct trm_request *req, char (*param_store)[72],
                                     const struct trm_route **found, char *allow, size_t allow_len);

#endif
