/* Agency webhooks (docs/casework.md, "Webhooks"): what trmd posts to an agency's receiver
 * and how the receiver knows it came from trmd. An event is JSON of ids, codes and a case
 * reference (fixed when the event was queued, in the transaction of the change it reports);
 * each attempt is signed with the agency's secret:
 *   Trm-Timestamp: <unix seconds of the attempt>
 *   Trm-Signature: v1=<hex HMAC-SHA-256(secret, timestamp "." body)>
 * The secret an admin registers is sealed (XChaCha20-Poly1305, bound to the agency) under a
 * key derived from the key file's token key: the database never holds it in clear. */
#ifndef TRM_WEBHOOK_H
#define TRM_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

struct trm_keyring;
struct trm_app;

/* A secret is 16 to 128 printable ASCII characters (e.g. 64 hex digits). */
#define TRM_WEBHOOK_SECRET_MIN 16
#define TRM_WEBHOOK_SECRET_MAX 128
#define TRM_WEBHOOK_URL_MAX 500
/* "v1=" and 64 hex digits. */
#define TRM_WEBHOOK_SIGNATURE_LEN 67

/* Whether url may receive events: https://, or http:// to this machine only (127.0.0.1,
 * [::1], localhost: a relay or a test); a host without credentials, no spaces or control
 * characters, at most TRM_WEBHOOK_URL_MAX bytes. */
bool trm_webhook_url_ok(const char *url);
/* Whether secret has the shape above. */
bool trm_webhook_secret_ok(const char *secret);

/* The signature header's value for one attempt: "v1=" and the HMAC's hex. */
void trm_webhook_sign(const char *secret, long long timestamp, const char *body, size_t body_len,
                      char out[TRM_WEBHOOK_SIGNATURE_LEN + 1]);
/* What a receiver does: the signature matches (constant time) and the timestamp is within
 * tolerance_s of now. */
bool trm_webhook_verify(const char *secret, const char *timestamp, const char *signature,
                        const char *body, size_t body_len, long long now, long tolerance_s);

/* The secret sealed for agency_id, as hex (malloc'd); NULL on failure. */
char *trm_webhook_secret_seal(const struct trm_keyring *kr, const char *agency_id,
                              const char *secret);
/* Opens what trm_webhook_secret_seal made into out (NUL-terminated, at least
 * TRM_WEBHOOK_SECRET_MAX + 1 bytes); false when it does not open. */
bool trm_webhook_secret_open(const struct trm_keyring *kr, const char *agency_id, const char *hex,
                             char *out, size_t cap);

/* One round of the delivery worker: claims due events, posts each, records the outcome. */
void trm_webhook_worker_run_once(struct trm_app *app);

#endif
