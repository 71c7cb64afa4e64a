/* Structured JSON log lines on stderr, each written with one write(2) so that lines from
 * worker threads never interleave. */
#include "trm/log.h"
#include "trm/util.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static atomic_int current_level = TRM_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void trm_log_set_level(enum trm_log_level level)
{
    atomic_store(&current_level, (int)level);
}

bool trm_log_level_parse(const char *name, enum trm_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum trm_log_level)i;
            return true;
        }
    }
    return false;
}

bool trm_log_enabled(enum trm_log_level level)
{
    return (int)level >= atomic_load(&current_level);
}

static void emit(enum trm_log_level level, const char *event, json_t *fields)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64], base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts, sizeof ts, "%s.%03dZ", base, (int)(tv.tv_usec / 1000) % 1000);

    json_t *line = json_object();
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[level]));
    json_object_set_new(line, "event", json_string(event));
    if (fields)
        json_object_update(line, fields);
    /* 15 significant digits: a duration rounded to the microsecond prints as 3.307, not as
     * its nearest double 3.3069999999999999. */
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    json_decref(line);
    if (text == NULL)
        return;
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the terminating NUL: the line goes out in one write */
    ssize_t w = write(STDERR_FILENO, text, n + 1);
    (void)w;
    free(text);
}

void trm_log(enum trm_log_level level, const char *event, const char *fmt, ...)
{
    if (!trm_log_enabled(level))
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *fields = json_object();
    json_object_set_new(fields, "msg", json_string(msg));
    emit(level, event, fields);
    json_decref(fields);
}

void trm_log_fields(enum trm_log_level level, const char *event, json_t *fields)
{
    if (trm_log_enabled(level))
        emit(level, event, fields);
    json_decref(fields);
}
