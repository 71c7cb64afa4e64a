/* Documents of a case as the domain sees them (docs/documents.md): their kinds and the
 * category each kind belongs to by default, the four media types trm keeps and the check that
 * a file's content is of the type it is declared as, and the upload: content taken piece by
 * piece as it arrives, counted, hashed and checked, cut into chunks sealed under the
 * document's own key, each handed to a sink as soon as the next byte shows it was not the
 * last. No more than one chunk of a document is ever held in memory, however large it is.
 * The key is sealed under the case's data key; the store is document_store.h. */
#ifndef TRM_DOCUMENTS_H
#define TRM_DOCUMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "trm/db.h"

/* Bytes of content per chunk (the last may be shorter). Part of the stored format only in
 * that a chunk must fit what a reader holds: readers allocate this much. */
#define TRM_DOC_CHUNK_BYTES (256 * 1024)
/* A sealed chunk: nonce, ciphertext, tag. */
#define TRM_DOC_SEALED_CHUNK_MAX (TRM_DOC_CHUNK_BYTES + 40)

extern const char *const trm_document_kinds[];          /* NULL-terminated */
extern const char *const trm_document_delete_reasons[]; /* NULL-terminated */
/* The category a document of this kind belongs to when the uploader names none; NULL for
 * "other", whose category must be named. */
const char *trm_document_category_for(const char *kind);

enum trm_media { TRM_MEDIA_PDF, TRM_MEDIA_JPEG, TRM_MEDIA_PNG, TRM_MEDIA_TEXT };
/* The media type a Content-Type value declares: false unless it is application/pdf,
 * image/jpeg, image/png or text/plain (any case; parameters other than a charset ignored; a
 * charset, when given, must be utf-8 or us-ascii). */
bool trm_media_parse(const char *content_type, enum trm_media *out);
const char *trm_media_name(enum trm_media m);

/* Whether content is of its declared type, checked as it streams by: PDF (%PDF-), JPEG (FF D8
 * FF), PNG (its 8-byte signature) by their first bytes; plain text must be UTF-8 throughout,
 * without NUL or control characters other than tab, line feed, form feed and carriage
 * return. */
struct trm_sniff {
    enum trm_media media;
    uint8_t head[8];
    size_t head_len;
    bool bad;
    unsigned need;  /* UTF-8: continuation bytes still expected */
    uint8_t lo, hi; /* the range the next continuation byte must be in */
};
void trm_sniff_init(struct trm_sniff *s, enum trm_media media);
void trm_sniff_feed(struct trm_sniff *s, const uint8_t *data, size_t len);
/* False as soon as the content seen cannot be of the type; with at_end, also when what was
 * seen is too short or ends inside a character. */
bool trm_sniff_ok(const struct trm_sniff *s, bool at_end);

/* Where an upload's sealed chunks go (a staged row in the database): chunk seq, sealed, as
 * hex (NUL-terminated, valid until the next call). */
typedef enum trm_db_status (*trm_chunk_sink)(void *cls, uint32_t seq, const char *sealed_hex);

enum trm_upload_status {
    TRM_UPLOAD_OK,
    TRM_UPLOAD_TOO_LARGE,  /* past the limit given */
    TRM_UPLOAD_WRONG_TYPE, /* the content is not of the declared type */
    TRM_UPLOAD_EMPTY,      /* ended with no content */
    TRM_UPLOAD_SINK,       /* the sink failed (its status is trm_upload_sink_status) */
};

struct trm_upload;
/* An upload of document_id declared as media, of at most limit bytes, whose chunks go to
 * sink; its key is made here (trm_upload_key). NULL when memory runs out. */
struct trm_upload *trm_upload_new(const char *document_id, enum trm_media media, uint64_t limit,
                                  trm_chunk_sink sink, void *cls);
/* Releases the upload and wipes its key and buffers (NULL is fine). */
void trm_upload_free(struct trm_upload *u);
/* The document's key (TRM_DEK_BYTES, guarded memory owned by the upload). */
const unsigned char *trm_upload_key(const struct trm_upload *u);
/* Takes the next piece of content. Once a status other than OK came back, every later call
 * answers it again and takes nothing. */
enum trm_upload_status trm_upload_feed(struct trm_upload *u, const void *data, size_t len);
/* The content ended: checks it and seals the last chunk. */
enum trm_upload_status trm_upload_finish(struct trm_upload *u);
/* What the sink answered when it failed. */
enum trm_db_status trm_upload_sink_status(const struct trm_upload *u);
/* After a finish that answered OK: bytes, chunks, and the SHA-256 of the content as hex. */
uint64_t trm_upload_size(const struct trm_upload *u);
uint32_t trm_upload_chunks(const struct trm_upload *u);
void trm_upload_sha256_hex(const struct trm_upload *u, char out[65]);

/* A stored document's content read chunk after chunk as a client takes it, each chunk in a
 * transaction of its own as the caller, so row-level security decides again for every chunk
 * (a grant that ends midway ends the reading), and opened with the document's key. It holds
 * one chunk at a time. */
struct trm_doc_reader;
/* Takes key (guarded memory, freed with the reader); copies ctx. NULL when memory runs out
 * (key freed too). */
struct trm_doc_reader *trm_doc_reader_new(struct trm_db_pool *pool,
                                          const struct trm_db_context *ctx, const char *document_id,
                                          unsigned char *key, uint32_t chunks, uint64_t size);
/* Reads the first chunk in the caller's transaction c (so that the answer can still say
 * what went wrong): NOT_FOUND when it is not there, ERROR when it does not open. */
enum trm_db_status trm_doc_reader_prime(struct trm_doc_reader *r, struct trm_db_conn *c);
/* Copies up to max bytes of the content from pos (reads go forward): how many, or -1 when a
 * chunk is not there or does not open. */
long trm_doc_reader_read(struct trm_doc_reader *r, uint64_t pos, char *buf, size_t max);
/* Aims the reader at another document (its key taken as trm_doc_reader_new takes it; the
 * previous key is wiped), keeping its context and buffers: one reader reads the documents of
 * a bundle one after the other. */
void trm_doc_reader_retarget(struct trm_doc_reader *r, const char *document_id, unsigned char *key,
                             uint32_t chunks, uint64_t size);
void trm_doc_reader_free(struct trm_doc_reader *r);

/* A file name as it travels in the Trm-File-Name header: UTF-8, percent-encoded where it is
 * not visible ASCII (encodeURIComponent). Decoded into out (TRM_DOC_FILE_NAME_MAX + 1 bytes):
 * false unless it is valid UTF-8 of 1 to TRM_DOC_FILE_NAME_MAX bytes without control
 * characters or path separators. The name is personal data: sealed, never logged. */
#define TRM_DOC_FILE_NAME_MAX 255
bool trm_document_file_name(const char *header, char out[TRM_DOC_FILE_NAME_MAX + 1]);

/* A document's key sealed under its case's data key (dek, version), bound to "documents" and
 * "<document_id>.key": hex, malloc'd (NULL on failure). */
char *trm_document_key_seal(const unsigned char *dek, const char *case_id, const char *document_id,
                            unsigned dek_version, const unsigned char *key);
/* Opens it into guarded memory (trm_dek_free it); NULL when it does not open. */
unsigned char *trm_document_key_open(const unsigned char *dek, const char *case_id,
                                     const char *document_id, unsigned dek_version,
                                     const char *hex);
/* What else of a document is sealed, {"file_name", "sha256"}, bound to "documents" and the
 * document's id: sealed as hex (malloc'd), opened as JSON (NULL when it does not open). */
char *trm_document_meta_seal(const unsigned char *dek, const char *case_id, const char *document_id,
                             unsigned dek_version, const char *file_name, const char *sha256_hex);
json_t *trm_document_meta_open(const unsigned char *dek, const char *case_id,
                               const char *document_id, unsigned dek_version, const char *hex);

#endif
