/* The store of documents (migration 0025): staged uploads and their sealed chunks, stored
 * documents as JSON of their clear columns with their sealed parts as hex, deletion, and the
 * cleanup of uploads that never ended. Row-level security decides what the caller sees: a
 * stored document needs an active grant of its category; a staged one is its uploader's. */
#ifndef TRM_DOCUMENT_STORE_H
#define TRM_DOCUMENT_STORE_H

#include <jansson.h>
#include <stdint.h>

#include "trm/db.h"

/* What starting or ending an upload, or deleting a document, came to. */
enum trm_doc_outcome {
    TRM_DOC_OK,
    TRM_DOC_NOT_FOUND,   /* no such case (or document) for the caller */
    TRM_DOC_ERASED,      /* the case's personal data is erased */
    TRM_DOC_NOT_GRANTED, /* the caller holds no active grant of the category */
    TRM_DOC_CASE_FULL,   /* the case's documents would pass the limit */
    TRM_DOC_INCOMPLETE,  /* a chunk is missing (never when the upload ran to its end) */
    TRM_DOC_NOT_OWNER,   /* only the case's owner deletes */
};

/* A staged upload: the document's row, its key sealed under the case key (hex). declared is
 * the size announced (0: unknown), counted against case_limit with the case's stored
 * documents. */
struct trm_doc_begin {
    const char *id, *case_id, *category, *kind, *media_type, *sealed_key_hex;
    uint64_t declared, case_limit;
};
enum trm_db_status trm_document_begin(struct trm_db_conn *c, const struct trm_doc_begin *b,
                                      enum trm_doc_outcome *outcome);
/* Writes chunk seq of the caller's staged upload. */
enum trm_db_status trm_document_chunk_put(struct trm_db_conn *c, const char *id, uint32_t seq,
                                          const char *sealed_hex);
/* The staged upload becomes the case's document (size bytes in chunks chunks, its sealed
 * {"file_name", "sha256"} as hex); *doc: its clear JSON (OK only). */
enum trm_db_status trm_document_store(struct trm_db_conn *c, const char *id, uint64_t size,
                                      uint32_t chunks, const char *sealed_meta_hex,
                                      uint64_t case_limit, enum trm_doc_outcome *outcome,
                                      json_t **doc);
/* Gives up the caller's staged upload (its chunks go with it); nothing when there is none. */
enum trm_db_status trm_document_abort(struct trm_db_conn *c, const char *id);

/* A page of the case's documents the caller sees, oldest first, after the document
 * (after_at, after_id) when given (after_at: the "at" of the last item, to the microsecond);
 * each item's JSON holds "sealed_meta" (hex) and "at" (the cursor's key) besides the API's
 * clear fields. */
enum trm_db_status trm_document_list(struct trm_db_conn *c, const char *case_id,
                                     const char *after_at, const char *after_id, unsigned limit,
                                     json_t **items);
/* The same page, each item with "sealed_key" (hex) and "chunks" too: for reading every
 * document's content (the subject-access bundle). */
enum trm_db_status trm_document_list_sealed(struct trm_db_conn *c, const char *case_id,
                                            const char *after_at, const char *after_id,
                                            unsigned limit, json_t **items);
/* One document the caller sees, with "sealed_meta", "sealed_key" (hex) and "chunks".
 * NOT_FOUND when there is none. */
enum trm_db_status trm_document_get(struct trm_db_conn *c, const char *case_id, const char *id,
                                    json_t **doc);
/* The sealed chunk seq of a document the caller sees, decoded into out (cap bytes); *len its
 * length. NOT_FOUND when it is not there (or no longer visible). */
enum trm_db_status trm_document_chunk_get(struct trm_db_conn *c, const char *id, uint32_t seq,
                                          uint8_t *out, size_t cap, size_t *len);
/* Deletes a stored document of a case the caller owns, with a reason code. */
enum trm_db_status trm_document_delete(struct trm_db_conn *c, const char *case_id, const char *id,
                                       const char *reason, enum trm_doc_outcome *outcome);
/* Deletes uploads started more than age_s seconds ago that never ended; *n how many. */
enum trm_db_status trm_documents_abandoned_drop(struct trm_db_conn *c, long age_s, long *n);

#endif
