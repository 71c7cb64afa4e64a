/* The API contract, served: docs/openapi.yaml as this build was made with it, and the same
 * document as JSON (both compiled in: trm/openapi.h). Public, like the health checks: it
 * describes the API and holds no data. */
#include "handlers.h"

#include "trm/openapi.h"

#include <stdlib.h>
#include <string.h>

static void answer(struct trm_response *res, const char *content_type, const char *text, size_t len)
{
    char *body = malloc(len + 1);
    if (body == NULL)
        return; /* the core answers 500 */
    memcpy(body, text, len + 1);
    trm_response_text(res, 200, content_type, body, len);
    /* The same for every caller and every request until trmd is upgraded. */
    trm_response_set_header(res, "Cache-Control", "no-cache");
}

TRM_HANDLER(trm_handle_openapi_yaml)
{
    (void)app;
    (void)req;
    answer(res, "application/yaml; charset=utf-8", trm_openapi_yaml, trm_openapi_yaml_len);
}

TRM_HANDLER(trm_handle_openapi_json)
{
    (void)app;
    (void)req;
    answer(res, "application/json", trm_openapi_json, trm_openapi_json_len);
}
