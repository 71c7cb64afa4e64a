/* The case store: a case's statistical summary (in clear), its wrapped data key, its sealed
 * fields and blind indexes, as the database keeps them. Row-level security decides what the
 * caller sees (sql/migrations/0004_cases.sql, 0016). Sealing and opening is the cases
 * module's (cases.h); this stores what it sealed. Each function runs in the caller's
 * transaction. */
#ifndef TRM_CASE_STORE_H
#define TRM_CASE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "trm/crypto.h"
#include "trm/db.h"
#include "trm/keyring.h"
#include "trm/util.h"

/* The most fields a person has (every field of every category) and blind index values a case
 * has. */
#define TRM_PERSON_MAX_FIELDS 32
#define TRM_PERSON_MAX_INDEXES 24

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
    char identified_region[8]; /* "" when not recorded */
    char economic_sector[4];   /* "" when not recorded */
    long version;
    char created_at[40];
    char updated_at[40];
    char erased_at[40]; /* "" when not erased */
    char sop_id[TRM_UUID_STR_LEN + 1];
    /* JSON: {"instance", "remote_case_id", "remote_reference", "at"} of a case transferred to
     * another instance; "" for one that was not. */
    char transferred_out[320];
    char assigned_to[TRM_UUID_STR_LEN + 1]; /* the user who works it; "" for nobody */
    char tracks[1024]; /* JSON: {"main": {"state", "phase", "entered_at", "due_at"}, ...} */
};

/* One sealed field, hex-encoded for the database. */
struct trm_sealed_field {
    const char *category, *field;
    char *hex; /* malloc'd */
};

struct trm_sealed_person {
    struct trm_sealed_field fields[TRM_PERSON_MAX_FIELDS];
    size_t n;
    uint32_t index_values[TRM_PERSON_MAX_INDEXES];
    int index_kinds[TRM_PERSON_MAX_INDEXES];
    size_t n_index;
};

struct trm_case_new {
    const char *id, *country, *sex, *age_band, *citizenship, *month;
    json_t *forms; /* array of strings */
    const char *kek_id;
    const uint8_t *wrapped;
    const struct trm_sealed_person *person;
    unsigned bits;
    /* NULL: not recorded (a case received from a peer: its region is of another country). */
    const char *region, *sector;
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

/* Runs a statement whose single cell says whether it applied ('t'), then reads case id's
 * summary, in one round trip: CONFLICT when it did not apply. For a store whose change
 * answers with the case's new summary. */
enum trm_db_status trm_case_summary_after(struct trm_db_conn *c, struct trm_db_stmt *change,
                                          const char *const *params, const char *id,
                                          struct trm_case_summary *out);
/* The summary alone (no personal data, not logged). */
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
    const char *state;       /* main track state */
    bool overdue;            /* a deadline on any track has passed */
    const char *assigned_to; /* only cases assigned to this user (NULL: any) */
    bool unassigned;         /* only cases assigned to nobody */
    const char *after_created, *after_id;
    unsigned limit;
};
/* A page of the list, newest first: the summaries' JSON (as trm_case_summary_json writes
 * them), made by the database. */
struct trm_case_page {
    char *items; /* "[...]": at most limit summaries (malloc'd; free it) */
    bool more;   /* there are more after them */
    char last_created[40], last_id[TRM_UUID_STR_LEN + 1]; /* the last one's cursor keys */
};
/* Reads a page of at most f->limit summaries into out (whose items it frees first). */
enum trm_db_status trm_case_list(struct trm_db_conn *c, const struct trm_case_filter *f,
                                 struct trm_case_page *out);
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
    json_t *changed_names;       /* for the timeline (names only) */
    const char *region, *sector; /* NULL: unchanged; "": removed */
};
/* Applies a change if the version matches (CONFLICT when it does not), bumping it. */
enum trm_db_status trm_case_update(struct trm_db_conn *c, const struct trm_case_change *ch,
                                   struct trm_case_summary *out);
/* Erases personal data, for a reason code (NOT_FOUND when not the caller's or already
 * erased). Open offers of the case are withdrawn: *crossing names those that went to a peer
 * instance ({"withdrawn": [...], "ended": []}, as trm_fed_consent_ended takes it). */
enum trm_db_status trm_case_erase(struct trm_db_conn *c, const char *id, const char *reason,
                                  json_t **crossing);

#endif
