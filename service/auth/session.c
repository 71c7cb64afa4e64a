/* Console sessions (see auth.h): opening one with a presented token or sign-in code, its
 * CSRF proof, and one-time sign-in codes. A session is a token, so every request made with
 * it goes through the one authentication path (service/auth/authn.c). */
#include "internal.h"
#include "trm/admin_log_store.h"
#include "trm/keyring.h"
#include "trm/session_store.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void trm_session_csrf(const struct trm_keyring *keys, const char *token_text,
                      char out[TRM_CSRF_LEN + 1])
{
    static const char domain[] = "trm-csrf-v1";
    uint8_t h[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, trm_keyring_token_key(keys), TRM_KEY_BYTES, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)domain, sizeof domain);
    crypto_generichash_update(&st, (const unsigned char *)token_text, strlen(token_text));
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2base64(out, TRM_CSRF_LEN + 1, h, sizeof h, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(h, sizeof h);
}

bool trm_session_csrf_ok(const struct trm_keyring *keys, const char *token_text, const char *proof)
{
    char want[TRM_CSRF_LEN + 1];
    trm_session_csrf(keys, token_text, want);
    return proof != NULL && strlen(proof) == TRM_CSRF_LEN &&
           sodium_memcmp(want, proof, TRM_CSRF_LEN) == 0;
}

enum trm_authn_result trm_session_open(struct trm_db_pool *db, const struct trm_keyring *keys,
                                       const struct trm_authn_limits *limits, const char *presented,
                                       const char *client, unsigned idle_s, unsigned max_s,
                                       struct trm_session *out, unsigned *retry_after)
{
    memset(out, 0, sizeof *out);
    *retry_after = 0;
    struct trm_token tok;
    if (presented == NULL || !trm_token_parse(presented, &tok)) {
        sodium_memzero(&tok, sizeof tok);
        return trm_authn_count_failure(db, limits, client, retry_after);
    }
    struct trm_token_row row;
    enum trm_db_status st =
        trm_directory_token_lookup(db, tok.selector, client, limits->window_s, &row);
    if (st != TRM_DB_OK) {
        sodium_memzero(&tok, sizeof tok);
        return TRM_AUTHN_UNAVAILABLE;
    }
    if (row.client_failures > limits->failure_limit) {
        sodium_memzero(&tok, sizeof tok);
        *retry_after = row.retry_after_s > 0 ? row.retry_after_s : 1;
        return TRM_AUTHN_RATE_LIMITED;
    }
    uint8_t hash[TRM_TOKEN_HASH_BYTES];
    trm_token_hash(trm_keyring_token_key(keys), tok.verifier, hash);
    sodium_memzero(&tok, sizeof tok);
    bool match = sodium_memcmp(hash, row.hash, sizeof hash) == 0;
    /* A session opens only with an API token or a sign-in code, never with a session. */
    if (!row.found || !match || strcmp(row.kind, "session") == 0)
        return trm_authn_count_failure(db, limits, client, retry_after);
    trm_token_generate(&out->token);
    trm_uuid_v4(out->id);
    trm_token_hash(trm_keyring_token_key(keys), out->token.verifier, hash);
    st = trm_session_store_open(db, row.token_id, out->id, out->token.selector, hash, idle_s, max_s,
                                out->expires_at);
    if (st == TRM_DB_REFUSED) {
        sodium_memzero(&out->token, sizeof out->token);
        return trm_authn_count_failure(db, limits, client, retry_after);
    }
    if (st != TRM_DB_OK) {
        sodium_memzero(&out->token, sizeof out->token);
        return TRM_AUTHN_UNAVAILABLE;
    }
    trm_authn_fill_principal(&out->principal, &row);
    trm_strlcpy(out->principal.token_id, out->id, sizeof out->principal.token_id);
    out->principal.session = true;
    trm_session_csrf(keys, out->token.text, out->csrf);
    return TRM_AUTHN_OK;
}

struct signin_args {
    const char *id, *user_id, *selector;
    const uint8_t *hash;
    unsigned minutes;
    char *expires_at;
};

static enum trm_db_status signin_tx(struct trm_db_conn *c, void *arg)
{
    struct signin_args *a = arg;
    enum trm_db_status st = trm_signin_store_issue(c, a->id, a->user_id, a->selector, a->hash,
                                                   a->minutes, a->expires_at);
    /* A sign-in code is a token the operator issued: the admin log records it. */
    return st == TRM_DB_OK ? trm_admin_log_add(c, TRM_ADMIN_TOKEN_ISSUE, a->id, "signin", NULL)
                           : st;
}

enum trm_db_status trm_signin_issue(struct trm_db_pool *db, const struct trm_keyring *keys,
                                    const char *user_id, unsigned minutes, struct trm_token *code,
                                    char expires_at[32])
{
    char id[TRM_UUID_STR_LEN + 1];
    uint8_t hash[TRM_TOKEN_HASH_BYTES];
    trm_token_generate(code);
    trm_uuid_v4(id);
    trm_token_hash(trm_keyring_token_key(keys), code->verifier, hash);
    struct signin_args a = {id, user_id, code->selector, hash, minutes, expires_at};
    enum trm_db_status st = trm_db_tx_run(db, NULL, false, signin_tx, &a);
    if (st != TRM_DB_OK)
        sodium_memzero(code, sizeof *code);
    return st;
}
