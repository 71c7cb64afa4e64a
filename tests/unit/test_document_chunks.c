/* Documents without a database: media types and the check of content against them, chunks
 * sealed and opened (and every way a chunk is refused), and uploads cut into chunks. */
#include "check_run.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trm/crypto.h"
#include "trm/documents.h"
#include "trm/util.h"

static const char *doc_a = "11111111-1111-4111-8111-111111111111";
static const char *doc_b = "22222222-2222-4222-8222-222222222222";

START_TEST(media_types_declared)
{
    enum trm_media m;
    ck_assert(trm_media_parse("application/pdf", &m) && m == TRM_MEDIA_PDF);
    ck_assert(trm_media_parse("IMAGE/JPEG", &m) && m == TRM_MEDIA_JPEG);
    ck_assert(trm_media_parse("image/png ; x=y", &m) && m == TRM_MEDIA_PNG);
    ck_assert(trm_media_parse("text/plain; charset=UTF-8", &m) && m == TRM_MEDIA_TEXT);
    ck_assert(trm_media_parse("text/plain;charset=\"us-ascii\"", &m) && m == TRM_MEDIA_TEXT);
    ck_assert(!trm_media_parse("text/plain; charset=latin1", &m));
    ck_assert(!trm_media_parse("text/plain; charset=utf-8-and-a-very-long-tail-of-text", &m));
    ck_assert(!trm_media_parse("text/html", &m));
    ck_assert(!trm_media_parse("application/pdfx", &m));
    ck_assert(!trm_media_parse("", &m));
    ck_assert(!trm_media_parse(NULL, &m));
    ck_assert_str_eq(trm_media_name(TRM_MEDIA_PNG), "image/png");
    ck_assert_str_eq(trm_document_category_for("medical"), "health");
    ck_assert_ptr_null(trm_document_category_for("other"));
}
END_TEST

/* Whether content (fed in pieces of piece bytes) is taken as media. */
static bool sniffed(enum trm_media m, const char *content, size_t len, size_t piece)
{
    struct trm_sniff s;
    trm_sniff_init(&s, m);
    for (size_t i = 0; i < len; i += piece)
        trm_sniff_feed(&s, (const uint8_t *)content + i, len - i < piece ? len - i : piece);
    return trm_sniff_ok(&s, true);
}

/* A string literal and its length (it may hold NUL bytes). */
#define LIT(s) (s), sizeof(s) - 1

START_TEST(magic_bytes_and_text)
{
    static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    static const char jpeg[] = "\xff\xd8\xff\xe0\0\x10JFIF";
    for (size_t piece = 1; piece <= 4; piece++) {
        ck_assert(sniffed(TRM_MEDIA_PDF, LIT("%PDF-1.7\n%\xe2\xe3"), piece));
        ck_assert(!sniffed(TRM_MEDIA_PDF, LIT("%PDX-1.7"), piece));
        ck_assert(!sniffed(TRM_MEDIA_PDF, LIT("%PD"), piece)); /* too short to tell */
        ck_assert(sniffed(TRM_MEDIA_PNG, png, sizeof png - 1, piece));
        ck_assert(!sniffed(TRM_MEDIA_PNG, jpeg, sizeof jpeg - 1, piece));
        ck_assert(sniffed(TRM_MEDIA_JPEG, jpeg, sizeof jpeg - 1, piece));
        ck_assert(!sniffed(TRM_MEDIA_JPEG, png, sizeof png - 1, piece));
        /* A PDF declared as a PNG, a PNG as text, and so on. */
        ck_assert(!sniffed(TRM_MEDIA_PNG, LIT("%PDF-1.7"), piece));
        ck_assert(!sniffed(TRM_MEDIA_TEXT, png, sizeof png - 1, piece));
        ck_assert(!sniffed(TRM_MEDIA_TEXT, jpeg, sizeof jpeg - 1, piece));
        ck_assert(sniffed(TRM_MEDIA_TEXT, LIT("Hello,\tvärlden!\r\n\f"), piece));
        ck_assert(sniffed(TRM_MEDIA_TEXT, LIT("\xef\xbb\xbfOK \xf0\x9f\x98\x80"), piece));
        ck_assert(!sniffed(TRM_MEDIA_TEXT, LIT("nul\0byte"), piece));
        ck_assert(!sniffed(TRM_MEDIA_TEXT, LIT("bell\a"), piece));
        ck_assert(!sniffed(TRM_MEDIA_TEXT, LIT("del\x7f"), piece));
        ck_assert(!sniffed(TRM_MEDIA_TEXT, LIT("latin1 \xe9t\xe9"), piece));
        ck_assert(!sniffed(TRM_MEDIA_TEXT, LIT("overlong \xc0\xaf"), piece));
        ck_assert(!sniffed(TRM_MEDIA_TEXT, LIT("overlong \xe0\x80\xaf"), piece));
        ck_assert(!sniffed(TRM_MEDIA_TEXT, LIT("surrogate \xed\xa0\x80"), piece));
        ck_assert(!sniffed(TRM_MEDIA_TEXT, LIT("too big \xf4\x90\x80\x80"), piece));
        ck_assert(!sniffed(TRM_MEDIA_TEXT, LIT("cut \xe2\x82"), piece));
        ck_assert(!sniffed(TRM_MEDIA_TEXT, LIT(""), piece));
    }
}
END_TEST

START_TEST(chunks_sealed_and_bound)
{
    unsigned char *key = trm_dek_new(), *other = trm_dek_new();
    uint8_t plain[100], sealed[100 + TRM_SEAL_OVERHEAD], out[100];
    randombytes_buf(plain, sizeof plain);
    ck_assert(trm_chunk_seal(key, doc_a, 7, false, plain, sizeof plain, sealed));
    ck_assert(trm_chunk_open(key, doc_a, 7, false, sealed, sizeof sealed, out));
    ck_assert_mem_eq(plain, out, sizeof plain);
    ck_assert(!trm_chunk_open(other, doc_a, 7, false, sealed, sizeof sealed, out));
    ck_assert(!trm_chunk_open(key, doc_b, 7, false, sealed, sizeof sealed, out));
    ck_assert(!trm_chunk_open(key, doc_a, 6, false, sealed, sizeof sealed, out));
    ck_assert(!trm_chunk_open(key, doc_a, 7, true, sealed, sizeof sealed, out));
    ck_assert(!trm_chunk_open(key, doc_a, 7, false, sealed, sizeof sealed - 1, out));
    ck_assert(!trm_chunk_open(key, doc_a, 7, false, sealed, 10, out));
    for (size_t i = 0; i < sizeof sealed; i += 13) {
        sealed[i] ^= 1;
        ck_assert(!trm_chunk_open(key, doc_a, 7, false, sealed, sizeof sealed, out));
        sealed[i] ^= 1;
    }
    ck_assert(!trm_chunk_seal(key, NULL, 0, false, plain, sizeof plain, sealed));
    trm_dek_free(key);
    trm_dek_free(other);
}
END_TEST

/* A sink that keeps every chunk, to be opened again. */
struct kept {
    char *hex[64];
    unsigned n;
    unsigned fail_at; /* answer UNAVAILABLE for this chunk (0: never) */
};

static enum trm_db_status keep(void *cls, uint32_t seq, const char *hex)
{
    struct kept *k = cls;
    ck_assert_uint_eq(seq, k->n);
    if (k->fail_at && seq + 1 == k->fail_at)
        return TRM_DB_UNAVAILABLE;
    ck_assert_uint_lt(k->n, 64);
    k->hex[k->n++] = strdup(hex);
    return TRM_DB_OK;
}

static void kept_free(struct kept *k)
{
    for (unsigned i = 0; i < k->n; i++)
        free(k->hex[i]);
}

/* Opens the kept chunks in order into out; returns the bytes. */
static size_t reopen(const struct kept *k, const unsigned char *key, uint8_t *out)
{
    size_t total = 0;
    uint8_t *sealed = malloc(TRM_DOC_SEALED_CHUNK_MAX);
    for (unsigned i = 0; i < k->n; i++) {
        size_t n = strlen(k->hex[i]) / 2;
        ck_assert(trm_hex_decode(k->hex[i], sealed, n));
        ck_assert(trm_chunk_open(key, doc_a, i, i + 1 == k->n, sealed, n, out + total));
        total += n - TRM_SEAL_OVERHEAD;
    }
    free(sealed);
    return total;
}

START_TEST(upload_in_chunks)
{
    /* Two and a half chunks of text, fed in odd pieces. */
    size_t len = 2 * TRM_DOC_CHUNK_BYTES + TRM_DOC_CHUNK_BYTES / 2;
    uint8_t *content = malloc(len), *back = malloc(len);
    for (size_t i = 0; i < len; i++)
        content[i] = (uint8_t)('a' + i % 26);
    struct kept k = {0};
    struct trm_upload *u = trm_upload_new(doc_a, TRM_MEDIA_TEXT, len, keep, &k);
    for (size_t i = 0; i < len; i += 7777)
        ck_assert_int_eq(trm_upload_feed(u, content + i, len - i < 7777 ? len - i : 7777),
                         TRM_UPLOAD_OK);
    ck_assert_uint_eq(k.n, 2); /* the third is held until the end says it is the last */
    ck_assert_int_eq(trm_upload_finish(u), TRM_UPLOAD_OK);
    ck_assert_uint_eq(k.n, 3);
    ck_assert_uint_eq(trm_upload_chunks(u), 3);
    ck_assert_uint_eq(trm_upload_size(u), len);
    ck_assert_uint_eq(reopen(&k, trm_upload_key(u), back), len);
    ck_assert_mem_eq(content, back, len);
    uint8_t digest[32];
    char hex[65], want[65];
    crypto_hash_sha256(digest, content, len);
    trm_hex_encode(digest, sizeof digest, want);
    trm_upload_sha256_hex(u, hex);
    ck_assert_str_eq(hex, want);
    trm_upload_free(u);
    kept_free(&k);

    /* Exactly one chunk: one chunk, the last. */
    struct kept one = {0};
    u = trm_upload_new(doc_a, TRM_MEDIA_TEXT, len, keep, &one);
    ck_assert_int_eq(trm_upload_feed(u, content, TRM_DOC_CHUNK_BYTES), TRM_UPLOAD_OK);
    ck_assert_int_eq(trm_upload_finish(u), TRM_UPLOAD_OK);
    ck_assert_uint_eq(one.n, 1);
    ck_assert_uint_eq(reopen(&one, trm_upload_key(u), back), TRM_DOC_CHUNK_BYTES);
    trm_upload_free(u);
    kept_free(&one);
    free(content);
    free(back);
}
END_TEST

START_TEST(upload_refusals)
{
    struct kept k = {0};
    /* Over the limit: refused, and every later call says so. */
    struct trm_upload *u = trm_upload_new(doc_a, TRM_MEDIA_TEXT, 10, keep, &k);
    ck_assert_int_eq(trm_upload_feed(u, "0123456789", 10), TRM_UPLOAD_OK);
    ck_assert_int_eq(trm_upload_feed(u, "x", 1), TRM_UPLOAD_TOO_LARGE);
    ck_assert_int_eq(trm_upload_finish(u), TRM_UPLOAD_TOO_LARGE);
    trm_upload_free(u);
    /* Wrong magic: refused at once, before any chunk is written. */
    u = trm_upload_new(doc_a, TRM_MEDIA_PDF, 1000, keep, &k);
    ck_assert_int_eq(trm_upload_feed(u, "\x89PNG", 4), TRM_UPLOAD_WRONG_TYPE);
    trm_upload_free(u);
    /* Text that turns out not to be, at the end. */
    u = trm_upload_new(doc_a, TRM_MEDIA_TEXT, 1000, keep, &k);
    ck_assert_int_eq(trm_upload_feed(u, "ok \xe2", 4), TRM_UPLOAD_OK);
    ck_assert_int_eq(trm_upload_finish(u), TRM_UPLOAD_WRONG_TYPE);
    trm_upload_free(u);
    /* Nothing at all. */
    u = trm_upload_new(doc_a, TRM_MEDIA_TEXT, 1000, keep, &k);
    ck_assert_int_eq(trm_upload_finish(u), TRM_UPLOAD_EMPTY);
    trm_upload_free(u);
    ck_assert_uint_eq(k.n, 0);
    /* The sink fails: its status is kept. */
    struct kept failing = {.fail_at = 1};
    u = trm_upload_new(doc_a, TRM_MEDIA_TEXT, 1000, keep, &failing);
    ck_assert_int_eq(trm_upload_feed(u, "text", 4), TRM_UPLOAD_OK);
    ck_assert_int_eq(trm_upload_finish(u), TRM_UPLOAD_SINK);
    ck_assert_int_eq(trm_upload_sink_status(u), TRM_DB_UNAVAILABLE);
    trm_upload_free(u);
    trm_upload_free(NULL);
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("document_chunks");
    TCase *tc = tcase_create("documents");
    tcase_add_test(tc, media_types_declared);
    tcase_add_test(tc, magic_bytes_and_text);
    tcase_add_test(tc, chunks_sealed_and_bound);
    tcase_add_test(tc, upload_in_chunks);
    tcase_add_test(tc, upload_refusals);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
