/* The integration test harness (see harness.h). */
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *h_env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        ck_abort_msg("%s is not set: run the tests through scripts/test", name);
    return v;
}

void h_tmp_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%d-%s", h_env("TRM_TEST_TMPDIR"), (int)getpid(), name);
}

const char *h_key_file(void)
{
    static char path[512];
    if (path[0] == '\0') {
        snprintf(path, sizeof path, "%s/master.key", h_env("TRM_TEST_TMPDIR"));
        if (access(path, R_OK) != 0) {
            char cmd[4096], tmp[600];
            /* Created under a temporary name and renamed, so parallel tests never see a
             * half-written key file. */
            snprintf(tmp, sizeof tmp, "%s.%d", path, (int)getpid());
            snprintf(cmd, sizeof cmd, "'%s' keys init '%s' >/dev/null && mv -n '%s' '%s'",
                     TRMCTL_PATH, tmp, tmp, path);
            h_sh(cmd);
            unlink(tmp);
        }
    }
    return path;
}

static unsigned read_port(const char *log_path, unsigned *metrics_port)
{
    FILE *f = fopen(log_path, "r");
    if (f == NULL)
        return 0;
    char line[4096];
    unsigned port = 0;
    while (port == 0 && fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *ev = json_string_value(json_object_get(j, "event"));
        if (ev && strcmp(ev, "started") == 0) {
            port = (unsigned)json_integer_value(json_object_get(j, "port"));
            *metrics_port = (unsigned)json_integer_value(json_object_get(j, "metrics_port"));
        }
        json_decref(j);
    }
    fclose(f);
    return port;
}

void h_trmd_start(struct trmd *t, const char *const *extra_env)
{
    static int serial;
    memset(t, 0, sizeof *t);
    char name[64];
    snprintf(name, sizeof name, "trmd-%d.log", serial++);
    h_tmp_path(t->log_path, sizeof t->log_path, name);
    snprintf(t->key_file, sizeof t->key_file, "%s", h_key_file());
    const char *db = h_env("TRM_TEST_APP_URL");
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd = open(t->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, STDERR_FILENO);
        dup2(fd, STDOUT_FILENO);
        setenv("TRM_DATABASE_URL", db, 1);
        setenv("TRM_LISTEN", "127.0.0.1:0", 1);
        setenv("TRM_METRICS_LISTEN", "127.0.0.1:0", 1);
        setenv("TRM_KEY_FILE", t->key_file, 1);
        setenv("TRM_LOG_LEVEL", "info", 1);
        setenv("TRM_CODES_DIR", TRM_SOURCE_DIR "/config/codes", 1);
        /* Many tests fail authentication on purpose from 127.0.0.1; the rate-limit test
         * sets its own limit for its own forwarded address. */
        setenv("TRM_AUTH_FAILURE_LIMIT", "100000", 1);
        for (size_t i = 0; extra_env && extra_env[i]; i++)
            putenv((char *)extra_env[i]);
        execl(TRMD_PATH, "trmd", "--config", TRM_SOURCE_DIR "/config/trmd.conf", (char *)NULL);
        _exit(127);
    }
    t->pid = pid;
    for (int i = 0; i < 300 && t->port == 0; i++) {
        usleep(50000);
        ck_assert_msg(h_trmd_alive(t), "trmd exited during start-up; see %s", t->log_path);
        t->port = read_port(t->log_path, &t->metrics_port);
    }
    ck_assert_msg(t->port != 0, "trmd did not start; see %s", t->log_path);
}

bool h_trmd_alive(const struct trmd *t)
{
    /* Works from forked test processes too (trmd is their sibling, not their child): a
     * process that died is gone or a zombie in /proc. */
    char path[64], stat[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)t->pid);
    FILE *f = t->pid > 0 ? fopen(path, "r") : NULL;
    if (f == NULL)
        return false;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *close_paren = strrchr(stat, ')');
    return close_paren && close_paren[1] == ' ' && close_paren[2] != 'Z' && close_paren[2] != 'X';
}

int h_trmd_stop(struct trmd *t)
{
    if (t->pid <= 0)
        return -1;
    kill(t->pid, SIGTERM);
    int status = 0;
    for (int i = 0; i < 600; i++) {
        pid_t r = waitpid(t->pid, &status, WNOHANG);
        if (r == t->pid) {
            t->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(50000);
    }
    kill(t->pid, SIGKILL);
    waitpid(t->pid, &status, 0);
    t->pid = 0;
    return -1;
}

char *h_trmd_log(const struct trmd *t)
{
    FILE *f = fopen(t->log_path, "r");
    if (f == NULL)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

void h_trmd_stop_counts(struct trmd *t, long *requests, long *round_trips)
{
    ck_assert_int_eq(h_trmd_stop(t), 0);
    char *log = h_trmd_log(t);
    const char *line = strstr(log, "\"event\":\"stopped\"");
    ck_assert_msg(line != NULL, "trmd logged no stop line");
    const char *r = strstr(line, "\"requests\":"), *d = strstr(line, "\"db_round_trips\":");
    ck_assert(r != NULL && d != NULL);
    *requests = atol(r + strlen("\"requests\":"));
    *round_trips = atol(d + strlen("\"db_round_trips\":"));
    free(log);
}

struct sink {
    char *data;
    size_t len, cap;
};

/* Grows by doubling: a body of tens of MiB (a subject-access bundle with its documents) is
 * not copied again for every piece curl hands over (ASan's realloc always copies). */
static size_t sink_write(char *ptr, size_t size, size_t n, void *userdata)
{
    struct sink *s = userdata;
    size_t add = size * n;
    if (s->len + add + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + add + 1)
            cap *= 2;
        char *d = realloc(s->data, cap);
        if (d == NULL)
            return 0;
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->len, ptr, add);
    s->len += add;
    s->data[s->len] = '\0';
    return add;
}

/* Every error body is appended to a file the leak scan reads: no error may echo a personal
 * value a test sent. */
static void keep_error_body(const struct h_resp *r)
{
    const char *dir = getenv("TRM_TEST_TMPDIR");
    if (dir == NULL || r->status < 400 || r->body == NULL)
        return;
    char path[512];
    snprintf(path, sizeof path, "%s/error-bodies-%d.txt", dir, (int)getpid());
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", r->body);
        fclose(f);
    }
}

/* Every answer a test receives is recorded (method, path, status, headers, body) for the
 * contract check that runs after the suite (tests/contract: each is validated against
 * docs/openapi.yaml for its route and status). */
static void record_response(const char *method, const char *path, const struct h_resp *r)
{
    const char *dir = getenv("TRM_TEST_TMPDIR");
    if (dir == NULL || r->status == 0)
        return;
    json_t *headers = json_object();
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (end == NULL)
            break;
        const char *colon = memchr(line, ':', (size_t)(end - line));
        if (strncmp(line, "HTTP/", 5) == 0) {
            json_object_clear(headers); /* a 100 Continue's headers are not the answer's */
        } else if (colon) {
            char name[128];
            size_t n =
                (size_t)(colon - line) < sizeof name - 1 ? (size_t)(colon - line) : sizeof name - 1;
            for (size_t i = 0; i < n; i++)
                name[i] = (char)tolower((unsigned char)line[i]);
            name[n] = '\0';
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            json_object_set_new(headers, name, json_stringn(v, (size_t)(end - v)));
        }
        line = end + 2;
    }
    size_t plen = strcspn(path, "?");
    /* A body that is not UTF-8 (a document's content) is recorded as null. */
    json_t *body = json_stringn(r->body, r->body_len);
    json_t *rec =
        json_pack("{s:s, s:s%, s:i, s:o, s:o}", "method", method, "path", path, plen, "status",
                  (int)r->status, "headers", headers, "body", body ? body : json_null());
    char *line = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    char file[512];
    snprintf(file, sizeof file, "%s/responses-%d.jsonl", dir, (int)getpid());
    /* Writers of the drills run in threads: one line at a time. */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    FILE *f = line ? fopen(file, "a") : NULL;
    if (f) {
        fprintf(f, "%s\n", line);
        fclose(f);
    }
    pthread_mutex_unlock(&lock);
    free(line);
}

/* A request body: text (NUL-terminated), bytes, or bytes made as curl sends them. */
struct body_src {
    const char *data;
    size_t len;
    h_body_gen gen;
    void *cls;
    unsigned long long total, sent;
};

static size_t body_read(char *buf, size_t size, size_t n, void *userdata)
{
    struct body_src *b = userdata;
    size_t want = size * n;
    if (b->total - b->sent < want)
        want = (size_t)(b->total - b->sent);
    size_t got = want ? b->gen(b->cls, b->sent, buf, want) : 0;
    b->sent += got;
    return got;
}

static CURLcode http_core_body(const struct trmd *t, const char *method, const char *path,
                               const char *const *headers, struct body_src *src,
                               struct h_resp *out);

static CURLcode http_core(const struct trmd *t, const char *method, const char *path,
                          const char *const *headers, const char *body, struct h_resp *out)
{
    struct body_src src = {body, body ? strlen(body) : 0, NULL, NULL, 0, 0};
    return http_core_body(t, method, path, headers, &src, out);
}

static CURLcode http_core_body(const struct trmd *t, const char *method, const char *path,
                               const char *const *headers, struct body_src *src, struct h_resp *out)
{
    const char *body = src->data;
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", t->port, path);
    struct sink b = {0}, h = {0};
    struct curl_slist *list = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)src->len);
    } else if (src->gen) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, body_read);
        curl_easy_setopt(c, CURLOPT_READDATA, src);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)src->total);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, src->gen ? 300L : 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    out->body = b.data ? b.data : strdup("");
    out->body_len = b.len;
    out->headers = h.data ? h.data : strdup("");
    out->json = json_loads(out->body, 0, NULL);
    keep_error_body(out);
    if (rc == CURLE_OK)
        record_response(method, path, out);
    return rc;
}

void h_http(const struct trmd *t, const char *method, const char *path, const char *const *headers,
            const char *body, struct h_resp *out)
{
    CURLcode rc = http_core(t, method, path, headers, body, out);
    ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
}

static void with_auth(const char *token, const char *body, const char *const *extra,
                      const char **headers, char *auth, size_t auth_len)
{
    size_t n = 0;
    if (token) {
        snprintf(auth, auth_len, "Authorization: Bearer %s", token);
        headers[n++] = auth;
    }
    if (body)
        headers[n++] = "Content-Type: application/json";
    for (size_t i = 0; extra && extra[i] && n < 15; i++)
        headers[n++] = extra[i];
    headers[n] = NULL;
}

bool h_api_try(const struct trmd *t, const char *token, const char *method, const char *path,
               const char *body, const char *const *extra_headers, struct h_resp *out)
{
    const char *headers[16];
    char auth[200];
    with_auth(token, body, extra_headers, headers, auth, sizeof auth);
    if (http_core(t, method, path, headers, body, out) == CURLE_OK && out->status != 0)
        return true;
    h_resp_free(out);
    return false;
}

void h_trmd_reap(struct trmd *t)
{
    int status;
    if (t->pid > 0)
        waitpid(t->pid, &status, 0);
    t->pid = 0;
}

const char *h_header(const struct h_resp *r, const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (end == NULL)
            break;
        if ((size_t)(end - line) > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            snprintf(buf, len, "%.*s", (int)(end - v), v);
            return buf;
        }
        line = end + 2;
    }
    return NULL;
}

void h_resp_free(struct h_resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

void h_assert_problem(const struct h_resp *r, long status, const char *code)
{
    char ct[128];
    ck_assert_msg(r->status == status, "expected %ld, got %ld: %s", status, r->status, r->body);
    ck_assert_ptr_nonnull(h_header(r, "Content-Type", ct, sizeof ct));
    ck_assert_str_eq(ct, "application/problem+json");
    ck_assert_ptr_nonnull(r->json);
    ck_assert_int_eq(json_integer_value(json_object_get(r->json, "status")), status);
    ck_assert_str_eq(json_string_value(json_object_get(r->json, "code")), code);
    char type[128];
    snprintf(type, sizeof type, "urn:trm:problem:%s", code);
    ck_assert_str_eq(json_string_value(json_object_get(r->json, "type")), type);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(r->json, "title")));
    ck_assert_ptr_nonnull(json_string_value(json_object_get(r->json, "detail")));
    ck_assert_ptr_nonnull(json_string_value(json_object_get(r->json, "request_id")));
}

size_t h_raw(unsigned port, const char *data, size_t len, char *out, size_t cap, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    size_t sent = 0;
    while (sent < len) {
        ssize_t w = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may close early (e.g. 413): read what it said */
        sent += (size_t)w;
    }
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got + 1 < cap && poll(&p, 1, timeout_ms) > 0) {
        ssize_t r = recv(fd, out + got, cap - got - 1, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    out[got] = '\0';
    close(fd);
    return got;
}

PGconn *h_pg(const char *env_name)
{
    PGconn *pg = PQconnectdb(h_env(env_name));
    ck_assert_msg(PQstatus(pg) == CONNECTION_OK, "connect %s: %s", env_name, PQerrorMessage(pg));
    return pg;
}

int h_sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int h_trmctl_with(const char *db_env, const char *key_file, const char *args, char *out, size_t cap)
{
    char cmd[4096], outfile[512];
    static int serial;
    char name[64];
    snprintf(name, sizeof name, "trmctl-%d.out", serial++);
    h_tmp_path(outfile, sizeof outfile, name);
    snprintf(cmd, sizeof cmd, "TRM_DATABASE_URL='%s' TRM_KEY_FILE='%s' '%s' %s >'%s' 2>&1",
             h_env(db_env), key_file, TRMCTL_PATH, args, outfile);
    int rc = h_sh(cmd);
    FILE *f = fopen(outfile, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    while (n > 0 && out[n - 1] == '\n')
        out[--n] = '\0';
    if (f)
        fclose(f);
    unlink(outfile);
    return rc;
}

int h_trmctl(const char *args, char *out, size_t cap)
{
    return h_trmctl_with("TRM_TEST_OWNER_URL", h_key_file(), args, out, cap);
}

static unsigned unique_serial(void)
{
    static unsigned serial;
    return ++serial;
}

void h_admin(char token[128], const char *country)
{
    char args[512], agency[128], user[128];
    snprintf(args, sizeof args, "agency add --name 'admins %d-%u' --country %s --kind other",
             (int)getpid(), unique_serial(), country);
    ck_assert_int_eq(h_trmctl(args, agency, sizeof agency), 0);
    snprintf(args, sizeof args, "user add --agency %s --role admin --name 'Test admin'", agency);
    ck_assert_int_eq(h_trmctl(args, user, sizeof user), 0);
    snprintf(args, sizeof args, "token issue --user %s --expires-days 1", user);
    ck_assert_int_eq(h_trmctl(args, token, 128), 0);
    ck_assert_int_eq(strncmp(token, "trm_", 4), 0);
}

/* Authorization and the extra lines (no Content-Type of its own: the caller's). */
static void raw_headers(const char *token, const char *const *extra, const char **headers,
                        char *auth, size_t auth_len)
{
    with_auth(token, NULL, extra, headers, auth, auth_len);
}

void h_api_bytes(const struct trmd *t, const char *token, const char *method, const char *path,
                 const void *body, size_t len, const char *const *extra_headers, struct h_resp *out)
{
    const char *headers[16];
    char auth[200];
    raw_headers(token, extra_headers, headers, auth, sizeof auth);
    struct body_src src = {body, len, NULL, NULL, 0, 0};
    CURLcode rc = http_core_body(t, method, path, headers, &src, out);
    ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
}

bool h_api_stream(const struct trmd *t, const char *token, const char *method, const char *path,
                  unsigned long long len, h_body_gen gen, void *cls,
                  const char *const *extra_headers, struct h_resp *out)
{
    const char *headers[16];
    char auth[200];
    raw_headers(token, extra_headers, headers, auth, sizeof auth);
    struct body_src src = {NULL, 0, gen, cls, len, 0};
    return http_core_body(t, method, path, headers, &src, out) == CURLE_OK && out->status != 0;
}

void h_api(const struct trmd *t, const char *token, const char *method, const char *path,
           const char *body, const char *const *extra_headers, struct h_resp *out)
{
    const char *headers[16];
    char auth[200];
    with_auth(token, body, extra_headers, headers, auth, sizeof auth);
    h_http(t, method, path, headers, body, out);
}

const char *h_str(const struct h_resp *r, const char *member)
{
    return json_string_value(json_object_get(r->json, member));
}

void h_expect(const struct h_resp *r, long status, const char *what)
{
    ck_assert_msg(r->status == status, "%s: expected %ld, got %ld: %s", what, status, r->status,
                  r->body);
}

void h_agency(const struct trmd *t, const char *admin, const char *country, const char *kind,
              char id[37])
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"name\": \"Agency %d-%u\", \"country\": \"%s\", \"kind\": \"%s\"}", (int)getpid(),
             unique_serial(), country, kind);
    struct h_resp r;
    h_api(t, admin, "POST", "/v1/agencies", body, NULL, &r);
    h_expect(&r, 201, "create agency");
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

void h_user(const struct trmd *t, const char *admin, const char *agency_id, const char *role,
            bool cross_border, char user_id[37], char token[128])
{
    char body[256], path[128];
    snprintf(body, sizeof body,
             "{\"agency_id\": \"%s\", \"role\": \"%s\", \"display_name\": \"User %u\", "
             "\"cross_border\": %s}",
             agency_id, role, unique_serial(), cross_border ? "true" : "false");
    struct h_resp r;
    h_api(t, admin, "POST", "/v1/users", body, NULL, &r);
    h_expect(&r, 201, "create user");
    snprintf(user_id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/users/%s/tokens", user_id);
    h_api(t, admin, "POST", path, "{\"expires_days\": 1}", NULL, &r);
    h_expect(&r, 201, "issue token");
    snprintf(token, 128, "%s", h_str(&r, "token"));
    h_resp_free(&r);
}

void h_pg_start(void)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        if (h_sh(h_env("TRM_TEST_PG_START")) == 0)
            return;
        usleep(500000);
    }
    const char *log = getenv("TRM_TEST_PG_LOG");
    if (log) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "tail -n 20 '%s' >&2", log);
        h_sh(cmd);
    }
    ck_abort_msg("PostgreSQL did not start again");
}

long h_count(const char *sql, const char *param)
{
    return h_count_in("TRM_TEST_OWNER_URL", sql, param);
}

long h_count_in(const char *db_env, const char *sql, const char *param)
{
    PGconn *pg = h_pg(db_env);
    const char *p[] = {param};
    PGresult *r = PQexecParams(pg, sql, param ? 1 : 0, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
    return n;
}
