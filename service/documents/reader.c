/* Reading a document's content (see documents.h): the chunk that holds the position asked
 * for is fetched (its own transaction, as the caller), opened with the document's key and
 * bound to its place and to whether it is the last, and kept until the reading moves on. */
#include "trm/crypto.h"
#include "trm/document_store.h"
#include "trm/documents.h"
#include "trm/log.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct trm_doc_reader {
    struct trm_db_pool *pool;
    struct trm_db_context ctx;
    char user_id[TRM_UUID_STR_LEN + 1], agency_id[TRM_UUID_STR_LEN + 1],
        token_id[TRM_UUID_STR_LEN + 1], country[8], role[16];
    char document_id[TRM_UUID_STR_LEN + 1];
    unsigned char *key;
    uint32_t chunks;
    uint64_t size;
    long loaded; /* the chunk in plain (-1: none) */
    size_t plain_len;
    uint8_t *plain, *sealed;
};

/* ctx's values, kept by the reader (the request that made it is long answered). */
static void keep_context(struct trm_doc_reader *r, const struct trm_db_context *ctx)
{
    r->ctx = *ctx;
    trm_strlcpy(r->user_id, ctx->user_id ? ctx->user_id : "", sizeof r->user_id);
    trm_strlcpy(r->agency_id, ctx->agency_id ? ctx->agency_id : "", sizeof r->agency_id);
    trm_strlcpy(r->token_id, ctx->token_id ? ctx->token_id : "", sizeof r->token_id);
    trm_strlcpy(r->country, ctx->country ? ctx->country : "", sizeof r->country);
    trm_strlcpy(r->role, ctx->role ? ctx->role : "", sizeof r->role);
    r->ctx.user_id = ctx->user_id ? r->user_id : NULL;
    r->ctx.agency_id = ctx->agency_id ? r->agency_id : NULL;
    r->ctx.token_id = ctx->token_id ? r->token_id : NULL;
    r->ctx.country = ctx->country ? r->country : NULL;
    r->ctx.role = ctx->role ? r->role : NULL;
}

struct trm_doc_reader *trm_doc_reader_new(struct trm_db_pool *pool,
                                          const struct trm_db_context *ctx, const char *document_id,
                                          unsigned char *key, uint32_t chunks, uint64_t size)
{
    struct trm_doc_reader *r = calloc(1, sizeof *r);
    if (r == NULL) {
        trm_dek_free(key);
        return NULL;
    }
    r->key = key;
    r->plain = malloc(TRM_DOC_CHUNK_BYTES);
    r->sealed = malloc(TRM_DOC_SEALED_CHUNK_MAX);
    if (r->plain == NULL || r->sealed == NULL) {
        trm_doc_reader_free(r);
        return NULL;
    }
    r->pool = pool;
    keep_context(r, ctx);
    trm_strlcpy(r->document_id, document_id, sizeof r->document_id);
    r->chunks = chunks;
    r->size = size;
    r->loaded = -1;
    return r;
}

void trm_doc_reader_retarget(struct trm_doc_reader *r, const char *document_id, unsigned char *key,
                             uint32_t chunks, uint64_t size)
{
    trm_dek_free(r->key);
    sodium_memzero(r->plain, TRM_DOC_CHUNK_BYTES);
    r->key = key;
    trm_strlcpy(r->document_id, document_id, sizeof r->document_id);
    r->chunks = chunks;
    r->size = size;
    r->loaded = -1;
    r->plain_len = 0;
}

void trm_doc_reader_free(struct trm_doc_reader *r)
{
    if (r == NULL)
        return;
    trm_dek_free(r->key);
    if (r->plain)
        sodium_memzero(r->plain, TRM_DOC_CHUNK_BYTES);
    free(r->plain);
    free(r->sealed);
    free(r);
}

/* The bytes chunk seq must hold: a whole chunk but the last, which holds the rest. */
static size_t chunk_len(const struct trm_doc_reader *r, uint32_t seq)
{
    return seq + 1 < r->chunks ? TRM_DOC_CHUNK_BYTES
                               : (size_t)(r->size - (uint64_t)seq * TRM_DOC_CHUNK_BYTES);
}

/* Fetches chunk seq on c and opens it into the buffer. */
static enum trm_db_status load(struct trm_doc_reader *r, struct trm_db_conn *c, uint32_t seq)
{
    size_t len = 0;
    r->loaded = -1;
    enum trm_db_status st =
        trm_document_chunk_get(c, r->document_id, seq, r->sealed, TRM_DOC_SEALED_CHUNK_MAX, &len);
    if (st != TRM_DB_OK)
        return st;
    bool last = seq + 1 == r->chunks;
    if (len != chunk_len(r, seq) + TRM_SEAL_OVERHEAD ||
        !trm_chunk_open(r->key, r->document_id, seq, last, r->sealed, len, r->plain)) {
        trm_log(TRM_LOG_ERROR, "document_chunk_unreadable", "document %s chunk %u", r->document_id,
                (unsigned)seq);
        return TRM_DB_ERROR;
    }
    r->plain_len = len - TRM_SEAL_OVERHEAD;
    r->loaded = (long)seq;
    return TRM_DB_OK;
}

enum trm_db_status trm_doc_reader_prime(struct trm_doc_reader *r, struct trm_db_conn *c)
{
    if (r->chunks == 0 || (uint64_t)(r->chunks - 1) * TRM_DOC_CHUNK_BYTES >= r->size ||
        r->size > (uint64_t)r->chunks * TRM_DOC_CHUNK_BYTES)
        return TRM_DB_ERROR; /* the row's size and chunks do not go together */
    return load(r, c, 0);
}

struct fetch {
    struct trm_doc_reader *r;
    uint32_t seq;
};

static enum trm_db_status fetch_tx(struct trm_db_conn *c, void *arg)
{
    struct fetch *f = arg;
    trm_db_commit_with_next(c);
    return load(f->r, c, f->seq);
}

long trm_doc_reader_read(struct trm_doc_reader *r, uint64_t pos, char *buf, size_t max)
{
    if (pos >= r->size)
        return 0;
    uint32_t seq = (uint32_t)(pos / TRM_DOC_CHUNK_BYTES);
    if (r->loaded != (long)seq) {
        struct fetch f = {r, seq};
        if (trm_db_tx_run(r->pool, &r->ctx, TRM_DB_READ_COMMITTED, fetch_tx, &f) != TRM_DB_OK)
            return -1;
    }
    size_t off = (size_t)(pos - (uint64_t)seq * TRM_DOC_CHUNK_BYTES);
    size_t n = r->plain_len - off;
    if (n > max)
        n = max;
    memcpy(buf, r->plain + off, n);
    return (long)n;
}
