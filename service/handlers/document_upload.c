/* POST /v1/cases/{id}/documents: a document's content, streamed (docs/documents.md). The
 * request is served on its headers: the kind and category (query), the declared type
 * (Content-Type), the file name (Trm-File-Name, percent-encoded) and the size (Content-Length,
 * when sent) are checked, and a staged upload is begun in the database for a caller holding
 * an active grant of the category, before any byte of the content is read. The content then
 * goes to a sink: checked against its type, hashed, and written chunk by chunk, each sealed
 * under the document's own key. At the end one transaction makes it the case's document (or
 * replays the document an Idempotency-Key made before); an upload that does not end so is
 * deleted. Nothing of it is logged but ids and sizes.
 * The handler has the one shape for its headers (a state the core frees, one transaction, an
 * outcome table); what goes on with the body is the sink's, whose state outlives the request
 * and which answers from outside it (its problems are built here). */
#include "handlers.h"

#include "trm/document_store.h"
#include "trm/documents.h"
#include "trm/http_util.h"
#include "trm/idempotency_store.h"
#include "trm/log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct upload {
    struct trm_app *app;
    struct trm_principal who; /* a copy: the request that began it is gone */
    struct trm_db_context ctx;
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
    char request_id[TRM_REQUEST_ID_MAX + 1], route[64];
    const char *kind, *category; /* from the static lists */
    enum trm_media media;
    char file_name[TRM_DOC_FILE_NAME_MAX + 1];
    uint64_t declared, discarded;
    struct trm_upload *up;
    struct trm_idem idem;
    enum trm_idem_state idem_state;
    enum trm_seal_outcome sealing;
    enum trm_doc_outcome outcome;
    bool begun, stored;
    json_t *out;
};

/* The list's own copy of a word (the request's memory goes once its headers are served). */
static const char *listed(const char *word, const char *const *list)
{
    for (size_t i = 0; word && list[i]; i++)
        if (strcmp(word, list[i]) == 0)
            return list[i];
    return NULL;
}

static void upload_free(struct upload *x)
{
    trm_upload_free(x->up);
    json_decref(x->out);
    sodium_memzero(x, sizeof *x); /* the file name, who asked */
    free(x);
}

/* A problem answered at the end, outside the request that began the upload. */
static void problem(const struct upload *x, struct trm_response *res, enum trm_error e,
                    const char *detail)
{
    struct trm_request req = {.route = x->route};
    memcpy(req.request_id, x->request_id, sizeof req.request_id);
    trm_response_problem(res, &req, e, detail);
}

static void db_problem(const struct upload *x, struct trm_response *res, enum trm_db_status st)
{
    struct trm_request req = {.route = x->route};
    memcpy(req.request_id, x->request_id, sizeof req.request_id);
    if (st == TRM_DB_REFUSED && x->sealing == TRM_SEAL_ERASED)
        trm_response_problem(res, &req, TRM_E_CASE_ERASED,
                             "The case's personal data is erased: nothing personal can be added.");
    else if (st == TRM_DB_REFUSED && x->sealing == TRM_SEAL_NOT_HELD)
        trm_response_problem(res, &req, TRM_E_CATEGORY_NOT_GRANTED,
                             "Your agency holds no grant of this category on the case: it may "
                             "neither read nor write personal data of it.");
    else
        trm_http_db_problem(&req, res, st);
}

/* What the database's outcome of beginning or storing says to the client. */
static void outcome_problem(const struct upload *x, struct trm_response *res)
{
    switch (x->outcome) {
    case TRM_DOC_CASE_FULL:
        problem(x, res, TRM_E_CASE_DOCUMENTS_FULL,
                "The case's documents would pass case_documents_max_bytes: delete one first.");
        return;
    case TRM_DOC_ERASED:
        problem(x, res, TRM_E_CASE_ERASED,
                "The case's personal data is erased: nothing personal can be added.");
        return;
    case TRM_DOC_NOT_GRANTED:
        problem(x, res, TRM_E_CATEGORY_NOT_GRANTED,
                "Your agency holds no grant of this category on the case: it may neither read "
                "nor write personal data of it.");
        return;
    case TRM_DOC_NOT_FOUND:
        problem(x, res, TRM_E_CONFLICT,
                "The upload could not be kept: it was deleted meanwhile (its case's personal "
                "data erased, the case transferred, or it ran past document_upload_max_s).");
        return;
    default:
        problem(x, res, TRM_E_INTERNAL, "The document could not be stored.");
    }
}

/* The handler's own state: the upload until it is handed to the sink. */
struct begin {
    struct upload *x;
};

static void begin_free(void *state)
{
    struct begin *b = state;
    if (b->x)
        upload_free(b->x);
}

enum { WHY_CASE_FULL = TRM_WHY_OWN };

/* Begins the staged upload: the case's key (for a grant of the category) seals the
 * document's key, and the row is written. */
static enum trm_db_status begin_tx(struct trm_db_conn *c, void *arg)
{
    struct begin *b = arg;
    struct upload *x = b->x;
    unsigned version = 0;
    enum trm_db_status st;
    x->outcome = TRM_DOC_OK;
    unsigned char *dek =
        trm_case_dek(c, x->app->keys, x->case_id, x->category, &version, &x->sealing, &st);
    if (dek == NULL)
        return st == TRM_DB_REFUSED ? trm_refuse_sealing(b, x->sealing) : st;
    char *key = trm_document_key_seal(dek, x->case_id, x->id, version, trm_upload_key(x->up));
    trm_dek_free(dek);
    if (key == NULL)
        return TRM_DB_ERROR;
    struct trm_doc_begin d = {x->id,
                              x->case_id,
                              x->category,
                              x->kind,
                              trm_media_name(x->media),
                              key,
                              x->declared,
                              (uint64_t)x->app->config->case_documents_max_bytes};
    trm_db_commit_with_next(c);
    st = trm_document_begin(c, &d, &x->outcome);
    free(key);
    if (st != TRM_DB_OK || x->outcome == TRM_DOC_OK)
        return st;
    /* trm_case_dek has answered for a case not seen, erased or not granted. */
    return x->outcome == TRM_DOC_CASE_FULL ? trm_refuse(b, WHY_CASE_FULL, NULL) : TRM_DB_ERROR;
}

static const struct trm_outcome begin_outcomes[] = {
    TRM_WHEN_REFUSED(WHY_CASE_FULL, TRM_E_CASE_DOCUMENTS_FULL,
                     "The case's documents would pass case_documents_max_bytes: delete one "
                     "first."),
    TRM_WHEN_END,
};

struct chunk {
    struct upload *x;
    uint32_t seq;
    const char *hex;
};

static enum trm_db_status chunk_tx(struct trm_db_conn *c, void *arg)
{
    struct chunk *k = arg;
    trm_db_commit_with_next(c);
    return trm_document_chunk_put(c, k->x->id, k->seq, k->hex);
}

/* Each sealed chunk in a transaction of its own: nothing is held open while the client
 * sends, and none of it is seen by anyone until the upload is stored. */
static enum trm_db_status put_chunk(void *cls, uint32_t seq, const char *hex)
{
    struct chunk k = {cls, seq, hex};
    struct upload *x = cls;
    return trm_db_tx_run(x->app->db, &x->ctx, TRM_DB_READ_COMMITTED, chunk_tx, &k);
}

/* The document as answered: its clear JSON and what was sealed, opened. */
static enum trm_db_status with_meta(struct upload *x, json_t *doc, const unsigned char *dek,
                                    unsigned version)
{
    const char *id = json_string_value(json_object_get(doc, "id"));
    json_t *meta = trm_document_meta_open(dek, x->case_id, id, version,
                                          json_string_value(json_object_get(doc, "sealed_meta")));
    if (meta == NULL)
        return TRM_DB_ERROR;
    json_object_update(doc, meta);
    json_object_del(doc, "sealed_meta");
    json_decref(meta);
    return TRM_DB_OK;
}

static enum trm_db_status store_create(struct trm_db_conn *c, void *arg)
{
    struct upload *x = arg;
    unsigned version = 0;
    enum trm_db_status st;
    char sha[65];
    unsigned char *dek =
        trm_case_dek(c, x->app->keys, x->case_id, x->category, &version, &x->sealing, &st);
    if (dek == NULL)
        return st;
    trm_upload_sha256_hex(x->up, sha);
    char *meta = trm_document_meta_seal(dek, x->case_id, x->id, version, x->file_name, sha);
    trm_dek_free(dek);
    if (meta == NULL)
        return TRM_DB_ERROR;
    st = trm_document_store(c, x->id, trm_upload_size(x->up), trm_upload_chunks(x->up), meta,
                            (uint64_t)x->app->config->case_documents_max_bytes, &x->outcome,
                            &x->out);
    free(meta);
    if (st == TRM_DB_OK && x->outcome != TRM_DOC_OK)
        return TRM_DB_REFUSED;
    if (st == TRM_DB_OK) {
        json_object_set_new(x->out, "file_name", json_string(x->file_name));
        json_object_set_new(x->out, "sha256", json_string(sha));
    }
    return st;
}

/* An Idempotency-Key used before with the same request: the document it made. */
static enum trm_db_status store_load(struct trm_db_conn *c, void *arg, const char *resource_id)
{
    struct upload *x = arg;
    unsigned version = 0;
    enum trm_db_status st = trm_document_get(c, x->case_id, resource_id, &x->out);
    if (st != TRM_DB_OK)
        return st;
    unsigned char *dek =
        trm_case_dek(c, x->app->keys, x->case_id, NULL, &version, &x->sealing, &st);
    if (dek == NULL)
        return st;
    st = with_meta(x, x->out, dek, version);
    trm_dek_free(dek);
    json_object_del(x->out, "sealed_key");
    json_object_del(x->out, "chunks");
    return st;
}

static enum trm_db_status store_tx(struct trm_db_conn *c, void *arg)
{
    struct upload *x = arg;
    json_decref(x->out);
    x->out = NULL;
    x->sealing = TRM_SEAL_OK;
    x->outcome = TRM_DOC_OK;
    return trm_idem_create(c, x->who.user_id, &x->idem, x->id, false, store_create, store_load, x,
                           &x->idem_state);
}

/* The request an Idempotency-Key stands for: the same case, kind, category, type, name and
 * content. */
static void idem_hash(struct upload *x)
{
    char sha[65];
    trm_upload_sha256_hex(x->up, sha);
    const char *parts[] = {"POST",       x->case_id, x->kind, x->category, trm_media_name(x->media),
                           x->file_name, sha};
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof x->idem.hash);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        crypto_generichash_update(&st, (const unsigned char *)parts[i], strlen(parts[i]) + 1);
    crypto_generichash_final(&st, x->idem.hash, sizeof x->idem.hash);
}

static bool upload_write(void *state, const char *data, size_t len)
{
    struct upload *x = state;
    if (trm_upload_feed(x->up, data, len) == TRM_UPLOAD_OK)
        return true;
    /* Refused (too large, not of its type, the database): the rest is read and dropped so
     * the answer can be given, but a client that sends on and on is cut off. */
    x->discarded += len;
    return x->discarded <= (uint64_t)x->app->config->document_max_bytes;
}

/* What a refused upload answers. */
static void refusal(struct upload *x, enum trm_upload_status s, struct trm_response *res)
{
    switch (s) {
    case TRM_UPLOAD_TOO_LARGE:
        problem(x, res, TRM_E_DOCUMENT_TOO_LARGE,
                "The document is larger than document_max_bytes.");
        return;
    case TRM_UPLOAD_WRONG_TYPE:
        problem(x, res, TRM_E_MEDIA_TYPE_MISMATCH,
                "The content is not of the type its Content-Type declares (a PDF starts with "
                "%PDF-, a JPEG with FF D8 FF, a PNG with its signature; plain text is UTF-8 "
                "without control characters).");
        return;
    case TRM_UPLOAD_EMPTY:
        problem(x, res, TRM_E_BAD_REQUEST, "The document is empty.");
        return;
    case TRM_UPLOAD_SINK: {
        enum trm_db_status st = trm_upload_sink_status(x->up);
        if (st == TRM_DB_INVALID) { /* the staged row went from under it */
            x->outcome = TRM_DOC_NOT_FOUND;
            outcome_problem(x, res);
        } else {
            db_problem(x, res, st == TRM_DB_OK ? TRM_DB_ERROR : st);
        }
        return;
    }
    case TRM_UPLOAD_OK:
        break;
    }
}

static void upload_end(void *state, struct trm_response *res)
{
    struct upload *x = state;
    enum trm_upload_status s = trm_upload_finish(x->up);
    if (s != TRM_UPLOAD_OK) {
        refusal(x, s, res);
        return;
    }
    if (x->idem.present)
        idem_hash(x);
    enum trm_db_status st = trm_db_tx_run(x->app->db, &x->ctx, TRM_DB_READ_COMMITTED, store_tx, x);
    if (st == TRM_DB_REFUSED && x->idem_state == TRM_IDEM_MISMATCH) {
        problem(x, res, TRM_E_IDEMPOTENCY_MISMATCH,
                "This Idempotency-Key was already used with a different request.");
    } else if (st == TRM_DB_REFUSED && x->outcome != TRM_DOC_OK) {
        outcome_problem(x, res);
    } else if (st != TRM_DB_OK) {
        db_problem(x, res, st);
    } else {
        /* A replay answers the document made the first time; this upload is undone. */
        x->stored = x->idem_state != TRM_IDEM_REPLAY;
        char location[160];
        snprintf(location, sizeof location, "/v1/cases/%s/documents/%s", x->case_id,
                 json_string_value(json_object_get(x->out, "id")));
        trm_http_created(res, location, json_incref(x->out));
        trm_log(TRM_LOG_INFO, "document_stored", "document %s: %llu bytes in %u chunks", x->id,
                (unsigned long long)trm_upload_size(x->up), (unsigned)trm_upload_chunks(x->up));
    }
}

static enum trm_db_status abort_tx(struct trm_db_conn *c, void *arg)
{
    struct upload *x = arg;
    trm_db_commit_with_next(c);
    return trm_document_abort(c, x->id);
}

static void upload_release(void *state)
{
    struct upload *x = state;
    if (x->begun && !x->stored &&
        trm_db_tx_run(x->app->db, &x->ctx, TRM_DB_READ_COMMITTED, abort_tx, x) != TRM_DB_OK)
        trm_log(TRM_LOG_WARN, "document_upload_left",
                "document %s: its staged upload stays until maintenance deletes it", x->id);
    upload_free(x);
}

/* The headers: kind, category, type, name and size, each refused with its own problem. */
static bool read_headers(struct upload *x, const struct trm_request *req, struct trm_response *res)
{
    const char *kind = NULL, *category = NULL, *length = trm_request_header(req, "Content-Length");
    long declared = 0;
    const struct trm_param params[] = {
        TRM_Q_ENUM("kind", &kind, trm_document_kinds),
        TRM_Q_ENUM("category", &category, trm_case_categories),
        TRM_Q_END,
    };
    if (!trm_http_query(req, res, params))
        return false;
    if (kind == NULL || (category == NULL && trm_document_category_for(kind) == NULL)) {
        trm_response_problem(res, req, TRM_E_INVALID_PARAMETER,
                             kind ? "Query parameter category is required for kind other."
                                  : "Query parameter kind is required.");
        return false;
    }
    x->kind = listed(kind, trm_document_kinds);
    x->category =
        listed(category ? category : trm_document_category_for(kind), trm_case_categories);
    if (!trm_media_parse(trm_request_header(req, "Content-Type"), &x->media)) {
        trm_response_problem(res, req, TRM_E_UNSUPPORTED_MEDIA_TYPE,
                             "Send the document as application/pdf, image/jpeg, image/png or "
                             "text/plain (UTF-8).");
        return false;
    }
    if (!trm_document_file_name(trm_request_header(req, "Trm-File-Name"), x->file_name)) {
        trm_response_problem(res, req, TRM_E_BAD_REQUEST,
                             "Trm-File-Name must be the file's name, UTF-8 percent-encoded, of 1 "
                             "to 255 bytes, without control characters or path separators.");
        return false;
    }
    if (length && !trm_parse_long(length, 0, 1L << 62, &declared)) {
        trm_response_problem(res, req, TRM_E_BAD_REQUEST, "Content-Length is not a number.");
        return false;
    }
    if (declared > x->app->config->document_max_bytes) {
        trm_response_problem(res, req, TRM_E_DOCUMENT_TOO_LARGE,
                             "The document is larger than document_max_bytes.");
        return false;
    }
    x->declared = (uint64_t)declared;
    return true;
}

TRM_HANDLER(trm_handle_document_upload)
{
    static const struct trm_tx tx = {.fn = begin_tx, .outcomes = begin_outcomes};
    struct begin *b = trm_handler_state(req, sizeof *b, begin_free);
    if (b == NULL || (b->x = calloc(1, sizeof *b->x)) == NULL)
        return;
    struct upload *x = b->x;
    x->app = app;
    trm_uuid_v4(x->id);
    if (!trm_http_uuid_param(req, res, 0, x->case_id) || !read_headers(x, req, res) ||
        !trm_http_idempotency(req, res, &x->idem))
        return;
    x->who = *req->principal;
    trm_principal_db_context(&x->who, &x->ctx);
    trm_strlcpy(x->request_id, req->request_id, sizeof x->request_id);
    trm_strlcpy(x->route, req->route ? req->route : "", sizeof x->route);
    x->up =
        trm_upload_new(x->id, x->media, (uint64_t)app->config->document_max_bytes, put_chunk, x);
    if (x->up == NULL || !trm_handler_tx(app, req, res, &tx, b))
        return;
    /* From here the sink owns the upload: it is undone when released unless stored. */
    x->begun = true;
    b->x = NULL;
    const struct trm_body_sink sink = {upload_write, upload_end, upload_release, x};
    trm_request_stream_body(req, &sink);
}
