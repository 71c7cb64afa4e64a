/* Shared between the files of the HTTP adapter and the request core only. */
#ifndef TRM_HTTP_INTERNAL_H
#define TRM_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "trm/http.h"

/* host:port (or [v6]:port) to a socket address; false with a message in err. */
bool trm_http_resolve(const char *listen, struct sockaddr_storage *ss, char *err, size_t errlen);

/* The headers every answer carries (request id, caching, content sniffing, CSP, ...), and a
 * 500 problem when nothing answered. */
void trm_app_finish_response(const struct trm_request *req, struct trm_response *res);

/* Once the handler handed over its sink: the stream keeps who asked (req's principal, the
 * client address), the request id and route. Until then it is not ready to be fed. */
void trm_stream_bind(struct trm_stream *s, const struct trm_request *req, const char *client);
bool trm_stream_ready(const struct trm_stream *s);

#endif
