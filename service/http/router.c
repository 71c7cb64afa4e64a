/* Route matching over a static table: segment by segment, "{}" captures a parameter.
 * A path that matches with another method gives the list for the Allow header. */
#include "trm/app.h"
#include "trm/util.h"

#include <string.h>

/* Compares path against pattern; captures parameters into store (truncated parameters
 * become empty, which no handler accepts as an id). */
static bool match(const char *pattern, const char *path, char (*store)[72], size_t *n_params)
{
    const char *p = pattern, *s = path;
    size_t n = 0;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        const char *pe = strchr(p, '/'), *se = strchr(s, '/');
        size_t plen = pe ? (size_t)(pe - p) : strlen(p);
        size_t slen = se ? (size_t)(se - s) : strlen(s);
        if (plen == 2 && p[0] == '{' && p[1] == '}') {
            if (slen == 0 || n == TRM_MAX_PATH_PARAMS)
                return false;
            if (store) {
                if (slen < 72) {
                    memcpy(store[n], s, slen);
                    store[n][slen] = '\0';
                } else {
                    store[n][0] = '\0';
                }
            }
            n++;
        } else if (plen != slen || memcmp(p, s, plen) != 0) {
            return false;
        }
        p += plen;
        s += slen;
    }
    if (*p != '\0' || *s != '\0')
        return false;
    *n_params = n;
    return true;
}

static bool method_matches(const char *route_method, const char *method)
{
    if (strcmp(route_method, method) == 0)
        return true;
    /* HEAD is served by the GET handler; libmicrohttpd drops the body. */
    return strcmp(method, "HEAD") == 0 && strcmp(route_method, "GET") == 0;
}

static void allow_add(char *allow, size_t len, const char *method)
{
    if (strstr(allow, method) != NULL)
        return;
    if (allow[0] != '\0')
        strncat(allow, ", ", len - strlen(allow) - 1);
    strncat(allow, method, len - strlen(allow) - 1);
}

enum trm_route_result trm_route_find(const struct trm_route *routes, size_t n,
                                     struct trm_request *req, char (*param_store)[72],
                                     const struct trm_route **found, char *allow, size_t allow_len)
{
    bool path_known = false;
    allow[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t n_params = 0;
        if (!match(routes[i].pattern, req->path, NULL, &n_params))
            continue;
        path_known = true;
        allow_add(allow, allow_len, routes[i].method);
        if (strcmp(routes[i].method, "GET") == 0)
            allow_add(allow, allow_len, "HEAD");
        if (!method_matches(routes[i].method, req->method))
            continue;
        match(routes[i].pattern, req->path, param_store, &n_params);
        for (size_t k = 0; k < n_params; k++)
            req->params[k] = param_store[k];
        req->n_params = n_params;
        req->route = routes[i].pattern;
        *found = &routes[i];
        return TRM_ROUTE_FOUND;
    }
    return path_known ? TRM_ROUTE_NO_METHOD : TRM_ROUTE_NO_PATH;
}
