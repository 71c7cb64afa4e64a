/* The route table: every endpoint of trmd, in one place. */
#include "handlers.h"

const struct trm_route trm_routes[] = {
    {"GET", "/healthz", trm_handle_healthz, TRM_ROUTE_PUBLIC},
    {"GET", "/readyz", trm_handle_readyz, TRM_ROUTE_PUBLIC},
};

const size_t trm_routes_count = sizeof trm_routes / sizeof trm_routes[0];
