/* The one shape of a handler (see handler.h): state freed by the core, the body kept with
 * the request, a transaction whose outcomes a table turns into problems, list pages. */
#include "trm/handler.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The state a handler asked for, behind what the core keeps of it: its cleaner, and why
 * its transaction refused. */
struct state {
    void (*cleaner)(void *state);
    int why;
    json_t *extra;
    max_align_t data[];
};

static struct state *state_of(void *data)
{
    return (struct state *)((char *)data - offsetof(struct state, data));
}

static void free_state(struct trm_request *req)
{
    if (req->state == NULL)
        return;
    struct state *s = state_of(req->state);
    if (s->cleaner)
        s->cleaner(req->state);
    json_decref(s->extra);
    free(s);
    req->state = NULL;
}

void *trm_handler_state(struct trm_request *req, size_t size, void (*cleaner)(void *state))
{
    free_state(req); /* one per request: a second replaces the first */
    struct state *s = calloc(1, sizeof *s + size);
    if (s == NULL)
        return NULL;
    s->cleaner = cleaner;
    req->state = s->data;
    return req->state;
}

void trm_handler_free_out(void *state)
{
    json_decref(*(json_t **)state);
}

json_t *trm_request_keep(struct trm_request *req, json_t *value)
{
    if (req->kept == NULL)
        req->kept = json_array();
    json_array_append_new(req->kept, value);
    return value;
}

void trm_request_release(struct trm_request *req)
{
    free_state(req);
    json_decref(req->kept);
    req->kept = NULL;
}

/* Parses the body (duplicate keys, bad UTF-8, NULs and absurd nesting are refused) and checks
 * it against spec, answering 400 with every problem; the document stays with the request. */
static bool body(struct trm_request *req, struct trm_response *res, const struct trm_field *spec,
                 json_t **out, bool optional)
{
    json_t *doc = NULL;
    if (out)
        *out = NULL;
    if (req->body_len == 0 && !optional) {
        trm_response_problem(res, req, TRM_E_MALFORMED_JSON, "A JSON body is required.");
        return false;
    }
    json_error_t e;
    doc = req->body_len == 0 ? json_object()
                             : json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
    if (doc == NULL) {
        /* Position only: jansson's message can quote the input. */
        char detail[128];
        snprintf(detail, sizeof detail,
                 "The body is not valid JSON (line %d, column %d): duplicate keys, "
                 "invalid UTF-8 and NUL characters are refused.",
                 e.line, e.column);
        trm_response_problem(res, req, TRM_E_MALFORMED_JSON, detail);
        return false;
    }
    trm_request_keep(req, doc);
    json_t *errors = json_array();
    enum trm_json_verdict verdict = trm_json_validate(doc, spec, "", errors);
    if (verdict == TRM_JSON_VALID) {
        json_decref(errors);
        if (out)
            *out = doc;
        return true;
    }
    /* Fields that do not go together are invalid; anything else is missing or invalid. */
    trm_response_problem_ext(res, req, TRM_E_VALIDATION_FAILED,
                             verdict == TRM_JSON_INCONSISTENT
                                 ? "Some fields are invalid; see errors."
                                 : "Some fields are missing or invalid; see errors.",
                             "errors", errors);
    return false;
}

bool trm_handler_body(struct trm_request *req, struct trm_response *res,
                      const struct trm_field *spec, json_t **doc)
{
    return body(req, res, spec, doc, false);
}

bool trm_handler_body_optional(struct trm_request *req, struct trm_response *res,
                               const struct trm_field *spec, json_t **doc)
{
    return body(req, res, spec, doc, true);
}

enum trm_db_status trm_refuse(void *state, int why, json_t *extra)
{
    struct state *s = state_of(state);
    json_decref(s->extra);
    s->why = why;
    s->extra = extra;
    return TRM_DB_REFUSED;
}

/* What every handler answers alike. */
static const struct trm_outcome common_outcomes[] = {
    TRM_WHEN_REFUSED(TRM_WHY_IDEM_MISMATCH, TRM_E_IDEMPOTENCY_MISMATCH,
                     "This Idempotency-Key was already used with a different request."),
    TRM_WHEN_REFUSED(TRM_WHY_STALE, TRM_E_PRECONDITION_FAILED,
                     "The case has changed since you read it: read it again."),
    TRM_WHEN_REFUSED(TRM_WHY_CASE_ERASED, TRM_E_CASE_ERASED,
                     "The case's personal data is erased: nothing personal can be added."),
    TRM_WHEN_REFUSED(TRM_WHY_NOT_GRANTED, TRM_E_CATEGORY_NOT_GRANTED,
                     "Your agency holds no grant of this category on the case: it may neither "
                     "read nor write personal data of it."),
    TRM_WHEN_END,
};

static const struct trm_outcome *find(const struct trm_outcome *rows, enum trm_db_status st,
                                      int why)
{
    for (const struct trm_outcome *r = rows; r && r->status != TRM_DB_OK; r++)
        if (r->status == st && (st != TRM_DB_REFUSED || r->why == 0 || r->why == why))
            return r;
    return NULL;
}

static void answer(const struct trm_request *req, struct trm_response *res,
                   const struct trm_outcome *outcomes, enum trm_db_status st, struct state *s)
{
    int why = s ? s->why : TRM_WHY_NONE;
    const struct trm_outcome *r = find(outcomes, st, why);
    if (r == NULL)
        r = find(common_outcomes, st, why);
    if (r == NULL) {
        trm_http_db_problem(req, res, st);
    } else if (r->pointer) {
        trm_http_field_problem(req, res, r->pointer, r->detail);
    } else if (r->member) {
        json_t *extra = s && s->extra ? s->extra : json_array();
        if (s)
            s->extra = NULL;
        trm_response_problem_ext(res, req, r->error, r->detail, r->member, extra);
    } else {
        trm_response_problem(res, req, r->error, r->detail);
    }
}

bool trm_handler_tx(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                    const struct trm_tx *tx, void *state)
{
    struct trm_db_context ctx;
    const struct trm_db_context *as = NULL;
    if (req->principal && !tx->without_context) {
        trm_principal_db_context(req->principal, &ctx);
        as = &ctx;
    }
    struct state *s = state ? state_of(state) : NULL;
    if (s)
        trm_refuse(state, TRM_WHY_NONE, NULL);
    enum trm_db_status st = tx->single_statements
                                ? trm_db_run(app->db, tx->fn, state)
                                : trm_db_tx_run(app->db, as, tx->isolation, tx->fn, state);
    if (st == TRM_DB_OK)
        return true;
    answer(req, res, tx->outcomes, st, s);
    return false;
}

/* Whether a cursor's keys have the shapes its list gives them. */
static bool cursor_fits(json_t *after, const char *keys)
{
    if (json_array_size(after) != strlen(keys))
        return false;
    for (size_t i = 0; keys[i]; i++) {
        json_t *k = json_array_get(after, i);
        bool ok = keys[i] == 'i'   ? json_is_integer(k)
                  : keys[i] == 'u' ? json_is_string(k) && trm_uuid_parse(json_string_value(k), NULL)
                                   : json_is_string(k);
        if (!ok)
            return false;
    }
    return true;
}

bool trm_handler_page(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                      const char *keys, struct trm_page *page)
{
    page->limit = TRM_PAGE_DEFAULT;
    page->after = NULL;
    const char *l = trm_request_query(req, "limit"), *c = trm_request_query(req, "cursor");
    long v;
    if (l != NULL && !trm_parse_long(l, 1, TRM_PAGE_MAX, &v)) {
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                             "limit must be a whole number from 1 to 100.");
        return false;
    }
    if (l != NULL)
        page->limit = (unsigned)v;
    if (c == NULL)
        return true;
    page->after = trm_http_cursor_decode(trm_app_keys(app), c);
    if (page->after == NULL) {
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                             "cursor is not one this service issued.");
        return false;
    }
    trm_request_keep(req, page->after);
    if (cursor_fits(page->after, keys))
        return true;
    trm_response_problem(res, req, TRM_E_INVALID_PARAMETER, "cursor does not fit this list.");
    return false;
}

const char *trm_page_text(const struct trm_page *page, size_t i)
{
    return json_string_value(json_array_get(page->after, i));
}

long long trm_page_number(const struct trm_page *page, size_t i)
{
    return json_integer_value(json_array_get(page->after, i));
}

unsigned trm_page_fetch(const struct trm_page *page)
{
    return page->limit + 1;
}

void trm_handler_page_answer(struct trm_app *app, struct trm_response *res,
                             const struct trm_page *page, json_t *items, const char *const *keys)
{
    char *next = NULL;
    if (json_array_size(items) > page->limit) {
        while (json_array_size(items) > page->limit)
            json_array_remove(items, page->limit);
        json_t *last = json_array_get(items, page->limit - 1), *key = json_array();
        for (size_t i = 0; keys[i]; i++) {
            json_t *v = json_object_get(last, keys[i]);
            json_array_append(key, v ? v : json_null());
        }
        next = trm_http_cursor_encode(trm_app_keys(app), key);
        json_decref(key);
    }
    trm_http_list(res, items, next);
}
