/* A case's documents once stored (docs/documents.md): the list and one document (metadata,
 * with the file name and SHA-256 opened from their seal), the content (streamed as the client
 * takes it, chunk after chunk), and deletion by the case's owner with a reason code. Row-level
 * security shows a document only to an agency holding an active grant of its category;
 * every opening is written to the access log with the categories opened. The upload is
 * document_upload.c. */
#include "handlers.h"

#include "trm/access_log_store.h"
#include "trm/document_store.h"
#include "trm/documents.h"
#include "trm/http_util.h"

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
    if (dek == NULL) /* it shows documents: it holds a grant */
        return st == TRM_DB_REFUSED ? TRM_DB_ERROR : st;
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
    json_t *out; /* first: trm_handler_free_out */
    struct trm_keyring_source *keys;
    const char *request_id;
    char case_id[TRM_UUID_STR_LEN + 1];
    struct trm_page page;
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
        st = trm_document_list(c, x->case_id, trm_page_text(&x->page, 0),
                               trm_page_text(&x->page, 1), trm_page_fetch(&x->page), &x->out);
    return st == TRM_DB_OK ? open_documents(c, x->keys, x->case_id, x->out, x->request_id) : st;
}

TRM_HANDLER(trm_handle_documents_list)
{
    static const struct trm_tx tx = {.fn = list_tx};
    static const char *const keys[] = {"uploaded_at", "id", NULL};
    struct doc_list *x = trm_handler_state(req, sizeof *x, trm_handler_free_out);
    if (x == NULL || !trm_http_uuid_param(req, res, 0, x->case_id) ||
        !trm_handler_page(app, req, res, "su", &x->page))
        return;
    x->keys = app->keys;
    x->request_id = req->request_id;
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_handler_page_answer(app, res, &x->page, json_incref(x->out), keys);
}

/* One document the caller sees: its metadata, opened; or, for its content, a reader. */
struct doc_get {
    json_t *out; /* first */
    struct trm_doc_reader *reader;
    struct trm_app *app;
    const char *request_id;
    struct trm_db_context ctx;
    bool content;
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
};

static void doc_get_free(void *state)
{
    struct doc_get *x = state;
    json_decref(x->out);
    trm_doc_reader_free(x->reader);
}

/* The content's reader: the document's key opened with the case's, the first chunk read
 * (so that a missing one is answered, not cut off), and the read logged. */
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

static const struct trm_outcome get_outcomes[] = {
    TRM_WHEN(TRM_DB_NOT_FOUND, TRM_E_NOT_FOUND, "No such document on this case."),
    TRM_WHEN_END,
};

/* Reads the document (for its content too) as the caller. */
static struct doc_get *document_of(struct trm_app *app, struct trm_request *req,
                                   struct trm_response *res, bool content)
{
    static const struct trm_tx tx = {.fn = get_tx, .outcomes = get_outcomes};
    struct doc_get *x = trm_handler_state(req, sizeof *x, doc_get_free);
    if (x == NULL || !trm_http_uuid_param(req, res, 0, x->case_id) ||
        !trm_http_uuid_param(req, res, 1, x->id))
        return NULL;
    x->app = app;
    x->request_id = req->request_id;
    x->content = content;
    /* The reader reads on after this request's frame is gone: it copies the context. */
    trm_principal_db_context(req->principal, &x->ctx);
    return trm_handler_tx(app, req, res, &tx, x) ? x : NULL;
}

TRM_HANDLER(trm_handle_document_get)
{
    struct doc_get *x = document_of(app, req, res, false);
    if (x)
        trm_response_json(res, 200, json_incref(x->out));
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
    struct doc_get *x = document_of(app, req, res, true);
    if (x == NULL)
        return;
    static const char *const types[] = {"application/pdf", "image/jpeg", "image/png",
                                        "text/plain; charset=utf-8"};
    const char *media = json_string_value(json_object_get(x->out, "media_type"));
    const char *type = types[3];
    for (size_t i = 0; media && i < 3; i++)
        if (strcmp(types[i], media) == 0)
            type = types[i];
    /* The response owns the reader from here: it reads as the client takes the bytes. */
    struct trm_body_source src = {
        (unsigned long long)json_integer_value(json_object_get(x->out, "size")), read_content,
        release_content, x->reader};
    x->reader = NULL;
    trm_response_source(res, 200, type, &src);
    /* Saved, never shown in a browser's page: a document is not trmd's to render. */
    trm_response_set_header(res, "Content-Disposition", "attachment");
}

enum { WHY_NOT_OWNER = TRM_WHY_OWN, WHY_NO_DOCUMENT };

struct doc_delete {
    const char *reason;
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
};

static enum trm_db_status delete_tx(struct trm_db_conn *c, void *arg)
{
    struct doc_delete *x = arg;
    enum trm_doc_outcome outcome = TRM_DOC_OK;
    trm_db_commit_with_next(c);
    enum trm_db_status st = trm_document_delete(c, x->case_id, x->id, x->reason, &outcome);
    if (st == TRM_DB_OK && outcome != TRM_DOC_OK)
        return trm_refuse(x, outcome == TRM_DOC_NOT_OWNER ? WHY_NOT_OWNER : WHY_NO_DOCUMENT, NULL);
    return st;
}

static const struct trm_outcome delete_outcomes[] = {
    TRM_WHEN_REFUSED(WHY_NOT_OWNER, TRM_E_FORBIDDEN,
                     "Only the agency that owns the case deletes its documents."),
    TRM_WHEN_REFUSED(WHY_NO_DOCUMENT, TRM_E_NOT_FOUND, "No such document on this case."),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_document_delete)
{
    static const struct trm_tx tx = {.fn = delete_tx, .outcomes = delete_outcomes};
    struct doc_delete *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL)
        return;
    const struct trm_field spec[] = {
        TRM_F_ENUM("reason", &x->reason, trm_document_delete_reasons, TRM_REQUIRED),
        TRM_F_END,
    };
    if (trm_http_uuid_param(req, res, 0, x->case_id) && trm_http_uuid_param(req, res, 1, x->id) &&
        trm_handler_body(req, res, spec, NULL) && trm_handler_tx(app, req, res, &tx, x))
        trm_response_text(res, 204, NULL, NULL, 0);
}
