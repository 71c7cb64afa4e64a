/* The federation package: encoding, hash, signatures, sealed payload, receipts and signed
 * requests (see federation.h; docs/federation.md specifies the formats). */
#include "trm/federation.h"
#include "trm/json_spec.h"
#include "trm/hash_parts.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const trm_fed_field_names[TRM_FED__NFIELDS] = {
#define TRM_FED_NAME(e, name) name,
    TRM_FED_FIELDS(TRM_FED_NAME)
#undef TRM_FED_NAME
};

/* What each header field may hold. */
enum shape {
    UUID,
    UUID_OPT,
    INSTANCE,
    TEXT,
    WORD,
    WORDS,
    COUNTRY,
    MONTH_OPT,
    TIME,
    TIME_OPT,
    REFERENCE_OPT
};
static const enum shape field_shape[TRM_FED__NFIELDS] = {
    [TRM_FED_PACKAGE_ID] = UUID,
    [TRM_FED_TYPE] = WORD,
    [TRM_FED_SENDER_INSTANCE] = INSTANCE,
    [TRM_FED_SENDER_AGENCY_ID] = UUID,
    [TRM_FED_SENDER_AGENCY_NAME] = TEXT,
    [TRM_FED_SENDER_AGENCY_KIND] = WORD,
    [TRM_FED_SENDER_COUNTRY] = COUNTRY,
    [TRM_FED_RECIPIENT_INSTANCE] = INSTANCE,
    [TRM_FED_RECIPIENT_AGENCY_ID] = UUID,
    [TRM_FED_REFERRAL_ID] = UUID,
    [TRM_FED_CASE_ID] = UUID_OPT,
    [TRM_FED_KIND] = WORD,
    [TRM_FED_PURPOSE] = TEXT,
    [TRM_FED_URGENCY] = WORD,
    [TRM_FED_CATEGORIES] = WORDS,
    [TRM_FED_LEGAL_BASIS] = WORD,
    [TRM_FED_HANDLING_CODE] = WORD,
    [TRM_FED_CONSENT_ID] = UUID_OPT,
    [TRM_FED_SEX] = WORD,
    [TRM_FED_AGE_BAND] = WORD,
    [TRM_FED_CITIZENSHIP] = WORD,
    [TRM_FED_EXPLOITATION_FORMS] = WORDS,
    [TRM_FED_IDENTIFIED_MONTH] = MONTH_OPT,
    [TRM_FED_ACTION] = WORD,
    [TRM_FED_IN_REPLY_TO] = UUID_OPT,
    [TRM_FED_CREATED_AT] = TIME,
    [TRM_FED_EXPIRES_AT] = TIME_OPT,
    [TRM_FED_CASE_REFERENCE] = REFERENCE_OPT,
};

static bool chars_in(const char *s, const char *set, size_t max)
{
    size_t n = strlen(s);
    return n <= max && strspn(s, set) == n;
}

bool trm_fed_time_parse(const char *s, time_t *out)
{
    struct tm tm = {0};
    char z = 0;
    int n = 0;
    if (strlen(s) != 20 ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &z, &n) != 7 ||
        n != 20 || z != 'Z' || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':')
        return false;
    char date[11];
    memcpy(date, s, 10);
    date[10] = '\0';
    if (!trm_json_is_date(date) || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (out)
        *out = t;
    return t != (time_t)-1;
}

static bool shape_ok(enum shape sh, const char *s)
{
    static const char word[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+";
    switch (sh) {
    case UUID:
        return trm_uuid_parse(s, NULL);
    case UUID_OPT:
        return *s == '\0' || trm_uuid_parse(s, NULL);
    case INSTANCE:
        return trm_fed_instance_id_ok(s);
    case TEXT:
        return strlen(s) <= 300 && trm_json_text_ok(s);
    case WORD:
        return chars_in(s, word, 32);
    case WORDS:
        return chars_in(s, "abcdefghijklmnopqrstuvwxyz_,", 200);
    case COUNTRY:
        return trm_json_is_country(s);
    case MONTH_OPT:
        return *s == '\0' || trm_json_is_month(s);
    case TIME:
        return trm_fed_time_parse(s, NULL);
    case TIME_OPT:
        return *s == '\0' || trm_fed_time_parse(s, NULL);
    case REFERENCE_OPT: /* SE-2026-000042 */
        return chars_in(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", 32);
    }
    return false;
}

bool trm_fed_instance_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n >= 2 && n <= TRM_FED_INSTANCE_MAX && id[0] != '.' && id[0] != '-' &&
           chars_in(id, "abcdefghijklmnopqrstuvwxyz0123456789.-", TRM_FED_INSTANCE_MAX);
}

void trm_fed_package_free(struct trm_fed_package *p)
{
    json_decref(p->doc);
    free(p->payload);
    memset(p, 0, sizeof *p);
}

/* How many header fields a version encodes. */
static int fields_of(int version)
{
    return version >= 2 ? TRM_FED__NFIELDS : TRM_FED_V1_FIELDS;
}

void trm_fed_package_hash(const struct trm_fed_header *h, const uint8_t *payload, size_t len,
                          uint8_t out[TRM_FED_HASH_BYTES])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    trm_hash_put_str(&st, h->version >= 3   ? "trm-fed-package-v3"
                          : h->version == 2 ? "trm-fed-package-v2"
                                            : "trm-fed-package-v1");
    for (int i = 0; i < fields_of(h->version); i++)
        trm_hash_put_str(&st, h->v[i] ? h->v[i] : "");
    trm_hash_put(&st, payload, payload ? len : 0);
    crypto_hash_sha256_final(&st, out);
}

void trm_fed_signing_public(const struct trm_keyring *kr, uint8_t pk[TRM_FED_KEY_BYTES])
{
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, trm_keyring_signing_seed(kr));
    sodium_memzero(sk, sizeof sk);
}

bool trm_fed_box_public(const struct trm_keyring *kr, uint8_t pk[TRM_FED_KEY_BYTES])
{
    const unsigned char *sk = trm_keyring_box_secret(kr);
    return sk != NULL && crypto_scalarmult_base(pk, sk) == 0;
}

/* A statement digest: the label and parts, length-prefixed, hashed. */
static void statement(const char *label, const char *const *parts, size_t n,
                      const uint8_t hash[TRM_FED_HASH_BYTES], uint8_t digest[32])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    trm_hash_put_str(&st, label);
    trm_hash_put(&st, hash, hash ? TRM_FED_HASH_BYTES : 0);
    for (size_t i = 0; i < n; i++)
        trm_hash_put_str(&st, parts[i]);
    crypto_hash_sha256_final(&st, digest);
}

static void sign_digest(const struct trm_keyring *kr, const uint8_t digest[32],
                        uint8_t sig[TRM_FED_SIG_BYTES])
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, trm_keyring_signing_seed(kr));
    crypto_sign_detached(sig, NULL, digest, 32, sk);
    sodium_memzero(sk, sizeof sk);
}

void trm_fed_sign_package(const struct trm_keyring *kr, const uint8_t hash[TRM_FED_HASH_BYTES],
                          uint8_t sig[TRM_FED_SIG_BYTES])
{
    uint8_t d[32];
    statement("trm-fed-package-v1", NULL, 0, hash, d);
    sign_digest(kr, d, sig);
}

bool trm_fed_verify_package(const uint8_t pk[TRM_FED_KEY_BYTES],
                            const uint8_t hash[TRM_FED_HASH_BYTES],
                            const uint8_t sig[TRM_FED_SIG_BYTES])
{
    uint8_t d[32];
    statement("trm-fed-package-v1", NULL, 0, hash, d);
    return crypto_sign_verify_detached(sig, d, sizeof d, pk) == 0;
}

void trm_fed_sign_receipt(const struct trm_keyring *kr, const char *package_id,
                          const uint8_t hash[TRM_FED_HASH_BYTES], const char *received_at,
                          const char *instance, uint8_t sig[TRM_FED_SIG_BYTES])
{
    const char *parts[] = {package_id, received_at, instance};
    uint8_t d[32];
    statement("trm-fed-receipt-v1", parts, 3, hash, d);
    sign_digest(kr, d, sig);
}

bool trm_fed_verify_receipt(const uint8_t pk[TRM_FED_KEY_BYTES], const char *package_id,
                            const uint8_t hash[TRM_FED_HASH_BYTES], const char *received_at,
                            const char *instance, const uint8_t sig[TRM_FED_SIG_BYTES])
{
    const char *parts[] = {package_id, received_at, instance};
    uint8_t d[32];
    statement("trm-fed-receipt-v1", parts, 3, hash, d);
    return crypto_sign_verify_detached(sig, d, sizeof d, pk) == 0;
}

void trm_fed_sign_request(const struct trm_keyring *kr, const char *method, const char *path,
                          const char *unix_time, const char *instance,
                          uint8_t sig[TRM_FED_SIG_BYTES])
{
    const char *parts[] = {method, path, unix_time, instance};
    uint8_t d[32];
    statement("trm-fed-request-v1", parts, 4, NULL, d);
    sign_digest(kr, d, sig);
}

bool trm_fed_verify_request(const uint8_t pk[TRM_FED_KEY_BYTES], const char *method,
                            const char *path, const char *unix_time, const char *instance,
                            const uint8_t sig[TRM_FED_SIG_BYTES])
{
    const char *parts[] = {method, path, unix_time, instance};
    uint8_t d[32];
    statement("trm-fed-request-v1", parts, 4, NULL, d);
    return crypto_sign_verify_detached(sig, d, sizeof d, pk) == 0;
}

/* The directory statement: the hash of the response body, the answering instance, the
 * requesting one and the Trm-Time of its request (so an old answer cannot be replayed). */
static void directory_digest(const char *body, size_t len, const char *responder,
                             const char *requester, const char *request_time, uint8_t d[32])
{
    uint8_t h[TRM_FED_HASH_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)body, len);
    const char *parts[] = {responder, requester, request_time};
    statement("trm-fed-directory-v1", parts, 3, h, d);
}

void trm_fed_sign_directory(const struct trm_keyring *kr, const char *body, size_t len,
                            const char *responder, const char *requester, const char *request_time,
                            uint8_t sig[TRM_FED_SIG_BYTES])
{
    uint8_t d[32];
    directory_digest(body, len, responder, requester, request_time, d);
    sign_digest(kr, d, sig);
}

bool trm_fed_verify_directory(const uint8_t pk[TRM_FED_KEY_BYTES], const char *body, size_t len,
                              const char *responder, const char *requester,
                              const char *request_time, const uint8_t sig[TRM_FED_SIG_BYTES])
{
    uint8_t d[32];
    directory_digest(body, len, responder, requester, request_time, d);
    return crypto_sign_verify_detached(sig, d, sizeof d, pk) == 0;
}

bool trm_fed_seal(const struct trm_keyring *kr, const uint8_t recipient_box[TRM_FED_KEY_BYTES],
                  const char *plain, size_t len, uint8_t **out, size_t *out_len)
{
    const unsigned char *sk = trm_keyring_box_secret(kr);
    size_t n = crypto_box_NONCEBYTES + crypto_box_MACBYTES + len;
    uint8_t *buf = sk ? malloc(n) : NULL;
    if (buf == NULL)
        return false;
    randombytes_buf(buf, crypto_box_NONCEBYTES);
    if (crypto_box_easy(buf + crypto_box_NONCEBYTES, (const unsigned char *)plain, len, buf,
                        recipient_box, sk) != 0) {
        free(buf);
        return false;
    }
    *out = buf;
    *out_len = n;
    return true;
}

char *trm_fed_open(const struct trm_keyring *kr, const uint8_t sender_box[TRM_FED_KEY_BYTES],
                   const uint8_t *sealed, size_t len)
{
    const unsigned char *sk = trm_keyring_box_secret(kr);
    if (sk == NULL || len < crypto_box_NONCEBYTES + crypto_box_MACBYTES)
        return NULL;
    size_t n = len - crypto_box_NONCEBYTES - crypto_box_MACBYTES;
    char *plain = malloc(n + 1);
    if (plain == NULL)
        return NULL;
    if (crypto_box_open_easy((unsigned char *)plain, sealed + crypto_box_NONCEBYTES,
                             len - crypto_box_NONCEBYTES, sealed, sender_box, sk) != 0) {
        free(plain);
        return NULL;
    }
    plain[n] = '\0';
    return plain;
}

json_t *trm_fed_package_build(const struct trm_keyring *kr, const struct trm_fed_header *h,
                              const uint8_t *payload, size_t len,
                              uint8_t hash_out[TRM_FED_HASH_BYTES])
{
    uint8_t sig[TRM_FED_SIG_BYTES];
    char sig_hex[2 * TRM_FED_SIG_BYTES + 1];
    trm_fed_package_hash(h, payload, len, hash_out);
    trm_fed_sign_package(kr, hash_out, sig);
    trm_hex_encode(sig, sizeof sig, sig_hex);
    json_t *header = json_object();
    for (int i = 0; i < fields_of(h->version); i++)
        json_object_set_new(header, trm_fed_field_names[i], json_string(h->v[i] ? h->v[i] : ""));
    json_t *body = NULL;
    if (payload != NULL) {
        size_t b64len = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(b64len);
        if (b64 == NULL) {
            json_decref(header);
            return NULL;
        }
        sodium_bin2base64(b64, b64len, payload, len, sodium_base64_VARIANT_ORIGINAL);
        body = json_string(b64);
        free(b64);
    }
    return json_pack("{s:i, s:o, s:o, s:s}", "version",
                     h->version >= 1 && h->version <= TRM_FED_VERSION_MAX ? h->version : 1,
                     "header", header, "payload", body ? body : json_null(), "signature", sig_hex);
}

/* Names the problem; the message never quotes a value of the package. */
static bool why_fail(char *why, size_t len, const char *message, const char *name)
{
    snprintf(why, len, "%s: %s", name, message);
    return false;
}

static bool parse_header(json_t *header, struct trm_fed_header *h, char *why, size_t whylen)
{
    if (!json_is_object(header))
        return why_fail(why, whylen, "not an object", "header");
    if (json_object_size(header) != (size_t)fields_of(h->version))
        return why_fail(why, whylen, "missing or unknown fields", "header");
    for (int i = fields_of(h->version); i < TRM_FED__NFIELDS; i++)
        h->v[i] = "";
    for (int i = 0; i < fields_of(h->version); i++) {
        json_t *v = json_object_get(header, trm_fed_field_names[i]);
        if (!json_is_string(v) || !shape_ok(field_shape[i], json_string_value(v)))
            return why_fail(why, whylen, "missing or malformed header field",
                            trm_fed_field_names[i]);
        h->v[i] = json_string_value(v);
    }
    return true;
}

static bool parse_payload(json_t *payload, struct trm_fed_package *out, char *why, size_t whylen)
{
    if (json_is_null(payload))
        return true;
    const char *b64 = json_string_value(payload);
    size_t n = b64 ? strlen(b64) : 0;
    if (b64 == NULL || n > TRM_FED_PAYLOAD_MAX * 4 / 3 + 4)
        return why_fail(why, whylen, "not base64 of an acceptable size", "payload");
    out->payload = malloc(n + 1);
    if (out->payload == NULL || sodium_base642bin(out->payload, n, b64, n, NULL, &out->payload_len,
                                                  NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        return why_fail(why, whylen, "not valid base64", "payload");
    return true;
}

bool trm_fed_package_parse(json_t *doc, struct trm_fed_package *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    json_t *version = json_object_get(doc, "version");
    const char *sig = json_string_value(json_object_get(doc, "signature"));
    bool ok = false;
    if (json_is_integer(version) && json_integer_value(version) >= 1 &&
        json_integer_value(version) <= TRM_FED_VERSION_MAX)
        out->h.version = (int)json_integer_value(version);
    if (!json_is_object(doc) || json_object_size(doc) != 4)
        why_fail(why, whylen, "a package has exactly version, header, payload and signature",
                 "package");
    else if (out->h.version == 0)
        why_fail(why, whylen, "must be 1, 2 or 3", "version");
    else if (sig == NULL || strlen(sig) != 2 * TRM_FED_SIG_BYTES ||
             !trm_hex_decode(sig, out->signature, TRM_FED_SIG_BYTES))
        why_fail(why, whylen, "must be 128 hex digits", "signature");
    else if (parse_header(json_object_get(doc, "header"), &out->h, why, whylen) &&
             parse_payload(json_object_get(doc, "payload"), out, why, whylen))
        ok = true;
    if (!ok) {
        free(out->payload);
        memset(out, 0, sizeof *out);
        return false;
    }
    out->doc = json_incref(doc);
    trm_fed_package_hash(&out->h, out->payload, out->payload_len, out->hash);
    return true;
}

json_t *trm_fed_receipt_build(const struct trm_keyring *kr, const char *package_id,
                              const uint8_t hash[TRM_FED_HASH_BYTES], const char *received_at,
                              const char *instance)
{
    uint8_t sig[TRM_FED_SIG_BYTES];
    char sig_hex[2 * TRM_FED_SIG_BYTES + 1], hash_hex[2 * TRM_FED_HASH_BYTES + 1];
    trm_fed_sign_receipt(kr, package_id, hash, received_at, instance, sig);
    trm_hex_encode(sig, sizeof sig, sig_hex);
    trm_hex_encode(hash, TRM_FED_HASH_BYTES, hash_hex);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "package_id", package_id, "package_hash",
                     hash_hex, "received_at", received_at, "instance_id", instance, "signature",
                     sig_hex);
}

bool trm_fed_receipt_check(json_t *receipt, const uint8_t pk[TRM_FED_KEY_BYTES],
                           const char *package_id, const uint8_t hash[TRM_FED_HASH_BYTES],
                           const char *instance, char *why, size_t whylen)
{
    const char *id = json_string_value(json_object_get(receipt, "package_id"));
    const char *h = json_string_value(json_object_get(receipt, "package_hash"));
    const char *at = json_string_value(json_object_get(receipt, "received_at"));
    const char *inst = json_string_value(json_object_get(receipt, "instance_id"));
    const char *sig = json_string_value(json_object_get(receipt, "signature"));
    uint8_t hb[TRM_FED_HASH_BYTES], sb[TRM_FED_SIG_BYTES];
    if (!id || !h || !at || !inst || !sig || !trm_fed_time_parse(at, NULL) ||
        strlen(h) != 2 * TRM_FED_HASH_BYTES || !trm_hex_decode(h, hb, sizeof hb) ||
        strlen(sig) != 2 * TRM_FED_SIG_BYTES || !trm_hex_decode(sig, sb, sizeof sb))
        return why_fail(why, whylen, "malformed", "receipt");
    if (strcmp(id, package_id) != 0 || strcmp(inst, instance) != 0 ||
        memcmp(hb, hash, sizeof hb) != 0)
        return why_fail(why, whylen, "names another package or instance", "receipt");
    if (!trm_fed_verify_receipt(pk, id, hb, at, inst, sb))
        return why_fail(why, whylen, "signature does not verify", "receipt");
    return true;
}
