/* Request ids and trace ids: one format for the ids trmd makes (24 lower-case hex digits,
 * 96 random bits), whichever path answers a request (the core, an early 413, a busy 503),
 * and the trace id of a W3C Trace Context `traceparent` header, for logs. */
#ifndef TRM_REQUEST_ID_H
#define TRM_REQUEST_ID_H

#include <stdbool.h>
#include <stddef.h>

#define TRM_REQUEST_ID_NEW_LEN 24
#define TRM_TRACE_ID_LEN 32

/* A new request id: 24 lower-case hex digits and a NUL. */
void trm_request_id_new(char out[TRM_REQUEST_ID_NEW_LEN + 1]);

/* The request's id: the client's X-Request-Id (given, may be NULL) when it is 1 to max
 * characters of [A-Za-z0-9._-], so it can go into logs and headers unescaped; else a new
 * one. out has room for max + 1 bytes. */
void trm_request_id_pick(const char *given, char *out, size_t max);

/* The trace id (32 lower-case hex digits and a NUL) of a valid traceparent header value
 * (version-traceid-parentid-flags, https://www.w3.org/TR/trace-context/); false for a
 * missing or malformed one, an all-zero id, or version ff. */
bool trm_traceparent_trace_id(const char *traceparent, char out[TRM_TRACE_ID_LEN + 1]);

#endif
