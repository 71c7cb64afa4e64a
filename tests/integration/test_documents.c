/* Documents of a case (issue 19): upload, list, metadata, content and deletion over HTTP; the
 * content sealed in chunks (nothing of it, nor its name, in clear in the database); refusals
 * that change nothing (wrong magic, unsupported type, limits, a bad name); grants decide who
 * sees a document (a recipient sees only the consented categories); erasure takes documents
 * with the key; uploads that stop midway leave nothing; and a 50 MiB upload streams through
 * trmd in a few hundred KiB (its peak resident memory, VmHWM, stays under 64 MiB). */
#include "check_run.h"
#include "harness.h"

#include "trm/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct trmd srv;
static char admin[128], agency_a[37], agency_b[37];
static char worker_a[128], coord_a[128], auditor_a[128], worker_b[128];
static char sentinel[24];
/* Personal text inside documents: in a dump it would show as hex (tests/sentinels.txt has
 * both), so it is a fixed phrase. */
static const char secret_text[] = "Docu Sentinel statement of the person\n";

static void setup(void)
{
    char user[37];
    h_trmd_start(&srv, NULL);
    h_admin(admin, "SE");
    h_agency(&srv, admin, "SE", "social_services", agency_a);
    h_agency(&srv, admin, "SE", "ngo", agency_b);
    h_user(&srv, admin, agency_a, "caseworker", false, user, worker_a);
    h_user(&srv, admin, agency_a, "coordinator", false, user, coord_a);
    h_user(&srv, admin, agency_a, "auditor", false, user, auditor_a);
    h_user(&srv, admin, agency_b, "caseworker", false, user, worker_b);
    snprintf(sentinel, sizeof sentinel, "Dq%dFn", getpid());
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

static void new_case(const struct trmd *t, char id[37])
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-10\", \"person\": {"
             "\"identity\": {\"full_name\": \"Name %s\"}}}",
             sentinel);
    struct h_resp r;
    h_api(t, worker_a, "POST", "/v1/cases", body, NULL, &r);
    h_expect(&r, 201, "create case");
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

/* Uploads len bytes of content to the case as token, with the query (kind=...), type and
 * file name given (NULL: no such header); extra: one more header line or NULL. */
static void upload(const struct trmd *t, const char *token, const char *case_id, const char *query,
                   const char *type, const char *name, const void *content, size_t len,
                   const char *extra, struct h_resp *r)
{
    char path[200], ct[128], fn[400];
    const char *headers[4] = {NULL};
    size_t n = 0;
    snprintf(path, sizeof path, "/v1/cases/%s/documents?%s", case_id, query);
    snprintf(ct, sizeof ct, "Content-Type: %s", type);
    headers[n++] = ct;
    if (name) {
        snprintf(fn, sizeof fn, "Trm-File-Name: %s", name);
        headers[n++] = fn;
    }
    if (extra)
        headers[n++] = extra;
    h_api_bytes(t, token, "POST", path, content, len, headers, r);
}

/* The sentinel file name, percent-encoded as a client sends it ("Åsa's" and the sentinel). */
static void file_name(char *out, size_t cap, const char *what)
{
    snprintf(out, cap, "%%C3%%85sa%%20%s%%20%s.txt", what, sentinel);
}

static void text_document(const char *case_id, const char *token, const char *kind, char did[37])
{
    char name[128];
    file_name(name, sizeof name, kind);
    char query[64];
    snprintf(query, sizeof query, "kind=%s", kind);
    struct h_resp r;
    upload(&srv, token, case_id, query, "text/plain", name, secret_text, sizeof secret_text - 1,
           NULL, &r);
    h_expect(&r, 201, "upload");
    snprintf(did, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static long count(const char *sql, const char *param)
{
    return h_count(sql, param);
}

static void sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t d[32];
    crypto_hash_sha256(d, data, len);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

START_TEST(upload_list_read_and_content)
{
    char id[37], did[37], path[256], buf[256], name[128], sha[65];
    new_case(&srv, id);
    file_name(name, sizeof name, "consent");
    struct h_resp r;
    long logged = count("SELECT count(*) FROM access_log WHERE case_id = $1", id);
    upload(&srv, worker_a, id, "kind=consent_form", "text/plain; charset=utf-8", name, secret_text,
           sizeof secret_text - 1, NULL, &r);
    h_expect(&r, 201, "upload");
    snprintf(did, sizeof did, "%s", h_str(&r, "id"));
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s", id, did);
    ck_assert_str_eq(h_header(&r, "Location", buf, sizeof buf), path);
    ck_assert_str_eq(h_str(&r, "kind"), "consent_form");
    ck_assert_str_eq(h_str(&r, "category"), "identity"); /* a consent form's by default */
    ck_assert_str_eq(h_str(&r, "media_type"), "text/plain");
    ck_assert_str_eq(h_str(&r, "case_id"), id);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "size")), sizeof secret_text - 1);
    snprintf(buf, sizeof buf, "Åsa consent %s.txt", sentinel);
    ck_assert_str_eq(h_str(&r, "file_name"), buf);
    sha256_hex(secret_text, sizeof secret_text - 1, sha);
    ck_assert_str_eq(h_str(&r, "sha256"), sha);
    h_resp_free(&r);

    /* The list and the metadata open the name (logged); the content is the bytes sent. */
    snprintf(path, sizeof path, "/v1/cases/%s/documents", id);
    h_api(&srv, worker_a, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "list");
    json_t *items = json_object_get(r.json, "items");
    ck_assert_int_eq(json_array_size(items), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "file_name")),
                     buf);
    ck_assert_ptr_null(json_object_get(json_array_get(items, 0), "sealed_meta"));
    ck_assert(json_is_null(json_object_get(r.json, "next_cursor")));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s", id, did);
    h_api(&srv, coord_a, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "metadata");
    ck_assert_str_eq(h_str(&r, "file_name"), buf);
    ck_assert_ptr_null(json_object_get(r.json, "sealed_key"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s/content", id, did);
    h_api(&srv, worker_a, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "content");
    ck_assert_uint_eq(r.body_len, sizeof secret_text - 1);
    ck_assert_mem_eq(r.body, secret_text, r.body_len);
    ck_assert_str_eq(h_header(&r, "Content-Type", buf, sizeof buf), "text/plain; charset=utf-8");
    ck_assert_str_eq(h_header(&r, "Content-Disposition", buf, sizeof buf), "attachment");
    ck_assert_str_eq(h_header(&r, "Cache-Control", buf, sizeof buf), "no-store");
    h_resp_free(&r);
    ck_assert_int_eq(count("SELECT count(*) FROM access_log WHERE case_id = $1", id), logged + 3);
    ck_assert_int_eq(count("SELECT count(*) FROM access_log WHERE case_id = $1 AND purpose = "
                           "'document_content' AND categories = '{identity}'",
                           id),
                     1);
    /* The timeline says a document came, with ids and codes only. */
    ck_assert_int_eq(count("SELECT count(*) FROM case_events WHERE case_id = $1 AND kind = "
                           "'document_added' AND details ->> 'category' = 'identity'",
                           id),
                     1);

    /* Sealed at rest: no name, no content, no hash in clear. */
    ck_assert_int_eq(count("SELECT count(*) FROM document_chunks c JOIN documents d ON "
                           "d.id = c.document_id WHERE d.case_id = $1 AND (position("
                           "convert_to('Docu Sentinel', 'UTF8') IN c.sealed) > 0 OR "
                           "position(convert_to('Sentinel', 'UTF8') IN d.sealed_meta) > 0)",
                           id),
                     0);
}
END_TEST

/* A PNG of two and a half chunks: the bytes come back exactly, chunk boundaries and all. */
START_TEST(multi_chunk_binary_round_trip)
{
    char id[37], path[256], name[128], sha[65];
    new_case(&srv, id);
    size_t len = 2 * 256 * 1024 + 1000;
    uint8_t *png = malloc(len);
    randombytes_buf(png, len);
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    file_name(name, sizeof name, "passport");
    struct h_resp r;
    upload(&srv, worker_a, id, "kind=identity_document", "image/png", name, png, len, NULL, &r);
    h_expect(&r, 201, "upload png");
    sha256_hex(png, len, sha);
    ck_assert_str_eq(h_str(&r, "sha256"), sha);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s/content", id, h_str(&r, "id"));
    ck_assert_int_eq(
        count("SELECT count(*) FROM document_chunks WHERE document_id = $1", h_str(&r, "id")), 3);
    h_resp_free(&r);
    h_api(&srv, worker_a, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "content");
    ck_assert_uint_eq(r.body_len, len);
    ck_assert_mem_eq(r.body, png, len);
    h_resp_free(&r);
    free(png);
}
END_TEST

/* A case's chunks, staged uploads' included. */
#define CASE_CHUNKS                                                                                \
    "SELECT count(*) FROM document_chunks c JOIN documents d ON d.id = c.document_id "             \
    "WHERE d.case_id = $1"

/* Every refusal answers its problem and leaves no row behind. */
START_TEST(refusals_change_nothing)
{
    char id[37], name[128];
    new_case(&srv, id);
    file_name(name, sizeof name, "refused");
    /* This case's rows only: other tests upload to the same database meanwhile. */
    long docs = count("SELECT count(*) FROM documents WHERE case_id = $1", id);
    long chunks = count(CASE_CHUNKS, id);
    static const char pdf[] = "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n";
    struct {
        const char *query, *type;
        bool named;
        const char *content;
        size_t len;
        long status;
        const char *code;
    } cases[] = {
        /* A PDF sent as a PNG: the magic bytes say otherwise. */
        {"kind=medical", "image/png", true, pdf, sizeof pdf - 1, 415, "media_type_mismatch"},
        {"kind=medical", "image/jpeg", true, pdf, sizeof pdf - 1, 415, "media_type_mismatch"},
        {"kind=medical", "text/plain", true, "\x89PNG\r\n\x1a\n", 8, 415, "media_type_mismatch"},
        {"kind=medical", "text/plain", true, "caf\xe9", 4, 415, "media_type_mismatch"},
        {"kind=medical", "text/html", true, "<p>hi</p>", 9, 415, "unsupported_media_type"},
        {"kind=medical", "text/plain; charset=latin1", true, "hi", 2, 415,
         "unsupported_media_type"},
        {"kind=medical", "application/pdf", true, "", 0, 400, "bad_request"},
        {"kind=medical", "application/pdf", false, pdf, sizeof pdf - 1, 400, "bad_request"},
        {"kind=passport", "application/pdf", true, pdf, sizeof pdf - 1, 400, "invalid_parameter"},
        {"category=health", "application/pdf", true, pdf, sizeof pdf - 1, 400, "invalid_parameter"},
        {"kind=other", "application/pdf", true, pdf, sizeof pdf - 1, 400, "invalid_parameter"},
        {"kind=other&category=secrets", "application/pdf", true, pdf, sizeof pdf - 1, 400,
         "invalid_parameter"},
    };
    struct h_resp r;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        upload(&srv, worker_a, id, cases[i].query, cases[i].type, cases[i].named ? name : NULL,
               cases[i].content, cases[i].len, NULL, &r);
        ck_assert_msg(r.status == cases[i].status, "case %zu: %ld %s", i, r.status, r.body);
        h_assert_problem(&r, cases[i].status, cases[i].code);
        ck_assert_ptr_null(strstr(r.body, sentinel));
        h_resp_free(&r);
    }
    /* Names that are not one. */
    const char *bad_names[] = {"",       "a%2Fb", "..%5C..", "tab%09",
                               "%FF%FE", "%C3",   "x%2",     "raw\xc3\x85"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        upload(&srv, worker_a, id, "kind=medical", "application/pdf", bad_names[i], pdf,
               sizeof pdf - 1, NULL, &r);
        ck_assert_msg(r.status == 400, "name %zu: %ld", i, r.status);
        h_resp_free(&r);
    }
    ck_assert_int_eq(count("SELECT count(*) FROM documents WHERE case_id = $1", id), docs);
    ck_assert_int_eq(count(CASE_CHUNKS, id), chunks);
}
END_TEST

/* Who may: the owner's caseworkers and coordinators; not an auditor or admin (403), not
 * another agency (404: it must not learn the case exists), not without a token (401). */
START_TEST(who_may_touch_documents)
{
    char id[37], did[37], path[256], name[128];
    new_case(&srv, id);
    text_document(id, worker_a, "medical", did);
    file_name(name, sizeof name, "who");
    struct h_resp r;
    const char *readers[] = {auditor_a, admin, worker_b};
    const long statuses[] = {403, 403, 404};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/v1/cases/%s/documents", id);
        h_api(&srv, readers[i], "GET", path, NULL, NULL, &r);
        ck_assert_int_eq(r.status, statuses[i]);
        h_resp_free(&r);
        snprintf(path, sizeof path, "/v1/cases/%s/documents/%s", id, did);
        h_api(&srv, readers[i], "GET", path, NULL, NULL, &r);
        ck_assert_int_eq(r.status, statuses[i]);
        h_resp_free(&r);
        snprintf(path, sizeof path, "/v1/cases/%s/documents/%s/content", id, did);
        h_api(&srv, readers[i], "GET", path, NULL, NULL, &r);
        ck_assert_int_eq(r.status, statuses[i]);
        h_resp_free(&r);
        upload(&srv, readers[i], id, "kind=medical", "text/plain", name, "x", 1, NULL, &r);
        ck_assert_int_eq(r.status, statuses[i]);
        h_resp_free(&r);
    }
    upload(&srv, NULL, id, "kind=medical", "text/plain", name, "x", 1, NULL, &r);
    h_assert_problem(&r, 401, "unauthenticated");
    h_resp_free(&r);
    upload(&srv, worker_a, "00000000-0000-4000-8000-000000000000", "kind=medical", "text/plain",
           name, "x", 1, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/00000000-0000-4000-8000-000000000000", id);
    h_api(&srv, worker_a, "GET", path, NULL, NULL, &r);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
}
END_TEST

static long status_of(const char *token, const char *method, const char *path, const char *body);

/* A transfer hands the new owner the documents of the consented categories (their keys sealed
 * again under the case's new key) and deletes the others; the former owner keeps none. */
START_TEST(transfer_keeps_consented_documents)
{
    char id[37], id_doc[37], health_doc[37], cid[37], rid[37], path[256], body[1024];
    new_case(&srv, id);
    text_document(id, worker_a, "identity_document", id_doc);
    text_document(id, worker_a, "medical", health_doc);
    snprintf(path, sizeof path, "/v1/cases/%s/consents", id);
    snprintf(body, sizeof body,
             "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\", \"categories\": "
             "[\"identity\"], \"recipients\": {\"agency_ids\": [\"%s\"]}}",
             agency_b);
    struct h_resp r;
    h_api(&srv, worker_a, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "consent");
    snprintf(cid, sizeof cid, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", id);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"transfer\", \"purpose\": "
             "\"accommodation\", \"categories\": [\"identity\"], \"handling_code\": \"H2\", "
             "\"legal_basis\": \"consent\", \"consent_id\": \"%s\"}",
             agency_b, cid);
    h_api(&srv, worker_a, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "transfer");
    snprintf(rid, sizeof rid, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/referrals/%s/accept", rid);
    ck_assert_int_eq(status_of(worker_b, "POST", path, "{}"), 200);

    ck_assert_int_eq(count("SELECT count(*) FROM documents WHERE id = $1", health_doc), 0);
    ck_assert_int_eq(
        count("SELECT count(*) FROM document_chunks WHERE document_id = $1", health_doc), 0);
    snprintf(path, sizeof path, "/v1/cases/%s/documents", id);
    h_api(&srv, worker_b, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "new owner's list");
    json_t *items = json_object_get(r.json, "items");
    ck_assert_int_eq(json_array_size(items), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "id")), id_doc);
    ck_assert_ptr_nonnull(strstr(
        json_string_value(json_object_get(json_array_get(items, 0), "file_name")), sentinel));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s/content", id, id_doc);
    h_api(&srv, worker_b, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "content under the new key");
    ck_assert_mem_eq(r.body, secret_text, sizeof secret_text - 1);
    h_resp_free(&r);
    ck_assert_int_eq(status_of(worker_a, "GET", path, NULL), 404);
    snprintf(path, sizeof path, "/v1/cases/%s/documents", id);
    h_api(&srv, worker_a, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "former owner's list");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 0);
    h_resp_free(&r);
}
END_TEST

static void share_with_b(const char *id, const char *categories, char cid[37], char rid[37])
{
    char path[128], body[1024];
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s/consents", id);
    snprintf(body, sizeof body,
             "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\", \"categories\": [%s], "
             "\"recipients\": {\"agency_ids\": [\"%s\"]}}",
             categories, agency_b);
    h_api(&srv, worker_a, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "consent");
    snprintf(cid, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", id);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"referral\", \"purpose\": \"medical\", "
             "\"categories\": [%s], \"handling_code\": \"H2\", \"legal_basis\": \"consent\", "
             "\"consent_id\": \"%s\"}",
             agency_b, categories, cid);
    h_api(&srv, worker_a, "POST", path, body, NULL, &r);
    h_expect(&r, 201, "offer");
    snprintf(rid, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static long status_of(const char *token, const char *method, const char *path, const char *body)
{
    struct h_resp r;
    h_api(&srv, token, method, path, body, NULL, &r);
    long s = r.status;
    h_resp_free(&r);
    return s;
}

/* A recipient sees the documents of the consented categories only, adds documents of those
 * only, never deletes, and loses them all when the consent is withdrawn. */
START_TEST(recipient_sees_consented_categories_only)
{
    char id[37], id_doc[37], health_doc[37], cid[37], rid[37], path[256], name[128];
    new_case(&srv, id);
    text_document(id, worker_a, "identity_document", id_doc);
    text_document(id, worker_a, "medical", health_doc);
    share_with_b(id, "\"identity\"", cid, rid);
    snprintf(path, sizeof path, "/v1/referrals/%s/accept", rid);
    ck_assert_int_eq(status_of(worker_b, "POST", path, "{}"), 200);

    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s/documents", id);
    h_api(&srv, worker_b, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "recipient's list");
    json_t *items = json_object_get(r.json, "items");
    ck_assert_int_eq(json_array_size(items), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "id")), id_doc);
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s", id, health_doc);
    ck_assert_int_eq(status_of(worker_b, "GET", path, NULL), 404);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s/content", id, health_doc);
    ck_assert_int_eq(status_of(worker_b, "GET", path, NULL), 404);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s/content", id, id_doc);
    ck_assert_int_eq(status_of(worker_b, "GET", path, NULL), 200);
    /* It may add a document of the consented category, not of another. */
    file_name(name, sizeof name, "from-b");
    upload(&srv, worker_b, id, "kind=identity_document", "text/plain", name, "ID", 2, NULL, &r);
    h_expect(&r, 201, "recipient's upload");
    h_resp_free(&r);
    upload(&srv, worker_b, id, "kind=medical", "text/plain", name, "MD", 2, NULL, &r);
    h_assert_problem(&r, 403, "category_not_granted");
    h_resp_free(&r);
    /* Only the owner deletes. */
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s", id, id_doc);
    ck_assert_int_eq(status_of(worker_b, "DELETE", path, "{\"reason\": \"superseded\"}"), 403);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s", id, health_doc);
    ck_assert_int_eq(status_of(worker_b, "DELETE", path, "{\"reason\": \"superseded\"}"), 404);
    /* The owner sees both of its own and the recipient's. */
    snprintf(path, sizeof path, "/v1/cases/%s/documents", id);
    h_api(&srv, worker_a, "GET", path, NULL, NULL, &r);
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 3);
    h_resp_free(&r);
    /* The consent withdrawn: the recipient sees none of them. */
    snprintf(path, sizeof path, "/v1/cases/%s/consents/%s/withdraw", id, cid);
    ck_assert_int_eq(status_of(worker_a, "POST", path, "{\"reason\": \"withdrawn by the person\"}"),
                     200);
    snprintf(path, sizeof path, "/v1/cases/%s/documents", id);
    h_api(&srv, worker_b, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "recipient's list after withdrawal");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 0);
    h_resp_free(&r);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s/content", id, id_doc);
    ck_assert_int_eq(status_of(worker_b, "GET", path, NULL), 404);
}
END_TEST

START_TEST(delete_with_reason)
{
    char id[37], did[37], path[256];
    new_case(&srv, id);
    text_document(id, worker_a, "court", did);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s", id, did);
    struct h_resp r;
    h_api(&srv, worker_a, "DELETE", path, "{\"reason\": \"because\"}", NULL, &r);
    h_assert_problem(&r, 400, "validation_failed");
    h_resp_free(&r);
    h_api(&srv, worker_a, "DELETE", path, "{}", NULL, &r);
    h_assert_problem(&r, 400, "validation_failed");
    h_resp_free(&r);
    ck_assert_int_eq(status_of(worker_a, "DELETE", path, "{\"reason\": \"uploaded_in_error\"}"),
                     204);
    ck_assert_int_eq(status_of(worker_a, "GET", path, NULL), 404);
    ck_assert_int_eq(status_of(worker_a, "DELETE", path, "{\"reason\": \"uploaded_in_error\"}"),
                     404);
    ck_assert_int_eq(count("SELECT count(*) FROM document_chunks WHERE document_id = $1", did), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM case_events WHERE kind = 'document_deleted' "
                           "AND details ->> 'document_id' = $1 AND details ->> 'reason' = "
                           "'uploaded_in_error'",
                           did),
                     1);
}
END_TEST

/* Erasure takes the documents with the case's key: rows, chunks and key are gone, the content
 * is not found, and nothing can be added any more. */
START_TEST(erasure_makes_documents_unreadable)
{
    char id[37], did[37], path[256], name[128];
    new_case(&srv, id);
    text_document(id, worker_a, "medical", did);
    ck_assert_int_gt(count("SELECT count(*) FROM document_chunks WHERE document_id = $1", did), 0);
    snprintf(path, sizeof path, "/v1/cases/%s/personal-data", id);
    ck_assert_int_eq(status_of(coord_a, "DELETE", path, "{\"reason\": \"requested_by_person\"}"),
                     200);
    ck_assert_int_eq(count("SELECT count(*) FROM document_chunks WHERE document_id = $1", did), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM documents WHERE id = $1", did), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM case_keys WHERE case_id = $1", id), 0);
    snprintf(path, sizeof path, "/v1/cases/%s/documents/%s/content", id, did);
    ck_assert_int_eq(status_of(worker_a, "GET", path, NULL), 404);
    snprintf(path, sizeof path, "/v1/cases/%s/documents", id);
    struct h_resp r;
    h_api(&srv, worker_a, "GET", path, NULL, NULL, &r);
    h_expect(&r, 200, "list after erasure");
    ck_assert_int_eq(json_array_size(json_object_get(r.json, "items")), 0);
    h_resp_free(&r);
    file_name(name, sizeof name, "late");
    upload(&srv, worker_a, id, "kind=medical", "text/plain", name, "x", 1, NULL, &r);
    h_assert_problem(&r, 409, "case_erased");
    h_resp_free(&r);
}
END_TEST

START_TEST(idempotent_upload)
{
    char id[37], name[128], key[96], first[37];
    new_case(&srv, id);
    file_name(name, sizeof name, "idem");
    snprintf(key, sizeof key, "Idempotency-Key: doc-%d", getpid());
    struct h_resp r;
    upload(&srv, worker_a, id, "kind=medical", "text/plain", name, "Same", 4, key, &r);
    h_expect(&r, 201, "first");
    snprintf(first, sizeof first, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    upload(&srv, worker_a, id, "kind=medical", "text/plain", name, "Same", 4, key, &r);
    h_expect(&r, 201, "replay");
    ck_assert_str_eq(h_str(&r, "id"), first);
    ck_assert_ptr_nonnull(h_str(&r, "file_name"));
    h_resp_free(&r);
    upload(&srv, worker_a, id, "kind=medical", "text/plain", name, "Else", 4, key, &r);
    h_assert_problem(&r, 422, "idempotency_mismatch");
    h_resp_free(&r);
    ck_assert_int_eq(count("SELECT count(*) FROM documents WHERE case_id = $1", id), 1);
}
END_TEST

/* Content made on the fly: a PDF header, then a repeating pattern. */
struct pattern {
    unsigned long long len;
    unsigned long long abort_at; /* 0: never */
};

static size_t pattern_gen(void *cls, unsigned long long off, char *buf, size_t n)
{
    struct pattern *p = cls;
    if (p->abort_at && off >= p->abort_at)
        return 0x10000000; /* CURL_READFUNC_ABORT */
    static const char head[] = "%PDF-1.7\n";
    for (size_t i = 0; i < n; i++) {
        unsigned long long at = off + i;
        buf[i] = at < sizeof head - 1 ? head[at] : (char)('A' + at % 23);
    }
    return n;
}

/* The limits: one document, all of a case's documents, a declared size over the limit
 * refused before a byte is read, and an upload that is cut off leaving nothing. */
START_TEST(limits_and_broken_uploads)
{
    const char *env[] = {"TRM_DOCUMENT_MAX_BYTES=300000", "TRM_CASE_DOCUMENTS_MAX_BYTES=500000",
                         NULL};
    struct trmd small;
    h_trmd_start(&small, env);
    char id[37], path[160], name[128];
    new_case(&small, id);
    file_name(name, sizeof name, "big");
    snprintf(path, sizeof path, "/v1/cases/%s/documents?kind=court", id);
    char fn[300];
    snprintf(fn, sizeof fn, "Trm-File-Name: %s", name);
    const char *pdf_headers[] = {"Content-Type: application/pdf", fn, NULL};
    const char *chunked[] = {"Content-Type: application/pdf", fn, "Transfer-Encoding: chunked",
                             NULL};
    /* This case's documents only: other tests upload to the same database meanwhile. */
    long docs = count("SELECT count(*) FROM documents WHERE case_id = $1", id);
    struct h_resp r;
    struct pattern p = {250000, 0};
    ck_assert(
        h_api_stream(&small, worker_a, "POST", path, p.len, pattern_gen, &p, pdf_headers, &r));
    h_expect(&r, 201, "first");
    h_resp_free(&r);
    /* Declared too large: refused on the headers. */
    p.len = 300001;
    ck_assert(
        h_api_stream(&small, worker_a, "POST", path, p.len, pattern_gen, &p, pdf_headers, &r));
    h_assert_problem(&r, 413, "document_too_large");
    h_resp_free(&r);
    /* Sent chunked, with no size said: refused once it passes the limit. */
    p.len = 400000;
    ck_assert(h_api_stream(&small, worker_a, "POST", path, p.len, pattern_gen, &p, chunked, &r));
    h_assert_problem(&r, 413, "document_too_large");
    h_resp_free(&r);
    /* The case's documents together: 250 000 + 260 000 > 500 000. */
    p.len = 260000;
    ck_assert(
        h_api_stream(&small, worker_a, "POST", path, p.len, pattern_gen, &p, pdf_headers, &r));
    h_assert_problem(&r, 413, "case_documents_full");
    h_resp_free(&r);
    ck_assert(h_api_stream(&small, worker_a, "POST", path, p.len, pattern_gen, &p, chunked, &r));
    h_assert_problem(&r, 413, "case_documents_full");
    h_resp_free(&r);
    ck_assert_int_eq(count("SELECT count(*) FROM documents WHERE case_id = $1", id), docs + 1);
    /* A client that goes away midway: its staged upload is undone. */
    p = (struct pattern){200000, 100000};
    struct h_resp gone;
    ck_assert(
        !h_api_stream(&small, worker_a, "POST", path, p.len, pattern_gen, &p, pdf_headers, &gone));
    h_resp_free(&gone);
    h_trmd_stop(&small);
    ck_assert_int_eq(
        count("SELECT count(*) FROM documents WHERE case_id = $1 AND uploaded_at IS NULL", id), 0);
    ck_assert_int_eq(count("SELECT count(*) FROM documents WHERE case_id = $1", id), docs + 1);
}
END_TEST

/* VmHWM of a process, in kB (its peak resident set since it started). */
static long peak_kb(pid_t pid)
{
    char file[64], line[256];
    snprintf(file, sizeof file, "/proc/%d/status", (int)pid);
    FILE *f = fopen(file, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

START_TEST(fifty_mib_upload_streams)
{
    const unsigned long long len = 50ULL * 1024 * 1024;
    const char *env[] = {"TRM_DOCUMENT_MAX_BYTES=60000000", "TRM_CASE_DOCUMENTS_MAX_BYTES=60000000",
                         NULL};
    struct trmd big;
    h_trmd_start(&big, env);
    char id[37], path[200], name[128], fn[300];
    new_case(&big, id);
    file_name(name, sizeof name, "large");
    snprintf(fn, sizeof fn, "Trm-File-Name: %s", name);
    snprintf(path, sizeof path, "/v1/cases/%s/documents?kind=court", id);
    const char *headers[] = {"Content-Type: application/pdf", fn, NULL};
    struct pattern p = {len, 0};
    long before = peak_kb(big.pid);
    double t0 = trm_now_ms();
    struct h_resp r;
    ck_assert(h_api_stream(&big, worker_a, "POST", path, len, pattern_gen, &p, headers, &r));
    double ms = trm_now_ms() - t0;
    h_expect(&r, 201, "50 MiB upload");
    long peak = peak_kb(big.pid);
    char did[37];
    snprintf(did, sizeof did, "%s", h_str(&r, "id"));
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "size")), (json_int_t)len);
    h_resp_free(&r);
    fprintf(stderr,
            "documents: 50 MiB upload: trmd VmHWM %ld kB before, %ld kB after; %.0f ms "
            "(%.1f MiB/s)\n",
            before, peak, ms, 50.0 / (ms / 1000.0));
    ck_assert_msg(peak > 0 && peak < 64 * 1024, "trmd's peak resident memory: %ld kB", peak);
    ck_assert_int_eq(count("SELECT count(*) FROM document_chunks WHERE document_id = $1", did),
                     200);
    h_trmd_stop(&big);
}
END_TEST

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    Suite *s = suite_create("documents");
    TCase *tc = tcase_create("documents");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 280);
    tcase_add_test(tc, upload_list_read_and_content);
    tcase_add_test(tc, multi_chunk_binary_round_trip);
    tcase_add_test(tc, refusals_change_nothing);
    tcase_add_test(tc, who_may_touch_documents);
    tcase_add_test(tc, recipient_sees_consented_categories_only);
    tcase_add_test(tc, transfer_keeps_consented_documents);
    tcase_add_test(tc, delete_with_reason);
    tcase_add_test(tc, erasure_makes_documents_unreadable);
    tcase_add_test(tc, idempotent_upload);
    tcase_add_test(tc, limits_and_broken_uploads);
    tcase_add_test(tc, fifty_mib_upload_streams);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
