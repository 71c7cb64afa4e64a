/* Authentication: a bearer token to a principal. One round trip finds the token by its
 * selector together with the client's recent failures; the verifier hash is compared in
 * constant time here; failures are counted per client address in PostgreSQL, so every trmd
 * process shares the same limit. */
#include "trm/auth.h"
#include "trm/directory.h"
#include "trm/keyring.h"
#include "trm/log.h"
#include "trm/token.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>

static enum trm_authn_result count_failure(struct trm_db_pool *db,
                                           const struct trm_authn_limits *limits,
                                           const char *client, unsigned *retry_after)
{
    unsigned failures = 0, retry = 0;
    if (trm_directory_auth_failure(db, client, limits->window_s, &failures, &retry) != TRM_DB_OK)
        return TRM_AUTHN_UNAVAILABLE;
    if (failures > limits->failure_limit) {
        *retry_after = retry > 0 ? retry : 1;
        return TRM_AUTHN_RATE_LIMITED;
    }
    return TRM_AUTHN_INVALID;
}

static void fill_principal(struct trm_principal *p, const struct trm_token_row *row)
{
    memset(p, 0, sizeof *p);
    memcpy(p->user_id, row->user.id, sizeof p->user_id);
    memcpy(p->agency_id, row->agency.id, sizeof p->agency_id);
    memcpy(p->token_id, row->token_id, sizeof p->token_id);
    memcpy(p->display_name, row->user.display_name, sizeof p->display_name);
    memcpy(p->agency_name, row->agency.name, sizeof p->agency_name);
    memcpy(p->country, row->agency.country, sizeof p->country);
    trm_role_parse(row->user.role, &p->role);
    p->cross_border = row->user.cross_border;
}

enum trm_authn_result trm_authn_verify(struct trm_db_pool *db, const struct trm_keyring *keys,
                                       const struct trm_authn_limits *limits,
                                       const char *authorization, const char *client,
                                       struct trm_principal *out, unsigned *retry_after)
{
    *retry_after = 0;
    if (authorization == NULL)
        return TRM_AUTHN_MISSING;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return count_failure(db, limits, client, retry_after);
    const char *presented = authorization + 7;
    while (*presented == ' ')
        presented++;
    struct trm_token tok;
    if (!trm_token_parse(presented, &tok)) {
        sodium_memzero(&tok, sizeof tok);
        return count_failure(db, limits, client, retry_after);
    }
    struct trm_token_row row;
    if (trm_directory_token_lookup(db, tok.selector, client, limits->window_s, &row) != TRM_DB_OK) {
        sodium_memzero(&tok, sizeof tok);
        return TRM_AUTHN_UNAVAILABLE;
    }
    /* A client over the limit is refused before its token is even checked. */
    if (row.client_failures > limits->failure_limit) {
        sodium_memzero(&tok, sizeof tok);
        *retry_after = row.retry_after_s > 0 ? row.retry_after_s : 1;
        return TRM_AUTHN_RATE_LIMITED;
    }
    uint8_t hash[TRM_TOKEN_HASH_BYTES];
    trm_token_hash(trm_keyring_token_key(keys), tok.verifier, hash);
    sodium_memzero(&tok, sizeof tok);
    /* Compare even for unknown selectors (against zeros), so timing tells nothing. */
    bool match = sodium_memcmp(hash, row.hash, sizeof hash) == 0;
    if (!row.found || !match || !row.usable)
        return count_failure(db, limits, client, retry_after);
    fill_principal(out, &row);
    if (row.stale_last_used && trm_directory_token_touch(db, row.token_id) != TRM_DB_OK)
        trm_log(TRM_LOG_WARN, "token_touch_failed", "last-used time not recorded");
    return TRM_AUTHN_OK;
}
