/* Token generation, parsing and verifier hashing. */
#include "trm/token.h"
#include "trm/keyring.h"
#include "trm/util.h"

#include <sodium.h>
#include <string.h>

void trm_token_generate(struct trm_token *t)
{
    uint8_t sel[12];
    randombytes_buf(sel, sizeof sel);
    randombytes_buf(t->verifier, sizeof t->verifier);
    trm_b64url_encode(sel, sizeof sel, t->selector);
    char ver[44];
    trm_b64url_encode(t->verifier, sizeof t->verifier, ver);
    memcpy(t->text, TRM_TOKEN_PREFIX, 4);
    memcpy(t->text + 4, t->selector, TRM_TOKEN_SELECTOR_LEN);
    t->text[4 + TRM_TOKEN_SELECTOR_LEN] = '_';
    memcpy(t->text + 5 + TRM_TOKEN_SELECTOR_LEN, ver, 43);
    t->text[TRM_TOKEN_LEN] = '\0';
    sodium_memzero(ver, sizeof ver);
}

static bool b64url_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

bool trm_token_parse(const char *text, struct trm_token *out)
{
    if (text == NULL || strlen(text) != TRM_TOKEN_LEN || memcmp(text, TRM_TOKEN_PREFIX, 4) != 0 ||
        text[4 + TRM_TOKEN_SELECTOR_LEN] != '_')
        return false;
    const char *sel = text + 4, *ver = text + 5 + TRM_TOKEN_SELECTOR_LEN;
    if (!b64url_chars(sel, TRM_TOKEN_SELECTOR_LEN) || !b64url_chars(ver, 43))
        return false;
    if (trm_b64url_decode(ver, 43, out->verifier, sizeof out->verifier) != TRM_TOKEN_VERIFIER_BYTES)
        return false;
    memcpy(out->selector, sel, TRM_TOKEN_SELECTOR_LEN);
    out->selector[TRM_TOKEN_SELECTOR_LEN] = '\0';
    memcpy(out->text, text, TRM_TOKEN_LEN + 1);
    return true;
}

void trm_token_hash(const unsigned char *key, const uint8_t *verifier,
                    uint8_t out[TRM_TOKEN_HASH_BYTES])
{
    crypto_generichash(out, TRM_TOKEN_HASH_BYTES, verifier, TRM_TOKEN_VERIFIER_BYTES, key,
                       TRM_KEY_BYTES);
}
