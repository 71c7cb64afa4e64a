/* The API contract this build serves: docs/openapi.yaml as written and as JSON, compiled in
 * at build time (cmake/openapi-embed.c). Both are NUL-terminated; _len excludes the NUL. */
#ifndef TRM_OPENAPI_H
#define TRM_OPENAPI_H

#include <stddef.h>

extern const char trm_openapi_yaml[];
extern const size_t trm_openapi_yaml_len;
extern const char trm_openapi_json[];
extern const size_t trm_openapi_json_len;

#endif
