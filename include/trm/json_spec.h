/* Declarative validation of JSON request bodies: a handler lists its fields once (name,
 * type, bounds, required, where to put the value) and one call checks the whole document,
 * collecting EVERY problem as {"pointer", "message"} (RFC 6901 pointers). Unknown fields are
 * errors. Messages never quote the submitted value. */
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
    TRM_FIELD_MONTH,        /* dest: const char **; YYYY-MM */
    TRM_FIELD_INT,          /* dest: long *; within [min, max] */
    TRM_FIELD_BOOL,         /* dest: bool * */
    TRM_FIELD_STRING_ARRAY, /* dest: json_t ** (borrowed); strings of at most max_len */
    TRM_FIELD_ENUM_ARRAY,   /* dest: json_t **; distinct values from allowed */
    TRM_FIELD_UUID_ARRAY,   /* dest: json_t ** */
    TRM_FIELD_COUNTRY_ARRAY,
    TRM_FIELD_OBJECT,       /* dest: json_t **; checked against fields */
    TRM_FIELD_OBJECT_ARRAY, /* dest: json_t **; each item checked against fields */
};

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
    bool *present; /* set when the member was given (optional fields, merge patches) */
    bool nullable; /* JSON null accepted (dest left NULL; present set) */
};

/* Validates doc (must be an object) against fields. Appends problems to errors (a JSON
 * array) under the pointer prefix (e.g. "" or "/person"). Returns true when none. */
bool trm_json_check(json_t *doc, const struct trm_field *fields, const char *prefix,
                    json_t *errors);

/* Shape checks usable elsewhere. */
bool trm_json_is_date(const char *s);
bool trm_json_is_month(const char *s);
bool trm_json_is_country(const char *s);
/* UTF-8 string length check helper: true if s has no control characters other than
 * newline and tab. */
bool trm_json_text_ok(const char *s);

#endif
