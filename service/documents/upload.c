/* An upload (see documents.h): content in pieces of any size, gathered into one chunk buffer
 * that is sealed and handed to the sink when the next byte arrives (only then is it known not
 * to be the last), or at the end as the last. Buffers are made once per upload and reused:
 * the memory an upload holds is about three chunks, whatever the document's size. */
#include "trm/documents.h"
#include "trm/crypto.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct trm_upload {
    char document_id[TRM_UUID_STR_LEN + 1];
    unsigned char *key; /* guarded memory */
    uint64_t limit, size;
    uint32_t seq;
    size_t fill;
    uint8_t *plain;  /* TRM_DOC_CHUNK_BYTES */
    uint8_t *sealed; /* TRM_DOC_SEALED_CHUNK_MAX */
    char *hex;       /* 2 * TRM_DOC_SEALED_CHUNK_MAX + 1 */
    crypto_hash_sha256_state sha;
    uint8_t digest[crypto_hash_sha256_BYTES];
    struct trm_sniff sniff;
    trm_chunk_sink sink;
    void *cls;
    enum trm_upload_status status;
    enum trm_db_status sink_status;
    bool finished;
};

struct trm_upload *trm_upload_new(const char *document_id, enum trm_media media, uint64_t limit,
                                  trm_chunk_sink sink, void *cls)
{
    struct trm_upload *u = calloc(1, sizeof *u);
    if (u == NULL)
        return NULL;
    trm_strlcpy(u->document_id, document_id, sizeof u->document_id);
    u->key = trm_dek_new();
    u->plain = malloc(TRM_DOC_CHUNK_BYTES);
    u->sealed = malloc(TRM_DOC_SEALED_CHUNK_MAX);
    u->hex = malloc(2 * TRM_DOC_SEALED_CHUNK_MAX + 1);
    if (u->key == NULL || u->plain == NULL || u->sealed == NULL || u->hex == NULL) {
        trm_upload_free(u);
        return NULL;
    }
    u->limit = limit;
    u->sink = sink;
    u->cls = cls;
    crypto_hash_sha256_init(&u->sha);
    trm_sniff_init(&u->sniff, media);
    return u;
}

void trm_upload_free(struct trm_upload *u)
{
    if (u == NULL)
        return;
    trm_dek_free(u->key);
    if (u->plain)
        sodium_memzero(u->plain, TRM_DOC_CHUNK_BYTES);
    free(u->plain);
    free(u->sealed);
    free(u->hex);
    sodium_memzero(&u->sha, sizeof u->sha);
    free(u);
}

const unsigned char *trm_upload_key(const struct trm_upload *u)
{
    return u->key;
}

/* Seals the buffer as chunk seq (last or not) and hands it to the sink. */
static enum trm_upload_status flush(struct trm_upload *u, bool last)
{
    size_t n = u->fill + TRM_SEAL_OVERHEAD;
    if (!trm_chunk_seal(u->key, u->document_id, u->seq, last, u->plain, u->fill, u->sealed)) {
        u->sink_status = TRM_DB_ERROR;
        return TRM_UPLOAD_SINK;
    }
    trm_hex_encode(u->sealed, n, u->hex);
    u->sink_status = u->sink(u->cls, u->seq, u->hex);
    if (u->sink_status != TRM_DB_OK)
        return TRM_UPLOAD_SINK;
    u->seq++;
    u->fill = 0;
    return TRM_UPLOAD_OK;
}

enum trm_upload_status trm_upload_feed(struct trm_upload *u, const void *data, size_t len)
{
    const uint8_t *p = data;
    if (u->status != TRM_UPLOAD_OK || len == 0)
        return u->status;
    if (u->finished)
        return u->status = TRM_UPLOAD_TOO_LARGE; /* nothing comes after the end */
    if (len > u->limit - u->size)
        return u->status = TRM_UPLOAD_TOO_LARGE;
    trm_sniff_feed(&u->sniff, p, len);
    if (!trm_sniff_ok(&u->sniff, false))
        return u->status = TRM_UPLOAD_WRONG_TYPE;
    crypto_hash_sha256_update(&u->sha, p, len);
    u->size += len;
    while (len > 0) {
        if (u->fill == TRM_DOC_CHUNK_BYTES && (u->status = flush(u, false)) != TRM_UPLOAD_OK)
            return u->status;
        size_t take = TRM_DOC_CHUNK_BYTES - u->fill;
        if (take > len)
            take = len;
        memcpy(u->plain + u->fill, p, take);
        u->fill += take;
        p += take;
        len -= take;
    }
    return TRM_UPLOAD_OK;
}

enum trm_upload_status trm_upload_finish(struct trm_upload *u)
{
    if (u->status != TRM_UPLOAD_OK || u->finished)
        return u->status;
    if (u->size == 0)
        return u->status = TRM_UPLOAD_EMPTY;
    if (!trm_sniff_ok(&u->sniff, true))
        return u->status = TRM_UPLOAD_WRONG_TYPE;
    if ((u->status = flush(u, true)) != TRM_UPLOAD_OK)
        return u->status;
    crypto_hash_sha256_final(&u->sha, u->digest);
    u->finished = true;
    return TRM_UPLOAD_OK;
}

enum trm_db_status trm_upload_sink_status(const struct trm_upload *u)
{
    return u->sink_status;
}

uint64_t trm_upload_size(const struct trm_upload *u)
{
    return u->size;
}

uint32_t trm_upload_chunks(const struct trm_upload *u)
{
    return u->seq;
}

void trm_upload_sha256_hex(const struct trm_upload *u, char out[65])
{
    trm_hex_encode(u->digest, sizeof u->digest, out);
}
