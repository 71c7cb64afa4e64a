/* Re-keying a case for a transfer's new custodian: every sealed value of the consented
 * categories (as trm_case_rekey_material in SQL lists them) is opened with the old data key
 * and sealed again, bound to the same label and name, under the new key and its version.
 * Nothing else is carried over: what is not re-sealed goes with the old key. */
#include "trm/cases.h"
#include "trm/referral_store.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The label and name a listed value's ciphertext is bound to (as it was sealed). */
static bool binding(json_t *item, const char **label, char *name, size_t cap)
{
    const char *kind = json_string_value(json_object_get(item, "kind"));
    const char *id = json_string_value(json_object_get(item, "id"));
    static const struct {
        const char *kind, *label, *suffix;
    } kinds[] = {
        {"note", "notes", ""},
        {"assessment", "assessments", ""},
        {"guardian", "guardians", ""},
        {"consent_reason", "consents", ".withdraw_reason"},
    };
    if (kind && strcmp(kind, "field") == 0) {
        *label = json_string_value(json_object_get(item, "category"));
        const char *field = json_string_value(json_object_get(item, "name"));
        return *label && field && (size_t)snprintf(name, cap, "%s", field) < cap;
    }
    for (size_t i = 0; kind && id && i < sizeof kinds / sizeof kinds[0]; i++) {
        if (strcmp(kind, kinds[i].kind) == 0) {
            *label = kinds[i].label;
            return (size_t)snprintf(name, cap, "%s%s", id, kinds[i].suffix) < cap;
        }
    }
    return false;
}

/* Opens hex with the old key and seals the bytes under the new one; NULL on any failure. */
static char *reseal_one(const unsigned char *old_dek, const unsigned char *new_dek,
                        const char *case_id, const char *label, const char *name,
                        unsigned old_version, unsigned new_version, const char *hex)
{
    size_t len = hex ? strlen(hex) : 0;
    if (len % 2 != 0 || len / 2 < TRM_SEAL_OVERHEAD)
        return NULL;
    size_t n = len / 2, plain_len = n - TRM_SEAL_OVERHEAD;
    uint8_t *sealed = malloc(n), *plain = malloc(plain_len + 1);
    char *out = malloc(2 * n + 1);
    bool ok = sealed && plain && out && trm_hex_decode(hex, sealed, n) &&
              trm_field_open(old_dek, case_id, label, name, old_version, sealed, n, plain) &&
              trm_field_seal(new_dek, case_id, label, name, new_version, plain, plain_len, sealed);
    if (ok)
        trm_hex_encode(sealed, n, out);
    if (plain)
        sodium_memzero(plain, plain_len);
    free(sealed);
    free(plain);
    if (!ok) {
        free(out);
        out = NULL;
    }
    return out;
}

json_t *trm_case_reseal(const unsigned char *old_dek, const unsigned char *new_dek,
                        const char *case_id, unsigned old_version, unsigned new_version,
                        json_t *items)
{
    json_t *out = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *label = NULL;
        char name[96];
        char *hex =
            binding(item, &label, name, sizeof name)
                ? reseal_one(old_dek, new_dek, case_id, label, name, old_version, new_version,
                             json_string_value(json_object_get(item, "sealed")))
                : NULL;
        if (hex == NULL) {
            json_decref(out);
            return NULL;
        }
        json_t *copy = json_copy(item);
        json_object_set_new(copy, "sealed", json_string(hex));
        json_array_append_new(out, copy);
        free(hex);
    }
    return out;
}

enum trm_db_status trm_case_transfer_rekey(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                           const char *referral_id, json_t *material)
{
    const char *case_id = json_string_value(json_object_get(material, "case_id"));
    const char *kek_id = json_string_value(json_object_get(material, "kek_id"));
    const char *wrapped_hex = json_string_value(json_object_get(material, "wrapped"));
    unsigned old_version = (unsigned)json_integer_value(json_object_get(material, "dek_version"));
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES];
    char new_kek[TRM_KEK_ID_MAX + 1], new_wrapped[2 * TRM_WRAPPED_DEK_BYTES + 1];
    if (case_id == NULL || kek_id == NULL || wrapped_hex == NULL ||
        !trm_hex_decode(wrapped_hex, wrapped, sizeof wrapped))
        return TRM_DB_ERROR;
    unsigned char *old_dek = trm_case_unwrap(keys, case_id, kek_id, wrapped);
    unsigned char *new_dek = trm_dek_new();
    json_t *items = NULL;
    if (old_dek && new_dek &&
        trm_dek_wrap(trm_keyring_source_get(keys), case_id, new_dek, wrapped, new_kek)) {
        items = trm_case_reseal(old_dek, new_dek, case_id, old_version, old_version + 1,
                                json_object_get(material, "items"));
        trm_hex_encode(wrapped, sizeof wrapped, new_wrapped);
    }
    trm_dek_free(old_dek);
    trm_dek_free(new_dek);
    enum trm_db_status st = items ? trm_case_rekey_store(c, case_id, referral_id, old_version,
                                                         new_kek, new_wrapped, items)
                                  : TRM_DB_ERROR;
    json_decref(items);
    return st;
}
