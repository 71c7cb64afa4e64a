/* Declarative JSON validation (see json_spec.h). */
#include "trm/json_spec.h"
#include "trm/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void add_error(json_t *errors, const char *prefix, const char *name, long index,
                      const char *message)
{
    char pointer[512];
    if (index >= 0)
        snprintf(pointer, sizeof pointer, "%s/%s/%ld", prefix, name, index);
    else
        snprintf(pointer, sizeof pointer, "%s/%s", prefix, name);
    json_array_append_new(errors, json_pack("{s:s, s:s}", "pointer", pointer, "message", message));
}

bool trm_json_is_country(const char *s)
{
    return s && strlen(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool trm_json_is_month(const char *s)
{
    if (s == NULL || strlen(s) != 7 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2))
        return false;
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    return m >= 1 && m <= 12 && s[0] != '0';
}

bool trm_json_is_date(const char *s)
{
    if (s == NULL || strlen(s) != 10 || s[7] != '-' || !digits(s + 8, 2))
        return false;
    char month[8];
    memcpy(month, s, 7);
    month[7] = '\0';
    if (!trm_json_is_month(month))
        return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int max = days[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    return d >= 1 && d <= max;
}

static bool two_digits_upto(const char *s, int max)
{
    return digits(s, 2) && (s[0] - '0') * 10 + (s[1] - '0') <= max;
}

bool trm_json_is_time(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    char date[11];
    if (n != 10 && n != 20)
        return false;
    memcpy(date, s, 10);
    date[10] = '\0';
    return trm_json_is_date(date) &&
           (n == 10 || (s[10] == 'T' && two_digits_upto(s + 11, 23) && s[13] == ':' &&
                        two_digits_upto(s + 14, 59) && s[16] == ':' &&
                        two_digits_upto(s + 17, 59) && s[19] == 'Z'));
}

bool trm_json_is_future(const char *s)
{
    /* A month, a date and a time are prefixes of the same format: compare as many bytes. */
    time_t now = time(NULL);
    struct tm tm;
    char current[32];
    gmtime_r(&now, &tm);
    strftime(current, sizeof current, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return strncmp(s, current, strlen(s)) > 0;
}

bool trm_json_text_ok(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r') || *p == 0x7f)
            return false;
    return true;
}

static bool allowed(const char *v, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(v, list[i]) == 0)
            return true;
    return false;
}

/* Checks one scalar string value; returns the problem or NULL. */
static const char *check_string(const struct trm_field *f, json_t *v, enum trm_field_type type)
{
    if (!json_is_string(v))
        return "must be a string";
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n)
        return "must not contain NUL characters";
    switch (type) {
    case TRM_FIELD_STRING: {
        size_t min = f->min_len ? f->min_len : (f->required ? 1 : 0);
        if (n < min)
            return "must not be empty";
        if (n > (f->max_len ? f->max_len : 1000))
            return "is too long";
        return trm_json_text_ok(s) ? NULL : "must not contain control characters";
    }
    default:
        return trm_json_shape_problem(type, s, f->allowed);
    }
}

const char *trm_json_shape_problem(enum trm_field_type type, const char *s,
                                   const char *const *allowed_values)
{
    switch (type) {
    case TRM_FIELD_ENUM:
        return allowed(s, allowed_values) ? NULL : "is not one of the allowed values";
    case TRM_FIELD_UUID:
        return trm_uuid_parse(s, NULL) ? NULL : "must be a UUID";
    case TRM_FIELD_COUNTRY:
        return trm_json_is_country(s) ? NULL : "must be an ISO 3166-1 alpha-2 code";
    case TRM_FIELD_DATE:
        return trm_json_is_date(s) ? NULL : "must be a date (YYYY-MM-DD)";
    case TRM_FIELD_MONTH:
        return trm_json_is_month(s) ? NULL : "must be a month (YYYY-MM)";
    case TRM_FIELD_TIME:
        return trm_json_is_time(s) ? NULL : "must be a date (YYYY-MM-DD) or a UTC time (...T...Z)";
    default:
        return "has an unexpected type";
    }
}

static enum trm_field_type item_type(enum trm_field_type t)
{
    switch (t) {
    case TRM_FIELD_ENUM_ARRAY:
        return TRM_FIELD_ENUM;
    case TRM_FIELD_UUID_ARRAY:
        return TRM_FIELD_UUID;
    case TRM_FIELD_COUNTRY_ARRAY:
        return TRM_FIELD_COUNTRY;
    default:
        return TRM_FIELD_STRING;
    }
}

static bool check_array(const struct trm_field *f, json_t *v, const char *prefix, json_t *errors)
{
    if (!json_is_array(v)) {
        add_error(errors, prefix, f->name, -1, "must be an array");
        return false;
    }
    size_t max = f->max_len ? f->max_len : 100;
    if (json_array_size(v) > max) {
        add_error(errors, prefix, f->name, -1, "has too many items");
        return false;
    }
    bool ok = true;
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (f->type == TRM_FIELD_OBJECT_ARRAY) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s/%s/%zu", prefix, f->name, i);
            ok = trm_json_check(item, f->fields, sub, errors) && ok;
            continue;
        }
        /* Items of string arrays share the field's limits but are always required. */
        struct trm_field itemf = *f;
        itemf.required = true;
        itemf.max_len = 1000;
        const char *why = check_string(&itemf, item, item_type(f->type));
        for (size_t j = 0; why == NULL && f->type != TRM_FIELD_STRING_ARRAY && j < i; j++)
            if (json_equal(json_array_get(v, j), item))
                why = "is repeated";
        if (why) {
            add_error(errors, prefix, f->name, (long)i, why);
            ok = false;
        }
    }
    return ok;
}

static bool check_field(const struct trm_field *f, json_t *v, const char *prefix, json_t *errors)
{
    const char *why = NULL;
    switch (f->type) {
    case TRM_FIELD_INT:
        if (!json_is_integer(v))
            why = "must be a whole number";
        else if (json_integer_value(v) < f->min || json_integer_value(v) > f->max)
            why = "is out of range";
        else if (f->dest)
            *(long *)f->dest = (long)json_integer_value(v);
        break;
    case TRM_FIELD_BOOL:
        if (!json_is_boolean(v))
            why = "must be true or false";
        else if (f->dest)
            *(bool *)f->dest = json_is_true(v);
        break;
    case TRM_FIELD_OBJECT: {
        char sub[512];
        snprintf(sub, sizeof sub, "%s/%s", prefix, f->name);
        if (!trm_json_check(v, f->fields, sub, errors))
            return false;
        if (f->dest)
            *(json_t **)f->dest = v;
        return true;
    }
    case TRM_FIELD_STRING_ARRAY:
    case TRM_FIELD_ENUM_ARRAY:
    case TRM_FIELD_UUID_ARRAY:
    case TRM_FIELD_COUNTRY_ARRAY:
    case TRM_FIELD_OBJECT_ARRAY:
        if (!check_array(f, v, prefix, errors))
            return false;
        if (f->dest)
            *(json_t **)f->dest = v;
        return true;
    default:
        why = check_string(f, v, f->type);
        if (why == NULL && f->dest)
            *(const char **)f->dest = json_string_value(v);
    }
    if (why && f->message)
        why = f->message;
    if (why) {
        add_error(errors, prefix, f->name, -1, why);
        return false;
    }
    return true;
}

/* The check rows, in order, once the fields are valid: the first that refuses is reported. */
static bool run_checks(const struct trm_field *fields, const char *prefix, json_t *errors)
{
    for (const struct trm_field *f = fields; f->name; f++) {
        const char *field = "",
                   *why = f->type == TRM_FIELD_CHECK ? f->check(f->dest, &field) : NULL;
        if (why == NULL)
            continue;
        if (field[0])
            add_error(errors, prefix, field, -1, why);
        else
            json_array_append_new(errors,
                                  json_pack("{s:s, s:s}", "pointer", prefix, "message", why));
        return false;
    }
    return true;
}

enum trm_json_verdict trm_json_validate(json_t *doc, const struct trm_field *fields,
                                        const char *prefix, json_t *errors)
{
    if (!json_is_object(doc)) {
        json_array_append_new(errors, json_pack("{s:s, s:s}", "pointer", prefix[0] ? prefix : "",
                                                "message", "must be a JSON object"));
        return TRM_JSON_MALFORMED;
    }
    bool ok = true;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        const struct trm_field *f = fields;
        while (f->name && (f->type == TRM_FIELD_CHECK || strcmp(f->name, key) != 0))
            f++;
        if (f->name == NULL) {
            /* Name the field only when it looks like a field name (a typo), never when it
             * could be a smuggled value. */
            bool plain = strlen(key) <= 64 && key[0] != '\0';
            for (const char *k = key; plain && *k; k++)
                plain = (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') || *k == '_';
            add_error(errors, prefix, plain ? key : "*", -1, "unknown field");
            ok = false;
        }
    }
    for (const struct trm_field *f = fields; f->name; f++) {
        if (f->type == TRM_FIELD_CHECK)
            continue;
        json_t *value = json_object_get(doc, f->name);
        if (f->present)
            *f->present = value != NULL;
        if (value == NULL || (json_is_null(value) && f->nullable)) {
            if (value == NULL && f->required) {
                add_error(errors, prefix, f->name, -1, "is required");
                ok = false;
            }
            continue;
        }
        ok = check_field(f, value, prefix, errors) && ok;
    }
    if (!ok)
        return TRM_JSON_MALFORMED;
    return run_checks(fields, prefix, errors) ? TRM_JSON_VALID : TRM_JSON_INCONSISTENT;
}

bool trm_json_check(json_t *doc, const struct trm_field *fields, const char *prefix, json_t *errors)
{
    return trm_json_validate(doc, fields, prefix, errors) == TRM_JSON_VALID;
}
