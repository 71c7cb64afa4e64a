/* Sealed JSON values beyond the person's fields: timeline notes, assessment details,
 * guardians. Same data key and associated data scheme as the case fields. */
#include "trm/cases.h"
#include "trm/key_store.h"
#include "trm/referral_store.h"

#include <stdio.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

unsigned char *trm_case_dek(struct trm_db_conn *c, struct trm_keyring_source *keys,
                            const char *case_id, const char *category, unsigned *dek_version,
                            enum trm_seal_outcome *outcome, enum trm_db_status *status)
{
    struct trm_case_key key;
    *outcome = TRM_SEAL_OK;
    *status = trm_case_key_get(c, case_id, category, &key);
    if (*status != TRM_DB_OK)
        return NULL;
    if (key.access != TRM_KEY_HELD) {
        *outcome = key.access == TRM_KEY_ERASED ? TRM_SEAL_ERASED : TRM_SEAL_NOT_HELD;
        *status = TRM_DB_REFUSED;
        return NULL;
    }
    unsigned char *dek = trm_case_unwrap(keys, case_id, key.kek_id, key.wrapped);
    if (dek == NULL) {
        *status = TRM_DB_ERROR;
        return NULL;
    }
    *dek_version = key.dek_version;
    return dek;
}

enum trm_db_status trm_case_seal(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                 const struct trm_sealing *what, json_t *value, char **hex,
                                 enum trm_seal_outcome *outcome)
{
    *hex = NULL;
    *outcome = TRM_SEAL_OK;
    if (value == NULL)
        return TRM_DB_OK;
    unsigned version = 0;
    enum trm_db_status st;
    unsigned char *dek =
        trm_case_dek(c, keys, what->case_id, what->category, &version, outcome, &st);
    if (dek == NULL)
        return st;
    *hex = trm_seal_json(dek, what->case_id, what->label, what->name, version, value);
    trm_dek_free(dek);
    return *hex ? TRM_DB_OK : TRM_DB_ERROR;
}

enum trm_db_status trm_case_seal_for_referral(struct trm_db_conn *c,
                                              struct trm_keyring_source *keys,
                                              const char *referral_id, const char *part,
                                              json_t *value, char **hex, bool *sealed)
{
    struct trm_referral_key key;
    *hex = NULL;
    *sealed = false;
    if (value == NULL)
        return TRM_DB_OK;
    enum trm_db_status st = trm_referral_seal_key(c, referral_id, &key);
    if (st != TRM_DB_OK || !key.found)
        return st;
    char name[96];
    snprintf(name, sizeof name, "%s.%s", referral_id, part);
    unsigned char *dek = trm_case_unwrap(keys, key.case_id, key.kek_id, key.wrapped);
    if (dek)
        *hex = trm_seal_json(dek, key.case_id, "referrals", name, key.dek_version, value);
    trm_dek_free(dek);
    *sealed = *hex != NULL;
    return *hex ? TRM_DB_OK : TRM_DB_ERROR;
}

char *trm_seal_json(const unsigned char *dek, const char *case_id, const char *category,
                    const char *name, unsigned dek_version, json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL)
        return NULL;
    size_t n = strlen(text);
    uint8_t *sealed = malloc(n + TRM_SEAL_OVERHEAD);
    char *hex = malloc(2 * (n + TRM_SEAL_OVERHEAD) + 1);
    if (sealed && hex &&
        trm_field_seal(dek, case_id, category, name, dek_version, (const uint8_t *)text, n,
                       sealed)) {
        trm_hex_encode(sealed, n + TRM_SEAL_OVERHEAD, hex);
    } else {
        free(hex);
        hex = NULL;
    }
    sodium_memzero(text, n);
    free(text);
    free(sealed);
    return hex;
}

json_t *trm_open_json(const unsigned char *dek, const char *case_id, const char *category,
                      const char *name, unsigned dek_version, const char *hex)
{
    size_t len = hex ? strlen(hex) : 0;
    if (len % 2 != 0 || len / 2 < TRM_SEAL_OVERHEAD)
        return NULL;
    size_t n = len / 2;
    uint8_t *sealed = malloc(n);
    char *plain = malloc(n - TRM_SEAL_OVERHEAD + 1);
    json_t *value = NULL;
    if (sealed && plain && trm_hex_decode(hex, sealed, n) &&
        trm_field_open(dek, case_id, category, name, dek_version, sealed, n, (uint8_t *)plain)) {
        plain[n - TRM_SEAL_OVERHEAD] = '\0';
        value = json_loads(plain, JSON_DECODE_ANY, NULL);
        sodium_memzero(plain, n - TRM_SEAL_OVERHEAD);
    }
    free(sealed);
    free(plain);
    return value;
}
