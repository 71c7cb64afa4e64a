/* The JSON shape of a case summary (no personal data). */
#include "trm/cases.h"

#include <string.h>

/* Parses PostgreSQL's text form of a text[] of plain words, e.g. {labour,sexual}. */
static json_t *forms_json(const char *text)
{
    json_t *arr = json_array();
    if (text[0] != '{')
        return arr;
    char buf[200];
    trm_strlcpy(buf, text + 1, sizeof buf);
    char *end = strchr(buf, '}');
    if (end)
        *end = '\0';
    char *save = NULL;
    for (char *w = strtok_r(buf, ",", &save); w; w = strtok_r(NULL, ",", &save))
        json_array_append_new(arr, json_string(w));
    return arr;
}

json_t *trm_case_summary_json(const struct trm_case_summary *s)
{
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:s, s:s, s:o}", "id", s->id,
        "reference", s->reference, "country", s->country, "owner_agency_id", s->owner_agency_id,
        "sex", s->sex, "age_band", s->age_band, "citizenship", s->citizenship, "exploitation_forms",
        forms_json(s->forms), "identified_month", s->identified_month, "version",
        (json_int_t)s->version, "created_at", s->created_at, "updated_at", s->updated_at,
        "personal_data_erased_at", s->erased_at[0] ? json_string(s->erased_at) : json_null());
    json_object_set_new(j, "identified_region",
                        s->identified_region[0] ? json_string(s->identified_region) : json_null());
    json_object_set_new(j, "economic_sector",
                        s->economic_sector[0] ? json_string(s->economic_sector) : json_null());
    json_t *tracks = json_loads(s->tracks, 0, NULL);
    if (!json_is_object(tracks)) {
        json_decref(tracks);
        tracks = json_object();
    }
    /* state: the main track's; due_at: the earliest deadline of any track. */
    const char *due = NULL, *name;
    json_t *t;
    json_object_foreach(tracks, name, t)
    {
        const char *d = json_string_value(json_object_get(t, "due_at"));
        if (d && (due == NULL || strcmp(d, due) < 0))
            due = d;
    }
    json_object_set_new(j, "sop_id", s->sop_id[0] ? json_string(s->sop_id) : json_null());
    json_t *state = json_object_get(json_object_get(tracks, "main"), "state");
    json_object_set_new(j, "state", state ? json_incref(state) : json_null());
    json_object_set_new(j, "due_at", due ? json_string(due) : json_null());
    json_object_set_new(j, "tracks", tracks);
    json_t *moved = s->transferred_out[0] ? json_loads(s->transferred_out, 0, NULL) : NULL;
    json_object_set_new(j, "transferred_out", json_is_object(moved) ? moved : json_null());
    json_object_set_new(j, "assigned_to",
                        s->assigned_to[0] ? json_string(s->assigned_to) : json_null());
    if (moved && !json_is_object(moved))
        json_decref(moved);
    return j;
}
