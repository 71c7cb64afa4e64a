/* Cases as the domain sees them: the person's data by category (sealed field by field under
 * the case's data key), blind indexes for duplicate search, the summary's JSON, and sealing
 * any other personal value of a case under its key (the one way to do it). The store that
 * keeps them is case_store.h. */
#ifndef TRM_CASES_H
#define TRM_CASES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "trm/crypto.h"
#include "trm/case_store.h"
#include "trm/db.h"
#include "trm/json_spec.h"
#include "trm/util.h"

#define TRM_CASE_CATEGORIES 5
extern const char *const trm_case_categories[]; /* NULL-terminated */
extern const char *const trm_case_sexes[];
extern const char *const trm_case_age_bands[];
extern const char *const trm_case_exploitation_forms[];

/* How long free text of a case may be (bytes), in the API and in packages from peers. */
#define TRM_TEXT_MAX 5000 /* a text: a note, assessment details, the health notes */
#define TRM_SHORT_TEXT_MAX                                                                         \
    500                         /* a short text: a reason (a consent withdrawn, an offer answered) \
                                 */
#define TRM_GROUNDS_MAX 1000    /* why a step is overridden, why a case is shared without consent */
#define TRM_PERSON_NAME_MAX 200 /* a person's or a guardian's name, who appointed a guardian */

/* The JSON spec of "person" (every category, every field). */
extern const struct trm_field trm_person_spec[];

/* Seals every field of person (validated against trm_person_spec) with dek, and computes the
 * blind indexes (bits wide). Returns false on an encoding failure. */
bool trm_person_seal(const struct trm_keyring *kr, const unsigned char *dek, const char *case_id,
                     unsigned dek_version, json_t *person, unsigned bits,
                     struct trm_sealed_person *out);
void trm_sealed_person_free(struct trm_sealed_person *sp);
/* Opens the sealed fields ({"category.field": hex}) into a person object holding only the
 * categories in allowed (NULL: all). NULL when any field fails to open. */
json_t *trm_person_open(const unsigned char *dek, const char *case_id, unsigned dek_version,
                        json_t *sealed_fields, const char *const *allowed);
/* Blind index values for a search (name, name + birth year, document number); kinds and
 * values arrays of at least 3; returns how many. */
size_t trm_person_search_index(const struct trm_keyring *kr, const char *full_name, long birth_year,
                               const char *document_number, unsigned bits, int *kinds,
                               uint32_t *values);

/* A new case's data key has this version; a transfer's re-key makes the next. */
#define TRM_CASE_FIRST_DEK_VERSION 1

/* A new case's key and person, sealed: a fresh data key wrapped under the current KEK, and
 * the person's fields sealed with it, with their blind indexes. */
struct trm_case_sealed_new {
    char kek_id[TRM_KEK_ID_MAX + 1];
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES];
    struct trm_sealed_person person;
    unsigned char *dek; /* the data key itself, only when asked for (keep_dek) */
};
/* Makes the key of case_id and seals person (NULL: none) with it; false on a failure (out is
 * then empty). Free with trm_case_sealed_new_free. */
bool trm_case_seal_new(const struct trm_keyring *kr, const char *case_id, json_t *person,
                       unsigned bits, bool keep_dek, struct trm_case_sealed_new *out);
void trm_case_sealed_new_free(struct trm_case_sealed_new *s);

/* Unwraps a case's data key (TRM_WRAPPED_DEK_BYTES at wrapped, under KEK kek_id) into guarded
 * memory (trm_dek_free it); NULL when it does not unwrap. */
unsigned char *trm_case_unwrap(struct trm_keyring_source *keys, const char *case_id,
                               const char *kek_id, const uint8_t *wrapped);
/* The data key of a case record (NULL when it has none or it does not unwrap). */
unsigned char *trm_case_record_dek(struct trm_keyring_source *keys,
                                   const struct trm_case_record *rec);
/* A record's person, opened: only the categories in allowed (NULL: every category read); {}
 * when the case has no key (erased). NULL when a field does not open. */
json_t *trm_case_record_open(struct trm_keyring_source *keys, const struct trm_case_record *rec,
                             const char *const *allowed);

/* The summary as JSON (consumed into the case resource by callers). */
json_t *trm_case_summary_json(const struct trm_case_summary *s);

/* Why nothing personal can be sealed or opened under a case's key for the caller. */
enum trm_seal_outcome {
    TRM_SEAL_OK,
    TRM_SEAL_ERASED,   /* the case's personal data is erased: its key is gone */
    TRM_SEAL_NOT_HELD, /* the caller holds no active grant of the category */
};

/* The data key of a case, unwrapped into guarded memory (trm_dek_free it), for a caller who
 * holds an active grant of category (NULL: of any category). NULL when the case is not
 * visible (NOT_FOUND), when the caller may not (REFUSED, with *outcome saying why) or when it
 * does not unwrap (ERROR). */
unsigned char *trm_case_dek(struct trm_db_conn *c, struct trm_keyring_source *keys,
                            const char *case_id, const char *category, unsigned *dek_version,
                            enum trm_seal_outcome *outcome, enum trm_db_status *status);

/* What a sealed value of a case is: the personal-data category whose grant opens it, and
 * the label and name its ciphertext is bound to (e.g. "notes" and the note's id). */
struct trm_sealing {
    const char *case_id, *category, *label, *name;
};
/* Seals value (any JSON; NULL: nothing, OK) under the case's key as hex (*hex, malloc'd): the
 * one way trmd seals a value of a case beyond its fields. Only for a caller who holds an
 * active grant of the category; otherwise REFUSED with *outcome saying why. */
enum trm_db_status trm_case_seal(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                 const struct trm_sealing *what, json_t *value, char **hex,
                                 enum trm_seal_outcome *outcome);
/* Seals value (NULL: nothing, OK) under the key of the case of an open offer the caller is a
 * party of (sender or recipient, before any grant), bound to "referrals" and
 * "<referral_id>.<part>" (the answer's reason). *sealed false (OK, nothing sealed) when the
 * offer has no case key here: an offer from a peer instance, or a case whose personal data
 * is erased, or no open offer of the caller's (the answer is refused then). */
enum trm_db_status trm_case_seal_for_referral(struct trm_db_conn *c,
                                              struct trm_keyring_source *keys,
                                              const char *referral_id, const char *part,
                                              json_t *value, char **hex, bool *sealed);
/* An accepted transfer within this instance (material: what trm_referral_answer handed over
 * as "rekey": {"case_id", "kek_id", "dek_version", "wrapped", "items"}): the new custodian
 * seals the consented values again under a fresh data key, and the old key goes. The old key
 * is opened here, in the caller's transaction only. */
enum trm_db_status trm_case_transfer_rekey(struct trm_db_conn *c, struct trm_keyring_source *keys,
                                           const char *referral_id, json_t *material);
/* The sealed values of a transferred case (trm_case_rekey_material's "items": [{"kind",
 * "category"?, "name"?, "id"?, "sealed"}]) opened with the old key and sealed again under
 * the new one (same labels and names, the new version): a new array, or NULL when any value
 * does not open. */
json_t *trm_case_reseal(const unsigned char *old_dek, const unsigned char *new_dek,
                        const char *case_id, unsigned old_version, unsigned new_version,
                        json_t *items);

/* Seals any JSON value under a case's key as hex (malloc'd), bound to category and name. */
char *trm_seal_json(const unsigned char *dek, const char *case_id, const char *category,
                    const char *name, unsigned dek_version, json_t *value);
/* Opens what trm_seal_json sealed; NULL when it does not open. */
json_t *trm_open_json(const unsigned char *dek, const char *case_id, const char *category,
                      const char *name, unsigned dek_version, const char *hex);

#endif
