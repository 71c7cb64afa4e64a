/* Issuing and revoking API tokens, for trmd and trmctl alike (auth.h): the token is made
 * here, only its selector and keyed verifier hash are stored, the database records the
 * issuer from the transaction's acting user (or the owner role for trmctl), and the admin
 * log gets its entry in the same transaction. */
#include "trm/admin_log_store.h"
#include "trm/auth.h"
#include "trm/directory_store.h"
#include "trm/keyring.h"

#include <sodium.h>
#include <string.h>

struct issue {
    const char *user_id, *request_id;
    long days;
    const uint8_t *hash;
    struct trm_token_issued *out;
};

static enum trm_db_status issue_tx(struct trm_db_conn *c, void *arg)
{
    struct issue *x = arg;
    x->out->expires_at[0] = '\0';
    enum trm_db_status st = trm_directory_token_insert(
        c, x->out->id, x->user_id, x->out->token.selector, x->hash, x->days, x->out->expires_at);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_admin_log_add(c, TRM_ADMIN_TOKEN_ISSUE, x->out->id, "expires_days", x->request_id);
}

/* The acting user's context, or none for trmctl. */
static const struct trm_db_context *actor_context(const struct trm_principal *actor,
                                                  struct trm_db_context *ctx)
{
    if (actor == NULL)
        return NULL;
    trm_principal_db_context(actor, ctx);
    return ctx;
}

enum trm_db_status trm_token_issue(struct trm_db_pool *db, const struct trm_keyring *keys,
                                   const struct trm_principal *actor, const char *user_id,
                                   long expires_days, const char *request_id,
                                   struct trm_token_issued *out)
{
    uint8_t hash[TRM_TOKEN_HASH_BYTES];
    memset(out, 0, sizeof *out);
    trm_uuid_v4(out->id);
    trm_token_generate(&out->token);
    trm_token_hash(trm_keyring_token_key(keys), out->token.verifier, hash);
    struct issue x = {user_id, request_id, expires_days, hash, out};
    struct trm_db_context ctx;
    enum trm_db_status st = trm_db_tx_run(db, actor_context(actor, &ctx), false, issue_tx, &x);
    sodium_memzero(hash, sizeof hash);
    if (st != TRM_DB_OK)
        sodium_memzero(out, sizeof *out);
    return st;
}

struct revoke {
    const char *token_id, *request_id;
};

static enum trm_db_status revoke_tx(struct trm_db_conn *c, void *arg)
{
    struct revoke *x = arg;
    enum trm_db_status st = trm_directory_token_revoke(c, x->token_id);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_admin_log_add(c, TRM_ADMIN_TOKEN_REVOKE, x->token_id, "", x->request_id);
}

enum trm_db_status trm_token_revoke(struct trm_db_pool *db, const struct trm_principal *actor,
                                    const char *token_id, const char *request_id)
{
    struct revoke x = {token_id, request_id};
    struct trm_db_context ctx;
    return trm_db_tx_run(db, actor_context(actor, &ctx), false, revoke_tx, &x);
}
