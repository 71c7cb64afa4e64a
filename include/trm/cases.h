/* Case records: the statistical summary (in clear), the person's data by category (sealed
 * field by field), blind indexes for duplicate search, and the store that keeps them. */
#ifndef TRM_CASES_H
#define TRM_CASES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "trm/crypto.h"
#include "trm/db.h"
#include "trm/json_spec.h"
#include "trm/util.h"

#define TRM_CASE_CATEGORIES 5
extern const char *const trm_case_categories[]; /* NULL-terminated */
extern const char *const trm_case_sexes[];
extern const char *const trm_case_age_bands[];
extern const char *const trm_case_exploitation_forms[];

/* The JSON spec of "person" (every category, every field). */
extern const struct trm_field trm_person_spec[];

struct trm_case_summary {
    char id[TRM_UUID_STR_LEN + 1];
    char reference[24];
    char country[3];
    char owner_agency_id[TRM_UUID_STR_LEN + 1];
    char sex[8];
    char age_band[8];
    char citizenship[8];
    char forms[200]; /* PostgreSQL array text, e.g. {labour,sexual} */
    char identified_month[8];
    long version;
    char created_at[40];
    char updated_at[40];
    char erased_at[40]; /* "" when not erased */
    char sop_id[TRM_UUID_STR_LEN + 1];
    /* JSON: {"instance", "remote_case_id", "remote_reference", "at"} of a case transferred to
     * another instance; "" for one that was not. */
    char transferred_out[320];
    char tracks[1024]; /* JSON: {"main": {"state", "phase", "entered_at", "due_at"}, ...} */
};

/* One sealed field, hex-encoded for the database. */
struct trm_sealed_field {
    const char *category, *field;
    char *hex; /* malloc'd */
};

struct trm_sealed_person {
    struct trm_sealed_field fields[32];
    size_t n;
    uint32_t index_values[24];
    int index_kinds[24];
    size_t n_index;
};

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

/* The summary as JSON (consumed into the case resource by callers). */
json_t *trm_case_summary_json(const struct trm_case_summary *s);

struct trm_case_new {
    const char *id, *country, *sex, *age_band, *citizenship, *month;
    json_t *forms; /* array of strings */
    const char *kek_id;
    const uint8_t *wrapped;
    const struct trm_sealed_person *person;
    unsigned bits;
};

/* Inserts a case (one round trip); fills the summary. INVALID for an unknown country. */
enum trm_db_status trm_case_insert(struct trm_db_conn *c, const struct trm_case_new *n,
                                   struct trm_case_summary *out);

struct trm_case_record {
    struct trm_case_summary summary;
    char kek_id[TRM_KEK_ID_MAX + 1];
    unsigned dek_version;
    uint8_t wrapped[TRM_WRAPPED_DEK_BYTES];
    bool has_key;
    json_t *fields; /* {"category.field": hex} */
};

/* The summary alone (no personal data, not logged). */
/* Runs a statement whose single cell says whether it applied ('t'), then reads case id's
 * summary, in one round trip: CONFLICT when it did not apply. For a store whose change
 * answers with the case's new summary. */
enum trm_db_status trm_case_summary_after(struct trm_db_conn *c, struct trm_db_stmt *change,
                                          const char *const *params, const char *id,
                                          struct trm_case_summary *out);
enum trm_db_status trm_case_summary_get(struct trm_db_conn *c, const char *id,
                                        struct trm_case_summary *out);
/* Reads a case with its sealed fields of the categories named (NULL-terminated; NULL: every
 * category the caller may open), logging the read of exactly those categories (one round
 * trip). NOT_FOUND when it is not visible. */
enum trm_db_status trm_case_read(struct trm_db_conn *c, const char *id, const char *request_id,
                                 const char *purpose, const char *const *categories,
                                 struct trm_case_record *out);
void trm_case_record_free(struct trm_case_record *r);

struct trm_case_filter {
    const char *owner_agency_id, *citizenship, *exploitation_form, *from, *to;
    const char *state; /* main track state */
    bool overdue;      /* a deadline on any track has passed */
    const char *after_created, *after_id;
    unsigned limit;
};
/* Summaries newest first. Fills at most limit rows into out. */
enum trm_db_status trm_case_list(struct trm_db_conn *c, const struct trm_case_filter *f,
                                 struct trm_case_summary *out, unsigned *n);
/* Cases in scope with any of the blind index values; matches[i] counts the kinds matched. */
enum trm_db_status trm_case_search(struct trm_db_conn *c, const int *kinds, const uint32_t *values,
                                   size_t n_values, unsigned bits, struct trm_case_summary *out,
                                   int *matches, unsigned cap, unsigned *n);

struct trm_case_change {
    const char *id;
    long expected_version;
    const char *sex, *age_band, *citizenship, *month; /* NULL: unchanged */
    json_t *forms;                                    /* NULL: unchanged */
    const struct trm_sealed_person *set;              /* fields to write */
    const char *const *removed;                       /* "category.field" names, NULL-ended */
    const struct trm_sealed_person *index;            /* non-NULL: replace the blind indexes */
    unsigned bits;
    json_t *changed_names; /* for the timeline (names only) */
};
/* Applies a change if the version matches (CONFLICT when it does not), bumping it. */
enum trm_db_status trm_case_update(struct trm_db_conn *c, const struct trm_case_change *ch,
                                   struct trm_case_summary *out);
/* Erases personal data, for a reason code (NOT_FOUND when not the caller's or already
 * erased). Open offers of the case are withdrawn: *crossing names those that went to a peer
 * instance ({"withdrawn": [...], "ended": []}, as trm_fed_consent_ended takes it). */
enum trm_db_status trm_case_erase(struct trm_db_conn *c, const char *id, const char *reason,
                                  json_t **crossing);

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
