/* What the SOP engine reads of a case and writes to it (see transition_store.h): its facts,
 * and a checked transition with the summary it leaves. */
#include "trm/transition_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
TRM_DB_STMT(stmt_facts, 2, "SELECT trm_case_facts($1, $2)");
TRM_DB_STMT(stmt_transition, 9,
            "SELECT trm_case_transition($1, $2::integer, $3, $4, $5, $6::boolean, $7::jsonb, $8, "
            "$9)");
/* clang-format on */

enum trm_db_status trm_case_facts_get(struct trm_db_conn *c, const char *case_id, bool lock,
                                      char sop_id[TRM_UUID_STR_LEN + 1], json_t **facts)
{
    const char *p[] = {case_id, lock ? "t" : "f"};
    enum trm_db_status s = trm_db_json_cell(c, &stmt_facts, p, facts);
    const char *sid = json_string_value(json_object_get(*facts, "sop_id"));
    if (s == TRM_DB_OK && sid == NULL)
        s = TRM_DB_ERROR; /* a case without a SOP: created before the engine existed */
    if (s == TRM_DB_OK)
        trm_strlcpy(sop_id, sid, TRM_UUID_STR_LEN + 1);
    return s;
}

enum trm_db_status trm_case_transition_apply(struct trm_db_conn *c, const struct trm_case_step *s,
                                             struct trm_case_summary *summary)
{
    char v[24];
    snprintf(v, sizeof v, "%ld", s->version);
    char *d = json_dumps(s->details, JSON_COMPACT);
    const char *p[] = {s->case_id,
                       v,
                       s->track,
                       s->from,
                       s->to,
                       s->terminal ? "t" : "f",
                       d,
                       s->sealed_note_hex,
                       s->note_category};
    enum trm_db_status st = trm_case_summary_after(c, &stmt_transition, p, s->case_id, summary);
    free(d);
    return st;
}
