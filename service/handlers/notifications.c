/* /v1/notifications: what the caller was told (offers received, answered, withdrawn,
 * expiring or expired; a case assigned to them; a consent withdrawn or expired on a case
 * they work on), newest first, and marking them read. Ids and codes only: the database
 * writes them, in the transaction of the change they report (notification_store.h). */
#include "handlers.h"

#include "trm/http_util.h"
#include "trm/notification_store.h"

struct notification_list {
    json_t *out; /* first: trm_handler_free_out */
    bool unread;
    const char *kind;
    struct trm_page page;
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct notification_list *x = arg;
    json_decref(x->out);
    x->out = NULL;
    trm_db_commit_with_next(c);
    return trm_notification_list(c, x->unread, x->kind, trm_page_text(&x->page, 0),
                                 trm_page_text(&x->page, 1), trm_page_fetch(&x->page), &x->out);
}

TRM_HANDLER(trm_handle_notifications_list)
{
    static const struct trm_tx tx = {.fn = list_tx};
    static const char *const keys[] = {"at", "id", NULL};
    struct notification_list *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL)
        return;
    const struct trm_param params[] = {
        TRM_Q_BOOL("unread", &x->unread),
        TRM_Q_ENUM("kind", &x->kind, trm_notification_kinds),
        TRM_Q_END,
    };
    if (trm_http_query(req, res, params) && trm_handler_page(app, req, res, "su", &x->page) &&
        trm_handler_tx(app, req, res, &tx, x))
        trm_handler_page_answer(app, res, &x->page, json_incref(x->out), keys);
}

struct notification_read {
    json_t *out; /* first: trm_handler_free_out */
    char id[TRM_UUID_STR_LEN + 1];
};

static enum trm_db_status read_tx(struct trm_db_conn *c, void *arg)
{
    struct notification_read *x = arg;
    json_decref(x->out);
    x->out = NULL;
    trm_db_commit_with_next(c);
    return trm_notification_read(c, x->id, &x->out);
}

static const struct trm_outcome read_outcomes[] = {
    TRM_WHEN(TRM_DB_NOT_FOUND, TRM_E_NOT_FOUND, "No such notification."),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_notification_read)
{
    static const struct trm_tx tx = {.fn = read_tx, .outcomes = read_outcomes};
    struct notification_read *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x && trm_http_uuid_param(req, res, 0, x->id) && trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, json_incref(x->out));
}

struct notifications_read {
    const char *until;
    long marked;
};

static enum trm_db_status read_all_tx(struct trm_db_conn *c, void *arg)
{
    struct notifications_read *x = arg;
    trm_db_commit_with_next(c);
    return trm_notification_read_all(c, x->until, &x->marked);
}

TRM_HANDLER(trm_handle_notifications_read_all)
{
    static const struct trm_tx tx = {.fn = read_all_tx};
    struct notifications_read *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL)
        return;
    const struct trm_field spec[] = {
        TRM_F_TIME("until", &x->until),
        TRM_F_END,
    };
    if (trm_handler_body_optional(req, res, spec, NULL) && trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, json_pack("{s:I}", "marked", (json_int_t)x->marked));
}
