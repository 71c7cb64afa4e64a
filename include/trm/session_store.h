/* Console sessions and sign-in codes in the database (migration 0022): the rows are API
 * tokens of kind 'session' and 'signin'. */
#ifndef TRM_SESSION_STORE_H
#define TRM_SESSION_STORE_H

#include <stdint.h>

#include "trm/db.h"
#include "trm/token.h"
#include "trm/util.h"

/* Opens a session with a verified parent token: FOUND false (REFUSED) when the parent does
 * not qualify (revoked, expired, a used sign-in code, user disabled, agency inactive). */
enum trm_db_status trm_session_store_open(struct trm_db_pool *pool, const char *parent_id,
                                          const char *id, const char *selector,
                                          const uint8_t hash[TRM_TOKEN_HASH_BYTES], unsigned idle_s,
                                          unsigned max_s, char expires_at[32]);
/* Ends the acting user's session (its row revoked); NOT_FOUND when it is not one. */
enum trm_db_status trm_session_store_close(struct trm_db_conn *c, const char *id);
/* A one-time sign-in code for user_id, valid minutes minutes (trmctl, the owner role). */
enum trm_db_status trm_signin_store_issue(struct trm_db_conn *c, const char *id,
                                          const char *user_id, const char *selector,
                                          const uint8_t hash[TRM_TOKEN_HASH_BYTES],
                                          unsigned minutes, char expires_at[32]);

#endif
