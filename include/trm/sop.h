/* Standard Operating Procedures as data: a SOP document declares tracks (the main lifecycle
 * and parallel ones such as criminal proceedings), their states (each in a TRM phase, with
 * an optional deadline), and transitions (from, to, roles, guards). This module parses and
 * validates documents and decides whether a transition may be taken on a case's facts. */
#ifndef TRM_SOP_H
#define TRM_SOP_H

#include <jansson.h>
#include <stdbool.h>

#include "trm/auth.h"
#include "trm/db.h"
#include "trm/sop_store.h"

#define TRM_SOP_MAX_TRACKS 4
#define TRM_SOP_MAX_STATES 64
#define TRM_SOP_MAX_TRANSITIONS 128
#define TRM_SOP_MAX_FROM 16
#define TRM_SOP_MAX_GUARDS 8
#define TRM_SOP_NAME 48

enum trm_guard_kind {
    TRM_GUARD_CONSENT,                 /* a consent of a kind, recorded, not withdrawn/expired */
    TRM_GUARD_ASSESSMENT,              /* an assessment of a kind recorded */
    TRM_GUARD_CATEGORIES_FILLED,       /* personal categories with at least one field */
    TRM_GUARD_GUARDIAN_IF_CHILD,       /* a child (age band under 18) has a guardian */
    TRM_GUARD_BEST_INTERESTS_IF_CHILD, /* a child's latest best-interests assessment allows return
                                        */
    TRM_GUARD_MIN_TIME_IN_STATE,       /* time in the current state; a coordinator may override */
    TRM_GUARD_SCREENING, /* the latest screening points to trafficking; a coordinator may override
                          */
};

/* The latest screening of a case (docs/identification.md). */
enum trm_screening_fact { TRM_SCREENING_NONE, TRM_SCREENING_NEGATIVE, TRM_SCREENING_POSITIVE };

struct trm_sop_guard {
    enum trm_guard_kind kind;
    char param[TRM_SOP_NAME]; /* consent or assessment kind */
    long seconds;             /* min_time_in_state */
    unsigned categories;      /* bit per trm_case_categories entry */
};

struct trm_sop_state {
    char name[TRM_SOP_NAME];
    char phase[40];
    int track;
    long due_s; /* 0: no deadline */
    char due_label[200];
    bool terminal;
};

struct trm_sop_track {
    char name[TRM_SOP_NAME];
    int initial;
};

struct trm_sop_transition {
    char name[TRM_SOP_NAME];
    int track;
    int from[TRM_SOP_MAX_FROM];
    int n_from;
    int to;
    unsigned roles; /* bit per enum trm_role */
    struct trm_sop_guard guards[TRM_SOP_MAX_GUARDS];
    int n_guards;
};

struct trm_sop {
    char code[TRM_SOP_NAME];
    long version;
    char country[3]; /* "" for a generic SOP */
    char title[200];
    struct trm_sop_track tracks[TRM_SOP_MAX_TRACKS];
    int n_tracks;
    struct trm_sop_state states[TRM_SOP_MAX_STATES];
    int n_states;
    struct trm_sop_transition transitions[TRM_SOP_MAX_TRANSITIONS];
    int n_transitions;
};

extern const char *const trm_sop_phases[];
extern const char *const trm_consent_kinds[];
extern const char *const trm_assessment_kinds[];

/* Parses and validates a document. Every problem goes to errors as {"pointer", "message"};
 * returns NULL when there is any. */
struct trm_sop *trm_sop_parse(json_t *doc, json_t *errors);
void trm_sop_free(struct trm_sop *sop);
/* Checks the optional "labels" member of a parsed document (labels.c): per language, the
 * words for its title, tracks, states, transitions and deadlines, each naming something the
 * document declares. Problems go to errors. */
void trm_sop_check_labels(const struct trm_sop *sop, json_t *labels, json_t *errors);
int trm_sop_track(const struct trm_sop *sop, const char *name);
int trm_sop_state(const struct trm_sop *sop, int track, const char *name);
const struct trm_sop_transition *trm_sop_transition(const struct trm_sop *sop, const char *name);
/* The row a parsed SOP is stored as, under id (sop_store.h). */
void trm_sop_row_of(const struct trm_sop *sop, const char *id, struct trm_sop_row *row);

/* The parsed SOP of an id, from a process-wide cache (service/sop/cache.c: SOP rows never
 * change, so the cache is valid in every trmd process), read through c the first time. NULL
 * when unknown or when the database fails. */
const struct trm_sop *trm_sop_cached(struct trm_db_conn *c, const char *id);

/* What the guards look at, read from the database in one round trip. */
struct trm_case_facts {
    char age_band[8];
    long version;
    unsigned consents;   /* bit per trm_consent_kinds entry: recorded, not withdrawn/expired */
    unsigned categories; /* bit per trm_case_categories entry: at least one field */
    int guardians;
    struct {
        char kind[24];
        char outcome[64];
    } latest[8]; /* the latest assessment of each kind */
    int n_latest;
    char states[TRM_SOP_MAX_TRACKS][TRM_SOP_NAME]; /* current state per track (by index) */
    long seconds_in_state[TRM_SOP_MAX_TRACKS];
    bool erased;
    enum trm_screening_fact screening;
};

/* Fills facts for a SOP from the JSON trm_case_facts_get read (transition_store.h). */
void trm_sop_facts_from_json(const struct trm_sop *sop, json_t *j, struct trm_case_facts *out);

/* Whether role may take t now on facts. Unmet conditions go to unmet (may be NULL) as
 * {"guard", "message"}, in words a caseworker understands. With override (a coordinator's
 * reason), time-in-state and screening guards count as met and are listed in overridden. */
bool trm_sop_check(const struct trm_sop *sop, const struct trm_sop_transition *t,
                   const struct trm_case_facts *facts, enum trm_role role, bool override,
                   json_t *unmet, json_t *overridden);

#endif
