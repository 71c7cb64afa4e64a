/* The directory store: agencies, users and API tokens in PostgreSQL. Each function runs
 * inside a transaction opened by the caller (trm_db_tx_run) unless it takes the pool. */
#ifndef TRM_DIRECTORY_STORE_H
#define TRM_DIRECTORY_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "trm/db.h"
#include "trm/token.h"
#include "trm/util.h"

#define TRM_NAME_MAX 200

struct trm_agency {
    char id[TRM_UUID_STR_LEN + 1];
    char name[TRM_NAME_MAX + 1];
    char country[3];
    char kind[32];
    bool active;
    bool demo;
    char instance_id[64]; /* a peer instance's agency (federation); "" for ours */
};

struct trm_user {
    char id[TRM_UUID_STR_LEN + 1];
    char agency_id[TRM_UUID_STR_LEN + 1];
    char display_name[TRM_NAME_MAX + 1];
    char role[16];
    bool cross_border;
    bool disabled;
    bool demo;
};

/* The kinds of agency, NULL-terminated (for validation). */
extern const char *const trm_agency_kinds[];
/* The kind as stored: labour_inspection, the old word, is labour_inspectorate. */
const char *trm_agency_kind_canonical(const char *kind);
/* The roles, NULL-terminated. */
extern const char *const trm_user_roles[];

/* Inserts a (id already set); CONFLICT when the country already has an agency of that name,
 * NOT_FOUND when the country code is unknown. */
enum trm_db_status trm_directory_agency_insert(struct trm_db_conn *c, const struct trm_agency *a);
enum trm_db_status trm_directory_agency_get(struct trm_db_conn *c, const char *id,
                                            struct trm_agency *out);
/* Agencies ordered by country, name and id, after the given key (all NULL: from the start);
 * country and kind filter when not NULL. Fills at most cap rows. */
enum trm_db_status trm_directory_agency_list(struct trm_db_conn *c, const char *country,
                                             const char *kind, const char *after_country,
                                             const char *after_name, const char *after_id,
                                             struct trm_agency *out, unsigned cap, unsigned *n);

/* Activates or deactivates one of our own agencies: NOT_FOUND when there is none with that
 * id, CONFLICT for an agency of a peer instance (its instance keeps it up to date). */
enum trm_db_status trm_directory_agency_set_active(struct trm_db_conn *c, const char *id,
                                                   bool active);

enum trm_db_status trm_directory_user_insert(struct trm_db_conn *c, const struct trm_user *u);
enum trm_db_status trm_directory_user_get(struct trm_db_conn *c, const char *id,
                                          struct trm_user *out);
/* Users ordered by id, after after_id (NULL: from the start), optionally of one agency. */
enum trm_db_status trm_directory_user_list(struct trm_db_conn *c, const char *agency_id,
                                           const char *after_id, struct trm_user *out, unsigned cap,
                                           unsigned *n);
enum trm_db_status trm_directory_user_set_disabled(struct trm_db_conn *c, const char *id,
                                                   bool disabled);

/* Stores a token's selector and verifier hash; expires_days 0 means no expiry. Writes the
 * expiry (RFC 3339, or "" for none) to expires_at. */
enum trm_db_status trm_directory_token_insert(struct trm_db_conn *c, const char *id,
                                              const char *user_id, const char *selector,
                                              const uint8_t hash[TRM_TOKEN_HASH_BYTES],
                                              long expires_days, char expires_at[32]);
/* Revokes a token (NOT_FOUND when there is none with that id). */
enum trm_db_status trm_directory_token_revoke(struct trm_db_conn *c, const char *id);
/* A user's tokens, newest first, after the key (created_at as RFC 3339 with microseconds,
 * id; both NULL: from the newest), at most limit: a JSON array of objects without any secret
 * (id, kind, created_at, expires_at, last_used_at, revoked_at, issued_via, usable), into
 * *out. NOT_FOUND when there is no such user. */
enum trm_db_status trm_directory_token_list(struct trm_db_conn *c, const char *user_id,
                                            const char *after_created, const char *after_id,
                                            unsigned limit, json_t **out);

/* What authentication needs to know about a selector and a client, in one round trip. */
struct trm_token_row {
    bool found;
    bool usable;  /* trm_token_usable (migration 0022), user enabled, agency active */
    char kind[8]; /* api, session (a console session), signin (a one-time sign-in code) */
    bool stale_last_used;
    uint8_t hash[TRM_TOKEN_HASH_BYTES];
    char token_id[TRM_UUID_STR_LEN + 1];
    struct trm_user user;
    struct trm_agency agency;
    unsigned client_failures;
    unsigned retry_after_s;
};
enum trm_db_status trm_directory_token_lookup(struct trm_db_pool *pool, const char *selector,
                                              const char *client, unsigned window_s,
                                              struct trm_token_row *out);
/* Counts one failed authentication of client; returns the count in the current window. */
enum trm_db_status trm_directory_auth_failure(struct trm_db_pool *pool, const char *client,
                                              unsigned window_s, unsigned *failures,
                                              unsigned *retry_after_s);
/* Guards this thread (trm_db_guard_set) with trm_auth_holds (migration 0013): the
 * request's first statements run only if the token still authenticates exactly this user.
 * facts, all text, in this order: token id, user id, agency id, role, cross-border
 * ("true"/"false"), country, display name, agency name, client address, failure limit,
 * window seconds. They must stay valid until trm_db_guard_clear. */
#define TRM_AUTH_FACTS 11
void trm_directory_auth_guard(const char *const *facts);
/* Marks a token used now (throttled by the caller to once a minute). */
enum trm_db_status trm_directory_token_touch(struct trm_db_pool *pool, const char *token_id);

/* Forgets failed-authentication counters whose window ended and idempotency keys older than
 * a day, so neither table grows without bound. */
enum trm_db_status trm_directory_cleanup(struct trm_db_pool *pool, unsigned window_s);

/* Whether any admin user exists (bootstrap). */
enum trm_db_status trm_directory_admin_exists(struct trm_db_conn *c, bool *exists);

#endif
