/* What the request core's files share and nothing else sees. */
#ifndef TRM_HTTP_INTERNAL_H
#define TRM_HTTP_INTERNAL_H

#include "trm/http.h"

/* The headers every answer carries (request id, caching, content sniffing, CSP, ...), and a
 * 500 problem when nothing answered. */
void trm_app_finish_response(const struct trm_request *req, struct trm_response *res);

/* Once the handler handed over its sink: the stream keeps who asked (req's principal, the
 * client address), the request id and route. Until then it is not ready to be fed. */
void trm_stream_bind(struct trm_stream *s, const struct trm_request *req, const char *client);
bool trm_stream_ready(const struct trm_stream *s);

#endif
