/* The federation package format: the hash covers every header field and the payload, the
 * signature binds the hash to the sender's key, a payload opens only for its recipient and
 * from its sender, receipts and signed requests check every part, and the parser refuses
 * every malformed shape without quoting a value. A known-answer test rebuilds the encoding
 * by hand, so a silent change of the format (which peers would reject) fails here. */
#include "check_run.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trm/federation.h"
#include "trm/handover.h"
#include "trm/util.h"
#include "trm/keyring.h"

static struct trm_keyring *se, *ph;
static char values[TRM_FED__NFIELDS][64];
static struct trm_fed_header header;

static struct trm_keyring *keyring(char fill)
{
    char hex[65], text[1024], err[128];
    memset(hex, fill, 64);
    hex[64] = '\0';
    snprintf(text, sizeof text, "index %s\ntoken %s\nsigning %s\nbox %s\nkek k1 %s\n", hex, hex,
             hex, hex, hex);
    struct trm_keyring *k = NULL;
    ck_assert_msg(trm_keyring_parse(&k, text, strlen(text), err, sizeof err), "%s", err);
    return k;
}

static void setup(void)
{
    ck_assert_int_ge(sodium_init(), 0);
    se = keyring('1');
    ph = keyring('2');
    static const char *const v[TRM_FED__NFIELDS] = {"6f1c2a8e-1111-4a2b-9c3d-0123456789ab",
                                                    "offer",
                                                    "se.trm",
                                                    "6f1c2a8e-2222-4a2b-9c3d-0123456789ab",
                                                    "Social services",
                                                    "social_services",
                                                    "SE",
                                                    "ph.trm",
                                                    "6f1c2a8e-3333-4a2b-9c3d-0123456789ab",
                                                    "6f1c2a8e-4444-4a2b-9c3d-0123456789ab",
                                                    "6f1c2a8e-5555-4a2b-9c3d-0123456789ab",
                                                    "transfer",
                                                    "reintegration",
                                                    "routine",
                                                    "identity,health",
                                                    "consent",
                                                    "H2",
                                                    "",
                                                    "female",
                                                    "21-23",
                                                    "PH",
                                                    "labour",
                                                    "2026-10",
                                                    "",
                                                    "",
                                                    "2026-11-23T10:00:00Z",
                                                    "2026-11-26T10:00:00Z",
                                                    ""};
    for (int i = 0; i < TRM_FED__NFIELDS; i++) {
        snprintf(values[i], sizeof values[i], "%s", v[i]);
        header.v[i] = values[i];
    }
    header.version = 1;
}

static void teardown(void)
{
    trm_keyring_free(se);
    trm_keyring_free(ph);
}

static json_t *build(const struct trm_keyring *kr, const uint8_t *payload, size_t len,
                     uint8_t hash[TRM_FED_HASH_BYTES])
{
    json_t *wire = trm_fed_package_build(kr, &header, payload, len, hash);
    ck_assert_ptr_nonnull(wire);
    return wire;
}

START_TEST(hash_is_the_documented_encoding)
{
    /* label, every field, payload: each with a 4-byte big-endian length. */
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    const char *parts[TRM_FED__NFIELDS + 1];
    parts[0] = "trm-fed-package-v1";
    for (int i = 0; i < TRM_FED_V1_FIELDS; i++)
        parts[i + 1] = header.v[i];
    for (int i = 0; i <= TRM_FED_V1_FIELDS; i++) {
        size_t n = strlen(parts[i]);
        uint8_t len[4] = {0, 0, (uint8_t)(n >> 8), (uint8_t)n};
        crypto_hash_sha256_update(&st, len, 4);
        crypto_hash_sha256_update(&st, (const uint8_t *)parts[i], n);
    }
    const uint8_t payload[3] = {7, 8, 9}, len[4] = {0, 0, 0, 3};
    crypto_hash_sha256_update(&st, len, 4);
    crypto_hash_sha256_update(&st, payload, 3);
    uint8_t want[32], got[32];
    crypto_hash_sha256_final(&st, want);
    trm_fed_package_hash(&header, payload, 3, got);
    ck_assert_mem_eq(want, got, 32);
    ck_assert_str_eq(trm_fed_field_names[0], "package_id");
    ck_assert_str_eq(trm_fed_field_names[TRM_FED_V1_FIELDS - 1], "expires_at");
}
END_TEST

/* Version 2: its own label, and case_reference after expires_at. */
START_TEST(version_2_encodes_the_case_reference)
{
    header.version = 2;
    header.v[TRM_FED_CASE_REFERENCE] = "PH-2026-000042";
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    for (int i = -1; i <= TRM_FED__NFIELDS; i++) {
        const char *part = i < 0 ? "trm-fed-package-v2" : i == TRM_FED__NFIELDS ? "" : header.v[i];
        size_t n = strlen(part);
        uint8_t len[4] = {0, 0, (uint8_t)(n >> 8), (uint8_t)n};
        crypto_hash_sha256_update(&st, len, 4);
        crypto_hash_sha256_update(&st, (const uint8_t *)part, n);
    }
    uint8_t want[32], got[32], pk[32];
    crypto_hash_sha256_final(&st, want);
    trm_fed_package_hash(&header, NULL, 0, got);
    ck_assert_mem_eq(want, got, 32);
    ck_assert_str_eq(trm_fed_field_names[TRM_FED__NFIELDS - 1], "case_reference");

    /* Built and parsed back with the reference; signed like version 1. */
    json_t *wire = build(se, NULL, 0, got);
    ck_assert_int_eq(json_integer_value(json_object_get(wire, "version")), 2);
    struct trm_fed_package p;
    char why[200];
    ck_assert_msg(trm_fed_package_parse(wire, &p, why, sizeof why), "%s", why);
    ck_assert_str_eq(p.h.v[TRM_FED_CASE_REFERENCE], "PH-2026-000042");
    trm_fed_signing_public(se, pk);
    ck_assert(trm_fed_verify_package(pk, p.hash, p.signature));
    trm_fed_package_free(&p);
    /* The version says how many fields: version 1 with case_reference, or version 2
     * without, is refused; so is a reference that is not one. */
    json_t *v1 = json_deep_copy(wire);
    json_object_set_new(v1, "version", json_integer(1));
    ck_assert(!trm_fed_package_parse(v1, &p, why, sizeof why));
    json_object_del(json_object_get(v1, "header"), "case_reference");
    ck_assert_msg(trm_fed_package_parse(v1, &p, why, sizeof why), "%s", why);
    ck_assert_str_eq(p.h.v[TRM_FED_CASE_REFERENCE], "");
    ck_assert(!trm_fed_verify_package(pk, p.hash, p.signature)); /* another encoding */
    trm_fed_package_free(&p);
    json_object_set_new(v1, "version", json_integer(2));
    ck_assert(!trm_fed_package_parse(v1, &p, why, sizeof why));
    json_object_set_new(json_object_get(wire, "header"), "case_reference",
                        json_string("Maria Santos"));
    ck_assert(!trm_fed_package_parse(wire, &p, why, sizeof why));
    ck_assert_ptr_null(strstr(why, "Maria"));
    json_object_set_new(wire, "version", json_integer(3));
    ck_assert(!trm_fed_package_parse(wire, &p, why, sizeof why));
    json_decref(v1);
    json_decref(wire);
}
END_TEST

/* Version 3 (an offer's payload may carry documents): the header of version 2 under its own
 * label, so a version-3 package relabelled as version 2 does not verify. */
START_TEST(version_3_has_its_own_label)
{
    header.version = 3;
    header.v[TRM_FED_CASE_REFERENCE] = "SE-2026-000042";
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    for (int i = -1; i <= TRM_FED__NFIELDS; i++) {
        const char *part = i < 0 ? "trm-fed-package-v3" : i == TRM_FED__NFIELDS ? "" : header.v[i];
        size_t n = strlen(part);
        uint8_t len[4] = {0, 0, (uint8_t)(n >> 8), (uint8_t)n};
        crypto_hash_sha256_update(&st, len, 4);
        crypto_hash_sha256_update(&st, (const uint8_t *)part, n);
    }
    uint8_t want[32], got[32], pk[32];
    crypto_hash_sha256_final(&st, want);
    trm_fed_package_hash(&header, NULL, 0, got);
    ck_assert_mem_eq(want, got, 32);
    json_t *wire = build(se, NULL, 0, got);
    ck_assert_int_eq(json_integer_value(json_object_get(wire, "version")), 3);
    struct trm_fed_package p;
    char why[200];
    ck_assert_msg(trm_fed_package_parse(wire, &p, why, sizeof why), "%s", why);
    ck_assert_int_eq(p.h.version, 3);
    ck_assert_str_eq(p.h.v[TRM_FED_CASE_REFERENCE], "SE-2026-000042");
    trm_fed_signing_public(se, pk);
    ck_assert(trm_fed_verify_package(pk, p.hash, p.signature));
    trm_fed_package_free(&p);
    json_object_set_new(wire, "version", json_integer(2));
    ck_assert_msg(trm_fed_package_parse(wire, &p, why, sizeof why), "%s", why);
    ck_assert(!trm_fed_verify_package(pk, p.hash, p.signature));
    trm_fed_package_free(&p);
    json_object_set_new(wire, "version", json_integer(4));
    ck_assert(!trm_fed_package_parse(wire, &p, why, sizeof why));
    json_decref(wire);
}
END_TEST

START_TEST(every_field_is_covered_by_the_signature)
{
    uint8_t hash[32], pk[32];
    json_t *wire = build(se, NULL, 0, hash);
    trm_fed_signing_public(se, pk);
    struct trm_fed_package p;
    char why[200];
    ck_assert_msg(trm_fed_package_parse(wire, &p, why, sizeof why), "%s", why);
    ck_assert(trm_fed_verify_package(pk, p.hash, p.signature));
    ck_assert_mem_eq(p.hash, hash, 32);
    trm_fed_package_free(&p);
    for (int i = 0; i < TRM_FED_V1_FIELDS; i++) {
        json_t *altered = json_deep_copy(wire);
        json_t *h = json_object_get(altered, "header");
        /* A value of the same shape, so only the signature can tell. */
        const char *old = json_string_value(json_object_get(h, trm_fed_field_names[i]));
        char changed[80];
        snprintf(changed, sizeof changed, "%s", old);
        size_t n = strlen(changed);
        if (n == 0 || i == TRM_FED_TYPE || i == TRM_FED_KIND || i == TRM_FED_CREATED_AT ||
            i == TRM_FED_EXPIRES_AT || i == TRM_FED_IDENTIFIED_MONTH || i == TRM_FED_SENDER_COUNTRY)
            snprintf(changed, sizeof changed, "%s",
                     i == TRM_FED_TYPE               ? "answer"
                     : i == TRM_FED_KIND             ? "referral"
                     : i == TRM_FED_CREATED_AT       ? "2026-11-23T10:00:01Z"
                     : i == TRM_FED_EXPIRES_AT       ? "2026-11-26T10:00:01Z"
                     : i == TRM_FED_IDENTIFIED_MONTH ? "2026-09"
                     : i == TRM_FED_SENDER_COUNTRY   ? "NO"
                     : i == TRM_FED_CONSENT_ID || i == TRM_FED_IN_REPLY_TO
                         ? "6f1c2a8e-6666-4a2b-9c3d-0123456789ab"
                         : "x");
        else
            changed[n - 1] = changed[n - 1] == 'a' ? 'b' : 'a';
        json_object_set_new(h, trm_fed_field_names[i], json_string(changed));
        ck_assert_msg(trm_fed_package_parse(altered, &p, why, sizeof why), "%s: %s",
                      trm_fed_field_names[i], why);
        ck_assert_msg(!trm_fed_verify_package(pk, p.hash, p.signature), "%s not covered",
                      trm_fed_field_names[i]);
        trm_fed_package_free(&p);
        json_decref(altered);
    }
    /* Another instance's key does not verify it either. */
    uint8_t other[32];
    trm_fed_signing_public(ph, other);
    ck_assert(trm_fed_package_parse(wire, &p, why, sizeof why));
    ck_assert(!trm_fed_verify_package(other, p.hash, p.signature));
    trm_fed_package_free(&p);
    json_decref(wire);
}
END_TEST

START_TEST(payload_opens_only_for_its_recipient_from_its_sender)
{
    uint8_t se_box[32], ph_box[32], *sealed = NULL;
    size_t len = 0;
    ck_assert(trm_fed_box_public(se, se_box));
    ck_assert(trm_fed_box_public(ph, ph_box));
    const char *plain = "{\"person\": {}}";
    ck_assert(trm_fed_seal(se, ph_box, plain, strlen(plain), &sealed, &len));
    for (size_t i = 0; i + 6 <= len; i++)
        ck_assert(memcmp(sealed + i, "person", 6) != 0);
    char *opened = trm_fed_open(ph, se_box, sealed, len);
    ck_assert_str_eq(opened, plain);
    free(opened);
    ck_assert_ptr_null(trm_fed_open(se, se_box, sealed, len)); /* not the recipient */
    ck_assert_ptr_null(trm_fed_open(ph, ph_box, sealed, len)); /* not the sender */
    sealed[len - 1] ^= 1;
    ck_assert_ptr_null(trm_fed_open(ph, se_box, sealed, len));
    ck_assert_ptr_null(trm_fed_open(ph, se_box, sealed, 10));
    /* The sealed payload travels in the package and is covered by its hash. */
    uint8_t hash[32], pk[32];
    sealed[len - 1] ^= 1;
    json_t *wire = build(se, sealed, len, hash);
    struct trm_fed_package p;
    char why[200];
    ck_assert(trm_fed_package_parse(wire, &p, why, sizeof why));
    ck_assert_uint_eq(p.payload_len, len);
    ck_assert_mem_eq(p.payload, sealed, len);
    trm_fed_signing_public(se, pk);
    ck_assert(trm_fed_verify_package(pk, p.hash, p.signature));
    trm_fed_package_free(&p);
    json_decref(wire);
    free(sealed);
}
END_TEST

START_TEST(parser_refuses_malformed_packages)
{
    uint8_t hash[32];
    json_t *wire = build(se, NULL, 0, hash);
    struct trm_fed_package p;
    char why[200];
    const char *bad[][2] = {
        {"package_id", "not-a-uuid"},   {"sender_instance", "UPPER"},
        {"sender_country", "sweden"},   {"created_at", "2026-13-01T00:00:00Z"},
        {"purpose", "line\x01break"},   {"categories", "identity;health"},
        {"identified_month", "2026-1"}, {"recipient_instance", "-x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *d = json_deep_copy(wire);
        json_object_set_new(json_object_get(d, "header"), bad[i][0], json_string(bad[i][1]));
        ck_assert_msg(!trm_fed_package_parse(d, &p, why, sizeof why), "%s accepted", bad[i][0]);
        ck_assert_ptr_null(strstr(why, bad[i][1]));
        json_decref(d);
    }
    json_t *d = json_deep_copy(wire);
    json_object_set_new(json_object_get(d, "header"), "extra", json_string(""));
    ck_assert(!trm_fed_package_parse(d, &p, why, sizeof why));
    json_object_del(json_object_get(d, "header"), "extra");
    json_object_del(json_object_get(d, "header"), "purpose");
    ck_assert(!trm_fed_package_parse(d, &p, why, sizeof why));
    json_decref(d);
    d = json_deep_copy(wire);
    json_object_set_new(d, "version", json_integer(2));
    ck_assert(!trm_fed_package_parse(d, &p, why, sizeof why));
    json_object_set_new(d, "version", json_integer(1));
    json_object_set_new(d, "payload", json_string("***"));
    ck_assert(!trm_fed_package_parse(d, &p, why, sizeof why));
    json_object_set_new(d, "payload", json_null());
    json_object_set_new(d, "signature", json_string("abc"));
    ck_assert(!trm_fed_package_parse(d, &p, why, sizeof why));
    json_decref(d);
    ck_assert(!trm_fed_instance_id_ok("a"));
    ck_assert(!trm_fed_instance_id_ok(".trm"));
    ck_assert(trm_fed_instance_id_ok("se.trm-1"));
    json_decref(wire);
}
END_TEST

START_TEST(receipts_requests_and_directories_check_every_part)
{
    uint8_t hash[32] = {1}, ph_pk[32], se_pk[32];
    trm_fed_signing_public(ph, ph_pk);
    trm_fed_signing_public(se, se_pk);
    const char *id = "6f1c2a8e-1111-4a2b-9c3d-0123456789ab";
    json_t *r = trm_fed_receipt_build(ph, id, hash, "2026-11-23T10:00:01Z", "ph.trm");
    char why[200];
    ck_assert_msg(trm_fed_receipt_check(r, ph_pk, id, hash, "ph.trm", why, sizeof why), "%s", why);
    ck_assert(!trm_fed_receipt_check(r, se_pk, id, hash, "ph.trm", why, sizeof why));
    ck_assert(!trm_fed_receipt_check(r, ph_pk, id, hash, "xx.trm", why, sizeof why));
    uint8_t other[32] = {2};
    ck_assert(!trm_fed_receipt_check(r, ph_pk, id, other, "ph.trm", why, sizeof why));
    json_object_set_new(r, "received_at", json_string("2026-11-23T10:00:02Z"));
    ck_assert(!trm_fed_receipt_check(r, ph_pk, id, hash, "ph.trm", why, sizeof why));
    json_decref(r);

    uint8_t sig[64];
    trm_fed_sign_request(se, "GET", "/v1/federation/agencies", "1790000000", "se.trm", sig);
    ck_assert(trm_fed_verify_request(se_pk, "GET", "/v1/federation/agencies", "1790000000",
                                     "se.trm", sig));
    ck_assert(!trm_fed_verify_request(se_pk, "GET", "/v1/federation/agencie", "1790000000",
                                      "se.trm", sig));
    ck_assert(!trm_fed_verify_request(se_pk, "GET", "/v1/federation/agencies", "1790000001",
                                      "se.trm", sig));
    ck_assert(!trm_fed_verify_request(ph_pk, "GET", "/v1/federation/agencies", "1790000000",
                                      "se.trm", sig));

    /* A directory answer is signed for one request: the exact body, both instances, the
     * request's time. */
    static const char body[] = "{\"instance_id\":\"ph.trm\",\"items\":[]}";
    size_t len = sizeof body - 1;
    trm_fed_sign_directory(ph, body, len, "ph.trm", "se.trm", "1790000000", sig);
    ck_assert(trm_fed_verify_directory(ph_pk, body, len, "ph.trm", "se.trm", "1790000000", sig));
    ck_assert(!trm_fed_verify_directory(se_pk, body, len, "ph.trm", "se.trm", "1790000000", sig));
    ck_assert(
        !trm_fed_verify_directory(ph_pk, body, len - 1, "ph.trm", "se.trm", "1790000000", sig));
    ck_assert(!trm_fed_verify_directory(ph_pk, body, len, "xx.trm", "se.trm", "1790000000", sig));
    ck_assert(!trm_fed_verify_directory(ph_pk, body, len, "ph.trm", "xx.trm", "1790000000", sig));
    ck_assert(!trm_fed_verify_directory(ph_pk, body, len, "ph.trm", "se.trm", "1790000001", sig));
}
END_TEST

START_TEST(handover_v2_entries_carry_the_counterparts_signature)
{
    /* A receipt entry: its hash is version 2, and verify-log checks the peer's receipt. */
    uint8_t hash[32] = {9}, sig[64], ph_pk[32];
    char hash_hex[65], sig_hex[129], prev[65];
    const char *id = "6f1c2a8e-1111-4a2b-9c3d-0123456789ab";
    trm_fed_sign_receipt(ph, id, hash, "2026-11-23T10:00:01Z", "ph.trm", sig);
    trm_hex_encode(hash, 32, hash_hex);
    trm_hex_encode(sig, 64, sig_hex);
    memset(prev, '0', 64);
    prev[64] = '\0';
    struct trm_handover_entry e = {.seq = 1,
                                   .at = "2026-11-23T10:00:02.000000Z",
                                   .case_id = id,
                                   .referral_id = id,
                                   .action = "receipt",
                                   .from_agency_id = id,
                                   .to_agency_id = id,
                                   .from_country = "SE",
                                   .to_country = "PH",
                                   .categories = "identity",
                                   .legal_basis = "consent",
                                   .handling_code = "H2",
                                   .package_id = id,
                                   .package_hash = hash_hex,
                                   .peer_instance = "ph.trm",
                                   .peer_at = "2026-11-23T10:00:01Z",
                                   .peer_signature = sig_hex};
    uint8_t h2[32], h1[32];
    trm_handover_hash(&e, h2);
    struct trm_handover_entry v1 = e;
    v1.package_hash = NULL;
    trm_handover_hash(&v1, h1);
    ck_assert_mem_ne(h1, h2, 32);
    char h2_hex[65];
    trm_hex_encode(h2, 32, h2_hex);
    json_t *item = json_pack(
        "{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[s], s:s, s:s, s:s, s:s, s:s, s:s, "
        "s:s, s:s, s:s}",
        "type", "entry", "seq", 1, "at", e.at, "case_id", id, "referral_id", id, "action",
        "receipt", "from_agency_id", id, "to_agency_id", id, "from_country", "SE", "to_country",
        "PH", "categories", "identity", "legal_basis", "consent", "handling_code", "H2",
        "package_id", id, "package_hash", hash_hex, "peer_instance", "ph.trm", "peer_at", e.peer_at,
        "peer_signature", sig_hex, "prev_hash", prev, "hash", h2_hex);
    trm_fed_signing_public(ph, ph_pk);
    struct trm_peer_key peer = {.instance_id = "ph.trm"};
    memcpy(peer.key, ph_pk, 32);
    struct trm_chain_check ok = {.peers = &peer, .n_peers = 1};
    ck_assert_msg(trm_chain_feed(&ok, item), "%s", ok.reason);
    ck_assert_int_eq(ok.peer_signatures_checked, 1);
    trm_chain_free(&ok);
    /* Signed by someone else: the chain still hashes, the peer's signature does not hold. */
    trm_fed_signing_public(se, peer.key);
    struct trm_chain_check bad = {.peers = &peer, .n_peers = 1};
    ck_assert(!trm_chain_feed(&bad, item));
    trm_chain_free(&bad);
    /* Without the peer's key it is counted as not checked. */
    struct trm_chain_check unknown = {0};
    ck_assert(trm_chain_feed(&unknown, item));
    ck_assert_int_eq(unknown.peer_signatures_unchecked, 1);
    trm_chain_free(&unknown);
    json_decref(item);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("federation");
    TCase *tc = tcase_create("package");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, hash_is_the_documented_encoding);
    tcase_add_test(tc, every_field_is_covered_by_the_signature);
    tcase_add_test(tc, version_2_encodes_the_case_reference);
    tcase_add_test(tc, version_3_has_its_own_label);
    tcase_add_test(tc, payload_opens_only_for_its_recipient_from_its_sender);
    tcase_add_test(tc, parser_refuses_malformed_packages);
    tcase_add_test(tc, receipts_requests_and_directories_check_every_part);
    tcase_add_test(tc, handover_v2_entries_carry_the_counterparts_signature);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
