/* The web console's files (web/), loaded into memory when trmd starts and served at "/"
 * (index.html, revalidated) and under "/assets/<build>/" (everything else, cached for good:
 * <build> is a hash of every file, so any change makes new addresses and no build step is
 * needed). Only files that were loaded are served, by exact name: no path from a request
 * ever reaches the file system. */
#ifndef TRM_WEB_H
#define TRM_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include "trm/http.h"

struct trm_web;

/* Loads dir (at most 500 files, 8 MiB); a missing directory gives an empty console (the API
 * still works) and *err says so. false on an unreadable or oversized tree. In index.html,
 * every "@BUILD@" becomes the build id. */
bool trm_web_load(struct trm_web **out, const char *dir, char *err, size_t errlen);
void trm_web_free(struct trm_web *web);
/* The build id (12 hex digits), "" when nothing was loaded. */
const char *trm_web_build(const struct trm_web *web);
size_t trm_web_file_count(const struct trm_web *web);
/* Answers a GET or HEAD of "/" or "/assets/..." (true), or leaves res alone (false: not the
 * console's path). An unknown asset is a 404 problem. */
bool trm_web_serve(const struct trm_web *web, const struct trm_request *req,
                   struct trm_response *res);

#endif
