/* Authentication: a bearer token to a principal. One round trip finds the token by its
 * selector together with the client's recent failures; the verifier hash is compared in
 * constant time here; failures are counted per client address in PostgreSQL, so every trmd
 * process shares the same limit.
 *
 * A verified token is remembered for auth_cache_s seconds, so the next requests need no
 * lookup round trip: the memory is a candidate, and the database confirms it with each
 * request's own first statements (trm_authn_guard, trm_auth_holds in migration 0013). */
#include "trm/auth.h"
#include "internal.h"
#include "trm/directory_store.h"
#include "trm/keyring.h"
#include "trm/log.h"
#include "trm/token.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct memory_entry {
    unsigned char key[32];
    long long expires_ms; /* 0: empty */
    struct trm_principal principal;
};

struct trm_authn_cache {
    pthread_mutex_t lock;
    unsigned entries, ttl_ms;
    struct memory_entry *slots; /* direct-mapped by the (keyed, so unpredictable) key */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct trm_authn_cache *trm_authn_cache_new(unsigned entries, unsigned ttl_s)
{
    if (entries == 0 || ttl_s == 0)
        return NULL;
    struct trm_authn_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->slots = calloc(entries, sizeof *c->slots);
    if (c->slots == NULL) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->entries = entries;
    c->ttl_ms = ttl_s * 1000u;
    return c;
}

void trm_authn_cache_free(struct trm_authn_cache *c)
{
    if (c == NULL)
        return;
    sodium_memzero(c->slots, (size_t)c->entries * sizeof *c->slots);
    free(c->slots);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

unsigned trm_authn_cache_count(struct trm_authn_cache *c)
{
    if (c == NULL)
        return 0;
    unsigned n = 0;
    long long now = now_ms();
    pthread_mutex_lock(&c->lock);
    for (unsigned i = 0; i < c->entries; i++)
        n += c->slots[i].expires_ms > now;
    pthread_mutex_unlock(&c->lock);
    return n;
}

static struct memory_entry *slot_of(struct trm_authn_cache *c, const unsigned char key[32])
{
    uint64_t h;
    memcpy(&h, key, sizeof h);
    return &c->slots[h % c->entries];
}

static bool memory_get(struct trm_authn_cache *c, const unsigned char key[32],
                       struct trm_principal *out)
{
    bool hit = false;
    pthread_mutex_lock(&c->lock);
    struct memory_entry *e = slot_of(c, key);
    if (e->expires_ms != 0 && sodium_memcmp(e->key, key, 32) == 0) {
        if (e->expires_ms > now_ms()) {
            *out = e->principal;
            hit = true;
        } else {
            sodium_memzero(e, sizeof *e);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

static void memory_put(struct trm_authn_cache *c, const struct trm_principal *p)
{
    pthread_mutex_lock(&c->lock);
    struct memory_entry *e = slot_of(c, p->memory_key);
    memcpy(e->key, p->memory_key, 32);
    e->principal = *p;
    e->expires_ms = now_ms() + c->ttl_ms;
    pthread_mutex_unlock(&c->lock);
}

void trm_authn_forget(struct trm_authn_cache *c, const struct trm_principal *p)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    struct memory_entry *e = slot_of(c, p->memory_key);
    if (sodium_memcmp(e->key, p->memory_key, 32) == 0)
        sodium_memzero(e, sizeof *e);
    pthread_mutex_unlock(&c->lock);
}

/* The memory's key: a keyed hash of the whole token text, domain-separated from the stored
 * verifier hash. */
static void memory_key(const struct trm_keyring *keys, const struct trm_token *tok,
                       unsigned char out[32])
{
    static const char domain[] = "trm-authn-memory-v1";
    crypto_generichash_state st;
    crypto_generichash_init(&st, trm_keyring_token_key(keys), TRM_KEY_BYTES, 32);
    crypto_generichash_update(&st, (const unsigned char *)domain, sizeof domain);
    crypto_generichash_update(&st, (const unsigned char *)tok->text, TRM_TOKEN_LEN);
    crypto_generichash_final(&st, out, 32);
    sodium_memzero(&st, sizeof st);
}

enum trm_authn_result trm_authn_count_failure(struct trm_db_pool *db,
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

void trm_authn_fill_principal(struct trm_principal *p, const struct trm_token_row *row)
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
    p->session = strcmp(row->kind, "session") == 0;
}

enum trm_authn_result trm_authn_verify(struct trm_db_pool *db, const struct trm_keyring *keys,
                                       const struct trm_authn_limits *limits,
                                       struct trm_authn_cache *cache, const char *authorization,
                                       const char *client, struct trm_principal *out,
                                       unsigned *retry_after)
{
    *retry_after = 0;
    if (authorization == NULL)
        return TRM_AUTHN_MISSING;
    if (strncasecmp(authorization, "Bearer ", 7) != 0)
        return trm_authn_count_failure(db, limits, client, retry_after);
    const char *presented = authorization + 7;
    while (*presented == ' ')
        presented++;
    struct trm_token tok;
    if (!trm_token_parse(presented, &tok)) {
        sodium_memzero(&tok, sizeof tok);
        return trm_authn_count_failure(db, limits, client, retry_after);
    }
    unsigned char key[32] = {0};
    if (cache != NULL)
        memory_key(keys, &tok, key);
    if (cache != NULL && memory_get(cache, key, out)) {
        sodium_memzero(&tok, sizeof tok);
        out->remembered = true;
        return TRM_AUTHN_OK;
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
        return trm_authn_count_failure(db, limits, client, retry_after);
    trm_authn_fill_principal(out, &row);
    memcpy(out->memory_key, key, sizeof key);
    if (cache != NULL)
        memory_put(cache, out);
    if (row.stale_last_used && trm_directory_token_touch(db, row.token_id) != TRM_DB_OK)
        trm_log(TRM_LOG_WARN, "token_touch_failed", "last-used time not recorded");
    return TRM_AUTHN_OK;
}

_Static_assert(sizeof((struct trm_authn_recheck *)0)->facts / sizeof(const char *) ==
                   TRM_AUTH_FACTS,
               "one fact per parameter of trm_auth_holds");

void trm_authn_guard(struct trm_authn_recheck *r, const struct trm_principal *p,
                     const struct trm_authn_limits *limits, const char *client)
{
    trm_strlcpy(r->client, client, sizeof r->client);
    snprintf(r->limit, sizeof r->limit, "%u", limits->failure_limit);
    snprintf(r->window, sizeof r->window, "%u", limits->window_s);
    const char *facts[TRM_AUTH_FACTS] = {p->token_id,
                                         p->user_id,
                                         p->agency_id,
                                         trm_role_name(p->role),
                                         p->cross_border ? "true" : "false",
                                         p->country,
                                         p->display_name,
                                         p->agency_name,
                                         r->client,
                                         r->limit,
                                         r->window};
    memcpy(r->facts, facts, sizeof facts);
    trm_directory_auth_guard(r->facts);
}
