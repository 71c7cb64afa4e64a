/* Shared between the files of the HTTP adapter only. */
#ifndef TRM_HTTP_INTERNAL_H
#define TRM_HTTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* host:port (or [v6]:port) to a socket address; false with a message in err. */
bool trm_http_resolve(const char *listen, struct sockaddr_storage *ss, char *err, size_t errlen);

#endif
