/* /v1/admin-log: the append-only log of administrative actions (agencies, users, tokens,
 * SOPs, federation peers) for auditors, listed in pages or exported as NDJSON or CSV.
 * Row-level security decides which entries an auditor sees (docs/authorization.md). */
#include "handlers.h"

#include "trm/admin_log_store.h"
#include "trm/http_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXPORT_BATCH 1000
#define EXPORT_MAX_BYTES (64u << 20)

/* The filters of a listing or an export, from the query; false with 400 answered. */
static bool filters(const struct trm_request *req, struct trm_response *res,
                    struct trm_admin_log_filter *f)
{
    const struct trm_param params[] = {
        TRM_Q_UUID("actor_user_id", &f->actor_user_id),
        TRM_Q_ENUM("action", &f->action, trm_admin_actions),
        TRM_Q_TIME("from", &f->from),
        TRM_Q_TIME("to", &f->to),
        TRM_Q_END,
    };
    return trm_http_query(req, res, params);
}

struct list_args {
    json_t *out; /* first */
    struct trm_admin_log_filter f;
    struct trm_page page;
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct list_args *x = arg;
    json_decref(x->out);
    x->out = NULL;
    trm_db_commit_with_next(c);
    return trm_admin_log_list(c, &x->f, &x->out);
}

TRM_HANDLER(trm_handle_admin_log_list)
{
    static const struct trm_tx tx = {.fn = list_tx};
    static const char *const keys[] = {"seq", NULL};
    struct list_args *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL || !filters(req, res, &x->f) || !trm_handler_page(app, req, res, "i", &x->page))
        return;
    x->f.after_seq = trm_page_number(&x->page, 0);
    x->f.limit = trm_page_fetch(&x->page);
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_handler_page_answer(app, res, &x->page, json_incref(x->out), keys);
}

/* The export's text, grown as entries come. */
struct text {
    char *p;
    size_t len, cap;
    bool too_big;
};

static void put(struct text *t, const char *s, size_t n)
{
    if (t->too_big)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = (t->cap + n + 1) * 2;
        char *p = cap <= EXPORT_MAX_BYTES ? realloc(t->p, cap) : NULL;
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

static void put_str(struct text *t, const char *s)
{
    put(t, s, strlen(s));
}

static const char *const csv_columns[] = {
    "seq",           "at",         "actor",     "actor_user_id", "actor_agency_id",
    "actor_country", "action",     "object_id", "country",       "fields",
    "details",       "request_id", NULL};

/* One CSV cell: quoted, quotes doubled, and a leading = + - @ defused (spreadsheets would
 * run it as a formula). */
static void put_csv_cell(struct text *t, const char *s)
{
    put_str(t, "\"");
    if (s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL)
        put_str(t, "'");
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
        put(t, s, (size_t)(q - s));
        put_str(t, "\"\"");
    }
    put_str(t, s);
    put_str(t, "\"");
}

static void put_csv_value(struct text *t, json_t *v)
{
    char number[32];
    if (json_is_null(v) || v == NULL)
        return;
    if (json_is_string(v)) {
        put_csv_cell(t, json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(number, sizeof number, "%lld", (long long)json_integer_value(v));
        put_str(t, number);
    } else if (json_is_array(v)) { /* field names, space-separated */
        size_t i;
        json_t *e;
        struct text words = {0};
        json_array_foreach(v, i, e)
        {
            if (i)
                put_str(&words, " ");
            put_str(&words, json_string_value(e) ? json_string_value(e) : "");
        }
        put_csv_cell(t, words.p ? words.p : "");
        free(words.p);
    } else {
        char *json = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        put_csv_cell(t, json ? json : "");
        free(json);
    }
}

static void put_entry(struct text *t, json_t *e, bool csv)
{
    if (!csv) {
        char *line = json_dumps(e, JSON_COMPACT);
        put_str(t, line ? line : "{}");
        put_str(t, "\n");
        free(line);
        return;
    }
    for (size_t c = 0; csv_columns[c]; c++) {
        if (c)
            put_str(t, ",");
        put_csv_value(t, json_object_get(e, csv_columns[c]));
    }
    put_str(t, "\r\n");
}

struct export_args {
    struct trm_admin_log_filter f;
    bool csv;
    struct text text;
};

static enum trm_db_status export_tx(struct trm_db_conn *c, void *arg)
{
    struct export_args *x = arg;
    x->text.len = 0;
    x->text.too_big = false;
    if (x->csv) {
        for (size_t i = 0; csv_columns[i]; i++) {
            put_str(&x->text, i ? "," : "");
            put_str(&x->text, csv_columns[i]);
        }
        put_str(&x->text, "\r\n");
    }
    x->f.after_seq = 0;
    x->f.limit = EXPORT_BATCH;
    enum trm_db_status st = TRM_DB_OK;
    size_t n = EXPORT_BATCH;
    while (st == TRM_DB_OK && n == EXPORT_BATCH && !x->text.too_big) {
        json_t *page = NULL;
        st = trm_admin_log_list(c, &x->f, &page);
        n = json_array_size(page);
        size_t i;
        json_t *e;
        json_array_foreach(page, i, e)
        {
            put_entry(&x->text, e, x->csv);
            x->f.after_seq = json_integer_value(json_object_get(e, "seq"));
        }
        json_decref(page);
    }
    return st;
}

static bool wants_csv(const struct trm_request *req)
{
    const char *accept = trm_request_header(req, "Accept");
    return accept && strncasecmp(accept, "text/csv", 8) == 0;
}

static void export_free(void *state)
{
    struct export_args *x = state;
    free(x->text.p);
}

TRM_HANDLER(trm_handle_admin_log_export)
{
    /* Serializable: every page from one snapshot, so an entry committed while the export
     * runs cannot slip in between pages out of order. */
    static const struct trm_tx tx = {.fn = export_tx, .isolation = TRM_DB_SERIALIZABLE};
    struct export_args *x = trm_handler_state(req, sizeof *x, export_free);
    if (x == NULL)
        return;
    x->csv = wants_csv(req);
    if (!filters(req, res, &x->f) || !trm_handler_tx(app, req, res, &tx, x))
        return;
    if (x->text.too_big) {
        trm_response_problem(res, req, TRM_E_PAYLOAD_TOO_LARGE,
                             "The export is too large: narrow it with from and to.");
        return;
    }
    trm_response_text(res, 200, x->csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
                      x->text.p, x->text.len);
    x->text.p = NULL;
}
