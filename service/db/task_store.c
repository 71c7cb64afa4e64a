/* The task store (see task_store.h). */
#include "trm/task_store.h"

#include <stdio.h>

const char *const trm_task_kinds[] = {"sop_deadline",
                                      "consent_expiring",
                                      "offer_received",
                                      "offer_expiring",
                                      "plan_review",
                                      "delivery_rejected",
                                      NULL};

#define TS(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
/* clang-format off */
/* Each kind's horizon unless $3 (to) is given; offers received are tasks until answered. */
TRM_DB_STMT(stmt_tasks, 12,
            "SELECT coalesce(jsonb_agg(jsonb_build_object('id', t.key, 'kind', t.kind, "
            "'case_id', t.case_id, 'case_reference', t.case_reference, "
            "'due_at', " TS("t.due_at") ", 'overdue', t.due_at < now(), 'why', t.why) "
            "|| jsonb_strip_nulls(jsonb_build_object('referral_id', t.referral_id, "
            "'consent_id', t.consent_id, 'plan_id', t.plan_id, 'track', t.track)) "
            "ORDER BY t.due_at, t.key), '[]') "
            "FROM trm_tasks($1, $2::timestamptz, "
            "coalesce($3::timestamptz, now() + make_interval(days => $4::integer)), "
            "coalesce($3::timestamptz, now() + make_interval(days => $5::integer)), "
            "coalesce($3::timestamptz, 'infinity'), "
            "coalesce($3::timestamptz, now() + make_interval(hours => $6::integer)), "
            "coalesce($3::timestamptz, now() + make_interval(days => $7::integer)), "
            "now() - make_interval(days => $8::integer), $9::uuid, $10::timestamptz, $11, "
            "$12::integer) t");
/* clang-format on */

enum trm_db_status trm_task_list(struct trm_db_conn *c, const struct trm_task_query *q,
                                 json_t **out)
{
    char deadline[16], consent[16], offer[16], plan[16], rejected[16], limit[16];
    snprintf(deadline, sizeof deadline, "%ld", q->deadline_days);
    snprintf(consent, sizeof consent, "%ld", q->consent_days);
    snprintf(offer, sizeof offer, "%ld", q->offer_hours);
    snprintf(plan, sizeof plan, "%ld", q->plan_days);
    snprintf(rejected, sizeof rejected, "%ld", q->rejected_days);
    snprintf(limit, sizeof limit, "%u", q->limit);
    const char *p[] = {q->kind, q->from,  q->to,       deadline,     consent,     offer,
                       plan,    rejected, q->assignee, q->after_due, q->after_id, limit};
    return trm_db_json_cell(c, &stmt_tasks, p, out);
}
