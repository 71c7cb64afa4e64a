/* The request core, without a socket: the input is split into a method, a path, headers and
 * a body and handed to trm_app_handle. The database is unreachable on purpose (every
 * authenticated route answers 503), so what is fuzzed is parsing, routing, hygiene,
 * validation and problem building. */
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

#include "trm/app.h"
#include "trm/db.h"
#include "trm/http.h"

static struct trm_config cfg;
static struct trm_app app;

static void init(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    trm_config_defaults(&cfg);
    app.config = &cfg;
    struct trm_db_pool_options o = {.conninfo = "host=/nonexistent-trm-fuzz dbname=x",
                                    .size = 1,
                                    .acquire_timeout_ms = 10,
                                    .connect_timeout_s = 1,
                                    .statement_timeout_ms = 100};
    trm_db_pool_open(&app.db, &o);
    app.keys = fuzz_keyring_source();
}

/* Lines: method, path, then "Name: value" headers until an empty line, then the body. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct trm_header headers[80];
    size_t nh = 0;
    char *save = NULL, *method = strtok_r(text, "\n", &save), *path = strtok_r(NULL, "\n", &save);
    char *body = "";
    for (char *line; (line = strtok_r(NULL, "\n", &save)) != NULL;) {
        char *colon = strchr(line, ':');
        if (colon == NULL || nh == 80) {
            body = line;
            break;
        }
        *colon = '\0';
        headers[nh++] = (struct trm_header){line, colon + 1};
    }
    struct trm_request req = {.method = method ? method : "GET",
                              .path = path ? path : "/",
                              .headers = headers,
                              .n_headers = nh,
                              .body = body,
                              .body_len = strlen(body),
                              .client_addr = "127.0.0.1"};
    struct trm_response res;
    trm_response_init(&res);
    trm_app_handle(&app, &req, &res);
    if (res.status < 100 || res.status > 599 || res.body == NULL)
        abort();
    trm_response_free(&res);
    free(text);
    return 0;
}
