/* The delivery worker: carries the outbox to peers (POST /v1/federation/inbox), retrying
 * with exponential backoff while a peer is down, until the peer answers with a receipt that
 * its registered key signed; and keeps each peer's agency directory fresh (a signed GET of
 * /v1/federation/agencies). Packages are claimed with a lease in PostgreSQL, so several trmd
 * processes share the outbox; a package delivered twice (a lease that ran out, a crash
 * before the receipt was stored) gets the same receipt from the peer, which stores it once.
 * HTTP goes through libcurl. */
#include "trm/app.h"
#include "trm/directory.h"
#include "trm/federation_ops.h"
#include "trm/federation_store.h"
#include "trm/json_spec.h"
#include "trm/log.h"
#include "trm/util.h"

#include <curl/curl.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLAIM_BATCH 16
#define MAX_ANSWER_BYTES (1024 * 1024)

struct buffer {
    char *data;
    size_t len;
    bool too_big;
};

static size_t collect(char *ptr, size_t size, size_t n, void *arg)
{
    struct buffer *b = arg;
    size_t add = size * n;
    if (b->len + add > MAX_ANSWER_BYTES) {
        b->too_big = true;
        return 0;
    }
    char *grown = realloc(b->data, b->len + add + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + b->len, ptr, add);
    b->data = grown;
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* The value of the answer's Trm-Signature header (empty when absent or too long). */
struct signature_header {
    char hex[2 * TRM_FED_SIG_BYTES + 1];
};

static size_t signature_header(char *ptr, size_t size, size_t n, void *arg)
{
    struct signature_header *h = arg;
    size_t len = size * n;
    static const char name[] = "trm-signature:";
    if (len > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0) {
        const char *v = ptr + sizeof name - 1;
        size_t vlen = len - (sizeof name - 1);
        while (vlen > 0 && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        h->hex[0] = '\0';
        if (vlen < sizeof h->hex) {
            memcpy(h->hex, v, vlen);
            h->hex[vlen] = '\0';
        }
    }
    return len;
}

/* One HTTP exchange; returns the status (0 when no answer came) and the body in out (and the
 * Trm-Signature header in sig, when given). */
static long exchange(CURL *curl, const struct trm_config *cfg, const char *url, const char *body,
                     struct curl_slist *headers, struct buffer *out, struct signature_header *sig)
{
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, cfg->federation_timeout_s);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, cfg->federation_timeout_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    if (sig != NULL) {
        sig->hex[0] = '\0';
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, signature_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, sig);
    }
    if (body != NULL)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

struct outcome {
    const char *package_id;
    json_t *receipt;
    const char *error;
    bool final;
    unsigned max_s;
};

static enum trm_db_status outcome_tx(struct trm_db_conn *c, void *arg)
{
    struct outcome *o = arg;
    if (o->receipt)
        return trm_fed_delivered(c, o->package_id, o->receipt);
    return trm_fed_failed(c, o->package_id, o->error, o->final, o->max_s);
}

/* The problem code of a refusal (our own codes are short snake_case words), else a label. */
static void refusal_code(const struct buffer *b, long status, char *out, size_t len)
{
    json_t *j = b->data ? json_loads(b->data, 0, NULL) : NULL;
    const char *code = json_string_value(json_object_get(j, "code"));
    if (code && strlen(code) < 40 && strspn(code, "abcdefghijklmnopqrstuvwxyz_") == strlen(code))
        snprintf(out, len, "%s", code);
    else
        snprintf(out, len, "http_%ld", status);
    json_decref(j);
}

static void deliver(struct trm_app *app, CURL *curl, struct trm_fed_due *d)
{
    char url[600], code[48] = "unreachable", why[160];
    snprintf(url, sizeof url, "%s/v1/federation/inbox", d->url);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    struct buffer b = {0};
    long status = exchange(curl, app->config, url, d->package, h, &b, NULL);
    curl_slist_free_all(h);
    struct outcome o = {.package_id = d->package_id,
                        .error = code,
                        .max_s = (unsigned)app->config->federation_retry_max_s};
    if (status == 200) {
        json_t *receipt = json_loads(b.data ? b.data : "", 0, NULL);
        if (trm_fed_receipt_check(receipt, d->signing_key, d->package_id, d->hash, d->peer, why,
                                  sizeof why))
            o.receipt = receipt;
        else
            snprintf(code, sizeof code, "bad_receipt");
        if (o.receipt == NULL)
            json_decref(receipt);
    } else if (status >= 400 && status < 500 && status != 408 && status != 429) {
        refusal_code(&b, status, code, sizeof code); /* the peer refuses it for good */
        o.final = true;
    } else if (status != 0) {
        snprintf(code, sizeof code, "http_%ld", status);
    }
    free(b.data);
    if (trm_db_tx_run(app->db, NULL, false, outcome_tx, &o) != TRM_DB_OK)
        trm_log(TRM_LOG_WARN, "federation_outcome_lost", "a delivery outcome was not recorded");
    else if (o.receipt)
        trm_log(TRM_LOG_INFO, "federation_delivered", "package %s delivered to %s", d->package_id,
                d->peer);
    else
        trm_log(TRM_LOG_WARN, o.final ? "federation_rejected" : "federation_retry",
                "package %s to %s: %s (attempt %d)", d->package_id, d->peer, code, d->attempts + 1);
    json_decref(o.receipt);
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

struct dir_save {
    const char *peer;
    json_t *items;
    unsigned max_s, failures, retry_in_s; /* a failed fetch */
};

static enum trm_db_status dir_save_tx(struct trm_db_conn *c, void *arg)
{
    struct dir_save *x = arg;
    return trm_fed_directory_save(c, x->peer, x->items);
}

static enum trm_db_status dir_failed_tx(struct trm_db_conn *c, void *arg)
{
    struct dir_save *x = arg;
    trm_db_commit_with_next(c);
    return trm_fed_directory_failed(c, x->peer, x->max_s, &x->failures, &x->retry_in_s);
}

static void refresh_directory(struct trm_app *app, CURL *curl, const struct trm_fed_dir_due *d,
                              const char *me)
{
    static const char path[] = "/v1/federation/agencies";
    char url[600], now[24], hdr[3][200], sig_hex[2 * TRM_FED_SIG_BYTES + 1];
    uint8_t sig[TRM_FED_SIG_BYTES];
    snprintf(url, sizeof url, "%s%s", d->url, path);
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    trm_fed_sign_request(trm_app_keys(app), "GET", path, now, me, sig);
    trm_hex_encode(sig, sizeof sig, sig_hex);
    snprintf(hdr[0], sizeof hdr[0], "Trm-Instance: %s", me);
    snprintf(hdr[1], sizeof hdr[1], "Trm-Time: %s", now);
    snprintf(hdr[2], sizeof hdr[2], "Trm-Signature: %s", sig_hex);
    struct curl_slist *h = NULL;
    for (int i = 0; i < 3; i++)
        h = curl_slist_append(h, hdr[i]);
    struct buffer b = {0};
    struct signature_header answer_sig;
    long status = exchange(curl, app->config, url, NULL, h, &b, &answer_sig);
    curl_slist_free_all(h);
    /* Only an answer the peer signed for this very request counts. */
    uint8_t peer_sig[TRM_FED_SIG_BYTES];
    bool signed_ok =
        status == 200 && b.data && strlen(answer_sig.hex) == 2 * sizeof peer_sig &&
        trm_hex_decode(answer_sig.hex, peer_sig, sizeof peer_sig) &&
        trm_fed_verify_directory(d->signing_key, b.data, b.len, d->peer, me, now, peer_sig);
    json_t *doc = signed_ok ? json_loads(b.data, 0, NULL) : NULL;
    free(b.data);
    const char *inst = json_string_value(json_object_get(doc, "instance_id"));
    json_t *items = json_array(), *it;
    size_t i;
    bool ok = inst && strcmp(inst, d->peer) == 0 && json_is_array(json_object_get(doc, "items"));
    json_array_foreach(json_object_get(doc, "items"), i, it)
    {
        json_t *clean = ok ? directory_item(it) : NULL;
        ok = clean != NULL;
        json_array_append_new(items, clean ? clean : json_null());
    }
    struct dir_save x = {d->peer, items, (unsigned)app->config->federation_retry_max_s, 0, 0};
    if (!ok) {
        if (trm_db_tx_run(app->db, NULL, false, dir_failed_tx, &x) == TRM_DB_OK)
            trm_log(TRM_LOG_WARN, "federation_directory_failed",
                    "directory of %s not refreshed (HTTP %ld%s), %u failures in a row, next "
                    "attempt in %u s",
                    d->peer, status, status == 200 && !signed_ok ? ", bad signature" : "",
                    x.failures, x.retry_in_s);
    } else if (trm_db_tx_run(app->db, NULL, false, dir_save_tx, &x) == TRM_DB_OK)
        trm_log(TRM_LOG_INFO, "federation_directory", "%zu agencies of %s cached",
                json_array_size(items), d->peer);
    json_decref(items);
    json_decref(doc);
}

struct round {
    struct trm_app *app;
    struct trm_fed_identity me;
    struct trm_fed_due due[CLAIM_BATCH];
    unsigned n_due;
    struct trm_fed_dir_due dirs[CLAIM_BATCH];
    unsigned n_dirs;
};

static enum trm_db_status round_tx(struct trm_db_conn *c, void *arg)
{
    struct round *r = arg;
    const struct trm_config *cfg = r->app->config;
    r->n_due = r->n_dirs = 0;
    enum trm_db_status st = trm_fed_identity_get(c, &r->me);
    if (st != TRM_DB_OK)
        return st;
    /* The lease outlasts one delivery attempt, so nobody else sends the package meanwhile. */
    unsigned lease = (unsigned)(2 * cfg->federation_timeout_s + 5);
    st = trm_fed_claim(c, CLAIM_BATCH, lease, r->due, &r->n_due);
    if (st == TRM_DB_OK)
        st = trm_fed_directory_due(c, (unsigned)cfg->federation_directory_refresh_s, r->dirs,
                                   CLAIM_BATCH, &r->n_dirs);
    return st;
}

void trm_fed_worker_run_once(struct trm_app *app)
{
    struct round r = {.app = app};
    if (trm_db_tx_run(app->db, NULL, false, round_tx, &r) != TRM_DB_OK)
        return; /* not set up, or the database is away: next round */
    CURL *curl = (r.n_due || r.n_dirs) ? curl_easy_init() : NULL;
    for (unsigned i = 0; i < r.n_due; i++) {
        if (curl)
            deliver(app, curl, &r.due[i]);
        free(r.due[i].package);
    }
    for (unsigned i = 0; curl && i < r.n_dirs; i++)
        refresh_directory(app, curl, &r.dirs[i], r.me.instance_id);
    if (curl)
        curl_easy_cleanup(curl);
}
