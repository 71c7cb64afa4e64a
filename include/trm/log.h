/* Structured logging: one JSON object per line on stderr.
 * Never pass personal data, request bodies or query-string values to these functions:
 * log lines are read by operators who must not see who a case is about. */
#ifndef TRM_LOG_H
#define TRM_LOG_H

#include <jansson.h>
#include <stdbool.h>

enum trm_log_level { TRM_LOG_DEBUG, TRM_LOG_INFO, TRM_LOG_WARN, TRM_LOG_ERROR };

void trm_log_set_level(enum trm_log_level level);
bool trm_log_level_parse(const char *name, enum trm_log_level *out);
bool trm_log_enabled(enum trm_log_level level);

/* Logs {"ts", "level", "event", "msg"}; msg is printf-formatted. */
void trm_log(enum trm_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs {"ts", "level", "event"} plus every member of fields (which is consumed). */
void trm_log_fields(enum trm_log_level level, const char *event, json_t *fields);

#endif
