/* The text of a log export (NDJSON or CSV), grown entry by entry up to a cap: shared by the
 * admin-log and access-log exports. CSV cells are quoted, quotes doubled, and a leading
 * = + - @ defused (spreadsheets would run it as a formula). */
#ifndef TRM_EXPORT_TEXT_H
#define TRM_EXPORT_TEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define TRM_EXPORT_MAX_BYTES (64u << 20)

struct trm_export_text {
    char *p; /* malloc'd, NUL-terminated */
    size_t len, cap;
    bool too_big; /* the cap was reached: the text is incomplete */
};

/* Empties the text (keeps its buffer). */
void trm_export_reset(struct trm_export_text *t);
void trm_export_put(struct trm_export_text *t, const char *s, size_t n);
void trm_export_put_str(struct trm_export_text *t, const char *s);
/* The CSV header line of columns (NULL-terminated). */
void trm_export_csv_header(struct trm_export_text *t, const char *const *columns);
/* One entry (an object): a CSV line of its members named by columns (a string quoted, an
 * integer as is, an array of strings space-separated, other JSON as compact JSON, null or
 * absent empty), or, without columns, an NDJSON line. */
void trm_export_entry(struct trm_export_text *t, json_t *entry, const char *const *columns);
/* Whether the request asks for CSV (Accept: text/csv) or NDJSON (application/x-ndjson). */
struct trm_request;
bool trm_export_wants_csv(const struct trm_request *req);
bool trm_export_wants_ndjson(const struct trm_request *req);

#endif
