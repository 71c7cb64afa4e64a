/* Helpers shared by handlers (the shape they share is handler.h): signed list cursors, query
 * parameters, path parameters, If-Match and Idempotency-Key, problems for database outcomes
 * and fields, created responses. */
#ifndef TRM_HTTP_UTIL_H
#define TRM_HTTP_UTIL_H

#include <jansson.h>
#include <stdbool.h>

#include "trm/db.h"
#include "trm/http.h"
#include "trm/json_spec.h"
#include "trm/util.h"

struct trm_keyring;
struct trm_idem;

/* Signs and encodes a cursor payload (a JSON array of keys); returns a malloc'd string. */
char *trm_http_cursor_encode(const struct trm_keyring *keys, json_t *payload);
/* Decodes and verifies; NULL when forged, altered or malformed. */
json_t *trm_http_cursor_decode(const struct trm_keyring *keys, const char *cursor);
/* {"items": items, "next_cursor": next or null} (consumes items and frees next). */
void trm_http_list(struct trm_response *res, json_t *items, char *next);

/* Answers the problem for a database outcome that is not OK. */
void trm_http_db_problem(const struct trm_request *req, struct trm_response *res,
                         enum trm_db_status st);
/* 400 validation_failed naming one field by JSON pointer. */
void trm_http_field_problem(const struct trm_request *req, struct trm_response *res,
                            const char *pointer, const char *message);
/* 201 with Location and the resource (consumed). */
void trm_http_created(struct trm_response *res, const char *location, json_t *resource);
/* The same, the Location made from a format ("/v1/agencies/%s"). */
void trm_http_created_at(struct trm_response *res, json_t *resource, const char *location_format,
                         ...) __attribute__((format(printf, 3, 4)));
/* Reads a UUID path parameter; answers 404 when it is not one. */
bool trm_http_uuid_param(const struct trm_request *req, struct trm_response *res, size_t i,
                         char out[TRM_UUID_STR_LEN + 1]);
/* A query parameter: its name, what it must be, where its value goes (const char **, or
 * bool * for TRM_PARAM_BOOL) and, optionally, the whole detail of the problem when it is
 * wrong (otherwise "Query parameter <name> <what it must be>."). A handler lists its
 * parameters, one per line, and one call checks them in order, answering 400
 * invalid_parameter for the first that is wrong; an absent parameter leaves dest alone. */
enum trm_param_kind {
    TRM_PARAM_ENUM,    /* one of allowed */
    TRM_PARAM_UUID,    /* a UUID */
    TRM_PARAM_COUNTRY, /* ISO 3166-1 alpha-2, upper case */
    TRM_PARAM_TIME,    /* a date or a UTC time (trm_json_is_time) */
    TRM_PARAM_MONTH,   /* YYYY-MM */
    TRM_PARAM_BOOL,    /* true or false */
    TRM_PARAM_WORD,    /* a name of a-z, 0-9 and _ of at most max bytes (a SOP state) */
    TRM_PARAM_CHECKED, /* whatever ok accepts */
};
struct trm_param {
    const char *name;
    enum trm_param_kind kind;
    void *dest;
    const char *const *allowed;
    size_t max;
    bool (*ok)(const char *value);
    const char *detail;
};
#define TRM_Q_ENUM(n, d, list, ...)                                                                \
    {                                                                                              \
        .name = (n), .kind = TRM_PARAM_ENUM, .dest = (d), .allowed = (list), __VA_ARGS__           \
    }
#define TRM_Q_UUID(n, d, ...)                                                                      \
    {                                                                                              \
        .name = (n), .kind = TRM_PARAM_UUID, .dest = (d), __VA_ARGS__                              \
    }
#define TRM_Q_COUNTRY(n, d, ...)                                                                   \
    {                                                                                              \
        .name = (n), .kind = TRM_PARAM_COUNTRY, .dest = (d), __VA_ARGS__                           \
    }
#define TRM_Q_TIME(n, d, ...)                                                                      \
    {                                                                                              \
        .name = (n), .kind = TRM_PARAM_TIME, .dest = (d), __VA_ARGS__                              \
    }
#define TRM_Q_MONTH(n, d, ...)                                                                     \
    {                                                                                              \
        .name = (n), .kind = TRM_PARAM_MONTH, .dest = (d), __VA_ARGS__                             \
    }
#define TRM_Q_BOOL(n, d, ...)                                                                      \
    {                                                                                              \
        .name = (n), .kind = TRM_PARAM_BOOL, .dest = (d), __VA_ARGS__                              \
    }
#define TRM_Q_WORD(n, d, maxlen, ...)                                                              \
    {                                                                                              \
        .name = (n), .kind = TRM_PARAM_WORD, .dest = (d), .max = (maxlen), __VA_ARGS__             \
    }
#define TRM_Q_CHECKED(n, d, fn, ...)                                                               \
    {                                                                                              \
        .name = (n), .kind = TRM_PARAM_CHECKED, .dest = (d), .ok = (fn), __VA_ARGS__               \
    }
#define TRM_Q_END                                                                                  \
    {                                                                                              \
        0                                                                                          \
    }
bool trm_http_query(const struct trm_request *req, struct trm_response *res,
                    const struct trm_param *params);

/* The version If-Match names into *version; answers 428 without If-Match and 412 (with
 * malformed_detail) when it names no version. */
bool trm_http_if_match_version(const struct trm_request *req, struct trm_response *res,
                               const char *malformed_detail, long *version);
/* Reads the Idempotency-Key header (1..200 visible ASCII characters) and hashes the request;
 * answers 400 for a malformed key. */
bool trm_http_idempotency(const struct trm_request *req, struct trm_response *res,
                          struct trm_idem *out);

#endif
