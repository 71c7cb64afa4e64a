/* The guard evaluator: may this role take this transition on this case now? Unmet guards
 * are explained in words a caseworker understands. */
#include "trm/sop.h"
#include "trm/cases.h"

#include <stdio.h>
#include <string.h>

static int index_of(const char *const *list, const char *v)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], v) == 0)
            return i;
    return -1;
}

static bool is_child(const struct trm_case_facts *f)
{
    return strcmp(f->age_band, "0-8") == 0 || strcmp(f->age_band, "9-17") == 0;
}

static const char *latest_outcome(const struct trm_case_facts *f, const char *kind)
{
    for (int i = 0; i < f->n_latest; i++)
        if (strcmp(f->latest[i].kind, kind) == 0)
            return f->latest[i].outcome;
    return NULL;
}

static void unmet_add(json_t *unmet, const char *guard, const char *message)
{
    if (unmet)
        json_array_append_new(unmet, json_pack("{s:s, s:s}", "guard", guard, "message", message));
}

/* One guard: true when met; otherwise explains why in unmet. */
static bool guard_met(const struct trm_sop_transition *t, const struct trm_sop_guard *g,
                      const struct trm_case_facts *f, bool override, json_t *unmet,
                      json_t *overridden)
{
    char msg[256];
    switch (g->kind) {
    case TRM_GUARD_CONSENT:
        if (f->consents & (1u << index_of(trm_consent_kinds, g->param)))
            return true;
        snprintf(msg, sizeof msg,
                 "The person's informed consent to %s must be recorded (and not withdrawn or "
                 "expired).",
                 g->param);
        unmet_add(unmet, "consent", msg);
        return false;
    case TRM_GUARD_ASSESSMENT:
        if (latest_outcome(f, g->param))
            return true;
        snprintf(msg, sizeof msg, "A %s assessment must be recorded first.", g->param);
        unmet_add(unmet, "assessment", msg);
        return false;
    case TRM_GUARD_CATEGORIES_FILLED:
        if ((f->categories & g->categories) == g->categories)
            return true;
        unmet_add(unmet, "categories_filled",
                  "Some required personal data is missing from the case (e.g. identity).");
        return false;
    case TRM_GUARD_GUARDIAN_IF_CHILD:
        if (!is_child(f) || f->guardians > 0)
            return true;
        unmet_add(unmet, "guardian_if_child", "The person is a child: record a guardian first.");
        return false;
    case TRM_GUARD_BEST_INTERESTS_IF_CHILD: {
        const char *o = latest_outcome(f, "best_interests");
        if (!is_child(f) || (o && strcmp(o, "return_in_best_interests") == 0))
            return true;
        unmet_add(unmet, "best_interests_if_child",
                  o ? "The latest best-interests assessment finds return against the child's "
                      "best interests."
                    : "The person is a child: a best-interests assessment that allows return "
                      "is required.");
        return false;
    }
    case TRM_GUARD_SCREENING:
        if (f->screening == TRM_SCREENING_POSITIVE)
            return true;
        if (override) {
            if (overridden)
                json_array_append_new(overridden, json_string("screening"));
            return true;
        }
        unmet_add(unmet, "screening",
                  f->screening == TRM_SCREENING_NONE
                      ? "Record a screening of the identification indicators first; a "
                        "coordinator may override with a reason."
                      : "The latest screening does not find the indicators pointing to "
                        "trafficking; a coordinator may override with a reason.");
        return false;
    case TRM_GUARD_MIN_TIME_IN_STATE:
        if (f->seconds_in_state[t->track] >= g->seconds)
            return true;
        if (override) {
            if (overridden)
                json_array_append_new(overridden, json_string("min_time_in_state"));
            return true;
        }
        snprintf(msg, sizeof msg,
                 "The case must stay %ld more day(s) in its current state (e.g. the reflection "
                 "period); a coordinator may override with a reason.",
                 (g->seconds - f->seconds_in_state[t->track] + 86399) / 86400);
        unmet_add(unmet, "min_time_in_state", msg);
        return false;
    }
    return false;
}

bool trm_sop_check(const struct trm_sop *sop, const struct trm_sop_transition *t,
                   const struct trm_case_facts *facts, enum trm_role role, bool override,
                   json_t *unmet, json_t *overridden)
{
    bool ok = true;
    const char *current = facts->states[t->track];
    bool from_ok = false;
    for (int i = 0; i < t->n_from; i++)
        from_ok = from_ok || strcmp(sop->states[t->from[i]].name, current) == 0;
    if (!from_ok) {
        unmet_add(unmet, "state", "The case is not in a state this step starts from.");
        ok = false;
    }
    if (!(t->roles & (1u << role))) {
        unmet_add(unmet, "role", "Your role may not take this step.");
        ok = false;
    }
    /* Only coordinators override, and only with a reason (the caller checks the reason). */
    bool may_override = override && role == TRM_ROLE_COORDINATOR;
    for (int i = 0; i < t->n_guards; i++)
        ok = guard_met(t, &t->guards[i], facts, may_override, unmet, overridden) && ok;
    return ok;
}
