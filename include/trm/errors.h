/* The one table of error types: every error trmd returns is a row here, with its stable
 * code (the last part of the problem `type` URI), HTTP status and title. */
#ifndef TRM_ERRORS_H
#define TRM_ERRORS_H

#define TRM_PROBLEM_TYPE_PREFIX "urn:trm:problem:"

/* X(enum suffix, code, status, title) */
#define TRM_ERROR_TABLE(X)                                                                         \
    X(BAD_REQUEST, "bad_request", 400, "Malformed request")                                        \
    X(MALFORMED_JSON, "malformed_json", 400, "Body is not valid JSON")                             \
    X(VALIDATION_FAILED, "validation_failed", 400, "Invalid fields")                               \
    X(INVALID_PARAMETER, "invalid_parameter", 400, "Invalid query parameter")                      \
    X(UNAUTHENTICATED, "unauthenticated", 401, "Authentication required")                          \
    X(FORBIDDEN, "forbidden", 403, "Not allowed")                                                  \
    X(CSRF_FAILED, "csrf_failed", 403, "The CSRF proof is missing or wrong")                       \
    X(NOT_FOUND, "not_found", 404, "Not found")                                                    \
    X(METHOD_NOT_ALLOWED, "method_not_allowed", 405, "Method not allowed")                         \
    X(CONFLICT, "conflict", 409, "Conflict with the current state")                                \
    X(CONSENT_WITHDRAWN, "consent_withdrawn", 409, "The consent is withdrawn or has expired")      \
    X(CASE_ERASED, "case_erased", 409, "The case's personal data is erased")                       \
    X(OFFER_ANSWERED, "offer_answered", 409, "The offer is answered already")                      \
    X(OFFER_EXPIRED, "offer_expired", 409, "The offer has expired")                                \
    X(ALREADY_ASSIGNED, "already_assigned", 409, "The case is assigned already")                   \
    X(CATEGORY_NOT_GRANTED, "category_not_granted", 403, "No grant of this category")              \
    X(PRECONDITION_FAILED, "precondition_failed", 412, "Version has changed")                      \
    X(PAYLOAD_TOO_LARGE, "payload_too_large", 413, "Request body too large")                       \
    X(DOCUMENT_TOO_LARGE, "document_too_large", 413, "Document too large")                         \
    X(CASE_DOCUMENTS_FULL, "case_documents_full", 413, "The case's documents are at their limit")  \
    X(URI_TOO_LONG, "uri_too_long", 414, "Request target too long")                                \
    X(UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", 415, "Unsupported content type")           \
    X(MEDIA_TYPE_MISMATCH, "media_type_mismatch", 415, "Content is not of its declared type")      \
    X(IDEMPOTENCY_MISMATCH, "idempotency_mismatch", 422,                                           \
      "Idempotency key reused with another request")                                               \
    X(PRECONDITION_REQUIRED, "precondition_required", 428, "If-Match required")                    \
    X(RATE_LIMITED, "rate_limited", 429, "Too many requests")                                      \
    X(HEADERS_TOO_LARGE, "headers_too_large", 431, "Request headers too large")                    \
    X(INTERNAL, "internal_error", 500, "Internal error")                                           \
    X(SERVICE_UNAVAILABLE, "service_unavailable", 503, "Service temporarily unavailable")          \
    X(NOT_READY, "not_ready", 503, "Service not ready")                                            \
    X(FEDERATION_DISABLED, "federation_disabled", 404, "Federation is not set up")                 \
    X(PEER_UNAUTHENTICATED, "peer_unauthenticated", 401, "A registered peer's signature needed")   \
    X(INVALID_PACKAGE, "invalid_package", 400, "Invalid federation package")                       \
    X(BAD_SIGNATURE, "bad_signature", 400, "Signature does not verify")                            \
    X(UNKNOWN_PEER, "unknown_peer", 403, "Not a registered peer")                                  \
    X(MISDIRECTED, "misdirected", 421, "Addressed to another instance")                            \
    X(PACKAGE_EXPIRED, "package_expired", 410, "Package expired")                                  \
    X(PACKAGE_REPLAYED, "package_replayed", 409, "Package id used before")                         \
    X(PACKAGE_REFUSED, "package_refused", 409, "Package refused")

enum trm_error {
#define TRM_ERROR_ENUM(e, code, status, title) TRM_E_##e,
    TRM_ERROR_TABLE(TRM_ERROR_ENUM)
#undef TRM_ERROR_ENUM
        TRM_E__COUNT
};

const char *trm_error_code(enum trm_error e);
unsigned trm_error_status(enum trm_error e);
const char *trm_error_title(enum trm_error e);

#endif
