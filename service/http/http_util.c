/* Helpers shared by handlers (see http_util.h). */
#include "trm/http_util.h"
#include "trm/idempotency_store.h"
#include "trm/keyring.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CURSOR_MAC_BYTES 16
#define CURSOR_MAX 1024

static void cursor_key(const struct trm_keyring *keys, unsigned char out[32])
{
    crypto_kdf_derive_from_key(out, 32, 1, "trmcursr", trm_keyring_token_key(keys));
}

char *trm_http_cursor_encode(const struct trm_keyring *keys, json_t *payload)
{
    char *text = json_dumps(payload, JSON_COMPACT);
    if (text == NULL)
        return NULL;
    size_t n = strlen(text);
    unsigned char *raw = malloc(CURSOR_MAC_BYTES + n), key[32];
    char *out = raw ? malloc(trm_b64url_len(CURSOR_MAC_BYTES + n) + 1) : NULL;
    if (out) {
        cursor_key(keys, key);
        memcpy(raw + CURSOR_MAC_BYTES, text, n);
        crypto_generichash(raw, CURSOR_MAC_BYTES, raw + CURSOR_MAC_BYTES, n, key, sizeof key);
        trm_b64url_encode(raw, CURSOR_MAC_BYTES + n, out);
        sodium_memzero(key, sizeof key);
    }
    free(raw);
    free(text);
    return out;
}

json_t *trm_http_cursor_decode(const struct trm_keyring *keys, const char *cursor)
{
    size_t len = strlen(cursor);
    if (len == 0 || len > CURSOR_MAX)
        return NULL;
    unsigned char raw[CURSOR_MAX], mac[CURSOR_MAC_BYTES], key[32];
    long n = trm_b64url_decode(cursor, len, raw, sizeof raw);
    if (n <= CURSOR_MAC_BYTES)
        return NULL;
    cursor_key(keys, key);
    crypto_generichash(mac, sizeof mac, raw + CURSOR_MAC_BYTES, (size_t)n - CURSOR_MAC_BYTES, key,
                       sizeof key);
    sodium_memzero(key, sizeof key);
    if (sodium_memcmp(mac, raw, CURSOR_MAC_BYTES) != 0)
        return NULL;
    json_t *payload =
        json_loadb((const char *)raw + CURSOR_MAC_BYTES, (size_t)n - CURSOR_MAC_BYTES, 0, NULL);
    if (!json_is_array(payload)) {
        json_decref(payload);
        return NULL;
    }
    return payload;
}

void trm_http_list(struct trm_response *res, json_t *items, char *next)
{
    json_t *body = json_object();
    json_object_set_new(body, "items", items);
    json_object_set_new(body, "next_cursor", next ? json_string(next) : json_null());
    free(next);
    trm_response_json(res, 200, body);
}

void trm_http_db_problem(const struct trm_request *req, struct trm_response *res,
                         enum trm_db_status st)
{
    switch (st) {
    case TRM_DB_NOT_FOUND:
        trm_response_problem(res, req, TRM_E_NOT_FOUND, "No such resource.");
        return;
    case TRM_DB_INVALID:
        trm_response_problem(res, req, TRM_E_VALIDATION_FAILED,
                             "The values are not consistent with the directory.");
        return;
    case TRM_DB_CONFLICT:
        trm_response_problem(res, req, TRM_E_CONFLICT, "This conflicts with an existing resource.");
        return;
    case TRM_DB_GUARD_FAILED: /* the request core serves it again from a fresh lookup */
        trm_response_problem(res, req, TRM_E_UNAUTHENTICATED,
                             "The token is not valid, has expired or was revoked.");
        return;
    case TRM_DB_UNAVAILABLE:
    case TRM_DB_RETRY:
        trm_response_problem(res, req, TRM_E_SERVICE_UNAVAILABLE,
                             "The database is not reachable or too busy; try again.");
        trm_response_set_header(res, "Retry-After", "2");
        return;
    default:
        trm_response_problem(res, req, TRM_E_INTERNAL, "The request could not be completed.");
        return;
    }
}

void trm_http_created(struct trm_response *res, const char *location, json_t *resource)
{
    trm_response_json(res, 201, resource);
    trm_response_set_header(res, "Location", location);
}

void trm_http_created_at(struct trm_response *res, json_t *resource, const char *location_format,
                         ...)
{
    char location[256];
    va_list ap;
    va_start(ap, location_format);
    vsnprintf(location, sizeof location, location_format, ap);
    va_end(ap);
    trm_http_created(res, location, resource);
}

bool trm_http_uuid_param(const struct trm_request *req, struct trm_response *res, size_t i,
                         char out[TRM_UUID_STR_LEN + 1])
{
    if (i < req->n_params && trm_uuid_parse(req->params[i], out))
        return true;
    trm_response_problem(res, req, TRM_E_NOT_FOUND, "No such resource.");
    return false;
}

static bool bad_query(const struct trm_request *req, struct trm_response *res, const char *name,
                      const char *what)
{
    char detail[160];
    snprintf(detail, sizeof detail, "Query parameter %.40s %s.", name, what);
    trm_response_problem(res, req, TRM_E_INVALID_PARAMETER, detail);
    return false;
}

static bool word_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n <= max && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* Whether a present value fits its parameter; what it must be otherwise. */
static const char *param_problem(const struct trm_param *p, const char *v)
{
    switch (p->kind) {
    case TRM_PARAM_ENUM:
        return trm_json_shape_problem(TRM_FIELD_ENUM, v, p->allowed);
    case TRM_PARAM_UUID:
        return trm_json_shape_problem(TRM_FIELD_UUID, v, NULL);
    case TRM_PARAM_COUNTRY:
        return trm_json_shape_problem(TRM_FIELD_COUNTRY, v, NULL);
    case TRM_PARAM_TIME:
        return trm_json_shape_problem(TRM_FIELD_TIME, v, NULL);
    case TRM_PARAM_MONTH:
        return trm_json_shape_problem(TRM_FIELD_MONTH, v, NULL);
    case TRM_PARAM_BOOL:
        return strcmp(v, "true") == 0 || strcmp(v, "false") == 0 ? NULL : "must be true or false";
    case TRM_PARAM_WORD:
        return word_ok(v, p->max) ? NULL : "must be a name (a-z, 0-9, _)";
    case TRM_PARAM_CHECKED:
        return p->ok(v) ? NULL : "is not valid";
    }
    return "is not valid";
}

bool trm_http_query(const struct trm_request *req, struct trm_response *res,
                    const struct trm_param *params)
{
    for (const struct trm_param *p = params; p->name; p++) {
        const char *v = trm_request_query(req, p->name);
        if (v == NULL)
            continue;
        const char *what = param_problem(p, v);
        if (what != NULL) {
            if (p->detail)
                trm_response_problem(res, req, TRM_E_INVALID_PARAMETER, p->detail);
            else
                bad_query(req, res, p->name, what);
            return false;
        }
        if (p->kind == TRM_PARAM_BOOL)
            *(bool *)p->dest = strcmp(v, "true") == 0;
        else
            *(const char **)p->dest = v;
    }
    return true;
}

bool trm_http_idempotency(const struct trm_request *req, struct trm_response *res,
                          struct trm_idem *out)
{
    memset(out, 0, sizeof *out);
    out->route = req->route ? req->route : "";
    const char *key = trm_request_header(req, "Idempotency-Key");
    if (key == NULL)
        return true;
    size_t n = strlen(key);
    bool ok = n >= 1 && n <= TRM_IDEM_KEY_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = key[i] > 0x20 && key[i] < 0x7f;
    if (!ok) {
        trm_response_problem(res, req, TRM_E_BAD_REQUEST,
                             "Idempotency-Key must be 1 to 200 visible ASCII characters.");
        return false;
    }
    out->present = true;
    memcpy(out->key, key, n + 1);
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof out->hash);
    crypto_generichash_update(&st, (const unsigned char *)req->method, strlen(req->method) + 1);
    crypto_generichash_update(&st, (const unsigned char *)req->path, strlen(req->path) + 1);
    crypto_generichash_update(&st, (const unsigned char *)req->body, req->body_len);
    crypto_generichash_final(&st, out->hash, sizeof out->hash);
    return true;
}

static long if_match(const struct trm_request *req)
{
    const char *v = trm_request_header(req, "If-Match");
    long n;
    char digits[24];
    size_t len = v ? strlen(v) : 0;
    if (v == NULL)
        return -1;
    if (len < 3 || len > 22 || v[0] != '"' || v[len - 1] != '"')
        return -2;
    memcpy(digits, v + 1, len - 2);
    digits[len - 2] = '\0';
    return trm_parse_long(digits, 1, 1000000000L, &n) ? n : -2;
}

bool trm_http_if_match_version(const struct trm_request *req, struct trm_response *res,
                               const char *malformed_detail, long *version)
{
    *version = if_match(req);
    if (*version == -1)
        trm_response_problem(res, req, TRM_E_PRECONDITION_REQUIRED,
                             "Send If-Match with the case's ETag.");
    else if (*version == -2)
        trm_response_problem(res, req, TRM_E_PRECONDITION_FAILED, malformed_detail);
    return *version > 0;
}

void trm_http_field_problem(const struct trm_request *req, struct trm_response *res,
                            const char *pointer, const char *message)
{
    trm_response_problem_ext(res, req, TRM_E_VALIDATION_FAILED,
                             "Some fields are invalid; see errors.", "errors",
                             json_pack("[{s:s, s:s}]", "pointer", pointer, "message", message));
}
