/* What of a document is sealed under its case's key (see documents.h): its own key, and its
 * file name with its SHA-256; and the file name as the upload's header carries it. */
#include "trm/cases.h"
#include "trm/crypto.h"
#include "trm/documents.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

#define LABEL "documents"

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

bool trm_document_file_name(const char *header, char out[TRM_DOC_FILE_NAME_MAX + 1])
{
    size_t n = 0;
    for (const char *p = header; p && *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int hi = hex_digit(p[1]), lo = hi < 0 ? -1 : hex_digit(p[2]);
            if (lo < 0)
                return false;
            c = hi * 16 + lo;
            p += 2;
        } else if (c < 0x20 || c > 0x7E) {
            return false; /* a header carries visible ASCII; the rest is percent-encoded */
        }
        if (n == TRM_DOC_FILE_NAME_MAX || c < 0x20 || c == 0x7F || c == '/' || c == '\\')
            return false;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    bool ok = n > 0 && u8_check((const uint8_t *)out, n) == NULL;
    if (!ok)
        sodium_memzero(out, TRM_DOC_FILE_NAME_MAX + 1);
    return ok;
}

static void key_name(char *out, size_t cap, const char *document_id)
{
    snprintf(out, cap, "%s.key", document_id);
}

char *trm_document_key_seal(const unsigned char *dek, const char *case_id, const char *document_id,
                            unsigned dek_version, const unsigned char *key)
{
    char name[64];
    uint8_t sealed[TRM_DEK_BYTES + TRM_SEAL_OVERHEAD];
    key_name(name, sizeof name, document_id);
    char *hex = malloc(2 * sizeof sealed + 1);
    if (hex == NULL ||
        !trm_field_seal(dek, case_id, LABEL, name, dek_version, key, TRM_DEK_BYTES, sealed)) {
        free(hex);
        return NULL;
    }
    trm_hex_encode(sealed, sizeof sealed, hex);
    return hex;
}

unsigned char *trm_document_key_open(const unsigned char *dek, const char *case_id,
                                     const char *document_id, unsigned dek_version, const char *hex)
{
    char name[64];
    uint8_t sealed[TRM_DEK_BYTES + TRM_SEAL_OVERHEAD];
    key_name(name, sizeof name, document_id);
    unsigned char *key = trm_dek_alloc();
    if (key && hex && strlen(hex) == 2 * sizeof sealed &&
        trm_hex_decode(hex, sealed, sizeof sealed) &&
        trm_field_open(dek, case_id, LABEL, name, dek_version, sealed, sizeof sealed, key))
        return key;
    trm_dek_free(key);
    return NULL;
}

char *trm_document_meta_seal(const unsigned char *dek, const char *case_id, const char *document_id,
                             unsigned dek_version, const char *file_name, const char *sha256_hex)
{
    json_t *meta = json_pack("{s:s, s:s}", "file_name", file_name, "sha256", sha256_hex);
    char *hex = meta ? trm_seal_json(dek, case_id, LABEL, document_id, dek_version, meta) : NULL;
    json_decref(meta);
    return hex;
}

json_t *trm_document_meta_open(const unsigned char *dek, const char *case_id,
                               const char *document_id, unsigned dek_version, const char *hex)
{
    json_t *meta = hex ? trm_open_json(dek, case_id, LABEL, document_id, dek_version, hex) : NULL;
    if (meta && !(json_is_string(json_object_get(meta, "file_name")) &&
                  json_is_string(json_object_get(meta, "sha256")))) {
        json_decref(meta);
        meta = NULL;
    }
    return meta;
}
