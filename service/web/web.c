/* The console's files in memory, and serving them (see web.h). */
#include "trm/web.h"
#include "trm/util.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 500
#define MAX_TOTAL (8u << 20)
#define BUILD_HEX 12

struct web_file {
    char *name; /* relative path, "/" separated */
    const char *type;
    char *data;
    size_t len;
};

struct trm_web {
    struct web_file files[MAX_FILES];
    size_t n, total;
    char build[BUILD_HEX + 1];
    char etag[BUILD_HEX + 3];
};

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".txt", "text/plain; charset=utf-8"},
    {".woff2", "font/woff2"},
};

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* Names made of safe characters only (they become URLs and are matched exactly). */
static bool name_ok(const char *name)
{
    if (name[0] == '.' || strstr(name, "..") != NULL)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-' || *p == '/'))
            return false;
    return true;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct stat st;
    char *data = NULL;
    if (fstat(fileno(f), &st) == 0 && st.st_size >= 0 && (size_t)st.st_size <= MAX_TOTAL) {
        data = malloc((size_t)st.st_size + 1);
        if (data && fread(data, 1, (size_t)st.st_size, f) == (size_t)st.st_size) {
            data[st.st_size] = '\0';
            *len = (size_t)st.st_size;
        } else {
            free(data);
            data = NULL;
        }
    }
    fclose(f);
    return data;
}

static bool walk(struct trm_web *w, const char *root, const char *rel, char *err, size_t errlen)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "cannot read %s", dir);
        return false;
    }
    bool ok = true;
    struct dirent *e;
    while (ok && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char name[512], path[1536];
        snprintf(name, sizeof name, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(path, sizeof path, "%s/%s", root, name);
        struct stat st;
        if (stat(path, &st) != 0 || !name_ok(name))
            continue;
        if (S_ISDIR(st.st_mode)) {
            ok = walk(w, root, name, err, errlen);
            continue;
        }
        const char *type = type_of(name);
        if (!S_ISREG(st.st_mode) || type == NULL)
            continue;
        if (w->n == MAX_FILES) {
            snprintf(err, errlen, "%s holds more than %d files", root, MAX_FILES);
            ok = false;
            break;
        }
        struct web_file *f = &w->files[w->n];
        f->data = read_file(path, &f->len);
        f->name = strdup(name);
        f->type = type;
        if (f->data == NULL || f->name == NULL || (w->total += f->len) > MAX_TOTAL) {
            snprintf(err, errlen, "%s: unreadable, or the console is larger than %u bytes", path,
                     MAX_TOTAL);
            free(f->data);
            free(f->name);
            ok = false;
            break;
        }
        w->n++;
    }
    closedir(d);
    return ok;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct web_file *)a)->name, ((const struct web_file *)b)->name);
}

static void compute_build(struct trm_web *w)
{
    crypto_generichash_state st;
    uint8_t h[BUILD_HEX / 2];
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    for (size_t i = 0; i < w->n; i++) {
        crypto_generichash_update(&st, (const uint8_t *)w->files[i].name,
                                  strlen(w->files[i].name) + 1);
        crypto_generichash_update(&st, (const uint8_t *)w->files[i].data, w->files[i].len);
    }
    crypto_generichash_final(&st, h, sizeof h);
    trm_hex_encode(h, sizeof h, w->build);
    snprintf(w->etag, sizeof w->etag, "\"%s\"", w->build);
}

static struct web_file *find(const struct trm_web *w, const char *name)
{
    struct web_file key = {.name = (char *)name};
    return bsearch(&key, w->files, w->n, sizeof w->files[0], by_name);
}

/* index.html with the build id in place of every @BUILD@. */
static bool stamp_index(struct trm_web *w)
{
    struct web_file *f = find(w, "index.html");
    if (f == NULL)
        return true;
    size_t cap = f->len * 2 + 64, len = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return false;
    for (const char *p = f->data; *p;) {
        const char *at = strstr(p, "@BUILD@");
        size_t n = at ? (size_t)(at - p) : strlen(p);
        if (len + n + BUILD_HEX + 1 > cap) {
            free(out);
            return false;
        }
        memcpy(out + len, p, n);
        len += n;
        p += n;
        if (at) {
            memcpy(out + len, w->build, BUILD_HEX);
            len += BUILD_HEX;
            p += strlen("@BUILD@");
        }
    }
    out[len] = '\0';
    free(f->data);
    f->data = out;
    f->len = len;
    return true;
}

bool trm_web_load(struct trm_web **out, const char *dir, char *err, size_t errlen)
{
    *out = NULL;
    err[0] = '\0';
    struct trm_web *w = calloc(1, sizeof *w);
    if (w == NULL)
        return false;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "no console: %s is not a directory", dir);
        *out = w;
        return true;
    }
    if (!walk(w, dir, "", err, errlen)) {
        trm_web_free(w);
        return false;
    }
    qsort(w->files, w->n, sizeof w->files[0], by_name);
    compute_build(w);
    if (!stamp_index(w)) {
        snprintf(err, errlen, "%s/index.html could not be prepared", dir);
        trm_web_free(w);
        return false;
    }
    *out = w;
    return true;
}

void trm_web_free(struct trm_web *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->files[i].name);
        free(w->files[i].data);
    }
    free(w);
}

const char *trm_web_build(const struct trm_web *w)
{
    return w && w->n ? w->build : "";
}

size_t trm_web_file_count(const struct trm_web *w)
{
    return w ? w->n : 0;
}

static void answer(struct trm_response *res, const struct web_file *f, const char *cache)
{
    char *body = malloc(f->len + 1);
    if (body == NULL) {
        res->status = 503;
        return;
    }
    memcpy(body, f->data, f->len + 1);
    trm_response_text(res, 200, f->type, body, f->len);
    trm_response_set_header(res, "Cache-Control", cache);
}

bool trm_web_serve(const struct trm_web *w, const struct trm_request *req, struct trm_response *res)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool index = strcmp(req->path, "/") == 0 || strcmp(req->path, "/index.html") == 0;
    if (!get || (!index && strncmp(req->path, "/assets/", 8) != 0))
        return false;
    const struct web_file *f = NULL;
    if (index) {
        f = w ? find(w, "index.html") : NULL;
        const char *inm = trm_request_header(req, "If-None-Match");
        if (f && inm && strcmp(inm, w->etag) == 0) {
            res->status = 304;
            trm_response_set_header(res, "ETag", w->etag);
            trm_response_set_header(res, "Cache-Control", "no-cache");
            return true;
        }
        if (f) {
            answer(res, f, "no-cache");
            trm_response_set_header(res, "ETag", w->etag);
        }
    } else {
        /* /assets/<build>/<name>: only the current build's files. */
        const char *rest = req->path + 8;
        if (w && w->n && strncmp(rest, w->build, BUILD_HEX) == 0 && rest[BUILD_HEX] == '/')
            f = find(w, rest + BUILD_HEX + 1);
        if (f && strcmp(f->name, "index.html") != 0)
            answer(res, f, "public, max-age=31536000, immutable");
        else
            f = NULL;
    }
    if (f == NULL)
        trm_response_problem(res, req, TRM_E_NOT_FOUND, "No such file of the console.");
    return true;
}
