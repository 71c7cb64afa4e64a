/* Federation: handovers between trm instances (one per country or organisation). This
 * module is the pure part, shared by trmd, trmctl and the tests: the package format, its
 * hash and signature, the sealed payload, receipts and signed requests.
 *
 * A package is a header (non-personal fields, all text, in a fixed order) and an optional
 * payload (the consented categories as JSON) sealed to the recipient instance with a
 * libsodium authenticated box from the sender's box key. Its hash is SHA-256 over the
 * version-1 encoding: the label "trm-fed-package-v1", every header field and the sealed
 * payload, each preceded by its length as 4 bytes big-endian. The sender signs a statement
 * of that hash with its Ed25519 key; a receiver answers with a signed receipt. Every signed
 * statement is length-prefixed the same way (docs/federation.md lists them), so an auditor
 * can check a counterpart's signature from a handover-log entry alone. */
#ifndef TRM_FEDERATION_H
#define TRM_FEDERATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "trm/keyring.h"

#define TRM_FED_HASH_BYTES 32
#define TRM_FED_KEY_BYTES 32
#define TRM_FED_SIG_BYTES 64
#define TRM_FED_INSTANCE_MAX 63
/* The largest sealed payload a package may carry: its base64 and the rest of the package
 * stay under a receiver's max_body_bytes (1 MiB by default). */
#define TRM_FED_PAYLOAD_MAX (720 * 1024)
/* The most bytes of document content an offer's payload carries (version 3): the documents
 * of the offered categories together, before base64. */
#define TRM_FED_DOCUMENTS_MAX (384 * 1024)

/* The header fields, in encoding order. */
#define TRM_FED_FIELDS(X)                                                                          \
    X(PACKAGE_ID, "package_id")                                                                    \
    X(TYPE, "type")                                                                                \
    X(SENDER_INSTANCE, "sender_instance")                                                          \
    X(SENDER_AGENCY_ID, "sender_agency_id")                                                        \
    X(SENDER_AGENCY_NAME, "sender_agency_name")                                                    \
    X(SENDER_AGENCY_KIND, "sender_agency_kind")                                                    \
    X(SENDER_COUNTRY, "sender_country")                                                            \
    X(RECIPIENT_INSTANCE, "recipient_instance")                                                    \
    X(RECIPIENT_AGENCY_ID, "recipient_agency_id")                                                  \
    X(REFERRAL_ID, "referral_id")                                                                  \
    X(CASE_ID, "case_id")                                                                          \
    X(KIND, "kind")                                                                                \
    X(PURPOSE, "purpose")                                                                          \
    X(URGENCY, "urgency")                                                                          \
    X(CATEGORIES, "categories")                                                                    \
    X(LEGAL_BASIS, "legal_basis")                                                                  \
    X(HANDLING_CODE, "handling_code")                                                              \
    X(CONSENT_ID, "consent_id")                                                                    \
    X(SEX, "sex")                                                                                  \
    X(AGE_BAND, "age_band")                                                                        \
    X(CITIZENSHIP, "citizenship")                                                                  \
    X(EXPLOITATION_FORMS, "exploitation_forms")                                                    \
    X(IDENTIFIED_MONTH, "identified_month")                                                        \
    X(ACTION, "action")                                                                            \
    X(IN_REPLY_TO, "in_reply_to")                                                                  \
    X(CREATED_AT, "created_at")                                                                    \
    X(EXPIRES_AT, "expires_at")                                                                    \
    X(CASE_REFERENCE, "case_reference")

enum trm_fed_field {
#define TRM_FED_ENUM(e, name) TRM_FED_##e,
    TRM_FED_FIELDS(TRM_FED_ENUM)
#undef TRM_FED_ENUM
        TRM_FED__NFIELDS
};
extern const char *const trm_fed_field_names[TRM_FED__NFIELDS];
/* Version 1 has the fields up to expires_at; version 2 adds case_reference (the sender's
 * case reference: the offered case, or the case an accepted offer became). */
#define TRM_FED_V1_FIELDS TRM_FED_CASE_REFERENCE
/* Version 3 has the fields of version 2; an offer's payload may carry documents. */
#define TRM_FED_VERSION_MAX 3

/* Every field is text; "" where it does not apply (an answer has no case data, an offer no
 * action). Lists (categories, exploitation_forms) are comma-joined. version is 1 to 3 (0 is
 * taken as 1); a version-1 header has case_reference "" and does not encode it. */
struct trm_fed_header {
    const char *v[TRM_FED__NFIELDS];
    int version;
};

/* A package as received or built: the header's strings are owned by doc. */
struct trm_fed_package {
    json_t *doc;
    struct trm_fed_header h;
    uint8_t *payload; /* sealed; NULL when none */
    size_t payload_len;
    uint8_t signature[TRM_FED_SIG_BYTES];
    uint8_t hash[TRM_FED_HASH_BYTES];
};
void trm_fed_package_free(struct trm_fed_package *p);

/* Parses our time format (YYYY-MM-DDTHH:MM:SSZ, UTC); false on anything else. */
bool trm_fed_time_parse(const char *s, time_t *out);

/* A valid instance id: 2..63 of [a-z0-9.-], starting with a letter or digit. */
bool trm_fed_instance_id_ok(const char *id);

/* The public keys of this instance (NULL box: the key file has no box key). */
void trm_fed_signing_public(const struct trm_keyring *kr, uint8_t pk[TRM_FED_KEY_BYTES]);
bool trm_fed_box_public(const struct trm_keyring *kr, uint8_t pk[TRM_FED_KEY_BYTES]);

/* SHA-256 of the encoding of header (of its version) and sealed payload. */
void trm_fed_package_hash(const struct trm_fed_header *h, const uint8_t *payload, size_t len,
                          uint8_t out[TRM_FED_HASH_BYTES]);

/* Seals plain JSON text to the recipient's box key (nonce || box); malloc'd into *out. */
bool trm_fed_seal(const struct trm_keyring *kr, const uint8_t recipient_box[TRM_FED_KEY_BYTES],
                  const char *plain, size_t len, uint8_t **out, size_t *out_len);
/* Opens a payload sealed to us by sender_box; a malloc'd NUL-terminated text, or NULL. */
char *trm_fed_open(const struct trm_keyring *kr, const uint8_t sender_box[TRM_FED_KEY_BYTES],
                   const uint8_t *sealed, size_t len);

/* Builds a package: hashes, signs with our key, and returns it as wire JSON
 * ({"version": 1, "header": {...}, "payload": base64 | null, "signature": hex}); the hash
 * goes to hash_out. */
json_t *trm_fed_package_build(const struct trm_keyring *kr, const struct trm_fed_header *h,
                              const uint8_t *payload, size_t len,
                              uint8_t hash_out[TRM_FED_HASH_BYTES]);
/* Checks the wire shape (every header field present and well-formed, nothing else), decodes
 * it and computes its hash. The signature is NOT checked here (that needs the sender's
 * registered key: trm_fed_verify_package). Takes a reference to doc on success; false with
 * a reason (never quoting a value) otherwise. */
bool trm_fed_package_parse(json_t *doc, struct trm_fed_package *out, char *why, size_t whylen);

/* The signed statements (docs/federation.md):
 *   package: "trm-fed-package-v1", hash
 *   receipt: "trm-fed-receipt-v1", package id, hash, received time, receiving instance
 *   request: "trm-fed-request-v1", method, path, unix time, requesting instance
 *   directory: "trm-fed-directory-v1", SHA-256 of the response body, answering instance,
 *              requesting instance, the request's unix time */
void trm_fed_sign_package(const struct trm_keyring *kr, const uint8_t hash[TRM_FED_HASH_BYTES],
                          uint8_t sig[TRM_FED_SIG_BYTES]);
bool trm_fed_verify_package(const uint8_t pk[TRM_FED_KEY_BYTES],
                            const uint8_t hash[TRM_FED_HASH_BYTES],
                            const uint8_t sig[TRM_FED_SIG_BYTES]);
void trm_fed_sign_receipt(const struct trm_keyring *kr, const char *package_id,
                          const uint8_t hash[TRM_FED_HASH_BYTES], const char *received_at,
                          const char *instance, uint8_t sig[TRM_FED_SIG_BYTES]);
bool trm_fed_verify_receipt(const uint8_t pk[TRM_FED_KEY_BYTES], const char *package_id,
                            const uint8_t hash[TRM_FED_HASH_BYTES], const char *received_at,
                            const char *instance, const uint8_t sig[TRM_FED_SIG_BYTES]);
void trm_fed_sign_request(const struct trm_keyring *kr, const char *method, const char *path,
                          const char *unix_time, const char *instance,
                          uint8_t sig[TRM_FED_SIG_BYTES]);
bool trm_fed_verify_request(const uint8_t pk[TRM_FED_KEY_BYTES], const char *method,
                            const char *path, const char *unix_time, const char *instance,
                            const uint8_t sig[TRM_FED_SIG_BYTES]);
void trm_fed_sign_directory(const struct trm_keyring *kr, const char *body, size_t len,
                            const char *responder, const char *requester, const char *request_time,
                            uint8_t sig[TRM_FED_SIG_BYTES]);
bool trm_fed_verify_directory(const uint8_t pk[TRM_FED_KEY_BYTES], const char *body, size_t len,
                              const char *responder, const char *requester,
                              const char *request_time, const uint8_t sig[TRM_FED_SIG_BYTES]);

/* A receipt as wire JSON: {"package_id", "package_hash", "received_at", "instance_id",
 * "signature"} (hashes and signature hex). */
json_t *trm_fed_receipt_build(const struct trm_keyring *kr, const char *package_id,
                              const uint8_t hash[TRM_FED_HASH_BYTES], const char *received_at,
                              const char *instance);
/* Checks a receipt for the package we sent: shape, id, hash, instance and signature. */
bool trm_fed_receipt_check(json_t *receipt, const uint8_t pk[TRM_FED_KEY_BYTES],
                           const char *package_id, const uint8_t hash[TRM_FED_HASH_BYTES],
                           const char *instance, char *why, size_t whylen);

#endif
