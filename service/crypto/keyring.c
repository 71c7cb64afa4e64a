/* The keyring held in guarded memory, parsed from the text of the master key file (reading
 * and writing the file itself is key_file.c). */
#include "trm/keyring.h"
#include "trm/util.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEKS 64

struct kek {
    char id[TRM_KEK_ID_MAX + 1];
    unsigned char *key; /* points into the guarded block */
};

struct trm_keyring {
    unsigned char *secrets; /* sodium_malloc'd: keks, index, token, signing, box */
    struct kek keks[MAX_KEKS];
    size_t n_keks;
    unsigned char *index_root, *token_key, *signing_seed, *box_secret;
};

static bool valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > TRM_KEK_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

void trm_keyring_free(struct trm_keyring *kr)
{
    if (kr == NULL)
        return;
    sodium_free(kr->secrets);
    free(kr);
}

/* One line: fills *slot (a key inside the guarded block) from hex. */
static bool take_key(const char *hex, unsigned char *slot)
{
    return hex != NULL && strlen(hex) == 2 * TRM_KEY_BYTES &&
           trm_hex_decode(hex, slot, TRM_KEY_BYTES);
}

bool trm_keyring_parse(struct trm_keyring **out, const char *text, size_t len, char *err,
                       size_t errlen)
{
    struct trm_keyring *kr = calloc(1, sizeof *kr);
    char *copy = sodium_malloc(len + 1);
    if (kr == NULL || copy == NULL) {
        free(kr);
        sodium_free(copy);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    kr->secrets = sodium_malloc((MAX_KEKS + 4) * TRM_KEY_BYTES);
    if (kr->secrets == NULL) {
        trm_keyring_free(kr);
        sodium_free(copy);
        snprintf(err, errlen, "out of memory");
        return false;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    unsigned char *fixed = kr->secrets + MAX_KEKS * TRM_KEY_BYTES;
    unsigned lineno = 0;
    bool ok = true;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); ok && line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *fsave = NULL;
        char *kind = strtok_r(line, " \t\r", &fsave);
        if (kind == NULL || kind[0] == '#')
            continue;
        char *a = strtok_r(NULL, " \t\r", &fsave), *b = strtok_r(NULL, " \t\r", &fsave);
        /* The single keys live after the KEKs in the guarded block. */
        static const char *const singles[] = {"index", "token", "signing", "box"};
        unsigned char **slots[] = {&kr->index_root, &kr->token_key, &kr->signing_seed,
                                   &kr->box_secret};
        unsigned char **single = NULL;
        size_t which = 0;
        for (size_t i = 0; i < 4; i++)
            if (strcmp(kind, singles[i]) == 0)
                single = slots[i], which = i;
        if (strcmp(kind, "kek") == 0) {
            if (kr->n_keks == MAX_KEKS || a == NULL || !valid_id(a) ||
                trm_keyring_kek(kr, a) != NULL) {
                ok = false;
            } else {
                struct kek *k = &kr->keks[kr->n_keks];
                k->key = kr->secrets + kr->n_keks * TRM_KEY_BYTES;
                ok = take_key(b, k->key);
                trm_strlcpy(k->id, a, sizeof k->id);
                kr->n_keks += ok;
            }
        } else if (single != NULL && *single == NULL) {
            *single = fixed + which * TRM_KEY_BYTES;
            ok = take_key(a, *single) && b == NULL;
        } else {
            ok = false;
        }
        if (!ok)
            snprintf(err, errlen, "key file line %u is not a valid key line", lineno);
    }
    sodium_free(copy);
    if (ok && (kr->n_keks == 0 || !kr->index_root || !kr->token_key || !kr->signing_seed)) {
        snprintf(err, errlen, "key file needs kek, index, token and signing lines");
        ok = false;
    }
    if (!ok) {
        trm_keyring_free(kr);
        return false;
    }
    sodium_mprotect_readonly(kr->secrets);
    *out = kr;
    return true;
}

const char *trm_keyring_current_kek_id(const struct trm_keyring *kr)
{
    return kr->keks[kr->n_keks - 1].id;
}

const unsigned char *trm_keyring_kek(const struct trm_keyring *kr, const char *id)
{
    for (size_t i = 0; i < kr->n_keks; i++)
        if (strcmp(kr->keks[i].id, id) == 0)
            return kr->keks[i].key;
    return NULL;
}

size_t trm_keyring_kek_count(const struct trm_keyring *kr)
{
    return kr->n_keks;
}

const char *trm_keyring_kek_id_at(const struct trm_keyring *kr, size_t i)
{
    return i < kr->n_keks ? kr->keks[i].id : NULL;
}

const unsigned char *trm_keyring_index_root(const struct trm_keyring *kr)
{
    return kr->index_root;
}

const unsigned char *trm_keyring_token_key(const struct trm_keyring *kr)
{
    return kr->token_key;
}

const unsigned char *trm_keyring_signing_seed(const struct trm_keyring *kr)
{
    return kr->signing_seed;
}

const unsigned char *trm_keyring_box_secret(const struct trm_keyring *kr)
{
    return kr->box_secret;
}

bool trm_keyring_can_retire(const struct trm_keyring *kr, const char *id, char *err, size_t errlen)
{
    if (trm_keyring_kek(kr, id) == NULL) {
        snprintf(err, errlen, "the key file has no key-encryption key %s", id);
        return false;
    }
    if (strcmp(trm_keyring_current_kek_id(kr), id) == 0) {
        snprintf(err, errlen,
                 "%s is the current key-encryption key: run trmctl keys rotate first, then "
                 "retire it",
                 id);
        return false;
    }
    return true;
}
