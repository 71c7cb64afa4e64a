/* The keyring: secrets read from the master key file, held in sodium_malloc'd memory
 * (guarded, locked, wiped on free). The file has one key per line:
 *   kek <id> <64 hex>   key-encryption keys; the last one is current, earlier ones still
 *                       unwrap data keys that were not yet re-wrapped
 *   index <64 hex>      root of the blind-index keys
 *   token <64 hex>      key of the API-token verifier hashes
 *   signing <64 hex>    Ed25519 seed that signs handover-log checkpoints and federation
 *                       packages, receipts and requests
 *   box <64 hex>        X25519 secret key that opens packages sealed to this instance
 *                       (optional: federation needs it; `trmctl instance init` adds it)
 * Keys are always chosen by id, never by trying them in turn. */
#ifndef TRM_KEYRING_H
#define TRM_KEYRING_H

#include <stdbool.h>
#include <stddef.h>

#define TRM_KEY_BYTES 32
#define TRM_KEK_ID_MAX 32

struct trm_keyring;

/* Loads path; false with a message in err (never containing key material). */
bool trm_keyring_load(struct trm_keyring **out, const char *path, char *err, size_t errlen);
/* Parses key file text (for tests and fuzzing). */
bool trm_keyring_parse(struct trm_keyring **out, const char *text, size_t len, char *err,
                       size_t errlen);
void trm_keyring_free(struct trm_keyring *kr);

/* Loading refuses a key file whose mode is not 0600 or 0400 (group or others could read
 * it, or it could be executed). Changing a key file writes a new file next to it (O_EXCL,
 * synced, with the old mode and owner) and renames it over the old one.
 * Creates a new key file (mode 0600, O_EXCL: never over an existing file) with fresh random
 * keys. */
bool trm_keyring_create_file(const char *path, char *err, size_t errlen);
/* Appends a fresh KEK to the file, which makes it current; its id is written to new_id. */
bool trm_keyring_add_kek(const char *path, char new_id[TRM_KEK_ID_MAX + 1], char *err,
                         size_t errlen);
/* Removes KEK id from the file for good (refused for an unknown or the current KEK). The
 * caller first makes sure no data key is still wrapped under it (trm_keys_retire): what it
 * wrapped can never be opened again. The replaced file is overwritten on disk when it can be
 * (best effort: the file system may keep copies). */
bool trm_keyring_retire_kek(const char *path, const char *id, char *err, size_t errlen);
/* Whether KEK id may be retired from this keyring: it must be there and not be current. */
bool trm_keyring_can_retire(const struct trm_keyring *kr, const char *id, char *err, size_t errlen);

const char *trm_keyring_current_kek_id(const struct trm_keyring *kr);
/* The KEK with this id, or NULL. */
const unsigned char *trm_keyring_kek(const struct trm_keyring *kr, const char *id);
size_t trm_keyring_kek_count(const struct trm_keyring *kr);
const char *trm_keyring_kek_id_at(const struct trm_keyring *kr, size_t i);
const unsigned char *trm_keyring_index_root(const struct trm_keyring *kr);
const unsigned char *trm_keyring_token_key(const struct trm_keyring *kr);
const unsigned char *trm_keyring_signing_seed(const struct trm_keyring *kr);
/* The X25519 secret key for sealed boxes, or NULL when the file has none. */
const unsigned char *trm_keyring_box_secret(const struct trm_keyring *kr);
/* Appends a box key to the file unless it has one (*added says whether it did). */
bool trm_keyring_ensure_box_key(const char *path, bool *added, char *err, size_t errlen);

/* A key file that trmd follows while it runs: when `trmctl keys rotate` adds a KEK, every
 * trmd process picks it up within about a second (the file's change time is checked at most
 * once a second), so new data keys are wrapped under it and re-wrapped ones still open.
 * Keyrings handed out stay valid until the source is closed. */
struct trm_keyring_source;

bool trm_keyring_source_open(struct trm_keyring_source **out, const char *path, char *err,
                             size_t errlen);
const struct trm_keyring *trm_keyring_source_get(struct trm_keyring_source *src);
/* A keyring that knows kek_id if the key file does: when the current one does not (a
 * rotation this process has not noticed yet), the file is read again at once. */
const struct trm_keyring *trm_keyring_source_for(struct trm_keyring_source *src,
                                                 const char *kek_id);
void trm_keyring_source_close(struct trm_keyring_source *src);

#endif
