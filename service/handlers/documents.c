/* A case's documents once stored (docs/documents.md): the list and one document (metadata,
 * with the file name and SHA-256 opened from their seal), the content (streamed as the client
 * takes it, chunk after chunk), and deletion by the case's owner with a reason code. Row-level
 * security shows a document only to an agency holding an active grant of its category;
 * every opening is written to the access log with the categories opened. The upload is
 * document_upload.c. */
#include "handlers.h"

#include "trm/document_store.h"
#include "trm/documents.h"
#include "trm/http_util.h"
#include "trm/keyring.h"
#include "trm/workflow.h"

#include <stdlib.h>
#include <string.h>

static bool has_word(json_t *words, const char *w)
{
    size_t i;
    json_t *v;
    json_array_foreach(words, i, v) if (strcmp(json_string_value(v), w) == 0) return true;
    return false;
}

/* Opens the sealed parts of the documents in items (in place), and records their categories
 * in the access log. A document that does not open is an error: its key is the case's. */
static enum trm_db_status open_documents(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                         const char *case_id, json_t *items, const char *request_id)
{
    if (json_array_size(items) == 0)
        return TRM_DB_OK;
    unsigned version = 0;
    enum trm_seal_outcome outcome;
    enum trm_db_status st;
    unsigned char *dek = trm_case_dek(c, keys, case_id, NULL, &version, &outcome, &st);
    if (dek == NULL)
        return st == TRM_DB_REFUSED ? TRM_DB_ERROR : st; /* it shows documents: it holds a grant */
    json_t *opened = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "id"));
        const char *cat = json_string_value(json_object_get(it, "category"));
        json_t *meta = trm_document_meta_open(
            dek, case_id, id, version, json_string_value(json_object_get(it, "sealed_meta")));
        if (meta == NULL || cat == NULL) {
            json_decref(meta);
            st = TRM_DB_ERROR;
            break;
        }
        json_object_update(it, meta);
        json_decref(meta);
        json_object_del(it, "sealed_meta");
        if (!has_word(opened, cat))
            json_array_append_new(opened, json_string(cat));
    }
    trm_dek_free(dek);
    if (st == TRM_DB_OK)
        st = trm_access_log_add(c, case_id, opened, "case_view", request_id);
    json_decref(opened);
    return st;
}

struct doc_list {
    struct trm_keyring_source *keys;
    const char *case_id, *request_id, *after_at, *after_id;
    unsigned limit;
    json_t *out;
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct doc_list *x = arg;
    json_decref(x->out);
    x->out = NULL;
    /* A case the caller does not see answers 404, not an empty list. */
    struct trm_case_summary s;
    enum trm_db_status st = trm_case_summary_get(c, x->case_id, &s);
    if (st == TRM_DB_OK)
        st = trm_document_list(c, x->case_id, x->after_at, x->after_id, x->limit + 1, &x->out);
    return st == TRM_DB_OK ? open_documents(c, x->keys, x->case_id, x->out, x->request_id) : st;
}

TRM_HANDLER(trm_handle_documents_list)
{
    char case_id[TRM_UUID_STR_LEN + 1];
    json_t *after = NULL;
    struct doc_list x = {.keys = app->keys, .case_id = case_id, .request_id = req->request_id};
    if (!trm_http_uuid_param(req, res, 0, case_id) ||
        !trm_http_page(req, res, trm_app_keys(app), &x.limit, &after))
        return;
    x.after_at = json_string_value(json_array_get(after, 0));
    x.after_id = json_string_value(json_array_get(after, 1));
    if (after && (x.after_at == NULL || x.after_id == NULL)) {
        json_decref(after);
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER, "The cursor is not of this list.");
        return;
    }
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, TRM_DB_READ_COMMITTED, list_tx, &x);
    json_decref(after);
    if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
        return;
    }
    char *next = NULL;
    if (json_array_size(x.out) > x.limit) {
        json_array_remove(x.out, x.limit);
        json_t *last = json_array_get(x.out, x.limit - 1);
        json_t *keys =
            json_pack("[O, O]", json_object_get(last, "at"), json_object_get(last, "id"));
        next = trm_http_cursor_encode(trm_app_keys(app), keys);
        json_decref(keys);
    }
    size_t i;
    json_t *it;
    json_array_foreach(x.out, i, it) json_object_del(it, "at");
    trm_http_list(res, x.out, next);
}

/* One document the caller sees: its metadata, opened; its key and chunks for a reading. */
struct doc_get {
    struct trm_app *app;
    const char *case_id, *id, *request_id;
    struct trm_db_context ctx;
    bool content;
    json_t *out;
    struct trm_doc_reader *reader;
};

static enum trm_db_status reader_of(struct trm_db_conn *c, struct doc_get *x)
{
    unsigned version = 0;
    enum trm_seal_outcome outcome;
    enum trm_db_status st;
    const char *category = json_string_value(json_object_get(x->out, "category"));
    unsigned char *dek =
        trm_case_dek(c, x->app->keys, x->case_id, category, &version, &outcome, &st);
    if (dek == NULL)
        return st == TRM_DB_REFUSED ? TRM_DB_ERROR : st;
    unsigned char *key = trm_document_key_open(
        dek, x->case_id, x->id, version, json_string_value(json_object_get(x->out, "sealed_key")));
    trm_dek_free(dek);
    json_int_t chunks = json_integer_value(json_object_get(x->out, "chunks"));
    json_int_t size = json_integer_value(json_object_get(x->out, "size"));
    if (key == NULL || chunks <= 0 || size <= 0) {
        trm_dek_free(key);
        return TRM_DB_ERROR;
    }
    x->reader =
        trm_doc_reader_new(x->app->db, &x->ctx, x->id, key, (uint32_t)chunks, (uint64_t)size);
    if (x->reader == NULL)
        return TRM_DB_ERROR;
    st = trm_doc_reader_prime(x->reader, c);
    if (st != TRM_DB_OK)
        return st == TRM_DB_NOT_FOUND ? TRM_DB_ERROR : st;
    json_t *cats = json_pack("[s]", category);
    st = trm_access_log_add(c, x->case_id, cats, "document_content", x->request_id);
    json_decref(cats);
    return st;
}

static enum trm_db_status get_tx(struct trm_db_conn *c, void *arg)
{
    struct doc_get *x = arg;
    json_decref(x->out);
    x->out = NULL;
    trm_doc_reader_free(x->reader);
    x->reader = NULL;
    enum trm_db_status st = trm_document_get(c, x->case_id, x->id, &x->out);
    if (st != TRM_DB_OK)
        return st;
    if (x->content)
        return reader_of(c, x);
    json_t *items = json_pack("[O]", x->out);
    st = open_documents(c, x->app->keys, x->case_id, items, x->request_id);
    json_decref(items);
    json_object_del(x->out, "sealed_key");
    json_object_del(x->out, "chunks");
    return st;
}

/* Reads the document (for its content too) as the caller; answers the problem otherwise. */
static bool document_of(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                        struct doc_get *x)
{
    trm_principal_db_context(req->principal, &x->ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &x->ctx, TRM_DB_READ_COMMITTED, get_tx, x);
    if (st == TRM_DB_NOT_FOUND) {
        trm_response_problem(res, req, TRM_E_NOT_FOUND, "No such document on this case.");
    } else if (st != TRM_DB_OK) {
        trm_http_db_problem(req, res, st);
    }
    if (st != TRM_DB_OK) {
        json_decref(x->out);
        trm_doc_reader_free(x->reader);
    }
    return st == TRM_DB_OK;
}

TRM_HANDLER(trm_handle_document_get)
{
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
    if (!trm_http_uuid_param(req, res, 0, case_id) || !trm_http_uuid_param(req, res, 1, id))
        return;
    struct doc_get x = {.app = app, .case_id = case_id, .id = id, .request_id = req->request_id};
    if (document_of(app, req, res, &x))
        trm_response_json(res, 200, x.out);
}

static long read_content(void *state, unsigned long long pos, char *buf, size_t max)
{
    return trm_doc_reader_read(state, pos, buf, max);
}

static void release_content(void *state)
{
    trm_doc_reader_free(state);
}

TRM_HANDLER(trm_handle_document_content)
{
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
    if (!trm_http_uuid_param(req, res, 0, case_id) || !trm_http_uuid_param(req, res, 1, id))
        return;
    struct doc_get x = {
        .app = app, .case_id = case_id, .id = id, .request_id = req->request_id, .content = true};
    if (!document_of(app, req, res, &x))
        return;
    /* The reader reads on as the client takes the bytes, in the caller's context: it keeps
     * its own copy of it. */
    const char *media = json_string_value(json_object_get(x.out, "media_type"));
    static const char *const types[] = {"application/pdf", "image/jpeg", "image/png",
                                        "text/plain; charset=utf-8"};
    const char *type = types[3];
    for (size_t i = 0; i < 3; i++)
        if (media && strncmp(types[i], media, strlen(types[i])) == 0)
            type = types[i];
    struct trm_body_source src = {
        (unsigned long long)json_integer_value(json_object_get(x.out, "size")), read_content,
        release_content, x.reader};
    json_decref(x.out);
    trm_response_source(res, 200, type, &src);
    /* Saved, never shown in a browser's page: a document is not trmd's to render. */
    trm_response_set_header(res, "Content-Disposition", "attachment");
}

struct doc_delete {
    const char *case_id, *id, *reason;
    enum trm_doc_outcome outcome;
};

static enum trm_db_status delete_tx(struct trm_db_conn *c, void *arg)
{
    struct doc_delete *x = arg;
    trm_db_commit_with_next(c);
    enum trm_db_status st = trm_document_delete(c, x->case_id, x->id, x->reason, &x->outcome);
    return st == TRM_DB_OK && x->outcome != TRM_DOC_OK ? TRM_DB_REFUSED : st;
}

TRM_HANDLER(trm_handle_document_delete)
{
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
    struct doc_delete x = {.case_id = case_id, .id = id};
    json_t *doc = NULL;
    const struct trm_field spec[] = {
        {.name = "reason",
         .type = TRM_FIELD_ENUM,
         .dest = &x.reason,
         .required = true,
         .allowed = trm_document_delete_reasons},
        {0},
    };
    if (!trm_http_uuid_param(req, res, 0, case_id) || !trm_http_uuid_param(req, res, 1, id) ||
        !trm_http_json_body(req, res, spec, &doc))
        return;
    struct trm_db_context ctx;
    trm_principal_db_context(req->principal, &ctx);
    enum trm_db_status st = trm_db_tx_run(app->db, &ctx, TRM_DB_READ_COMMITTED, delete_tx, &x);
    json_decref(doc);
    if (st == TRM_DB_REFUSED && x.outcome == TRM_DOC_NOT_OWNER)
        trm_response_problem(res, req, TRM_E_FORBIDDEN,
                             "Only the agency that owns the case deletes its documents.");
    else if (st == TRM_DB_REFUSED)
        trm_response_problem(res, req, TRM_E_NOT_FOUND, "No such document on this case.");
    else if (st != TRM_DB_OK)
        trm_http_db_problem(req, res, st);
    else
        res->status = 204;
}
