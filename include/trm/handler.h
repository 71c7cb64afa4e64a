/* The one shape of a handler (docs/architecture.md names the one to copy). A handler
 * - keeps what it needs for the request in one state struct (trm_handler_state) that the core
 *   frees after the answer, with the cleaner the handler gives: no freeing on every path;
 * - reads its path parameters, query parameters (a trm_param list) and body (a trm_field
 *   list), each answering 400/404 itself;
 * - runs one transaction as the caller (trm_handler_tx), whose function only reads and writes
 *   the database and records in the state what it found or why it refused (it may run more
 *   than once); a small table of the handler maps the outcomes to problems;
 * - answers once, from its state: a resource, a page of a list (trm_handler_page_answer), a
 *   creation. */
#ifndef TRM_HANDLER_H
#define TRM_HANDLER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "trm/app.h"
#include "trm/db.h"
#include "trm/errors.h"
#include "trm/http.h"
#include "trm/json_spec.h"

#define TRM_HANDLER(name)                                                                          \
    void name(struct trm_app *app, struct trm_request *req, struct trm_response *res)

/* The handler's state for this request: size zeroed bytes the core frees once the handler has
 * answered, calling cleaner first (when given) to release what the state holds. NULL when
 * memory runs out (the core answers 500). One per request. */
void *trm_handler_state(struct trm_request *req, size_t size, void (*cleaner)(void *state));
/* The cleaner of a state whose first member is the JSON its transaction made (json_t *out):
 * releases it. */
void trm_handler_free_out(void *state);
/* Keeps value (the reference is handed over) until the request is answered; returns it. */
json_t *trm_request_keep(struct trm_request *req, json_t *value);

/* Reads the body and checks it against spec (400 with every problem otherwise); the document
 * stays with the request (*doc, when asked for, is borrowed). */
bool trm_handler_body(struct trm_request *req, struct trm_response *res,
                      const struct trm_field *spec, json_t **doc);
/* The same, with an empty body counting as {}. */
bool trm_handler_body_optional(struct trm_request *req, struct trm_response *res,
                               const struct trm_field *spec, json_t **doc);

/* Why a transaction refused (TRM_DB_REFUSED): reasons every handler may meet, then a
 * handler's own from TRM_WHY_OWN on. */
enum {
    TRM_WHY_NONE,
    TRM_WHY_IDEM_MISMATCH, /* an Idempotency-Key used before with another request: 422 */
    TRM_WHY_STALE,         /* the resource changed since the version If-Match named: 412 */
    TRM_WHY_CASE_ERASED,   /* nothing personal can be sealed: the case's key is gone: 409 */
    TRM_WHY_NOT_GRANTED,   /* the caller's agency holds no grant of the category: 403 */
    TRM_WHY_OWN = 16,
};
/* In a transaction function: records in the handler's state why it refuses, and what the
 * problem carries (extra, consumed: see struct trm_outcome's member); returns REFUSED. */
enum trm_db_status trm_refuse(void *state, int why, json_t *extra);

/* A database outcome and the problem that answers it: one row of a handler's table (ended by
 * {0}). For TRM_DB_REFUSED, why is the refusal it answers (0: any). With pointer, the answer
 * is 400 validation_failed naming that field, detail its message; with member, the problem
 * carries the refusal's extra JSON under that name. */
struct trm_outcome {
    enum trm_db_status status;
    int why;
    enum trm_error error;
    const char *detail;
    const char *pointer;
    const char *member;
};
/* The rows, one a line: TRM_WHEN(TRM_DB_CONFLICT, TRM_E_CONFLICT, "..."). */
#define TRM_WHEN(st, e, detail)                                                                    \
    {                                                                                              \
        (st), 0, (e), (detail), NULL, NULL                                                         \
    }
#define TRM_WHEN_FIELD(st, pointer, message)                                                       \
    {                                                                                              \
        (st), 0, TRM_E_VALIDATION_FAILED, (message), (pointer), NULL                               \
    }
#define TRM_WHEN_REFUSED(why, e, detail)                                                           \
    {                                                                                              \
        TRM_DB_REFUSED, (why), (e), (detail), NULL, NULL                                           \
    }
#define TRM_WHEN_REFUSED_FIELD(why, pointer, message)                                              \
    {                                                                                              \
        TRM_DB_REFUSED, (why), TRM_E_VALIDATION_FAILED, (message), (pointer), NULL                 \
    }
#define TRM_WHEN_REFUSED_WITH(why, e, detail, member)                                              \
    {                                                                                              \
        TRM_DB_REFUSED, (why), (e), (detail), NULL, (member)                                       \
    }
#define TRM_WHEN_END                                                                               \
    {                                                                                              \
        0                                                                                          \
    }

/* A handler's transaction: its function (given the state), its outcome table (NULL: the
 * common answers only), isolation, whether it runs without the caller's row-level security
 * context (reads of the directory, which every user sees alike), and whether it runs with no
 * transaction at all, each statement on its own (trm_db_run: the public federation reads). */
struct trm_tx {
    trm_db_tx_fn fn;
    const struct trm_outcome *outcomes;
    enum trm_db_isolation isolation;
    bool without_context, single_statements;
};
/* Runs tx->fn(state) in a transaction as the caller: true on TRM_DB_OK. Otherwise answers the
 * first row of tx->outcomes for the outcome, or the common answer (the refusals above,
 * trm_http_db_problem for the rest), and returns false. */
bool trm_handler_tx(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                    const struct trm_tx *tx, void *state);

/* A page of a list: how many items (limit, 1..TRM_PAGE_MAX, default TRM_PAGE_DEFAULT) after
 * which item (the keys of the last item seen, from the signed cursor). */
#define TRM_PAGE_DEFAULT 20
#define TRM_PAGE_MAX 100
struct trm_page {
    unsigned limit;
    json_t *after; /* the cursor's keys, kept by the request; NULL: from the start */
};
/* Reads limit and cursor (400 invalid_parameter when wrong). keys is what this list's cursor
 * holds, a letter a key: s a string, u a UUID, i an integer ("su": created_at, id). */
bool trm_handler_page(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                      const char *keys, struct trm_page *page);
/* The cursor's key i: text (NULL without a cursor) or number (0 without one). */
const char *trm_page_text(const struct trm_page *page, size_t i);
long long trm_page_number(const struct trm_page *page, size_t i);
/* How many items to ask the store for: one more than the page shows, to learn whether there
 * are more. */
unsigned trm_page_fetch(const struct trm_page *page);
/* Answers {"items", "next_cursor"} from items as fetched (consumed): an item past the limit
 * is dropped and the cursor holds the members named in keys (NULL-terminated) of the last
 * item shown; without one, next_cursor is null. */
void trm_handler_page_answer(struct trm_app *app, struct trm_response *res,
                             const struct trm_page *page, json_t *items, const char *const *keys);

#endif
