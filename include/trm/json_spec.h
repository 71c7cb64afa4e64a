/* Declarative validation of JSON request bodies: a handler lists its fields once (name,
 * type, bounds, required, where to put the value), one per line with the constructors below,
 * and one call checks the whole document, collecting EVERY problem as {"pointer", "message"}
 * (RFC 6901 pointers). Unknown fields are errors. Checks across fields (this one only with
 * that one, this time after that one) are rows of the list too, run once the fields they
 * read are valid. Messages never quote the submitted value. */
#ifndef TRM_JSON_SPEC_H
#define TRM_JSON_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum trm_field_type {
    TRM_FIELD_STRING,       /* dest: const char ** (borrowed from the document) */
    TRM_FIELD_ENUM,         /* dest: const char **; one of allowed */
    TRM_FIELD_UUID,         /* dest: const char ** */
    TRM_FIELD_COUNTRY,      /* dest: const char **; ISO 3166-1 alpha-2 shape, upper case */
    TRM_FIELD_DATE,         /* dest: const char **; YYYY-MM-DD, a real date */
    TRM_FIELD_TIME,         /* dest: const char **; a date, or a UTC time YYYY-MM-DDTHH:MM:SSZ */
    TRM_FIELD_MONTH,        /* dest: const char **; YYYY-MM */
    TRM_FIELD_INT,          /* dest: long *; within [min, max] */
    TRM_FIELD_BOOL,         /* dest: bool * */
    TRM_FIELD_STRING_ARRAY, /* dest: json_t ** (borrowed); strings of at most max_len */
    TRM_FIELD_ENUM_ARRAY,   /* dest: json_t **; distinct values from allowed */
    TRM_FIELD_UUID_ARRAY,   /* dest: json_t ** */
    TRM_FIELD_COUNTRY_ARRAY,
    TRM_FIELD_OBJECT,       /* dest: json_t **; checked against fields */
    TRM_FIELD_OBJECT_ARRAY, /* dest: json_t **; each item checked against fields */
    TRM_FIELD_CHECK,        /* not a member: check(dest) runs once the other fields are valid */
};

/* A check across fields: NULL when the values go together, else the message, with *field
 * set to the member it is about ("" for the object itself). arg is the row's dest. */
typedef const char *(*trm_field_check_fn)(const void *arg, const char **field);

struct trm_field {
    const char *name; /* NULL ends a list */
    enum trm_field_type type;
    void *dest;
    bool required;
    size_t max_len;                 /* strings: bytes; arrays: items */
    size_t min_len;                 /* strings: bytes (default 0, but required strings need 1) */
    long min, max;                  /* integers */
    const char *const *allowed;     /* enums, NULL-terminated */
    const struct trm_field *fields; /* objects */
    bool *present;            /* set when the member was given (optional fields, merge patches) */
    bool nullable;            /* JSON null accepted (dest left NULL; present set) */
    const char *message;      /* said of a malformed value instead of the type's own words */
    trm_field_check_fn check; /* TRM_FIELD_CHECK */
};

/* One row of a spec per line: TRM_F_ENUM("kind", &kind, trm_agency_kinds, TRM_REQUIRED). The
 * last arguments may name more members (.nullable = true, .message = "..."). A list ends with
 * TRM_F_END. */
#define TRM_REQUIRED .required = true
#define TRM_F_STRING(n, d, max, ...)                                                               \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_STRING, .dest = (d), .max_len = (max), __VA_ARGS__          \
    }
/* A string that may be left out but never given empty. */
#define TRM_F_TEXT(n, d, max, ...)                                                                 \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_STRING, .dest = (d), .max_len = (max), .min_len = 1,        \
        __VA_ARGS__                                                                                \
    }
#define TRM_F_ENUM(n, d, list, ...)                                                                \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_ENUM, .dest = (d), .allowed = (list), __VA_ARGS__           \
    }
#define TRM_F_UUID(n, d, ...)                                                                      \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_UUID, .dest = (d), __VA_ARGS__                              \
    }
#define TRM_F_COUNTRY(n, d, ...)                                                                   \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_COUNTRY, .dest = (d), __VA_ARGS__                           \
    }
#define TRM_F_DATE(n, d, ...)                                                                      \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_DATE, .dest = (d), __VA_ARGS__                              \
    }
#define TRM_F_MONTH(n, d, ...)                                                                     \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_MONTH, .dest = (d), __VA_ARGS__                             \
    }
#define TRM_F_TIME(n, d, ...)                                                                      \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_TIME, .dest = (d), __VA_ARGS__                              \
    }
#define TRM_F_INT(n, d, lo, hi, ...)                                                               \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_INT, .dest = (d), .min = (lo), .max = (hi), __VA_ARGS__     \
    }
#define TRM_F_BOOL(n, d, ...)                                                                      \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_BOOL, .dest = (d), __VA_ARGS__                              \
    }
#define TRM_F_STRINGS(n, d, max, ...)                                                              \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_STRING_ARRAY, .dest = (d), .max_len = (max), __VA_ARGS__    \
    }
#define TRM_F_ENUMS(n, d, max, list, ...)                                                          \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_ENUM_ARRAY, .dest = (d), .max_len = (max),                  \
        .allowed = (list), __VA_ARGS__                                                             \
    }
#define TRM_F_UUIDS(n, d, max, ...)                                                                \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_UUID_ARRAY, .dest = (d), .max_len = (max), __VA_ARGS__      \
    }
#define TRM_F_COUNTRIES(n, d, max, ...)                                                            \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_COUNTRY_ARRAY, .dest = (d), .max_len = (max), __VA_ARGS__   \
    }
#define TRM_F_OBJECT(n, d, spec, ...)                                                              \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_OBJECT, .dest = (d), .fields = (spec), __VA_ARGS__          \
    }
#define TRM_F_OBJECTS(n, d, max, spec, ...)                                                        \
    {                                                                                              \
        .name = (n), .type = TRM_FIELD_OBJECT_ARRAY, .dest = (d), .max_len = (max),                \
        .fields = (spec), __VA_ARGS__                                                              \
    }
/* A check across fields: fn(arg) once the fields before it are valid. */
#define TRM_F_CHECK(fn, arg)                                                                       \
    {                                                                                              \
        .name = "", .type = TRM_FIELD_CHECK, .dest = (arg), .check = (fn)                          \
    }
#define TRM_F_END                                                                                  \
    {                                                                                              \
        0                                                                                          \
    }

/* What a document's check found: nothing, fields missing, unknown or malformed, or well-formed
 * fields that do not go together (a check row refused them). */
enum trm_json_verdict { TRM_JSON_VALID, TRM_JSON_MALFORMED, TRM_JSON_INCONSISTENT };

/* Validates doc (must be an object) against fields. Appends problems to errors (a JSON
 * array) under the pointer prefix (e.g. "" or "/person"). Returns true when none. */
bool trm_json_check(json_t *doc, const struct trm_field *fields, const char *prefix,
                    json_t *errors);
/* The same, saying which kind of problem was found. */
enum trm_json_verdict trm_json_validate(json_t *doc, const struct trm_field *fields,
                                        const char *prefix, json_t *errors);

/* Why s is not of a string type's shape (ENUM: one of allowed; UUID, COUNTRY, DATE, MONTH,
 * TIME), in the words a problem says; NULL when it is. Query parameters say the same. */
const char *trm_json_shape_problem(enum trm_field_type type, const char *s,
                                   const char *const *allowed);

/* Shape checks usable elsewhere. */
bool trm_json_is_date(const char *s);
/* A date (YYYY-MM-DD, midnight UTC) or a UTC time to the second (YYYY-MM-DDTHH:MM:SSZ), a
 * real one: the one shape of a time the API takes, in bodies and in query parameters. */
bool trm_json_is_time(const char *s);
/* Whether a date, time or month (as above) is after now (UTC). */
bool trm_json_is_future(const char *s);
bool trm_json_is_month(const char *s);
bool trm_json_is_country(const char *s);
/* UTF-8 string length check helper: true if s has no control characters other than
 * newline and tab. */
bool trm_json_text_ok(const char *s);

#endif
