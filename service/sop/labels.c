/* Validation of a SOP document's labels: the words the web console shows for its tracks,
 * states, transitions and deadlines, per language. Optional; when present, every label must
 * name something the document declares, so a typo is refused at load instead of showing the
 * raw name to a caseworker.
 *
 *   "labels": {"sv": {"title": "...", "tracks": {"main": "..."},
 *                     "states": {"main": {"presumed": "..."}},
 *                     "transitions": {"start_reflection": "..."},
 *                     "due_labels": {"main": {"presumed": "..."}}}}
 */
#include "trm/sop.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LABEL_MAX 200
#define LANGUAGES_MAX 32

static void problem(json_t *errors, const char *message, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(json_t *errors, const char *message, const char *fmt, ...)
{
    char pointer[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pointer, sizeof pointer, fmt, ap);
    va_end(ap);
    json_array_append_new(errors, json_pack("{s:s, s:s}", "pointer", pointer, "message", message));
}

/* A BCP 47 language tag of the simple kind: "sv", "tl", "en-GB". */
static bool language_ok(const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n && s[i] >= 'a' && s[i] <= 'z')
        i++;
    if (i < 2 || i > 3)
        return false;
    if (i == n)
        return true;
    return n == i + 3 && s[i] == '-' && s[i + 1] >= 'A' && s[i + 1] <= 'Z' && s[i + 2] >= 'A' &&
           s[i + 2] <= 'Z';
}

static void check_text(json_t *v, json_t *errors, const char *pointer)
{
    const char *s = json_string_value(v);
    if (s == NULL || s[0] == '\0' || strlen(s) > LABEL_MAX)
        problem(errors, "a label is a text of 1 to 200 bytes", "%s", pointer);
}

/* {"<track>": "..."} or, with per_state, {"<track>": {"<state>": "..."}}; due_only: only
 * states with a deadline. */
static void check_track_map(const struct trm_sop *sop, json_t *map, bool per_state, bool due_only,
                            json_t *errors, const char *at)
{
    const char *track_name, *state_name;
    json_t *v, *label;
    char pointer[260];
    if (!json_is_object(map)) {
        problem(errors, "must be an object", "%s", at);
        return;
    }
    json_object_foreach(map, track_name, v)
    {
        snprintf(pointer, sizeof pointer, "%s/%s", at, track_name);
        int track = trm_sop_track(sop, track_name);
        if (track < 0) {
            problem(errors, "unknown track", "%s", pointer);
            continue;
        }
        if (!per_state) {
            check_text(v, errors, pointer);
            continue;
        }
        if (!json_is_object(v)) {
            problem(errors, "must be an object of states", "%s", pointer);
            continue;
        }
        json_object_foreach(v, state_name, label)
        {
            snprintf(pointer, sizeof pointer, "%s/%s/%s", at, track_name, state_name);
            int state = trm_sop_state(sop, track, state_name);
            if (state < 0)
                problem(errors, "unknown state", "%s", pointer);
            else if (due_only && sop->states[state].due_s == 0)
                problem(errors, "this state has no deadline", "%s", pointer);
            else
                check_text(label, errors, pointer);
        }
    }
}

static void check_language(const struct trm_sop *sop, const char *lang, json_t *set, json_t *errors)
{
    const char *key, *name;
    json_t *v, *label;
    char at[200];
    if (!json_is_object(set)) {
        problem(errors, "must be an object", "/labels/%s", lang);
        return;
    }
    json_object_foreach(set, key, v)
    {
        snprintf(at, sizeof at, "/labels/%s/%s", lang, key);
        if (strcmp(key, "title") == 0) {
            check_text(v, errors, at);
        } else if (strcmp(key, "tracks") == 0) {
            check_track_map(sop, v, false, false, errors, at);
        } else if (strcmp(key, "states") == 0 || strcmp(key, "due_labels") == 0) {
            check_track_map(sop, v, true, key[0] == 'd', errors, at);
        } else if (strcmp(key, "transitions") == 0 && json_is_object(v)) {
            json_object_foreach(v, name, label)
            {
                char pointer[260];
                snprintf(pointer, sizeof pointer, "%s/%s", at, name);
                if (trm_sop_transition(sop, name) == NULL)
                    problem(errors, "unknown transition", "%s", pointer);
                else
                    check_text(label, errors, pointer);
            }
        } else {
            problem(errors,
                    strcmp(key, "transitions") == 0
                        ? "must be an object"
                        : "unknown key (title, tracks, states, transitions or due_labels)",
                    "%s", at);
        }
    }
}

void trm_sop_check_labels(const struct trm_sop *sop, json_t *labels, json_t *errors)
{
    const char *lang;
    json_t *set;
    if (labels == NULL)
        return;
    if (!json_is_object(labels) || json_object_size(labels) > LANGUAGES_MAX) {
        problem(errors, "labels must be an object of at most 32 languages", "/labels");
        return;
    }
    json_object_foreach(labels, lang, set)
    {
        if (!language_ok(lang))
            problem(errors, "a language is a tag such as en, sv, tl or en-GB", "/labels/%s", lang);
        else
            check_language(sop, lang, set, errors);
    }
}
