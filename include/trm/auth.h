/* Who is asking, and what their role lets them do. The authorization model is one table
 * (service/auth/authz.c, documented in docs/authorization.md): each route names the action
 * it performs and the request core checks it before any handler runs. Which cases a user
 * may touch (own agency, accepted referrals) is enforced underneath by row-level security. */
#ifndef TRM_AUTH_H
#define TRM_AUTH_H

#include <stdbool.h>

#include "trm/db.h"
#include "trm/token.h"
#include "trm/util.h"

struct trm_db_pool;
struct trm_db_context;
struct trm_keyring;

enum trm_role { TRM_ROLE_CASEWORKER, TRM_ROLE_COORDINATOR, TRM_ROLE_AUDITOR, TRM_ROLE_ADMIN };

struct trm_principal {
    char user_id[TRM_UUID_STR_LEN + 1];
    char agency_id[TRM_UUID_STR_LEN + 1];
    char token_id[TRM_UUID_STR_LEN + 1];
    char display_name[201];
    char agency_name[201];
    char country[3];
    enum trm_role role;
    bool cross_border;
    /* Authenticated by a console session (a token of kind 'session', from the cookie). */
    bool session;
    /* Served from trmd's memory of a token it verified (struct trm_authn_cache) rather than
     * looked up: the database re-checks it with the request's first statements
     * (trm_authn_guard). */
    bool remembered;
    unsigned char memory_key[32];
};

/* What a route does, for the role check. */
enum trm_action {
    TRM_ACT_NONE,             /* any authenticated user (e.g. /v1/me) */
    TRM_ACT_DIRECTORY_READ,   /* list agencies: choose a referral recipient */
    TRM_ACT_DIRECTORY_MANAGE, /* agencies, users, tokens */
    TRM_ACT_SOP_MANAGE,       /* load SOP versions */
    TRM_ACT_CASE_READ,        /* case summaries and, within consent, personal data */
    TRM_ACT_CASE_WRITE,       /* create and change cases, record events */
    TRM_ACT_CASE_APPROVE,     /* sensitive actions: erasure, guard overrides */
    TRM_ACT_AUDIT_READ,       /* handover and access logs */
    TRM_ACT_STATS_READ,       /* suppressed statistics */
    TRM_ACT_ADMIN_LOG_READ,   /* the admin log: auditors only */
    TRM_ACT__COUNT
};

const char *trm_role_name(enum trm_role role);
bool trm_role_parse(const char *name, enum trm_role *out);
/* The one authorization table: may this role perform this action at all? */
bool trm_authz_allows(enum trm_role role, enum trm_action action);
/* The row-level security context of a principal (pointers into p). */
void trm_principal_db_context(const struct trm_principal *p, struct trm_db_context *out);

enum trm_authn_result {
    TRM_AUTHN_OK,
    TRM_AUTHN_MISSING,      /* no bearer token */
    TRM_AUTHN_INVALID,      /* bad, unknown, expired or revoked token, or disabled user */
    TRM_AUTHN_RATE_LIMITED, /* too many failures from this client: *retry_after seconds */
    TRM_AUTHN_UNAVAILABLE,  /* the database cannot be reached */
};

struct trm_authn_limits {
    unsigned failure_limit;
    unsigned window_s;
};

/* Tokens trmd has verified, remembered for a short time (auth_cache_s) by a keyed hash of
 * the whole token (never the token), with the principal they stood for. A remembered
 * principal is only a candidate: every request served from it is guarded by the database's
 * own check (trm_authn_guard), so a revocation, an expiry, a disabled user or agency, a
 * changed role and a client over its failure limit take effect on the next request in
 * every trmd process, exactly as without the memory. Thread-safe; bounded (entries). */
struct trm_authn_cache;
/* NULL (no memory) when entries or ttl_s is 0. */
struct trm_authn_cache *trm_authn_cache_new(unsigned entries, unsigned ttl_s);
void trm_authn_cache_free(struct trm_authn_cache *cache);
/* How many tokens are remembered now (unexpired entries), for metrics. */
unsigned trm_authn_cache_count(struct trm_authn_cache *cache);
/* Forgets a remembered principal (after its guard failed). */
void trm_authn_forget(struct trm_authn_cache *cache, const struct trm_principal *p);

/* Verifies an Authorization header value for a client address; fills out on success.
 * With a cache, a remembered token is answered from it (out->remembered) and a token that
 * was looked up is remembered. */
enum trm_authn_result trm_authn_verify(struct trm_db_pool *db, const struct trm_keyring *keys,
                                       const struct trm_authn_limits *limits,
                                       struct trm_authn_cache *cache, const char *authorization,
                                       const char *client, struct trm_principal *out,
                                       unsigned *retry_after);

/* The facts a remembered principal is re-checked against (storage for the guard). */
struct trm_authn_recheck {
    const char *facts[11];
    char client[64], limit[16], window[16];
};
/* Guards this thread's next database work with the check that p's token still stands for p
 * (trm_directory_auth_guard); r must outlive the guard (trm_db_guard_clear). */
void trm_authn_guard(struct trm_authn_recheck *r, const struct trm_principal *p,
                     const struct trm_authn_limits *limits, const char *client);

/* Counts one failed authentication of client: INVALID, or RATE_LIMITED (with
 * *retry_after) once it is over the limit, or UNAVAILABLE. */
enum trm_authn_result trm_authn_count_failure(struct trm_db_pool *db,
                                              const struct trm_authn_limits *limits,
                                              const char *client, unsigned *retry_after);

/* Console sessions (service/auth/session.c, docs/authorization.md "Sessions"): a session is
 * a token of kind 'session', opened by presenting an API token or a one-time sign-in code,
 * and carried in an HttpOnly cookie. Its CSRF proof is derived from it (a keyed hash), so
 * nothing about it is kept but its row. */
#define TRM_CSRF_LEN 43 /* base64url of 32 bytes */
struct trm_session {
    char id[TRM_UUID_STR_LEN + 1];
    char expires_at[32];
    struct trm_token token; /* the cookie's value: wipe it (sodium_memzero) after */
    char csrf[TRM_CSRF_LEN + 1];
    struct trm_principal principal;
};
/* Opens a session for the token or sign-in code presented (as text), for a client address:
 * OK, INVALID (counted as a failed authentication), RATE_LIMITED or UNAVAILABLE. */
enum trm_authn_result trm_session_open(struct trm_db_pool *db, const struct trm_keyring *keys,
                                       const struct trm_authn_limits *limits, const char *presented,
                                       const char *client, unsigned idle_s, unsigned max_s,
                                       struct trm_session *out, unsigned *retry_after);
/* The CSRF proof of a session token (its text). */
void trm_session_csrf(const struct trm_keyring *keys, const char *token_text,
                      char out[TRM_CSRF_LEN + 1]);
/* Whether proof is the session token's CSRF proof (constant time). */
bool trm_session_csrf_ok(const struct trm_keyring *keys, const char *token_text, const char *proof);
/* A one-time sign-in code for user_id (trmctl signin-link), valid minutes minutes: the code
 * (to be shown once and wiped) and its expiry. NOT_FOUND for no enabled user. */
enum trm_db_status trm_signin_issue(struct trm_db_pool *db, const struct trm_keyring *keys,
                                    const char *user_id, unsigned minutes, struct trm_token *code,
                                    char expires_at[32]);

/* Issuing and revoking API tokens: the one implementation behind POST /v1/users/{id}/tokens,
 * DELETE /v1/tokens/{id} and trmctl token (service/auth/issue.c). Each is one transaction
 * that also records who did it: the database stores the token's issuer (issued_via 'api'
 * with the admin's id, or 'trmctl'), and the admin log gets its entry. actor is the admin
 * acting through the API, or NULL for the operator running trmctl (as the owner role). */
struct trm_token_issued {
    char id[TRM_UUID_STR_LEN + 1];
    char expires_at[32];    /* RFC 3339; "" for no expiry */
    struct trm_token token; /* the secret, shown once: wipe it (sodium_memzero) after */
};
/* Issues a token for user_id valid expires_days days (1..3650). NOT_FOUND for no such
 * user; the outputs are set only on TRM_DB_OK. */
enum trm_db_status trm_token_issue(struct trm_db_pool *db, const struct trm_keyring *keys,
                                   const struct trm_principal *actor, const char *user_id,
                                   long expires_days, const char *request_id,
                                   struct trm_token_issued *out);
/* Revokes a token (revoking a revoked token again keeps its first time). NOT_FOUND for no
 * such token. */
enum trm_db_status trm_token_revoke(struct trm_db_pool *db, const struct trm_principal *actor,
                                    const char *token_id, const char *request_id);

#endif
