/* A case's data key: made (and the person sealed with it) for a new case, and unwrapped from
 * a case record to open or change its fields. The one place trmd and trmctl do either. */
#include "trm/cases.h"

#include <string.h>

unsigned char *trm_case_unwrap(struct trm_keyring_source *keys, const char *case_id,
                               const char *kek_id, const uint8_t *wrapped)
{
    unsigned char *dek = trm_dek_alloc();
    if (dek && trm_dek_unwrap(trm_keyring_source_for(keys, kek_id), case_id, kek_id, wrapped,
                              TRM_WRAPPED_DEK_BYTES, dek))
        return dek;
    trm_dek_free(dek);
    return NULL;
}

bool trm_case_seal_new(const struct trm_keyring *kr, const char *case_id, json_t *person,
                       unsigned bits, bool keep_dek, struct trm_case_sealed_new *out)
{
    memset(out, 0, sizeof *out);
    unsigned char *dek = trm_dek_new();
    bool ok = dek && trm_dek_wrap(kr, case_id, dek, out->wrapped, out->kek_id) &&
              (person == NULL || trm_person_seal(kr, dek, case_id, TRM_CASE_FIRST_DEK_VERSION,
                                                 person, bits, &out->person));
    if (ok && keep_dek)
        out->dek = dek;
    else
        trm_dek_free(dek);
    if (!ok)
        trm_sealed_person_free(&out->person);
    return ok;
}

void trm_case_sealed_new_free(struct trm_case_sealed_new *s)
{
    trm_sealed_person_free(&s->person);
    trm_dek_free(s->dek);
    s->dek = NULL;
}

unsigned char *trm_case_record_dek(struct trm_keyring_source *keys,
                                   const struct trm_case_record *rec)
{
    return trm_case_unwrap(keys, rec->summary.id, rec->kek_id, rec->wrapped);
}

json_t *trm_case_record_open(struct trm_keyring_source *keys, const struct trm_case_record *rec,
                             const char *const *allowed)
{
    if (!rec->has_key)
        return json_object();
    unsigned char *dek = trm_case_record_dek(keys, rec);
    json_t *person =
        dek ? trm_person_open(dek, rec->summary.id, rec->dek_version, rec->fields, allowed) : NULL;
    trm_dek_free(dek);
    return person;
}
