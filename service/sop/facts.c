/* The facts guards look at (struct trm_case_facts), from the JSON trm_case_facts_get reads. */
#include "trm/cases.h"
#include "trm/sop.h"

#include <string.h>

static unsigned mask_of(json_t *arr, const char *const *names)
{
    unsigned m = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        for (unsigned k = 0; names[k]; k++)
            if (json_is_string(v) && strcmp(json_string_value(v), names[k]) == 0)
                m |= 1u << k;
    }
    return m;
}

void trm_sop_facts_from_json(const struct trm_sop *sop, json_t *j, struct trm_case_facts *f)
{
    memset(f, 0, sizeof *f);
    trm_strlcpy(f->age_band, json_string_value(json_object_get(j, "age_band")) ?: "",
                sizeof f->age_band);
    f->version = (long)json_integer_value(json_object_get(j, "version"));
    f->erased = json_is_true(json_object_get(j, "erased"));
    f->consents = mask_of(json_object_get(j, "consents"), trm_consent_kinds);
    f->categories = mask_of(json_object_get(j, "categories"), trm_case_categories);
    f->guardians = (int)json_integer_value(json_object_get(j, "guardians"));
    const char *screening = json_string_value(json_object_get(j, "screening"));
    f->screening = screening == NULL                    ? TRM_SCREENING_NONE
                   : strcmp(screening, "positive") == 0 ? TRM_SCREENING_POSITIVE
                                                        : TRM_SCREENING_NEGATIVE;
    const char *kind;
    json_t *v;
    json_object_foreach(json_object_get(j, "assessments"), kind, v)
    {
        if (f->n_latest == (int)(sizeof f->latest / sizeof f->latest[0]))
            break;
        trm_strlcpy(f->latest[f->n_latest].kind, kind, sizeof f->latest[0].kind);
        trm_strlcpy(f->latest[f->n_latest].outcome, json_string_value(v) ?: "",
                    sizeof f->latest[0].outcome);
        f->n_latest++;
    }
    json_t *tracks = json_object_get(j, "tracks");
    for (int t = 0; t < sop->n_tracks; t++) {
        json_t *tr = json_object_get(tracks, sop->tracks[t].name);
        trm_strlcpy(f->states[t], json_string_value(json_object_get(tr, "state")) ?: "",
                    sizeof f->states[t]);
        f->seconds_in_state[t] = (long)json_integer_value(json_object_get(tr, "seconds"));
    }
}
