/* Code lists of regions and economic sectors (see codes.h). Small (a few thousand rows at
 * most: NUTS 2024 has 1 211 NUTS 3 regions in the EU and EFTA): kept sorted, looked up by
 * binary search. */
#include "trm/codes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CODE_MAX 16

struct entry {
    char code[CODE_MAX];
    char country[3];
};

struct list {
    struct entry *items;
    size_t n, cap;
};

struct trm_codes {
    struct list regions, sectors;
};

static int by_code(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->code, ((const struct entry *)b)->code);
}

static bool code_ok(const char *s, size_t n)
{
    if (n == 0 || n >= CODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* One data line: code, then (regions) country, then scheme and name, tab-separated. */
static bool add_line(struct list *l, const char *line, size_t len, bool with_country)
{
    const char *tab = memchr(line, '\t', len);
    if (tab == NULL || !code_ok(line, (size_t)(tab - line)))
        return false;
    const char *rest = tab + 1;
    size_t rest_len = len - (size_t)(rest - line);
    if (with_country && (rest_len < 4 || rest[0] < 'A' || rest[0] > 'Z' || rest[1] < 'A' ||
                         rest[1] > 'Z' || rest[2] != '\t'))
        return false;
    if (memchr(rest, '\t', rest_len) == NULL)
        return false;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct entry *items = realloc(l->items, cap * sizeof *items);
        if (items == NULL)
            return false;
        l->items = items;
        l->cap = cap;
    }
    struct entry *e = &l->items[l->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->code, line, (size_t)(tab - line));
    if (with_country)
        memcpy(e->country, rest, 2);
    return true;
}

static bool parse_list(struct list *l, const char *text, bool with_country, const char *name,
                       char *err, size_t errlen)
{
    bool header = false;
    size_t lineno = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        if (len > 0 && p[0] != '#') {
            if (!header)
                header = true;
            else if (!add_line(l, p, len, with_country)) {
                snprintf(err, errlen, "%s line %zu: not a code%s, a scheme and a name", name,
                         lineno, with_country ? ", a country" : "");
                return false;
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    if (l->n > 0)
        qsort(l->items, l->n, sizeof *l->items, by_code);
    for (size_t i = 1; i < l->n; i++) {
        if (strcmp(l->items[i].code, l->items[i - 1].code) == 0) {
            snprintf(err, errlen, "%s: a code is listed twice", name);
            return false;
        }
    }
    return true;
}

bool trm_codes_parse(struct trm_codes **out, const char *regions, const char *sectors, char *err,
                     size_t errlen)
{
    struct trm_codes *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    if (!parse_list(&c->regions, regions, true, "regions.tsv", err, errlen) ||
        !parse_list(&c->sectors, sectors, false, "sectors.tsv", err, errlen)) {
        trm_codes_free(c);
        return false;
    }
    *out = c;
    return true;
}

static char *read_file(const char *dir, const char *name, char *err, size_t errlen)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && size < (1L << 24) &&
        fseek(f, 0, SEEK_SET) == 0 && (text = calloc((size_t)size + 1, 1)) != NULL &&
        fread(text, 1, (size_t)size, f) == (size_t)size) {
        fclose(f);
        return text;
    }
    free(text);
    if (f)
        fclose(f);
    snprintf(err, errlen, "cannot read %s", path);
    return NULL;
}

bool trm_codes_load(struct trm_codes **out, const char *dir, char *err, size_t errlen)
{
    *out = NULL;
    char *regions = read_file(dir, "regions.tsv", err, errlen);
    char *sectors = regions ? read_file(dir, "sectors.tsv", err, errlen) : NULL;
    bool ok = regions && sectors && trm_codes_parse(out, regions, sectors, err, errlen);
    free(regions);
    free(sectors);
    return ok;
}

void trm_codes_free(struct trm_codes *c)
{
    if (c == NULL)
        return;
    free(c->regions.items);
    free(c->sectors.items);
    free(c);
}

static const struct entry *find(const struct list *l, const char *code)
{
    struct entry key;
    if (code == NULL || strlen(code) >= CODE_MAX)
        return NULL;
    memset(&key, 0, sizeof key);
    memcpy(key.code, code, strlen(code));
    return l->n ? bsearch(&key, l->items, l->n, sizeof key, by_code) : NULL;
}

enum trm_region_check trm_codes_region(const struct trm_codes *c, const char *country,
                                       const char *code)
{
    const struct entry *e = find(&c->regions, code);
    if (e && strcmp(e->country, country) == 0)
        return TRM_REGION_OK;
    if (trm_codes_country_regions(c, country) == 0)
        return TRM_REGION_NO_LIST;
    return e ? TRM_REGION_OTHER_COUNTRY : TRM_REGION_UNKNOWN;
}

bool trm_codes_sector(const struct trm_codes *c, const char *code)
{
    return find(&c->sectors, code) != NULL;
}

size_t trm_codes_regions(const struct trm_codes *c)
{
    return c->regions.n;
}

size_t trm_codes_country_regions(const struct trm_codes *c, const char *country)
{
    size_t n = 0;
    for (size_t i = 0; i < c->regions.n; i++)
        if (country && strcmp(c->regions.items[i].country, country) == 0)
            n++;
    return n;
}

size_t trm_codes_sectors(const struct trm_codes *c)
{
    return c->sectors.n;
}
