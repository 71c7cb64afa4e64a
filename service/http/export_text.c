/* Log exports' text (see export_text.h). */
#include "trm/export_text.h"

#include "trm/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void trm_export_reset(struct trm_export_text *t)
{
    t->len = 0;
    t->too_big = false;
    if (t->p)
        t->p[0] = '\0';
}

void trm_export_put(struct trm_export_text *t, const char *s, size_t n)
{
    if (t->too_big)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->cap + n + 1) * 2;
        char *p = cap <= TRM_EXPORT_MAX_BYTES ? realloc(t->p, cap) : NULL;
        if (p == NULL) {
            t->too_big = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

void trm_export_put_str(struct trm_export_text *t, const char *s)
{
    trm_export_put(t, s, strlen(s));
}

static void put_csv_cell(struct trm_export_text *t, const char *s)
{
    trm_export_put_str(t, "\"");
    if (s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL)
        trm_export_put_str(t, "'");
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
        trm_export_put(t, s, (size_t)(q - s));
        trm_export_put_str(t, "\"\"");
    }
    trm_export_put_str(t, s);
    trm_export_put_str(t, "\"");
}

static void put_csv_value(struct trm_export_text *t, json_t *v)
{
    char number[32];
    if (json_is_null(v) || v == NULL)
        return;
    if (json_is_string(v)) {
        put_csv_cell(t, json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(number, sizeof number, "%lld", (long long)json_integer_value(v));
        trm_export_put_str(t, number);
    } else if (json_is_boolean(v)) {
        trm_export_put_str(t, json_is_true(v) ? "true" : "false");
    } else if (json_is_array(v)) { /* names, space-separated */
        size_t i;
        json_t *e;
        struct trm_export_text words = {0};
        json_array_foreach(v, i, e)
        {
            if (i)
                trm_export_put_str(&words, " ");
            trm_export_put_str(&words, json_string_value(e) ? json_string_value(e) : "");
        }
        put_csv_cell(t, words.p ? words.p : "");
        free(words.p);
    } else {
        char *json = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        put_csv_cell(t, json ? json : "");
        free(json);
    }
}

void trm_export_csv_header(struct trm_export_text *t, const char *const *columns)
{
    for (size_t i = 0; columns[i]; i++) {
        trm_export_put_str(t, i ? "," : "");
        trm_export_put_str(t, columns[i]);
    }
    trm_export_put_str(t, "\r\n");
}

void trm_export_entry(struct trm_export_text *t, json_t *e, const char *const *columns)
{
    if (columns == NULL) {
        char *line = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
        trm_export_put_str(t, line ? line : "{}");
        trm_export_put_str(t, "\n");
        free(line);
        return;
    }
    for (size_t c = 0; columns[c]; c++) {
        if (c)
            trm_export_put_str(t, ",");
        put_csv_value(t, json_object_get(e, columns[c]));
    }
    trm_export_put_str(t, "\r\n");
}

static bool accepts(const struct trm_request *req, const char *type)
{
    const char *accept = trm_request_header(req, "Accept");
    return accept && strncasecmp(accept, type, strlen(type)) == 0;
}

bool trm_export_wants_csv(const struct trm_request *req)
{
    return accepts(req, "text/csv");
}

bool trm_export_wants_ndjson(const struct trm_request *req)
{
    return accepts(req, "application/x-ndjson");
}
