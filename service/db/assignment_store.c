/* The assignment store (see assignment_store.h). */
#include "trm/assignment_store.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

TRM_DB_STMT(stmt_assign, 3, "SELECT trm_case_assign($1, $2::integer, $3::uuid)");

enum trm_db_status trm_case_assign(struct trm_db_conn *c, const char *case_id, long version,
                                   const char *user_id, enum trm_assign_outcome *outcome,
                                   bool *changed)
{
    static const struct {
        const char *word;
        enum trm_assign_outcome outcome;
    } words[] = {{"ok", TRM_ASSIGN_OK},
                 {"not_found", TRM_ASSIGN_NOT_FOUND},
                 {"not_owner", TRM_ASSIGN_NOT_OWNER},
                 {"stale", TRM_ASSIGN_STALE},
                 {"assignee", TRM_ASSIGN_ASSIGNEE},
                 {"taken", TRM_ASSIGN_TAKEN},
                 {"coordinator_only", TRM_ASSIGN_COORDINATOR_ONLY}};
    char v[24];
    snprintf(v, sizeof v, "%ld", version);
    const char *p[] = {case_id, v, user_id};
    json_t *answer = NULL;
    enum trm_db_status s = trm_db_json_cell(c, &stmt_assign, p, &answer);
    const char *w = json_string_value(json_object_get(answer, "outcome"));
    *changed = json_is_true(json_object_get(answer, "changed"));
    if (s == TRM_DB_OK)
        s = TRM_DB_ERROR; /* a word this store does not know: a schema mismatch */
    for (size_t i = 0; w && i < sizeof words / sizeof words[0]; i++) {
        if (strcmp(w, words[i].word) == 0) {
            *outcome = words[i].outcome;
            s = TRM_DB_OK;
        }
    }
    json_decref(answer);
    return s;
}
