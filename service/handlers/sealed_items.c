/* Opening the sealed parts of a list of a case's records (services' notes, plans' goals) for
 * the caller: the store gives a part's hex only to a caller who may open it (the writing
 * agency, or a holder of an active grant of its category), and this opens it with the case's
 * key, says "content_visible" either way, and writes the categories opened to the access log
 * in the same transaction. The hex never leaves. */
#include "handlers.h"

#include "trm/access_log_store.h"
#include "trm/case_store.h"
#include "trm/cases.h"
#include "trm/http_util.h"

#include <stdio.h>
#include <string.h>

static bool has_word(json_t *words, const char *w)
{
    size_t i;
    json_t *v;
    json_array_foreach(words, i, v) if (strcmp(json_string_value(v), w) == 0) return true;
    return false;
}

static void open_one(const struct trm_sealed_items *k, const unsigned char *dek, unsigned version,
                     json_t *item, json_t *opened)
{
    const char *cat = json_string_value(json_object_get(item, k->category_member));
    const char *hex = json_string_value(json_object_get(item, k->sealed_member));
    const char *id = json_string_value(json_object_get(item, "id"));
    json_t *v =
        dek && hex && id ? trm_open_json(dek, k->case_id, k->label, id, version, hex) : NULL;
    if (cat)
        json_object_set_new(item, "content_visible", json_boolean(v != NULL));
    if (v) {
        json_object_set(item, k->into, v);
        if (!has_word(opened, cat))
            json_array_append_new(opened, json_string(cat));
    }
    json_decref(v);
    json_object_del(item, k->sealed_member);
}

enum trm_db_status trm_open_sealed_items(struct trm_db_conn *c, const struct trm_sealed_items *k,
                                         json_t *items)
{
    unsigned version = 0;
    enum trm_seal_outcome outcome;
    enum trm_db_status st;
    bool any = false;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) any =
        any || json_is_string(json_object_get(it, k->sealed_member));
    unsigned char *dek =
        any ? trm_case_dek(c, k->keys, k->case_id, NULL, &version, &outcome, &st) : NULL;
    if (any && dek == NULL && st != TRM_DB_REFUSED)
        return st;
    json_t *opened = json_array();
    json_array_foreach(items, i, it) open_one(k, dek, version, it, opened);
    trm_dek_free(dek);
    st = json_array_size(opened) > 0
             ? trm_access_log_add(c, k->case_id, opened, "case_view", k->request_id)
             : TRM_DB_OK;
    json_decref(opened);
    return st;
}

struct sealed_read {
    json_t *out; /* first: trm_handler_free_out */
    const struct trm_sealed_kind *kind;
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
    struct trm_sealed_items open;
    struct trm_page page;
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct sealed_read *x = arg;
    json_decref(x->out);
    x->out = NULL;
    struct trm_case_summary s;
    enum trm_db_status st = trm_case_summary_get(c, x->case_id, &s);
    if (st == TRM_DB_OK)
        st = x->kind->list(c, x->case_id, trm_page_text(&x->page, 0), trm_page_text(&x->page, 1),
                           trm_page_fetch(&x->page), &x->out);
    return st == TRM_DB_OK ? trm_open_sealed_items(c, &x->open, x->out) : st;
}

enum trm_db_status trm_sealed_load(struct trm_db_conn *c, const struct trm_sealed_kind *k,
                                   const char *case_id, const char *id, const char *request_id,
                                   struct trm_keyring_source *keys, json_t **out)
{
    *out = NULL;
    json_t *one = NULL;
    enum trm_db_status st = k->get(c, case_id, id, &one);
    if (st != TRM_DB_OK)
        return st;
    json_t *items = json_pack("[o]", one);
    const struct trm_sealed_items open = {.case_id = case_id,
                                          .label = k->label,
                                          .sealed_member = k->sealed_member,
                                          .category_member = k->category_member,
                                          .into = k->into,
                                          .request_id = request_id,
                                          .keys = keys};
    st = trm_open_sealed_items(c, &open, items);
    if (st == TRM_DB_OK)
        *out = json_incref(json_array_get(items, 0));
    json_decref(items);
    return st;
}

static enum trm_db_status get_tx(struct trm_db_conn *c, void *arg)
{
    struct sealed_read *x = arg;
    json_decref(x->out);
    x->out = NULL;
    return trm_sealed_load(c, x->kind, x->case_id, x->id, x->open.request_id, x->open.keys,
                           &x->out);
}

static struct sealed_read *read_state(struct trm_app *app, struct trm_request *req,
                                      const struct trm_sealed_kind *k)
{
    struct sealed_read *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x) {
        x->kind = k;
        x->open = (struct trm_sealed_items){.case_id = x->case_id,
                                            .label = k->label,
                                            .sealed_member = k->sealed_member,
                                            .category_member = k->category_member,
                                            .into = k->into,
                                            .request_id = req->request_id,
                                            .keys = app->keys};
    }
    return x;
}

void trm_sealed_list(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                     const struct trm_sealed_kind *k)
{
    const struct trm_tx tx = {.fn = list_tx, .outcomes = k->outcomes};
    static const char *const keys[] = {"recorded_at", "id", NULL};
    struct sealed_read *x = read_state(app, req, k);
    if (x && trm_http_uuid_param(req, res, 0, x->case_id) &&
        trm_handler_page(app, req, res, "su", &x->page) && trm_handler_tx(app, req, res, &tx, x))
        trm_handler_page_answer(app, res, &x->page, json_incref(x->out), keys);
}

void trm_sealed_get(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                    const struct trm_sealed_kind *k)
{
    const struct trm_tx tx = {.fn = get_tx, .outcomes = k->outcomes};
    struct sealed_read *x = read_state(app, req, k);
    if (x == NULL || !trm_http_uuid_param(req, res, 0, x->case_id) ||
        !trm_http_uuid_param(req, res, 1, x->id) || !trm_handler_tx(app, req, res, &tx, x))
        return;
    json_t *one = x->out;
    char etag[32];
    snprintf(etag, sizeof etag, "\"%lld\"",
             (long long)json_integer_value(json_object_get(one, "version")));
    trm_response_json(res, 200, json_incref(one));
    trm_response_set_header(res, "ETag", etag);
}
