/* The configuration table and its parsers. Adding a key: one row in keys[], a field in
 * struct trm_config, and its documentation in config/trmd.conf (the build checks that). */
#include "trm/config.h"
#include "trm/log.h"
#include "trm/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum key_type { KEY_STRING, KEY_LONG, KEY_LOG_LEVEL, KEY_WORD };

struct key {
    const char *name;
    enum key_type type;
    size_t offset;
    size_t size; /* capacity for strings */
    long min, max;
    const char *def;
    const char *words; /* KEY_WORD: the allowed values, separated by '|' */
};

#define STR(f, d)                                                                                  \
    KEY_STRING, offsetof(struct trm_config, f), sizeof(((struct trm_config *)0)->f), 0, 0, d, NULL
#define NUM(f, lo, hi, d) KEY_LONG, offsetof(struct trm_config, f), 0, lo, hi, d, NULL
#define WORD(f, d, w)                                                                              \
    KEY_WORD, offsetof(struct trm_config, f), sizeof(((struct trm_config *)0)->f), 0, 0, d, w

static const struct key keys[] = {
    {"listen", STR(listen, "127.0.0.1:8080")},
    {"database_url", STR(database_url, "dbname=trm")},
    {"key_file", STR(key_file, "var/keys/master.key")},
    {"log_level", KEY_LOG_LEVEL, offsetof(struct trm_config, log_level),
     sizeof(((struct trm_config *)0)->log_level), 0, 0, "info", NULL},
    {"metrics_listen", STR(metrics_listen, "127.0.0.1:9464")},
    {"worker_threads", NUM(worker_threads, 1, 256, "4")},
    {"max_connections", NUM(max_connections, 1, 100000, "1024")},
    {"connection_timeout_s", NUM(connection_timeout_s, 1, 3600, "15")},
    {"connection_memory_limit", NUM(connection_memory_limit, 8192, 1048576, "32768")},
    {"request_header_timeout_s", NUM(request_header_timeout_s, 1, 3600, "10")},
    {"max_body_bytes", NUM(max_body_bytes, 1024, 67108864, "1048576")},
    {"max_headers", NUM(max_headers, 8, 1000, "64")},
    {"document_max_bytes", NUM(document_max_bytes, 1024, 1073741824, "20971520")},
    {"case_documents_max_bytes", NUM(case_documents_max_bytes, 1024, 68719476736, "209715200")},
    {"document_upload_max_s", NUM(document_upload_max_s, 60, 604800, "3600")},
    {"db_pool_size", NUM(db_pool_size, 1, 1000, "8")},
    {"db_acquire_timeout_ms", NUM(db_acquire_timeout_ms, 10, 60000, "1000")},
    {"db_connect_timeout_s", NUM(db_connect_timeout_s, 1, 60, "2")},
    {"statement_timeout_ms", NUM(statement_timeout_ms, 10, 3600000, "5000")},
    {"tx_max_retries", NUM(tx_max_retries, 0, 100, "5")},
    {"db_transaction_pooling", WORD(db_transaction_pooling, "off", "off|on")},
    {"auth_failure_limit", NUM(auth_failure_limit, 1, 100000, "20")},
    {"auth_failure_window_s", NUM(auth_failure_window_s, 1, 86400, "300")},
    {"auth_cache_s", NUM(auth_cache_s, 0, 3600, "60")},
    {"auth_cache_entries", NUM(auth_cache_entries, 0, 100000, "4096")},
    {"trusted_proxy", STR(trusted_proxy, "")},
    {"token_default_days", NUM(token_default_days, 0, 3650, "90")},
    {"web_dir", STR(web_dir, "web")},
    {"codes_dir", STR(codes_dir, "config/codes")},
    {"session_idle_s", NUM(session_idle_s, 5, 86400, "1800")},
    {"session_max_s", NUM(session_max_s, 300, 604800, "43200")},
    {"session_cookie_secure", WORD(session_cookie_secure, "auto", "auto|on|off")},
    {"blind_index_bits", NUM(blind_index_bits, 8, 32, "14")},
    {"checkpoint_every_entries", NUM(checkpoint_every_entries, 1, 1000000, "100")},
    {"checkpoint_every_s", NUM(checkpoint_every_s, 1, 86400, "60")},
    {"maintenance_interval_ms", NUM(maintenance_interval_ms, 100, 600000, "2000")},
    {"stats_k", NUM(stats_k, 2, 1000, "11")},
    {"stats_rounding_base", NUM(stats_rounding_base, 0, 1000, "0")},
    {"federation_interval_ms", NUM(federation_interval_ms, 50, 600000, "1000")},
    {"federation_retry_max_s", NUM(federation_retry_max_s, 1, 86400, "300")},
    {"federation_timeout_s", NUM(federation_timeout_s, 1, 300, "10")},
    {"federation_directory_refresh_s", NUM(federation_directory_refresh_s, 1, 604800, "300")},
    {"federation_clock_skew_s", NUM(federation_clock_skew_s, 5, 3600, "300")},
    {"tasks_deadline_days", NUM(tasks_deadline_days, 0, 365, "3")},
    {"tasks_consent_days", NUM(tasks_consent_days, 0, 365, "14")},
    {"tasks_offer_hours", NUM(tasks_offer_hours, 0, 8760, "24")},
    {"tasks_plan_days", NUM(tasks_plan_days, 0, 365, "7")},
    {"tasks_rejected_days", NUM(tasks_rejected_days, 1, 3650, "30")},
    {"notification_keep_days", NUM(notification_keep_days, 1, 3650, "90")},
    {"webhook_interval_ms", NUM(webhook_interval_ms, 50, 600000, "1000")},
    {"webhook_timeout_s", NUM(webhook_timeout_s, 1, 60, "10")},
    {"webhook_retry_max_s", NUM(webhook_retry_max_s, 1, 86400, "300")},
    {"webhook_give_up_s", NUM(webhook_give_up_s, 60, 2592000, "259200")},
};
#define N_KEYS (sizeof keys / sizeof keys[0])

size_t trm_config_key_count(void)
{
    return N_KEYS;
}

const char *trm_config_key_name(size_t i)
{
    return i < N_KEYS ? keys[i].name : NULL;
}

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static bool word_allowed(const char *words, const char *value)
{
    size_t n = strlen(value);
    for (const char *p = words; *p;) {
        size_t len = strcspn(p, "|");
        if (len == n && strncmp(p, value, n) == 0)
            return true;
        p += len + (p[len] == '|');
    }
    return false;
}

static bool set_key(struct trm_config *c, const struct key *k, const char *value, char *err,
                    size_t errlen)
{
    char *field = (char *)c + k->offset;
    if (k->type == KEY_WORD && !word_allowed(k->words, value)) {
        snprintf(err, errlen, "%s must be one of %s", k->name, k->words);
        return false;
    }
    switch (k->type) {
    case KEY_WORD:
    case KEY_LOG_LEVEL:
    case KEY_STRING: {
        enum trm_log_level lvl;
        if (k->type == KEY_LOG_LEVEL && !trm_log_level_parse(value, &lvl)) {
            snprintf(err, errlen, "%s must be one of debug, info, warn, error", k->name);
            return false;
        }
        if (!trm_strlcpy(field, value, k->size)) {
            snprintf(err, errlen, "%s is longer than %zu bytes", k->name, k->size - 1);
            return false;
        }
        return true;
    }
    case KEY_LONG: {
        long v;
        if (!trm_parse_long(value, k->min, k->max, &v)) {
            snprintf(err, errlen, "%s must be a whole number from %ld to %ld", k->name, k->min,
                     k->max);
            return false;
        }
        memcpy(field, &v, sizeof v);
        return true;
    }
    }
    return false;
}

void trm_config_defaults(struct trm_config *c)
{
    char err[256];
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_KEYS; i++)
        (void)set_key(c, &keys[i], keys[i].def, err, sizeof err);
}

bool trm_config_set(struct trm_config *c, const char *key, const char *value, char *err,
                    size_t errlen)
{
    const struct key *k = find_key(key);
    if (k == NULL) {
        snprintf(err, errlen, "unknown configuration key");
        return false;
    }
    return set_key(c, k, value, err, errlen);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

bool trm_config_parse(struct trm_config *c, const char *text, size_t len, const char *origin,
                      char *err, size_t errlen)
{
    size_t pos = 0;
    unsigned lineno = 0;
    char line[2048];
    while (pos < len) {
        size_t start = pos;
        while (pos < len && text[pos] != '\n')
            pos++;
        size_t n = pos - start;
        pos++; /* skip the newline */
        lineno++;
        if (n >= sizeof line) {
            snprintf(err, errlen, "%s:%u: line too long", origin, lineno);
            return false;
        }
        memcpy(line, text + start, n);
        line[n] = '\0';
        if (memchr(line, '\0', n) != NULL) {
            snprintf(err, errlen, "%s:%u: NUL byte in line", origin, lineno);
            return false;
        }
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "%s:%u: expected key = value", origin, lineno);
            return false;
        }
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        char why[256];
        if (!trm_config_set(c, key, value, why, sizeof why)) {
            /* The value may be a secret (a connection string): never echo it. */
            snprintf(err, errlen, "%s:%u: %.60s: %s", origin, lineno, find_key(key) ? key : "key",
                     why);
            return false;
        }
    }
    return true;
}

bool trm_config_load_file(struct trm_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open configuration file", path);
        return false;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    bool too_big = buf && n == (1 << 20);
    fclose(f);
    if (buf == NULL || too_big) {
        free(buf);
        snprintf(err, errlen, "%s: configuration file too large", path);
        return false;
    }
    bool ok = trm_config_parse(c, buf, n, path, err, errlen);
    free(buf);
    return ok;
}

bool trm_config_apply_env(struct trm_config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        char name[64] = "TRM_";
        size_t j = 4;
        for (const char *p = keys[i].name; *p && j < sizeof name - 1; p++)
            name[j++] = (char)toupper((unsigned char)*p);
        name[j] = '\0';
        const char *v = getenv(name);
        if (v == NULL)
            continue;
        char why[256];
        if (!set_key(c, &keys[i], v, why, sizeof why)) {
            snprintf(err, errlen, "environment %s: %s", name, why);
            return false;
        }
    }
    return true;
}

bool trm_config_check_sample(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open", path);
        return false;
    }
    static char buf[1 << 18];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (size_t i = 0; i < N_KEYS; i++) {
        bool found = false;
        size_t klen = strlen(keys[i].name);
        for (char *line = buf; line && *line && !found; line = strchr(line, '\n')) {
            if (*line == '\n')
                line++;
            while (*line == '#' || *line == ' ')
                line++;
            if (strncmp(line, keys[i].name, klen) == 0) {
                const char *p = line + klen;
                while (*p == ' ')
                    p++;
                found = (*p == '=');
            }
        }
        if (!found) {
            snprintf(err, errlen, "%s does not document configuration key '%s'", path,
                     keys[i].name);
            return false;
        }
    }
    return true;
}
