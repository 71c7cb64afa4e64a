/* Documents that travel inside an offer's sealed payload (package version 3, docs/federation.md):
 * the sender opens the documents of the offered categories with their keys and puts their
 * content in the payload, which is sealed to the peer as a whole; the receiver, when it
 * accepts, stores each as a document of its local case, sealed afresh in chunks under a key
 * of its own. The content is never written anywhere in the clear, and a package carries at
 * most TRM_FED_DOCUMENTS_MAX bytes of it, so that trmd's memory stays bounded. */
#include "trm/access_log_store.h"
#include "trm/cases.h"
#include "trm/crypto.h"
#include "trm/document_store.h"
#include "trm/documents.h"
#include "trm/federation.h"
#include "trm/federation_ops.h"
#include "trm/json_spec.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static bool in_list(const char *const *list, const char *word)
{
    for (size_t i = 0; word && list[i]; i++)
        if (strcmp(list[i], word) == 0)
            return true;
    return false;
}

/* The documents of the case the caller sees whose category is one of allowed: a JSON array
 * of their rows (with "sealed_meta"), oldest first. */
static enum trm_db_status documents_of(struct trm_db_conn *c, const char *case_id,
                                       const char *const *allowed, json_t *out)
{
    char after_at[40] = "", after_id[TRM_UUID_STR_LEN + 1] = "";
    for (;;) {
        json_t *items = NULL;
        enum trm_db_status st = trm_document_list(c, case_id, after_at[0] ? after_at : NULL,
                                                  after_id[0] ? after_id : NULL, 100, &items);
        if (st != TRM_DB_OK)
            return st;
        size_t i, n = json_array_size(items);
        json_t *d;
        json_array_foreach(items, i, d)
        {
            if (in_list(allowed, json_string_value(json_object_get(d, "category"))))
                json_array_append(out, d);
        }
        if (n > 0) {
            json_t *last = json_array_get(items, n - 1);
            const char *at = json_string_value(json_object_get(last, "uploaded_at"));
            const char *lid = json_string_value(json_object_get(last, "id"));
            if (at == NULL || lid == NULL) {
                json_decref(items);
                return TRM_DB_ERROR;
            }
            trm_strlcpy(after_at, at, sizeof after_at);
            trm_strlcpy(after_id, lid, sizeof after_id);
        }
        json_decref(items);
        if (n < 100)
            return TRM_DB_OK;
    }
}

/* The content of a document (size bytes in chunks chunks), opened with its key into out. */
static bool read_content(struct trm_db_conn *c, const char *id, const unsigned char *key,
                         uint32_t chunks, uint64_t size, uint8_t *out)
{
    uint8_t *sealed = malloc(TRM_DOC_SEALED_CHUNK_MAX);
    uint64_t pos = 0;
    bool ok = sealed != NULL;
    for (uint32_t seq = 0; ok && seq < chunks; seq++) {
        size_t len = 0;
        ok = trm_document_chunk_get(c, id, seq, sealed, TRM_DOC_SEALED_CHUNK_MAX, &len) ==
                 TRM_DB_OK &&
             len > TRM_SEAL_OVERHEAD && pos + (len - TRM_SEAL_OVERHEAD) <= size &&
             trm_chunk_open(key, id, seq, seq + 1 == chunks, sealed, len, out + pos);
        if (ok)
            pos += len - TRM_SEAL_OVERHEAD;
    }
    free(sealed);
    return ok && pos == size;
}

/* One document as it travels: {"kind", "category", "media_type", "file_name", "sha256",
 * "content" (base64)}; NULL when it does not open. */
static json_t *travelling(struct trm_db_conn *c, const unsigned char *dek, unsigned version,
                          const char *case_id, json_t *row)
{
    const char *id = json_string_value(json_object_get(row, "id"));
    json_t *doc = NULL, *meta = NULL, *out = NULL;
    unsigned char *key = NULL;
    uint8_t *plain = NULL;
    char *b64 = NULL;
    if (trm_document_get(c, case_id, id, &doc) != TRM_DB_OK)
        goto done;
    json_int_t size = json_integer_value(json_object_get(doc, "size"));
    json_int_t chunks = json_integer_value(json_object_get(doc, "chunks"));
    key = trm_document_key_open(dek, case_id, id, version,
                                json_string_value(json_object_get(doc, "sealed_key")));
    meta = trm_document_meta_open(dek, case_id, id, version,
                                  json_string_value(json_object_get(doc, "sealed_meta")));
    if (key == NULL || meta == NULL || size <= 0 || chunks <= 0 ||
        (plain = malloc((size_t)size)) == NULL ||
        !read_content(c, id, key, (uint32_t)chunks, (uint64_t)size, plain))
        goto done;
    size_t b64len = sodium_base64_encoded_len((size_t)size, sodium_base64_VARIANT_ORIGINAL);
    if ((b64 = malloc(b64len)) == NULL)
        goto done;
    sodium_bin2base64(b64, b64len, plain, (size_t)size, sodium_base64_VARIANT_ORIGINAL);
    out = json_pack("{s:O, s:O, s:O, s:O, s:O, s:s}", "kind", json_object_get(doc, "kind"),
                    "category", json_object_get(doc, "category"), "media_type",
                    json_object_get(doc, "media_type"), "file_name",
                    json_object_get(meta, "file_name"), "sha256", json_object_get(meta, "sha256"),
                    "content", b64);
done:
    if (plain) {
        sodium_memzero(plain, (size_t)size);
        free(plain);
    }
    if (b64) {
        sodium_memzero(b64, strlen(b64));
        free(b64);
    }
    trm_dek_free(key);
    json_decref(meta);
    json_decref(doc);
    return out;
}

enum trm_db_status trm_fed_documents_pack(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                          const char *case_id, const char *const *allowed,
                                          const char *request_id, json_t **out, bool *too_large)
{
    *out = NULL;
    *too_large = false;
    json_t *rows = json_array();
    enum trm_db_status st = documents_of(c, case_id, allowed, rows);
    uint64_t total = 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        total += (uint64_t)json_integer_value(json_object_get(row, "size"));
    }
    if (st != TRM_DB_OK || json_array_size(rows) == 0) {
        json_decref(rows);
        return st;
    }
    if (total > TRM_FED_DOCUMENTS_MAX) {
        *too_large = true;
        json_decref(rows);
        return TRM_DB_REFUSED;
    }
    unsigned version = 0;
    enum trm_seal_outcome outcome;
    unsigned char *dek = trm_case_dek(c, keys, case_id, NULL, &version, &outcome, &st);
    if (dek == NULL) {
        json_decref(rows);
        return st == TRM_DB_REFUSED ? TRM_DB_ERROR : st;
    }
    json_t *docs = json_array(), *cats = json_array();
    json_array_foreach(rows, i, row)
    {
        json_t *d = travelling(c, dek, version, case_id, row);
        if (d == NULL) {
            st = TRM_DB_ERROR;
            break;
        }
        json_array_append_new(docs, d);
        /* The categories actually sent, each once, for the access log. */
        json_t *cat = json_object_get(d, "category");
        bool seen = false;
        size_t k;
        json_t *v;
        json_array_foreach(cats, k, v) seen = seen || json_equal(v, cat);
        if (!seen)
            json_array_append(cats, cat);
    }
    trm_dek_free(dek);
    json_decref(rows);
    if (st == TRM_DB_OK)
        st = trm_access_log_add(c, case_id, cats, "federation_documents", request_id);
    json_decref(cats);
    if (st == TRM_DB_OK)
        *out = docs;
    else
        json_decref(docs);
    return st;
}

/* A document of a payload, checked: its fields exactly, of a known kind, of one of the
 * offered categories, one of our media types, a file name we would take, its content base64
 * (decoded into *content, *len; malloc'd) of that type and of the SHA-256 listed. */
static bool travelling_ok(json_t *d, const char *const *categories, uint8_t **content, size_t *len)
{
    enum trm_media media;
    const char *b64 = json_string_value(json_object_get(d, "content"));
    const char *name = json_string_value(json_object_get(d, "file_name"));
    const char *sha = json_string_value(json_object_get(d, "sha256"));
    uint8_t digest[32];
    *content = NULL;
    *len = 0;
    if (!json_is_object(d) || json_object_size(d) != 6 || b64 == NULL || name == NULL ||
        sha == NULL || strlen(sha) != 64 || !trm_hex_decode(sha, digest, sizeof digest) ||
        strlen(name) < 1 || strlen(name) > TRM_DOC_FILE_NAME_MAX || !trm_json_text_ok(name) ||
        strpbrk(name, "/\\\n\r\t") != NULL ||
        !in_list(trm_document_kinds, json_string_value(json_object_get(d, "kind"))) ||
        !in_list(categories, json_string_value(json_object_get(d, "category"))) ||
        !trm_media_parse(json_string_value(json_object_get(d, "media_type")), &media))
        return false;
    size_t n = strlen(b64);
    if (n == 0 || n > TRM_FED_DOCUMENTS_MAX / 3 * 4 + 4 || (*content = malloc(n)) == NULL)
        return false;
    /* The content is of its type, and its digest the one listed. */
    struct trm_sniff sniff;
    uint8_t got[32];
    bool ok = sodium_base642bin(*content, n, b64, n, NULL, len, NULL,
                                sodium_base64_VARIANT_ORIGINAL) == 0 &&
              *len > 0;
    if (ok) {
        trm_sniff_init(&sniff, media);
        trm_sniff_feed(&sniff, *content, *len);
        crypto_hash_sha256(got, *content, *len);
        ok = trm_sniff_ok(&sniff, true) && sodium_memcmp(got, digest, sizeof got) == 0;
    }
    if (!ok) {
        sodium_memzero(*content, n);
        free(*content);
        *content = NULL;
        return false;
    }
    return true;
}

bool trm_fed_documents_ok(json_t *docs, const char *const *categories)
{
    if (!json_is_array(docs) || json_array_size(docs) == 0)
        return false;
    size_t i, total = 0;
    json_t *d;
    json_array_foreach(docs, i, d)
    {
        uint8_t *content;
        size_t len;
        if (!travelling_ok(d, categories, &content, &len))
            return false;
        total += len;
        sodium_memzero(content, len);
        free(content);
    }
    return total <= TRM_FED_DOCUMENTS_MAX;
}

struct put {
    struct trm_db_conn *c;
    const char *id;
};

static enum trm_db_status put_chunk(void *cls, uint32_t seq, const char *sealed_hex)
{
    struct put *p = cls;
    return trm_document_chunk_put(p->c, p->id, seq, sealed_hex);
}

/* One travelled document stored in the local case: sealed in chunks under a new key of its
 * own, its key and metadata under the case's key. */
static enum trm_db_status store_one(struct trm_db_conn *c, const unsigned char *dek,
                                    unsigned version, const char *case_id, json_t *d,
                                    const uint8_t *content, size_t len)
{
    enum trm_media media;
    char id[TRM_UUID_STR_LEN + 1], sha[65];
    trm_uuid_v4(id);
    if (!trm_media_parse(json_string_value(json_object_get(d, "media_type")), &media))
        return TRM_DB_ERROR;
    struct put p = {c, id};
    struct trm_upload *up = trm_upload_new(id, media, TRM_FED_DOCUMENTS_MAX, put_chunk, &p);
    char *key = up ? trm_document_key_seal(dek, case_id, id, version, trm_upload_key(up)) : NULL;
    char *meta = NULL;
    enum trm_doc_outcome outcome = TRM_DOC_OK;
    enum trm_db_status st = TRM_DB_ERROR;
    if (key == NULL)
        goto done;
    struct trm_doc_begin b = {id,
                              case_id,
                              json_string_value(json_object_get(d, "category")),
                              json_string_value(json_object_get(d, "kind")),
                              trm_media_name(media),
                              key,
                              len,
                              UINT64_MAX / 2};
    st = trm_document_begin(c, &b, &outcome);
    if (st != TRM_DB_OK || outcome != TRM_DOC_OK)
        goto done;
    /* The content is checked again here as an upload is: its type, and its digest against
     * the one the sender listed. */
    st = TRM_DB_ERROR;
    if (trm_upload_feed(up, content, len) != TRM_UPLOAD_OK ||
        trm_upload_finish(up) != TRM_UPLOAD_OK)
        goto done;
    trm_upload_sha256_hex(up, sha);
    if (strcmp(sha, json_string_value(json_object_get(d, "sha256"))) != 0)
        goto done;
    meta = trm_document_meta_seal(dek, case_id, id, version,
                                  json_string_value(json_object_get(d, "file_name")), sha);
    json_t *stored = NULL;
    st = meta ? trm_document_store(c, id, trm_upload_size(up), trm_upload_chunks(up), meta,
                                   UINT64_MAX / 2, &outcome, &stored)
              : TRM_DB_ERROR;
    json_decref(stored);
done:
    if (st == TRM_DB_OK && outcome != TRM_DOC_OK)
        st = TRM_DB_ERROR;
    trm_upload_free(up);
    free(key);
    free(meta);
    return st;
}

enum trm_db_status trm_fed_documents_store(struct trm_db_conn *c, const unsigned char *dek,
                                           unsigned version, const char *case_id, json_t *docs,
                                           const char *const *categories)
{
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d)
    {
        uint8_t *content;
        size_t len;
        if (!travelling_ok(d, categories, &content, &len))
            return TRM_DB_ERROR;
        enum trm_db_status st = store_one(c, dek, version, case_id, d, content, len);
        sodium_memzero(content, len);
        free(content);
        if (st != TRM_DB_OK)
            return st;
    }
    return TRM_DB_OK;
}
