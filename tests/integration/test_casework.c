/* Casework end to end over HTTP (docs/casework.md): assignment (who may assign whom, the
 * races a caseworker meets, the filter, the end of it at a transfer), tasks computed from the
 * data (every kind, its filters and paging, and gone once done), notifications (who is told
 * of what, read state per user), services and assistance plans (sealed parts opened only as
 * grants allow and logged, feedback from the agency that accepted a referral, idempotency,
 * versions, erasure and a transfer's re-key), and statistics of services provided. Every
 * refusal changes nothing. */
#include "check_run.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct trmd srv;
static char admin[128], a_agency[37], b_agency[37], c_agency[37];
static char aw1[128], aw2[128], ac[128], aa[128], bw[128], bw2[128], cw[128], bc[128];
static char aw1_id[37], aw2_id[37], ac_id[37], aa_id[37], bw_id[37];
static char sentinel[32];

static void setup(void)
{
    char user[37];
    const char *env[] = {"TRM_MAINTENANCE_INTERVAL_MS=200", "TRM_WEBHOOK_INTERVAL_MS=200", NULL};
    h_trmd_start(&srv, env);
    h_admin(admin, "SE");
    h_agency(&srv, admin, "SE", "social_services", a_agency);
    h_agency(&srv, admin, "SE", "ngo", b_agency);
    h_agency(&srv, admin, "SE", "ngo", c_agency);
    h_user(&srv, admin, a_agency, "caseworker", false, aw1_id, aw1);
    h_user(&srv, admin, a_agency, "caseworker", false, aw2_id, aw2);
    h_user(&srv, admin, a_agency, "coordinator", false, ac_id, ac);
    h_user(&srv, admin, a_agency, "auditor", false, aa_id, aa);
    h_user(&srv, admin, b_agency, "caseworker", false, bw_id, bw);
    h_user(&srv, admin, b_agency, "caseworker", false, user, bw2);
    h_user(&srv, admin, b_agency, "coordinator", false, user, bc);
    h_user(&srv, admin, c_agency, "caseworker", false, user, cw);
    snprintf(sentinel, sizeof sentinel, "Cw%dTk", (int)getpid());
}

static void teardown(void)
{
    h_trmd_stop(&srv);
}

/* ------------------------------------------------------------------------------------ */
/* Helpers */

static long call(const char *token, const char *method, const char *path, const char *body,
                 const char *const *headers, struct h_resp *keep)
{
    struct h_resp r;
    h_api(&srv, token, method, path, body, headers, &r);
    long status = r.status;
    if (keep)
        *keep = r;
    else
        h_resp_free(&r);
    return status;
}

static void new_case(const char *token, char id[37])
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"country\": \"SE\", \"sex\": \"female\", \"age_band\": \"21-23\", "
             "\"citizenship\": \"PH\", \"exploitation_forms\": [\"labour\"], "
             "\"identified_month\": \"2026-10\", \"person\": {"
             "\"identity\": {\"full_name\": \"Name %s\"}, \"health\": {\"notes\": \"Health %s\"}}}",
             sentinel, sentinel);
    struct h_resp r;
    ck_assert_int_eq(call(token, "POST", "/v1/cases", body, NULL, &r), 201);
    snprintf(id, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static long case_version(const char *token, const char *id)
{
    char path[128];
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s/summary", id);
    ck_assert_int_eq(call(token, "GET", path, NULL, NULL, &r), 200);
    long v = (long)json_integer_value(json_object_get(r.json, "version"));
    h_resp_free(&r);
    return v;
}

static void consent(const char *id, const char *categories, const char *to, const char *expires,
                    char cid[37])
{
    char path[128], body[512];
    snprintf(path, sizeof path, "/v1/cases/%s/consents", id);
    snprintf(body, sizeof body,
             "{\"kind\": \"data_sharing\", \"given_at\": \"2026-10-02\", \"categories\": [%s], "
             "\"recipients\": {\"agency_ids\": [\"%s\"]}%s%s%s}",
             categories, to, expires ? ", \"expires_at\": \"" : "", expires ? expires : "",
             expires ? "\"" : "");
    struct h_resp r;
    ck_assert_int_eq(call(aw1, "POST", path, body, NULL, &r), 201);
    snprintf(cid, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static void offer(const char *id, const char *to, const char *kind, const char *categories,
                  const char *cid, int hours, char rid[37])
{
    char path[128], body[1024];
    snprintf(path, sizeof path, "/v1/cases/%s/referrals", id);
    snprintf(body, sizeof body,
             "{\"to_agency_id\": \"%s\", \"kind\": \"%s\", \"purpose\": \"accommodation\", "
             "\"categories\": [%s], \"legal_basis\": \"consent\", \"handling_code\": \"H2\", "
             "\"consent_id\": \"%s\", \"expires_in_hours\": %d}",
             to, kind, categories, cid, hours);
    struct h_resp r;
    ck_assert_int_eq(call(aw1, "POST", path, body, NULL, &r), 201);
    snprintf(rid, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

static void answer(const char *token, const char *rid, const char *action)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/referrals/%s/%s", rid, action);
    ck_assert_int_eq(call(token, "POST", path, "{}", NULL, NULL), 200);
}

/* A case of A shared with B under a referral of the given categories, accepted. */
static void shared_case(const char *categories, char id[37], char cid[37], char rid[37])
{
    new_case(aw1, id);
    consent(id, categories, b_agency, NULL, cid);
    offer(id, b_agency, "referral", categories, cid, 72, rid);
    answer(bw, rid, "accept");
}

static long assign(const char *token, const char *id, const char *user, long version,
                   struct h_resp *keep)
{
    char path[128], body[128], match[48];
    snprintf(path, sizeof path, "/v1/cases/%s/assignee", id);
    if (user)
        snprintf(body, sizeof body, "{\"user_id\": \"%s\"}", user);
    else
        snprintf(body, sizeof body, "{\"user_id\": null}");
    snprintf(match, sizeof match, "If-Match: \"%ld\"", version);
    const char *h[] = {match, NULL};
    return call(token, "PUT", path, body, version > 0 ? h : NULL, keep);
}

/* Whether a page of a list holds an item whose member is value. */
static bool holds(json_t *items, const char *member, const char *value)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *v = json_string_value(json_object_get(it, member));
        if (v && strcmp(v, value) == 0)
            return true;
    }
    return false;
}

static json_t *item_with(json_t *items, const char *member, const char *value)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *v = json_string_value(json_object_get(it, member));
        if (v && strcmp(v, value) == 0)
            return it;
    }
    return NULL;
}

static json_t *list(const char *token, const char *path)
{
    struct h_resp r;
    long status = call(token, "GET", path, NULL, NULL, &r);
    ck_assert_msg(status == 200, "GET %s: %ld %s", path, status, r.body);
    json_t *items = json_incref(json_object_get(r.json, "items"));
    h_resp_free(&r);
    return items;
}

/* ------------------------------------------------------------------------------------ */

START_TEST(assignment)
{
    char id[37], path[160];
    struct h_resp r;
    new_case(aw1, id);
    long v = case_version(aw1, id);
    char match[48];
    /* A caseworker takes the unassigned case. */
    ck_assert_int_eq(assign(aw1, id, aw1_id, v, &r), 200);
    ck_assert_str_eq(h_str(&r, "assigned_to"), aw1_id);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "version")), v + 1);
    char etag[32], want[32];
    snprintf(want, sizeof want, "\"%ld\"", v + 1);
    ck_assert_str_eq(h_header(&r, "ETag", etag, sizeof etag), want);
    ck_assert_ptr_null(json_object_get(r.json, "person"));
    h_resp_free(&r);
    v++;
    /* Another caseworker finds it taken; assigning someone else or nobody is a
     * coordinator's; nothing changes. */
    ck_assert_int_eq(assign(aw2, id, aw2_id, v, &r), 409);
    h_assert_problem(&r, 409, "already_assigned");
    h_resp_free(&r);
    ck_assert_int_eq(assign(aw2, id, aw1_id, v, NULL), 200); /* unchanged: it is so already */
    ck_assert_int_eq(assign(aw1, id, aw2_id, v, &r), 403);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    ck_assert_int_eq(assign(aw1, id, NULL, v, NULL), 403);
    ck_assert_int_eq(case_version(aw1, id), v);
    /* Preconditions and bodies. */
    ck_assert_int_eq(assign(ac, id, aw2_id, 0, &r), 428);
    h_assert_problem(&r, 428, "precondition_required");
    h_resp_free(&r);
    ck_assert_int_eq(assign(ac, id, aw2_id, v - 1, &r), 412);
    h_assert_problem(&r, 412, "precondition_failed");
    h_resp_free(&r);
    snprintf(match, sizeof match, "If-Match: \"%ld\"", v);
    const char *h[] = {match, NULL};
    snprintf(path, sizeof path, "/v1/cases/%s/assignee", id);
    static const char *const bad[] = {"{}", "{\"user_id\": \"x\"}", "{\"user_id\": 5}",
                                      "{\"user_id\": null, \"extra\": 1}", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(call(ac, "PUT", path, bad[i], h, &r), 400);
        h_resp_free(&r);
    }
    /* Only users of the owning agency who work cases. */
    ck_assert_int_eq(assign(ac, id, bw_id, v, &r), 400);
    h_assert_problem(&r, 400, "validation_failed");
    ck_assert_ptr_nonnull(strstr(r.body, "/user_id"));
    h_resp_free(&r);
    ck_assert_int_eq(assign(ac, id, aa_id, v, NULL), 400);
    ck_assert_int_eq(assign(ac, id, "00000000-0000-4000-8000-000000000000", v, NULL), 400);
    ck_assert_int_eq(case_version(aw1, id), v);
    /* A coordinator reassigns; the new assignee is told, and sees the case as theirs. */
    ck_assert_int_eq(assign(ac, id, aw2_id, v, NULL), 200);
    v++;
    json_t *items = list(aw2, "/v1/notifications?kind=case_assigned");
    json_t *n = item_with(items, "case_id", id);
    ck_assert_ptr_nonnull(n);
    ck_assert(json_is_false(json_object_get(n, "read")));
    json_decref(items);
    items = list(aw1, "/v1/notifications?kind=case_assigned");
    ck_assert(!holds(items, "case_id", id)); /* not theirs */
    json_decref(items);
    items = list(aw2, "/v1/cases?assigned_to=me&limit=100");
    ck_assert(holds(items, "id", id));
    ck_assert_str_eq(json_string_value(json_object_get(item_with(items, "id", id), "assigned_to")),
                     aw2_id);
    json_decref(items);
    items = list(aw1, "/v1/cases?assigned_to=me&limit=100");
    ck_assert(!holds(items, "id", id));
    json_decref(items);
    snprintf(path, sizeof path, "/v1/cases?assigned_to=%s&limit=100", aw2_id);
    items = list(ac, path);
    ck_assert(holds(items, "id", id));
    json_decref(items);
    items = list(ac, "/v1/cases?assigned_to=none&limit=100");
    ck_assert(!holds(items, "id", id));
    json_decref(items);
    ck_assert_int_eq(call(ac, "GET", "/v1/cases?assigned_to=someone", NULL, NULL, NULL), 400);
    /* The timeline says who assigned whom, with ids only. */
    snprintf(path, sizeof path, "/v1/cases/%s/events?limit=100", id);
    items = list(ac, path);
    ck_assert(holds(items, "kind", "assigned"));
    json_decref(items);
    /* Unassigned by the coordinator. */
    ck_assert_int_eq(assign(ac, id, NULL, v, &r), 200);
    ck_assert(json_is_null(json_object_get(r.json, "assigned_to")));
    h_resp_free(&r);
    v++;
    items = list(ac, "/v1/cases?assigned_to=none&limit=100");
    ck_assert(holds(items, "id", id));
    json_decref(items);
    /* An agency that may see the case does not assign it; one that may not, does not see it. */
    char cid[37], rid[37];
    consent(id, "\"identity\"", b_agency, NULL, cid);
    offer(id, b_agency, "referral", "\"identity\"", cid, 72, rid);
    answer(bw, rid, "accept");
    v = case_version(aw1, id);
    ck_assert_int_eq(assign(bc, id, bw_id, v, &r), 403);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    ck_assert_int_eq(assign(cw, id, NULL, v, &r), 404);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    /* Auditors and admins never. */
    ck_assert_int_eq(assign(aa, id, aw1_id, v, NULL), 403);
    ck_assert_int_eq(assign(admin, id, aw1_id, v, NULL), 403);
}
END_TEST

/* A transfer moves custody: the assignment at the former owner ends. */
START_TEST(assignment_ends_at_transfer)
{
    char id[37], cid[37], rid[37];
    new_case(aw1, id);
    ck_assert_int_eq(assign(ac, id, aw1_id, case_version(aw1, id), NULL), 200);
    consent(id, "\"identity\"", b_agency, NULL, cid);
    offer(id, b_agency, "transfer", "\"identity\"", cid, 72, rid);
    answer(bw, rid, "accept");
    char path[128];
    struct h_resp r;
    snprintf(path, sizeof path, "/v1/cases/%s/summary", id);
    ck_assert_int_eq(call(bw, "GET", path, NULL, NULL, &r), 200);
    ck_assert(json_is_null(json_object_get(r.json, "assigned_to")));
    ck_assert_str_eq(h_str(&r, "owner_agency_id"), b_agency);
    h_resp_free(&r);
    /* The new owner's caseworker takes it. */
    ck_assert_int_eq(assign(bw, id, bw_id, case_version(bw, id), NULL), 200);
}
END_TEST

/* ------------------------------------------------------------------------------------ */

static json_t *tasks(const char *token, const char *query)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/tasks?limit=100%s", query);
    return list(token, path);
}

static json_t *task_of(json_t *items, const char *kind, const char *member, const char *value)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *k = json_string_value(json_object_get(it, "kind"));
        const char *v = json_string_value(json_object_get(it, member));
        if (k && v && strcmp(k, kind) == 0 && strcmp(v, value) == 0)
            return it;
    }
    return NULL;
}

static void days_from_now(int days, char *out, size_t cap)
{
    time_t t = time(NULL) + (time_t)days * 86400;
    strftime(out, cap, "%Y-%m-%d", gmtime(&t));
}

/* A plan of case id by token, reviewed on review_on; writes its id. */
static void plan(const char *token, const char *id, const char *review_on, char pid[37])
{
    char path[128], body[512];
    snprintf(path, sizeof path, "/v1/cases/%s/plans", id);
    snprintf(body, sizeof body,
             "{\"goals\": [{\"goal\": \"Goal %s\"}, {\"goal\": \"Safe housing %s\", \"status\": "
             "\"achieved\"}], \"review_on\": \"%s\"}",
             sentinel, sentinel, review_on);
    struct h_resp r;
    ck_assert_int_eq(call(token, "POST", path, body, NULL, &r), 201);
    snprintf(pid, 37, "%s", h_str(&r, "id"));
    h_resp_free(&r);
}

START_TEST(tasks_from_the_data)
{
    char id[37], cid[37], soon_cid[37], rid[37], rid2[37], pid[37], in5[16], in2[16], path[1024];
    new_case(aw1, id);
    days_from_now(5, in5, sizeof in5);
    days_from_now(2, in2, sizeof in2);
    /* A consent ending in five days, one in a year; an offer to B ending in ten hours, one in
     * three days; a plan to review in two days. */
    char later[16];
    days_from_now(365, later, sizeof later);
    consent(id, "\"identity\"", b_agency, in5, soon_cid);
    consent(id, "\"identity\"", c_agency, later, cid);
    offer(id, b_agency, "referral", "\"identity\"", soon_cid, 10, rid);
    offer(id, c_agency, "referral", "\"identity\"", cid, 72, rid2);
    plan(aw1, id, in2, pid);

    json_t *items = tasks(aw1, "");
    json_t *t = task_of(items, "sop_deadline", "case_id", id);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(json_string_value(json_object_get(t, "track")), "main");
    ck_assert(json_is_false(json_object_get(t, "overdue")));
    ck_assert_ptr_nonnull(json_string_value(json_object_get(t, "case_reference")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(t, "why")), "main track"));
    t = task_of(items, "consent_expiring", "consent_id", soon_cid);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(json_string_value(json_object_get(t, "case_id")), id);
    ck_assert_ptr_null(task_of(items, "consent_expiring", "consent_id", cid));
    ck_assert_ptr_nonnull(task_of(items, "offer_expiring", "referral_id", rid));
    ck_assert_ptr_null(task_of(items, "offer_expiring", "referral_id", rid2));
    t = task_of(items, "plan_review", "plan_id", pid);
    ck_assert_ptr_nonnull(t);
    char *text = json_dumps(t, 0);
    ck_assert_ptr_null(strstr(text, sentinel));
    free(text);
    /* Due first. */
    const char *prev = "";
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *due = json_string_value(json_object_get(it, "due_at"));
        ck_assert_int_le(strcmp(prev, due), 0);
        prev = due;
    }
    json_decref(items);
    /* `to` reaches further: the one-year consent and the three-day offer. */
    items = tasks(aw1, "&to=2099-01-01");
    ck_assert_ptr_nonnull(task_of(items, "consent_expiring", "consent_id", cid));
    ck_assert_ptr_nonnull(task_of(items, "offer_expiring", "referral_id", rid2));
    json_decref(items);
    /* The recipient: offers that await its answer, without the case's reference (it may not
     * see the case yet). */
    items = tasks(bw, "");
    t = task_of(items, "offer_received", "referral_id", rid);
    ck_assert_ptr_nonnull(t);
    ck_assert(json_is_null(json_object_get(t, "case_reference")));
    ck_assert_ptr_nonnull(
        strstr(json_string_value(json_object_get(t, "why")), "awaits your answer"));
    ck_assert_ptr_null(task_of(items, "sop_deadline", "case_id", id));
    json_decref(items);
    /* Nobody else's. */
    items = tasks(cw, "&kind=sop_deadline");
    ck_assert_ptr_null(task_of(items, "sop_deadline", "case_id", id));
    json_decref(items);
    /* Filters: kind, assigned_to, from. */
    items = tasks(aw1, "&kind=plan_review");
    json_array_foreach(items, i, it)
        ck_assert_str_eq(json_string_value(json_object_get(it, "kind")), "plan_review");
    ck_assert_ptr_nonnull(task_of(items, "plan_review", "plan_id", pid));
    json_decref(items);
    items = tasks(aw1, "&assigned_to=me");
    ck_assert_ptr_null(task_of(items, "plan_review", "plan_id", pid));
    json_decref(items);
    ck_assert_int_eq(assign(ac, id, aw1_id, case_version(aw1, id), NULL), 200);
    items = tasks(aw1, "&assigned_to=me");
    ck_assert_ptr_nonnull(task_of(items, "plan_review", "plan_id", pid));
    json_decref(items);
    items = tasks(aw2, "&assigned_to=me");
    ck_assert_ptr_null(task_of(items, "plan_review", "plan_id", pid));
    json_decref(items);
    snprintf(path, sizeof path, "&from=%s", in5);
    items = tasks(aw1, path);
    ck_assert_ptr_null(task_of(items, "plan_review", "plan_id", pid));
    json_decref(items);
    /* Paging: one at a time, the same tasks in the same order. */
    json_t *all = tasks(aw1, "&to=2099-01-01");
    size_t seen = 0;
    char cursor[512] = "";
    for (int page = 0; page < 1000; page++) {
        struct h_resp r;
        snprintf(path, sizeof path, "/v1/tasks?limit=1&to=2099-01-01%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        ck_assert_int_eq(call(aw1, "GET", path, NULL, NULL, &r), 200);
        json_t *one = json_object_get(r.json, "items");
        if (json_array_size(one) == 1) {
            ck_assert_str_eq(json_string_value(json_object_get(json_array_get(one, 0), "id")),
                             json_string_value(json_object_get(json_array_get(all, seen), "id")));
            seen++;
        }
        const char *next = h_str(&r, "next_cursor");
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        h_resp_free(&r);
        if (!cursor[0])
            break;
    }
    ck_assert_uint_eq(seen, json_array_size(all));
    json_decref(all);
    /* Done: the offer answered, the plan revised with a later review. */
    answer(bw, rid, "accept");
    items = tasks(bw, "");
    ck_assert_ptr_null(task_of(items, "offer_received", "referral_id", rid));
    json_decref(items);
    items = tasks(aw1, "");
    ck_assert_ptr_null(task_of(items, "offer_expiring", "referral_id", rid));
    json_decref(items);
    char body[256], match[32];
    snprintf(path, sizeof path, "/v1/cases/%s/plans/%s", id, pid);
    snprintf(body, sizeof body, "{\"review_on\": \"%s\"}", later);
    snprintf(match, sizeof match, "If-Match: \"1\"");
    const char *h[] = {match, NULL};
    ck_assert_int_eq(call(aw1, "PATCH", path, body, h, NULL), 200);
    items = tasks(aw1, "");
    ck_assert_ptr_null(task_of(items, "plan_review", "plan_id", pid));
    json_decref(items);
    /* Refused: bad filters, a forged cursor, roles without casework. */
    static const char *const bad[] = {"/v1/tasks?kind=chores",   "/v1/tasks?from=yesterday",
                                      "/v1/tasks?to=2026-13-01", "/v1/tasks?assigned_to=you",
                                      "/v1/tasks?cursor=forged", "/v1/tasks?limit=0"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct h_resp r;
        ck_assert_int_eq(call(aw1, "GET", bad[k], NULL, NULL, &r), 400);
        h_assert_problem(&r, 400, "invalid_parameter");
        h_resp_free(&r);
    }
    ck_assert_int_eq(call(aa, "GET", "/v1/tasks", NULL, NULL, NULL), 403);
    ck_assert_int_eq(call(admin, "GET", "/v1/tasks", NULL, NULL, NULL), 403);
    ck_assert_int_eq(call(NULL, "GET", "/v1/tasks", NULL, NULL, NULL), 401);
}
END_TEST

/* A package a peer refused for good is a task of the agency party to its referral. The peer
 * and the package are made here as the owner role (no second instance needed). */
START_TEST(delivery_rejected_task)
{
    char id[37], rid[37], pkg[37], peer_agency[37];
    new_case(aw1, id);
    snprintf(rid, sizeof rid, "%08x-0000-4000-8000-%012x", (unsigned)getpid(), 1u);
    snprintf(pkg, sizeof pkg, "%08x-0000-4000-8000-%012x", (unsigned)getpid(), 2u);
    snprintf(peer_agency, sizeof peer_agency, "%08x-0000-4000-8000-%012x", (unsigned)getpid(), 3u);
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    char peer[64];
    snprintf(peer, sizeof peer, "peer%d.test", (int)getpid());
    const char *p[] = {peer, peer_agency, id, rid, pkg, a_agency};
    PGresult *r = PQexecParams(
        pg,
        "WITH p AS (INSERT INTO federation_peers (instance_id, country, url, signing_key, box_key, "
        "countries) VALUES ($1, 'PH', 'http://127.0.0.1:9', decode(repeat('01', 32), 'hex'), "
        "decode(repeat('02', 32), 'hex'), ARRAY['PH']) RETURNING instance_id), "
        "a AS (INSERT INTO agencies (id, name, country, kind, instance_id) SELECT $2::uuid, "
        "'Peer NGO ' || $1, 'PH', 'ngo', instance_id FROM p RETURNING id), "
        "r AS (INSERT INTO referrals (id, case_id, kind, from_agency_id, to_agency_id, "
        "from_country, to_country, purpose, categories, legal_basis, handling_code, sex, "
        "age_band, citizenship, expires_at, peer_instance, package_id) SELECT $4::uuid, "
        "$3::uuid, 'referral', $6::uuid, a.id, 'SE', 'PH', 'accommodation', '{}', "
        "'vital_interest', 'H2', 'female', '21-23', 'PH', now() + interval '3 days', $1, "
        "$5::uuid FROM a RETURNING id, package_id, peer_instance) "
        "INSERT INTO federation_packages (package_id, direction, peer_instance, type, referral_id, "
        "package, package_hash, status) SELECT package_id, 'out', peer_instance, 'offer', id, "
        "'{}', decode(repeat('03', 32), 'hex'), 'pending' FROM r",
        6, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
    PQclear(r);
    json_t *items = tasks(aw1, "&kind=delivery_rejected");
    ck_assert_ptr_null(task_of(items, "delivery_rejected", "referral_id", rid));
    json_decref(items);
    const char *q[] = {pkg};
    r = PQexecParams(pg,
                     "UPDATE federation_packages SET status = 'rejected', last_error = "
                     "'package_refused' WHERE package_id = $1",
                     1, NULL, q, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
    PQclear(r);
    PQfinish(pg);
    items = tasks(aw1, "&kind=delivery_rejected");
    json_t *t = task_of(items, "delivery_rejected", "referral_id", rid);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(json_string_value(json_object_get(t, "case_id")), id);
    ck_assert(json_is_true(json_object_get(t, "overdue")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(t, "why")), "package_refused"));
    json_decref(items);
    items = tasks(bw, "&kind=delivery_rejected");
    ck_assert_ptr_null(task_of(items, "delivery_rejected", "referral_id", rid));
    json_decref(items);
}
END_TEST

/* ------------------------------------------------------------------------------------ */

static json_t *notifications(const char *token, const char *query)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/notifications?limit=100%s", query);
    return list(token, path);
}

static json_t *notification_of(json_t *items, const char *kind, const char *member,
                               const char *value)
{
    return task_of(items, kind, member, value);
}

/* Waits until token has a notification of kind about member = value. */
static json_t *wait_notification(const char *token, const char *kind, const char *member,
                                 const char *value)
{
    for (int i = 0; i < 600; i++) {
        json_t *items = notifications(token, "");
        json_t *n = notification_of(items, kind, member, value);
        if (n) {
            json_incref(n);
            json_decref(items);
            return n;
        }
        json_decref(items);
        usleep(100000);
    }
    ck_abort_msg("no %s notification came", kind);
    return NULL;
}

START_TEST(notifications_for_whom)
{
    char id[37], cid[37], rid[37], rid2[37], rid3[37], id2[37], cid2[37];
    new_case(aw1, id);
    ck_assert_int_eq(assign(ac, id, aw2_id, case_version(aw1, id), NULL), 200);
    consent(id, "\"identity\"", b_agency, NULL, cid);
    offer(id, b_agency, "referral", "\"identity\"", cid, 72, rid);
    /* Everyone who works cases at B is told; read state is each user's own. */
    json_t *n = wait_notification(bw, "offer_received", "referral_id", rid);
    ck_assert_str_eq(json_string_value(json_object_get(n, "case_id")), id);
    ck_assert(json_is_false(json_object_get(n, "read")));
    /* Ids and codes only. */
    const char *k;
    json_t *v;
    json_object_foreach(n, k, v)
        ck_assert(strcmp(k, "id") == 0 || strcmp(k, "kind") == 0 || strcmp(k, "at") == 0 ||
                  strcmp(k, "read") == 0 || strcmp(k, "case_id") == 0 ||
                  strcmp(k, "referral_id") == 0 || strcmp(k, "consent_id") == 0);
    char nid[37], path[512]; /* a cursor is long */
    snprintf(nid, sizeof nid, "%s", json_string_value(json_object_get(n, "id")));
    json_decref(n);
    json_decref(wait_notification(bw2, "offer_received", "referral_id", rid));
    json_decref(wait_notification(bc, "offer_received", "referral_id", rid));
    snprintf(path, sizeof path, "/v1/notifications/%s/read", nid);
    struct h_resp r;
    ck_assert_int_eq(call(bw, "POST", path, NULL, NULL, &r), 200);
    ck_assert(json_is_true(json_object_get(r.json, "read")));
    h_resp_free(&r);
    json_t *items = notifications(bw, "&unread=true");
    ck_assert_ptr_null(notification_of(items, "offer_received", "referral_id", rid));
    json_decref(items);
    items = notifications(bw2, "&unread=true");
    ck_assert_ptr_nonnull(notification_of(items, "offer_received", "referral_id", rid));
    json_decref(items);
    /* Not A's, nor C's: another agency's notification is not there for them. */
    ck_assert_int_eq(call(aw1, "POST", path, NULL, NULL, &r), 404);
    h_assert_problem(&r, 404, "not_found");
    h_resp_free(&r);
    ck_assert_int_eq(call(cw, "POST", path, NULL, NULL, NULL), 404);
    ck_assert_int_eq(call(aa, "POST", path, NULL, NULL, NULL), 403);
    ck_assert_int_eq(call(admin, "GET", "/v1/notifications", NULL, NULL, NULL), 403);
    ck_assert_int_eq(call(bw, "POST", "/v1/notifications/00000000-0000-4000-8000-000000000000/read",
                          NULL, NULL, NULL),
                     404);

    /* Answered: the sender is told. */
    answer(bw, rid, "accept");
    json_decref(wait_notification(aw1, "offer_accepted", "referral_id", rid));
    new_case(aw1, id2);
    consent(id2, "\"identity\"", b_agency, NULL, cid2);
    offer(id2, b_agency, "referral", "\"identity\"", cid2, 72, rid2);
    answer(bw, rid2, "decline");
    json_decref(wait_notification(ac, "offer_declined", "referral_id", rid2));
    /* Withdrawn: the recipient is told. */
    offer(id2, b_agency, "referral", "\"identity\"", cid2, 72, rid3);
    answer(aw1, rid3, "withdraw");
    json_decref(wait_notification(bw, "offer_withdrawn", "referral_id", rid3));
    /* A consent withdrawn: the assignee and the agency whose access rested on it; not the
     * caseworker who withdrew it, nor an agency without access. */
    snprintf(path, sizeof path, "/v1/cases/%s/consents/%s/withdraw", id, cid);
    ck_assert_int_eq(
        call(aw1, "POST", path, "{\"reason\": \"Changed her mind Cw0Tk\"}", NULL, NULL), 200);
    json_decref(wait_notification(aw2, "consent_withdrawn", "consent_id", cid));
    json_decref(wait_notification(bw, "consent_withdrawn", "consent_id", cid));
    items = notifications(aw1, "&kind=consent_withdrawn");
    ck_assert_ptr_null(notification_of(items, "consent_withdrawn", "consent_id", cid));
    json_decref(items);
    items = notifications(cw, "&kind=consent_withdrawn");
    ck_assert_ptr_null(notification_of(items, "consent_withdrawn", "consent_id", cid));
    json_decref(items);

    /* Expiring, once per party, then expired (the offer's times moved as the owner role). */
    char rid4[37];
    offer(id2, b_agency, "referral", "\"identity\"", cid2, 72, rid4);
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {rid4};
    PGresult *res = PQexecParams(pg,
                                 "UPDATE referrals SET created_at = now() - interval '3 days', "
                                 "expires_at = now() + interval '2 hours' WHERE id = $1",
                                 1, NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
    PQclear(res);
    json_decref(wait_notification(bw, "offer_expiring", "referral_id", rid4));
    json_decref(wait_notification(aw1, "offer_expiring", "referral_id", rid4));
    usleep(600000); /* a few more maintenance rounds: still once */
    ck_assert_int_eq(h_count("SELECT count(*) FROM notifications WHERE kind = 'offer_expiring' "
                             "AND referral_id = $1",
                             rid4),
                     2);
    res = PQexecParams(pg, "UPDATE referrals SET expires_at = now() WHERE id = $1", 1, NULL, p,
                       NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
    json_decref(wait_notification(bw, "offer_expired", "referral_id", rid4));
    json_decref(wait_notification(aw1, "offer_expired", "referral_id", rid4));

    /* Paging newest first, and marking all read up to a time. */
    json_t *all = notifications(bw, "");
    ck_assert_int_ge(json_array_size(all), 4);
    struct h_resp page;
    ck_assert_int_eq(call(bw, "GET", "/v1/notifications?limit=2", NULL, NULL, &page), 200);
    const char *next = h_str(&page, "next_cursor");
    ck_assert_ptr_nonnull(next);
    snprintf(path, sizeof path, "/v1/notifications?limit=2&cursor=%s", next);
    h_resp_free(&page);
    ck_assert_int_eq(call(bw, "GET", path, NULL, NULL, &page), 200);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(page.json, "items"), 0), "id")),
                     json_string_value(json_object_get(json_array_get(all, 2), "id")));
    h_resp_free(&page);
    json_decref(all);
    ck_assert_int_eq(
        call(bw, "POST", "/v1/notifications/read", "{\"until\": \"2000-01-01\"}", NULL, &r), 200);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "marked")), 0);
    h_resp_free(&r);
    ck_assert_int_eq(call(bw, "POST", "/v1/notifications/read", NULL, NULL, &r), 200);
    ck_assert_int_ge(json_integer_value(json_object_get(r.json, "marked")), 3);
    h_resp_free(&r);
    items = notifications(bw, "&unread=true");
    ck_assert_uint_eq(json_array_size(items), 0);
    json_decref(items);
    items = notifications(bw2, "&unread=true");
    ck_assert_uint_gt(json_array_size(items), 0);
    json_decref(items);
    static const char *const bad[] = {"/v1/notifications?unread=maybe",
                                      "/v1/notifications?kind=gossip",
                                      "/v1/notifications?cursor=forged"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(call(bw, "GET", bad[i], NULL, NULL, NULL), 400);
    ck_assert_int_eq(
        call(bw, "POST", "/v1/notifications/read", "{\"until\": \"soon\"}", NULL, NULL), 400);
}
END_TEST

/* A consent that expires: the assignee is told, or the owning agency when nobody is. */
START_TEST(consent_expired_notified)
{
    char id[37], cid[37];
    new_case(aw1, id);
    consent(id, "\"identity\"", b_agency, "2099-01-01", cid);
    PGconn *pg = h_pg("TRM_TEST_OWNER_URL");
    const char *p[] = {cid};
    PGresult *res = PQexecParams(pg, "UPDATE consents SET expires_at = now() WHERE id = $1", 1,
                                 NULL, p, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK, "%s", PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
    json_decref(wait_notification(ac, "consent_expired", "consent_id", cid));
    json_decref(wait_notification(aw1, "consent_expired", "consent_id", cid));
}
END_TEST

/* ------------------------------------------------------------------------------------ */

static long record_service(const char *token, const char *id, const char *body,
                           const char *const *headers, struct h_resp *keep)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/cases/%s/services", id);
    return call(token, "POST", path, body, headers, keep);
}

static long count_log(const char *id, const char *category)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM access_log WHERE case_id = $1 AND '%s' = ANY (categories)",
             category);
    return h_count(sql, id);
}

START_TEST(services_feedback_and_grants)
{
    char id[37], cid[37], rid[37], sid[37], bsid[37], path[192], body[1024];
    struct h_resp r;
    shared_case("\"identity\"", id, cid, rid);
    /* The owner records a medical service: its note is health by default. */
    snprintf(body, sizeof body,
             "{\"type\": \"medical\", \"status\": \"planned\", \"referred_on\": \"2026-10-03\", "
             "\"note\": \"Clinic visit %s\"}",
             sentinel);
    ck_assert_int_eq(record_service(aw1, id, body, NULL, &r), 201);
    snprintf(sid, sizeof sid, "%s", h_str(&r, "id"));
    ck_assert_str_eq(h_str(&r, "note_category"), "health");
    ck_assert_ptr_nonnull(strstr(h_str(&r, "note"), "Clinic visit"));
    ck_assert_str_eq(h_str(&r, "provider_agency_id"), a_agency);
    char loc[192], etag[32];
    snprintf(path, sizeof path, "/v1/cases/%s/services/%s", id, sid);
    ck_assert_str_eq(h_header(&r, "Location", loc, sizeof loc), path);
    ck_assert_str_eq(h_header(&r, "ETag", etag, sizeof etag), "\"1\"");
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_services WHERE id = $1 AND "
                             "position(convert_to('Clinic', 'UTF8') IN sealed_note) = 0",
                             sid),
                     1);
    /* The recipient (identity only) sees that the service exists, not its note; the owner
     * opens it, and the read is logged. */
    snprintf(path, sizeof path, "/v1/cases/%s/services", id);
    long logged = count_log(id, "health");
    json_t *items = list(bw, path);
    json_t *s = item_with(items, "id", sid);
    ck_assert_ptr_nonnull(s);
    ck_assert(json_is_false(json_object_get(s, "content_visible")));
    ck_assert_ptr_null(json_object_get(s, "note"));
    ck_assert_ptr_null(json_object_get(s, "sealed_note"));
    json_decref(items);
    ck_assert_int_eq(count_log(id, "health"), logged);
    items = list(aw1, path);
    s = item_with(items, "id", sid);
    ck_assert(json_is_true(json_object_get(s, "content_visible")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(s, "note")), sentinel));
    json_decref(items);
    ck_assert_int_eq(count_log(id, "health"), logged + 1);
    /* The recipient gives feedback: a service it provides, its note of a category it holds;
     * one of a category it does not hold is refused, and nothing is written. */
    snprintf(body, sizeof body,
             "{\"type\": \"accommodation\", \"status\": \"ongoing\", \"referral_id\": \"%s\", "
             "\"started_on\": \"2026-10-05\", \"note\": \"Room 4 %s\", \"note_category\": "
             "\"identity\"}",
             rid, sentinel);
    ck_assert_int_eq(record_service(bw, id, body, NULL, &r), 201);
    snprintf(bsid, sizeof bsid, "%s", h_str(&r, "id"));
    ck_assert_str_eq(h_str(&r, "agency_id"), b_agency);
    h_resp_free(&r);
    long before = h_count("SELECT count(*) FROM case_services WHERE case_id = $1", id);
    ck_assert_int_eq(record_service(bw, id,
                                    "{\"type\": \"medical\", \"note\": \"x\", \"note_category\": "
                                    "\"health\"}",
                                    NULL, &r),
                     403);
    h_assert_problem(&r, 403, "category_not_granted");
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_services WHERE case_id = $1", id), before);
    items = list(aw1, path);
    s = item_with(items, "id", bsid);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(json_string_value(json_object_get(s, "status")), "ongoing");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(s, "note")), "Room 4"));
    json_decref(items);
    /* An agency without access: 404, nothing written. */
    ck_assert_int_eq(call(cw, "GET", path, NULL, NULL, NULL), 404);
    ck_assert_int_eq(record_service(cw, id, "{\"type\": \"legal\"}", NULL, NULL), 404);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_services WHERE case_id = $1", id), before);
    /* Changes: the writer, at its version; anything else refused and nothing changed. */
    snprintf(path, sizeof path, "/v1/cases/%s/services/%s", id, sid);
    const char *v1[] = {"If-Match: \"1\"", NULL};
    ck_assert_int_eq(call(bw, "PATCH", path, "{\"status\": \"ongoing\"}", v1, &r), 403);
    h_assert_problem(&r, 403, "forbidden");
    h_resp_free(&r);
    ck_assert_int_eq(call(aw1, "PATCH", path, "{\"status\": \"ongoing\"}", NULL, NULL), 428);
    static const char *const bad[] = {
        "{\"status\": \"done\"}",
        "{\"started_on\": \"2026-10-10\", \"ended_on\": \"2026-10-01\"}",
        "{\"provider_agency_id\": \"00000000-0000-4000-8000-000000000000\"}",
        "{\"note_category\": \"identity\"}",
        "{\"type\": \"legal\"}",
        "{\"note\": \"\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(call(aw1, "PATCH", path, bad[i], v1, &r), 400);
        h_assert_problem(&r, 400, "validation_failed");
        h_resp_free(&r);
    }
    ck_assert_int_eq(call(aw1, "PATCH", path,
                          "{\"status\": \"ongoing\", \"started_on\": "
                          "\"2026-10-04\"}",
                          v1, &r),
                     200);
    ck_assert_str_eq(h_header(&r, "ETag", etag, sizeof etag), "\"2\"");
    ck_assert_str_eq(h_str(&r, "status"), "ongoing");
    h_resp_free(&r);
    ck_assert_int_eq(call(aw1, "PATCH", path, "{\"status\": \"completed\"}", v1, &r), 412);
    h_assert_problem(&r, 412, "precondition_failed");
    h_resp_free(&r);
    /* An end before the start it has is refused by the database's check too. */
    const char *v2[] = {"If-Match: \"2\"", NULL};
    ck_assert_int_eq(call(aw1, "PATCH", path, "{\"ended_on\": \"2026-10-01\"}", v2, &r), 400);
    ck_assert_ptr_nonnull(strstr(r.body, "/ended_on"));
    h_resp_free(&r);
    /* The note removed: its sealed bytes go. */
    ck_assert_int_eq(
        call(aw1, "PATCH", path, "{\"note\": null, \"ended_on\": \"2026-10-20\"}", v2, &r), 200);
    ck_assert_ptr_null(json_object_get(r.json, "note"));
    ck_assert(json_is_null(json_object_get(r.json, "note_category")));
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_services WHERE id = $1 AND sealed_note "
                             "IS NULL AND version = 3",
                             sid),
                     1);
    ck_assert_int_eq(call(aw1, "GET", path, NULL, NULL, &r), 200);
    ck_assert_str_eq(h_header(&r, "ETag", etag, sizeof etag), "\"3\"");
    h_resp_free(&r);
    /* The timeline: codes and ids. */
    snprintf(path, sizeof path, "/v1/cases/%s/events?limit=100", id);
    items = list(aw1, path);
    ck_assert(holds(items, "kind", "service_recorded"));
    ck_assert(holds(items, "kind", "service_updated"));
    char *dump = json_dumps(items, 0);
    ck_assert_ptr_null(strstr(dump, sentinel));
    free(dump);
    json_decref(items);
}
END_TEST

START_TEST(services_refusals_and_idempotency)
{
    char id[37], other[37], cid[37], rid[37], body[512];
    struct h_resp r, r2;
    new_case(aw1, id);
    new_case(aw1, other);
    consent(other, "\"identity\"", b_agency, NULL, cid);
    offer(other, b_agency, "referral", "\"identity\"", cid, 72, rid);
    long before = h_count("SELECT count(*) FROM case_services WHERE case_id = $1", id);
    static const char *const bad[] = {
        "{}",
        "{\"type\": \"haircut\"}",
        "{\"type\": \"legal\", \"status\": \"maybe\"}",
        "{\"type\": \"legal\", \"started_on\": \"2026-10-10\", \"ended_on\": \"2026-10-01\"}",
        "{\"type\": \"legal\", \"started_on\": \"10/10/2026\"}",
        "{\"type\": \"legal\", \"note\": \"\"}",
        "{\"type\": \"legal\", \"note_category\": \"secrets\"}",
        "{\"type\": \"legal\", \"colour\": \"red\"}",
        "{\"type\": \"legal\", \"provider_agency_id\": \"00000000-0000-4000-8000-000000000000\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(record_service(aw1, id, bad[i], NULL, &r), 400);
        h_resp_free(&r);
    }
    /* A referral of another case. */
    snprintf(body, sizeof body, "{\"type\": \"legal\", \"referral_id\": \"%s\"}", rid);
    ck_assert_int_eq(record_service(aw1, id, body, NULL, &r), 400);
    ck_assert_ptr_nonnull(strstr(r.body, "/referral_id"));
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_services WHERE case_id = $1", id), before);
    ck_assert_int_eq(record_service(aa, id, "{\"type\": \"legal\"}", NULL, NULL), 403);
    ck_assert_int_eq(record_service(admin, id, "{\"type\": \"legal\"}", NULL, NULL), 403);
    ck_assert_int_eq(record_service(aw1, "00000000-0000-4000-8000-000000000000",
                                    "{\"type\": \"legal\"}", NULL, NULL),
                     404);
    /* The same key and body: the same service, once; another body: 422. */
    char key[64];
    snprintf(key, sizeof key, "Idempotency-Key: svc-%d", (int)getpid());
    const char *h[] = {key, NULL};
    ck_assert_int_eq(
        record_service(aw1, id, "{\"type\": \"legal\", \"note\": \"Lawyer Cw0Tk\"}", h, &r), 201);
    ck_assert_int_eq(
        record_service(aw1, id, "{\"type\": \"legal\", \"note\": \"Lawyer Cw0Tk\"}", h, &r2), 201);
    ck_assert_str_eq(h_str(&r, "id"), h_str(&r2, "id"));
    ck_assert_str_eq(h_str(&r2, "note"), "Lawyer Cw0Tk");
    h_resp_free(&r);
    h_resp_free(&r2);
    ck_assert_int_eq(record_service(aw1, id, "{\"type\": \"financial\"}", h, &r), 422);
    h_assert_problem(&r, 422, "idempotency_mismatch");
    h_resp_free(&r);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_services WHERE case_id = $1", id),
                     before + 1);
    /* Paging. */
    ck_assert_int_eq(record_service(aw1, id, "{\"type\": \"education\"}", NULL, NULL), 201);
    char path[192];
    snprintf(path, sizeof path, "/v1/cases/%s/services?limit=1", id);
    ck_assert_int_eq(call(aw1, "GET", path, NULL, NULL, &r), 200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "items")), 1);
    snprintf(path, sizeof path, "/v1/cases/%s/services?limit=1&cursor=%s", id,
             h_str(&r, "next_cursor"));
    h_resp_free(&r);
    ck_assert_int_eq(call(aw1, "GET", path, NULL, NULL, &r), 200);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(r.json, "items"), 0), "type")),
                     "education");
    h_resp_free(&r);
}
END_TEST

START_TEST(plans_sealed_and_revised)
{
    char id[37], cid[37], rid[37], pid[37], in9[16], path[192], body[512];
    struct h_resp r;
    shared_case("\"identity\"", id, cid, rid);
    days_from_now(9, in9, sizeof in9);
    plan(aw1, id, in9, pid);
    snprintf(path, sizeof path, "/v1/cases/%s/plans/%s", id, pid);
    /* The owner opens the goals (logged as narrative); the recipient (identity only) does
     * not, and cannot revise or make a narrative plan. */
    long logged = count_log(id, "narrative");
    ck_assert_int_eq(call(aw1, "GET", path, NULL, NULL, &r), 200);
    json_t *goals = json_object_get(r.json, "goals");
    ck_assert_uint_eq(json_array_size(goals), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(goals, 0), "status")),
                     "open");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(goals, 1), "status")),
                     "achieved");
    ck_assert_str_eq(h_str(&r, "category"), "narrative");
    ck_assert_ptr_null(json_object_get(r.json, "sealed"));
    h_resp_free(&r);
    ck_assert_int_eq(count_log(id, "narrative"), logged + 1);
    ck_assert_int_eq(call(bw, "GET", path, NULL, NULL, &r), 200);
    ck_assert(json_is_false(json_object_get(r.json, "content_visible")));
    ck_assert_ptr_null(json_object_get(r.json, "goals"));
    h_resp_free(&r);
    const char *v1[] = {"If-Match: \"1\"", NULL};
    ck_assert_int_eq(call(bw, "PATCH", path, "{\"status\": \"closed\"}", v1, NULL), 403);
    snprintf(body, sizeof body, "{\"goals\": [{\"goal\": \"x\"}], \"review_on\": \"%s\"}", in9);
    snprintf(path, sizeof path, "/v1/cases/%s/plans", id);
    ck_assert_int_eq(call(bw, "POST", path, body, NULL, &r), 403);
    h_assert_problem(&r, 403, "category_not_granted");
    h_resp_free(&r);
    /* ... but one of its own category. */
    snprintf(body, sizeof body,
             "{\"goals\": [{\"goal\": \"Papers %s\"}], \"review_on\": \"%s\", \"category\": "
             "\"identity\"}",
             sentinel, in9);
    ck_assert_int_eq(call(bw, "POST", path, body, NULL, &r), 201);
    ck_assert_str_eq(h_str(&r, "agency_id"), b_agency);
    h_resp_free(&r);
    /* Refusals change nothing. */
    long before = h_count("SELECT count(*) FROM case_plans WHERE case_id = $1", id);
    static const char *const bad[] = {
        "{\"goals\": [], \"review_on\": \"2026-12-01\"}",
        "{\"goals\": [{\"goal\": \"x\"}]}",
        "{\"goals\": [{\"goal\": \"\"}], \"review_on\": \"2026-12-01\"}",
        "{\"goals\": [{\"goal\": \"x\", \"status\": \"won\"}], \"review_on\": \"2026-12-01\"}",
        "{\"goals\": [{\"goal\": \"x\"}], \"review_on\": \"soon\"}",
        "{\"goals\": \"x\", \"review_on\": \"2026-12-01\"}",
        "{\"goals\": [{\"goal\": \"x\"}], \"review_on\": \"2026-12-01\", \"category\": \"y\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(call(aw1, "POST", path, bad[i], NULL, &r), 400);
        h_assert_problem(&r, 400, "validation_failed");
        h_resp_free(&r);
    }
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_plans WHERE case_id = $1", id), before);
    /* Revised by its agency at its version; the timeline says so without the goals. */
    snprintf(path, sizeof path, "/v1/cases/%s/plans/%s", id, pid);
    ck_assert_int_eq(call(aw1, "PATCH", path,
                          "{\"goals\": [{\"goal\": \"New goal Cw0Tk\", \"status\": \"open\"}]}", v1,
                          &r),
                     200);
    ck_assert_uint_eq(json_array_size(json_object_get(r.json, "goals")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(r.json, "version")), 2);
    h_resp_free(&r);
    ck_assert_int_eq(call(aw1, "PATCH", path, "{\"status\": \"closed\"}", v1, NULL), 412);
    ck_assert_int_eq(call(aw1, "PATCH", path, "{\"status\": \"paused\"}", v1, NULL), 400);
    ck_assert_int_eq(call(aw1, "PATCH", path, "{\"goals\": []}", v1, NULL), 400);
    snprintf(path, sizeof path, "/v1/cases/%s/plans", id);
    json_t *items = list(aw1, path);
    ck_assert_uint_ge(json_array_size(items), 2);
    json_t *p = item_with(items, "id", pid);
    ck_assert_ptr_nonnull(strstr(
        json_string_value(json_object_get(json_array_get(json_object_get(p, "goals"), 0), "goal")),
        "New goal"));
    json_decref(items);
    ck_assert_int_eq(call(cw, "GET", path, NULL, NULL, NULL), 404);
}
END_TEST

/* Erasure takes service notes and plan goals with the key; a transfer re-seals those of the
 * consented categories under the new owner's key and drops the rest. */
START_TEST(erasure_and_transfer_rekey)
{
    char id[37], pid[37], in9[16], path[192], body[512];
    struct h_resp r;
    days_from_now(9, in9, sizeof in9);
    new_case(aw1, id);
    snprintf(body, sizeof body, "{\"type\": \"medical\", \"note\": \"Erase me %s\"}", sentinel);
    ck_assert_int_eq(record_service(aw1, id, body, NULL, NULL), 201);
    plan(aw1, id, in9, pid);
    snprintf(path, sizeof path, "/v1/cases/%s/personal-data", id);
    ck_assert_int_eq(call(ac, "DELETE", path, "{\"reason\": \"other\"}", NULL, NULL), 200);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_services WHERE case_id = $1 AND "
                             "(sealed_note IS NOT NULL OR note_category IS NOT NULL)",
                             id),
                     0);
    ck_assert_int_eq(
        h_count("SELECT count(*) FROM case_plans WHERE case_id = $1 AND sealed IS NOT NULL", id),
        0);
    snprintf(path, sizeof path, "/v1/cases/%s/plans/%s", id, pid);
    ck_assert_int_eq(call(aw1, "GET", path, NULL, NULL, &r), 200);
    ck_assert(json_is_false(json_object_get(r.json, "content_visible")));
    h_resp_free(&r);
    /* A new note on an erased case: nothing to seal it with. */
    ck_assert_int_eq(record_service(aw1, id, "{\"type\": \"legal\", \"note\": \"x\"}", NULL, &r),
                     409);
    h_assert_problem(&r, 409, "case_erased");
    h_resp_free(&r);

    /* A transfer of identity only. */
    char tid[37], cid[37], rid[37], keep[37], drop[37], pid2[37];
    new_case(aw1, tid);
    snprintf(body, sizeof body,
             "{\"type\": \"legal\", \"note\": \"Passport %s\", \"note_category\": \"identity\"}",
             sentinel);
    ck_assert_int_eq(record_service(aw1, tid, body, NULL, &r), 201);
    snprintf(keep, sizeof keep, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    snprintf(body, sizeof body, "{\"type\": \"medical\", \"note\": \"Scan %s\"}", sentinel);
    ck_assert_int_eq(record_service(aw1, tid, body, NULL, &r), 201);
    snprintf(drop, sizeof drop, "%s", h_str(&r, "id"));
    h_resp_free(&r);
    plan(aw1, tid, in9, pid2);
    consent(tid, "\"identity\"", b_agency, NULL, cid);
    offer(tid, b_agency, "transfer", "\"identity\"", cid, 72, rid);
    answer(bw, rid, "accept");
    snprintf(path, sizeof path, "/v1/cases/%s/services", tid);
    json_t *items = list(bw, path);
    json_t *s = item_with(items, "id", keep);
    ck_assert(json_is_true(json_object_get(s, "content_visible")));
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(s, "note")), "Passport"));
    s = item_with(items, "id", drop);
    ck_assert_ptr_null(json_object_get(s, "note"));
    json_decref(items);
    ck_assert_int_eq(h_count("SELECT count(*) FROM case_services WHERE id = $1 AND sealed_note "
                             "IS NULL AND note_category IS NULL",
                             drop),
                     1);
    ck_assert_int_eq(
        h_count("SELECT count(*) FROM case_plans WHERE id = $1 AND sealed IS NULL", pid2), 1);
}
END_TEST

/* ------------------------------------------------------------------------------------ */

START_TEST(services_statistics)
{
    /* Eleven persons (cases without names count on their own) receive accommodation; one
     * receives financial help. */
    for (int i = 0; i < 11; i++) {
        char id[37];
        struct h_resp r;
        ck_assert_int_eq(call(aw1, "POST", "/v1/cases",
                              "{\"country\": \"SE\", \"sex\": \"male\", \"age_band\": \"30-38\", "
                              "\"citizenship\": \"RO\", \"exploitation_forms\": [\"begging\"], "
                              "\"identified_month\": \"2026-09\"}",
                              NULL, &r),
                         201);
        snprintf(id, sizeof id, "%s", h_str(&r, "id"));
        h_resp_free(&r);
        ck_assert_int_eq(record_service(aw1, id,
                                        "{\"type\": \"accommodation\", \"status\": \"completed\"}",
                                        NULL, NULL),
                         201);
        if (i == 0)
            ck_assert_int_eq(record_service(aw1, id,
                                            "{\"type\": \"financial\", \"status\": \"ongoing\"}",
                                            NULL, NULL),
                             201);
    }
    struct h_resp r;
    ck_assert_int_eq(call(ac, "GET", "/v1/stats/services?from=2026-09&to=2026-09", NULL, NULL, &r),
                     200);
    json_t *items = json_object_get(r.json, "items");
    ck_assert_uint_eq(json_array_size(items), 9);
    json_t *acc = item_with(items, "type", "accommodation");
    ck_assert_int_ge(json_integer_value(json_object_get(acc, "persons")), 11);
    ck_assert(json_is_false(json_object_get(acc, "suppressed")));
    json_t *fin = item_with(items, "type", "financial");
    ck_assert(json_is_null(json_object_get(fin, "persons")));
    ck_assert(json_is_true(json_object_get(fin, "suppressed")));
    ck_assert_str_eq(h_str(&r, "country"), "SE");
    h_resp_free(&r);
    const char *csv[] = {"Accept: text/csv", NULL};
    ck_assert_int_eq(call(aa, "GET", "/v1/stats/services", NULL, csv, &r), 200);
    ck_assert_ptr_nonnull(strstr(r.body, "accommodation"));
    h_resp_free(&r);
    ck_assert_int_eq(call(aw1, "GET", "/v1/stats/services", NULL, NULL, NULL), 403);
    ck_assert_int_eq(call(admin, "GET", "/v1/stats/services", NULL, NULL, NULL), 403);
    ck_assert_int_eq(call(ac, "GET", "/v1/stats/services?country=PH", NULL, NULL, NULL), 403);
    ck_assert_int_eq(call(ac, "GET", "/v1/stats/services?from=2026", NULL, NULL, NULL), 400);
    char out[8192];
    ck_assert_int_eq(
        h_trmctl("stats export --from 2026-09 --to 2026-09 --country SE", out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "accommodation"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("casework");
    TCase *tc = tcase_create("casework");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, assignment);
    tcase_add_test(tc, assignment_ends_at_transfer);
    tcase_add_test(tc, tasks_from_the_data);
    tcase_add_test(tc, delivery_rejected_task);
    tcase_add_test(tc, notifications_for_whom);
    tcase_add_test(tc, consent_expired_notified);
    tcase_add_test(tc, services_feedback_and_grants);
    tcase_add_test(tc, services_refusals_and_idempotency);
    tcase_add_test(tc, plans_sealed_and_revised);
    tcase_add_test(tc, erasure_and_transfer_rekey);
    tcase_add_test(tc, services_statistics);
    suite_add_tcase(s, tc);
    return trm_check_run(s, true);
}
