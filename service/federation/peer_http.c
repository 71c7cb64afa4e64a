/* Talking to a peer over HTTP (libcurl), and saying in words what went wrong: the delivery
 * worker and `trmctl peer check` fetch a peer's directory the same way (one signed GET) and
 * explain a failure with the same sentence, naming the peer, the URL and, when the peer
 * answered, its status and problem code. */
#include "trm/directory_store.h"
#include "trm/federation_ops.h"
#include "trm/json_spec.h"
#include "trm/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_ANSWER_BYTES (1024 * 1024)

struct buffer {
    char *data;
    size_t len;
};

static size_t collect(char *ptr, size_t size, size_t n, void *arg)
{
    struct buffer *b = arg;
    size_t add = size * n;
    if (b->len + add > MAX_ANSWER_BYTES)
        return 0;
    char *grown = realloc(b->data, b->len + add + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + b->len, ptr, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* Keeps the answer's Trm-Signature header (empty when absent or too long). */
static size_t signature_header(char *ptr, size_t size, size_t n, void *arg)
{
    char *hex = arg;
    size_t len = size * n;
    static const char name[] = "trm-signature:";
    if (len > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0) {
        const char *v = ptr + sizeof name - 1;
        size_t vlen = len - (sizeof name - 1);
        while (vlen > 0 && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        hex[0] = '\0';
        if (vlen <= 2 * TRM_FED_SIG_BYTES) {
            memcpy(hex, v, vlen);
            hex[vlen] = '\0';
        }
    }
    return len;
}

/* The problem code of an error answer (our codes are short snake_case words). */
static void problem_code(const char *body, char *out, size_t cap)
{
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(j, "code"));
    out[0] = '\0';
    if (code && strlen(code) < cap && strlen(code) < 40 &&
        strspn(code, "abcdefghijklmnopqrstuvwxyz_") == strlen(code))
        snprintf(out, cap, "%s", code);
    json_decref(j);
}

char *trm_fed_exchange(struct trm_fed_exchange *x, const char *body, const char *const *headers,
                       long timeout_s, char *signature_hex)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *h = NULL;
    struct buffer b = {0};
    char err[CURL_ERROR_SIZE] = "";
    x->status = 0;
    x->transport_error = x->os_errno = 0;
    x->transport[0] = x->code[0] = '\0';
    if (curl == NULL) {
        x->transport_error = -1;
        snprintf(x->transport, sizeof x->transport, "out of memory");
        return NULL;
    }
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(curl, CURLOPT_URL, x->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
    if (signature_hex != NULL) {
        signature_hex[0] = '\0';
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, signature_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, signature_hex);
    }
    if (body != NULL)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &x->status);
        if (x->status >= 400)
            problem_code(b.data, x->code, sizeof x->code);
    } else {
        x->transport_error = (int)rc;
        long os_errno = 0;
        curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
        x->os_errno = (int)os_errno;
        trm_strlcpy(x->transport, err[0] ? err : curl_easy_strerror(rc), sizeof x->transport);
        x->transport[strcspn(x->transport, "\r\n")] = '\0';
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        free(b.data);
        return NULL;
    }
    return b.data ? b.data : calloc(1, 1);
}

/* Why no answer came, in words. */
static void explain_transport(const struct trm_fed_exchange *x, long timeout_s, char *out,
                              size_t cap)
{
    switch (x->transport_error) {
    case CURLE_COULDNT_CONNECT:
        if (x->os_errno == ECONNREFUSED)
            snprintf(out, cap, "connection refused at %s (is trmd running there, on that port?)",
                     x->url);
        else
            snprintf(out, cap, "could not connect to %s (%s)", x->url, x->transport);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, cap, "the host of %s is not known (check the URL)", x->url);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(out, cap, "no answer from %s within %ld s", x->url, timeout_s);
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
        snprintf(out, cap, "TLS failed with %s (%s)", x->url, x->transport);
        break;
    default:
        snprintf(out, cap, "no answer from %s (%s)", x->url, x->transport);
    }
}

void trm_fed_explain(const struct trm_fed_exchange *x, const char *peer, const char *me,
                     long timeout_s, char *out, size_t cap)
{
    const char *code = x->code;
    if (x->status == 0) {
        explain_transport(x, timeout_s, out, cap);
    } else if (strcmp(code, "peer_unauthenticated") == 0) {
        snprintf(out, cap,
                 "%s answered %ld %s: this instance (%s) is not registered there, or with another "
                 "signing key",
                 peer, x->status, code, me);
    } else if (strcmp(code, "unknown_peer") == 0) {
        snprintf(out, cap, "%s answered %ld %s: this instance (%s) is not registered there", peer,
                 x->status, code, me);
    } else if (strcmp(code, "bad_signature") == 0) {
        snprintf(out, cap,
                 "%s answered %ld %s: this instance (%s) is registered there with another "
                 "signing key",
                 peer, x->status, code, me);
    } else if (strcmp(code, "federation_disabled") == 0) {
        snprintf(out, cap,
                 "%s answered %ld %s: it has no federation identity yet (trmctl instance init "
                 "there)",
                 peer, x->status, code);
    } else if (strcmp(code, "misdirected") == 0) {
        snprintf(out, cap, "%s answered %ld %s: the instance at %s is not %s (check its URL)", peer,
                 x->status, code, x->url, peer);
    } else if (x->status == 404 || x->status == 405) {
        snprintf(out, cap,
                 "%s answered %ld%s%s at %s: no trm federation endpoint there (check "
                 "the URL registered for %s)",
                 peer, x->status, code[0] ? " " : "", code, x->url, peer);
    } else {
        snprintf(out, cap, "%s answered %ld%s%s at %s", peer, x->status, code[0] ? " " : "", code,
                 x->url);
    }
}

/* A directory item as we store it: every field checked. */
static json_t *directory_item(json_t *it)
{
    const char *id = json_string_value(json_object_get(it, "id"));
    const char *name = json_string_value(json_object_get(it, "name"));
    const char *country = json_string_value(json_object_get(it, "country"));
    const char *kind = json_string_value(json_object_get(it, "kind"));
    json_t *active = json_object_get(it, "active");
    if (!id || !trm_uuid_parse(id, NULL) || !name || strlen(name) < 1 ||
        strlen(name) > TRM_NAME_MAX || !trm_json_text_ok(name) || !country ||
        !trm_json_is_country(country) || !trm_str_in(kind, trm_agency_kinds) ||
        !json_is_boolean(active))
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:s, s:O}", "id", id, "name", name, "country", country,
                     "kind", kind, "active", active);
}

/* The items of a directory answer of peer, validated; NULL when it is not one. Sets the
 * highest package version the peer reads (1 when it does not say). */
static json_t *directory_items(json_t *doc, const char *peer, int *package_version)
{
    const char *inst = json_string_value(json_object_get(doc, "instance_id"));
    json_t *list = json_object_get(doc, "items"), *it, *v;
    if (!inst || strcmp(inst, peer) != 0 || !json_is_array(list))
        return NULL;
    json_t *items = json_array();
    size_t i;
    json_array_foreach(list, i, it)
    {
        json_t *clean = directory_item(it);
        if (clean == NULL) {
            json_decref(items);
            return NULL;
        }
        json_array_append_new(items, clean);
    }
    *package_version = 1;
    json_array_foreach(json_object_get(doc, "package_versions"), i, v)
    {
        json_int_t n = json_integer_value(v);
        if (n > *package_version && n <= TRM_FED_VERSION_MAX)
            *package_version = (int)n;
    }
    return items;
}

void trm_fed_directory_fetch(const struct trm_keyring *kr, const char *me, const char *peer,
                             const char *base_url, const uint8_t signing_key[TRM_FED_KEY_BYTES],
                             long timeout_s, struct trm_fed_directory *out)
{
    static const char path[] = "/v1/federation/agencies";
    char now[24], hdr[3][200], sig_hex[2 * TRM_FED_SIG_BYTES + 1],
        answer_sig[2 * TRM_FED_SIG_BYTES + 1];
    uint8_t sig[TRM_FED_SIG_BYTES], peer_sig[TRM_FED_SIG_BYTES];
    memset(out, 0, sizeof *out);
    snprintf(out->x.url, sizeof out->x.url, "%s%s", base_url, path);
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    trm_fed_sign_request(kr, "GET", path, now, me, sig);
    trm_hex_encode(sig, sizeof sig, sig_hex);
    snprintf(hdr[0], sizeof hdr[0], "Trm-Instance: %s", me);
    snprintf(hdr[1], sizeof hdr[1], "Trm-Time: %s", now);
    snprintf(hdr[2], sizeof hdr[2], "Trm-Signature: %s", sig_hex);
    const char *headers[] = {hdr[0], hdr[1], hdr[2], NULL};
    char *body = trm_fed_exchange(&out->x, NULL, headers, timeout_s, answer_sig);
    json_t *doc = NULL;
    if (out->x.status != 200) {
        out->verdict = TRM_FED_FAILED;
        trm_fed_explain(&out->x, peer, me, timeout_s, out->sentence, sizeof out->sentence);
    } else if (strlen(answer_sig) != 2 * sizeof peer_sig ||
               !trm_hex_decode(answer_sig, peer_sig, sizeof peer_sig) ||
               !trm_fed_verify_directory(signing_key, body, strlen(body), peer, me, now,
                                         peer_sig)) {
        /* Only an answer the peer signed for this very request counts. */
        out->verdict = TRM_FED_BAD_SIGNATURE;
        snprintf(out->sentence, sizeof out->sentence,
                 "signature does not match the signing key registered for %s (the answer of %s)",
                 peer, out->x.url);
    } else if ((doc = json_loads(body, 0, NULL)) == NULL ||
               (out->items = directory_items(doc, peer, &out->package_version)) == NULL) {
        out->verdict = TRM_FED_NOT_A_DIRECTORY;
        snprintf(out->sentence, sizeof out->sentence,
                 "the answer of %s is not a directory of %s (it names another instance, or an "
                 "agency is malformed)",
                 out->x.url, peer);
    } else {
        out->verdict = TRM_FED_CONNECTED;
        snprintf(out->sentence, sizeof out->sentence,
                 "connected: %s at %s answered with its directory (%zu agencies), signed with "
                 "its registered key",
                 peer, base_url, json_array_size(out->items));
    }
    json_decref(doc);
    free(body);
}
