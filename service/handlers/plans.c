/* /v1/cases/{id}/plans: the person's assistance plan (TRM guidance: an individual plan,
 * revised at every contact): goals, sealed under the case's key with a category (default
 * narrative), a status and a review date, which makes a task when it comes. Written and
 * revised by the agency that made it; seen like the timeline, the goals opened only for the
 * writer and holders of the category, and logged when opened. */
#include "handlers.h"

#include "trm/http_util.h"
#include "trm/idempotency_store.h"
#include "trm/plan_store.h"

#include <stdlib.h>
#include <string.h>

#define GOALS_MAX 50
#define GOAL_MAX 1000 /* bytes of one goal */

static const char *const goal_statuses[] = {"open", "achieved", "dropped", NULL};

enum { WHY_NO_GRANT = TRM_WHY_OWN, WHY_NOT_WRITER };

static const struct trm_outcome plan_outcomes[] = {
    TRM_WHEN(TRM_DB_NOT_FOUND, TRM_E_NOT_FOUND, "No such case, or no such plan of it."),
    TRM_WHEN_REFUSED(WHY_NO_GRANT, TRM_E_CATEGORY_NOT_GRANTED,
                     "Your agency holds no active grant of the plan's category on this case."),
    TRM_WHEN_REFUSED(WHY_NOT_WRITER, TRM_E_FORBIDDEN,
                     "Only the agency that made a plan revises it."),
    TRM_WHEN_END,
};

static enum trm_db_status refuse_outcome(void *state, enum trm_record_outcome o)
{
    if (o == TRM_RECORD_NOT_FOUND)
        return TRM_DB_NOT_FOUND;
    if (o == TRM_RECORD_STALE)
        return trm_refuse(state, TRM_WHY_STALE, NULL);
    return trm_refuse(state, o == TRM_RECORD_NOT_WRITER ? WHY_NOT_WRITER : WHY_NO_GRANT, NULL);
}

/* The goals as sealed: each with its status ("open" unless given). */
static json_t *goals_value(json_t *goals)
{
    json_t *out = json_array();
    size_t i;
    json_t *g;
    json_array_foreach(goals, i, g)
    {
        const char *status = json_string_value(json_object_get(g, "status"));
        json_array_append_new(out, json_pack("{s:O, s:s}", "goal", json_object_get(g, "goal"),
                                             "status", status ? status : "open"));
    }
    return out;
}

static void answer_plan(struct trm_response *res, unsigned status, json_t *plan, json_t *goals,
                        const char *case_id)
{
    json_t *out = json_deep_copy(plan);
    json_object_del(out, "sealed");
    if (goals) {
        json_object_set(out, "goals", goals);
        json_object_set_new(out, "content_visible", json_true());
    }
    char etag[32];
    snprintf(etag, sizeof etag, "\"%lld\"",
             (long long)json_integer_value(json_object_get(plan, "version")));
    if (status == 201)
        trm_http_created_at(res, out, "/v1/cases/%s/plans/%s", case_id,
                            json_string_value(json_object_get(plan, "id")));
    else
        trm_response_json(res, status, out);
    trm_response_set_header(res, "ETag", etag);
}

struct plan_write {
    json_t *out; /* first */
    char *sealed;
    char case_id[TRM_UUID_STR_LEN + 1], id[TRM_UUID_STR_LEN + 1];
    const char *review_on, *status, *category, *user_id, *request_id;
    json_t *goals; /* as sealed (kept with the request); NULL: unchanged */
    struct trm_keyring_source *keys;
    struct trm_idem idem;
    enum trm_idem_state state;
    long version;
    char category_buf[24]; /* a revision: the plan's category, read in its transaction */
};

static void plan_write_free(void *state)
{
    struct plan_write *x = state;
    json_decref(x->out);
    free(x->sealed);
}

/* Seals the goals under the case's key with the plan's category. */
static enum trm_db_status seal_goals(struct trm_db_conn *c, struct plan_write *x)
{
    free(x->sealed);
    x->sealed = NULL;
    if (x->goals == NULL)
        return TRM_DB_OK;
    struct trm_sealing what = {x->case_id, x->category, "plans", x->id};
    enum trm_seal_outcome outcome;
    enum trm_db_status st = trm_case_seal(c, x->keys, &what, x->goals, &x->sealed, &outcome);
    return st == TRM_DB_REFUSED ? trm_refuse_sealing(x, outcome) : st;
}

static enum trm_db_status create_plan(struct trm_db_conn *c, void *arg)
{
    struct plan_write *x = arg;
    enum trm_record_outcome o;
    enum trm_db_status st = seal_goals(c, x);
    if (st == TRM_DB_OK)
        st = trm_plan_record(c, x->id, x->case_id, x->review_on, x->sealed, x->category, &o,
                             &x->out);
    return st == TRM_DB_OK && o != TRM_RECORD_OK ? refuse_outcome(x, o) : st;
}

static const struct trm_sealed_kind plan_kind = {.list = trm_plan_list,
                                                 .get = trm_plan_get,
                                                 .outcomes = plan_outcomes,
                                                 .label = "plans",
                                                 .sealed_member = "sealed",
                                                 .category_member = "category",
                                                 .into = "goals"};

/* A replay: the plan as stored, its goals opened for the caller like a read (and logged). */
static enum trm_db_status load_plan(struct trm_db_conn *c, void *arg, const char *id)
{
    struct plan_write *x = arg;
    json_decref(x->out);
    return trm_sealed_load(c, &plan_kind, x->case_id, id, x->request_id, x->keys, &x->out);
}

static enum trm_db_status create_tx(struct trm_db_conn *c, void *arg)
{
    struct plan_write *x = arg;
    json_decref(x->out);
    x->out = NULL;
    enum trm_db_status st = trm_idem_create(c, x->user_id, &x->idem, x->id, false, create_plan,
                                            load_plan, x, &x->state);
    return x->state == TRM_IDEM_MISMATCH ? trm_refuse(x, TRM_WHY_IDEM_MISMATCH, NULL) : st;
}

static const char *goals_ok(const void *arg, const char **field)
{
    json_t *const *goals = arg;
    *field = "goals";
    return *goals && json_array_size(*goals) == 0 ? "must name at least one goal" : NULL;
}

TRM_HANDLER(trm_handle_plan_create)
{
    static const struct trm_tx tx = {.fn = create_tx, .outcomes = plan_outcomes};
    struct plan_write *x = trm_handler_state(req, sizeof *x, plan_write_free);
    if (x == NULL)
        return;
    json_t *goals = NULL;
    x->category = "narrative";
    const struct trm_field goal_spec[] = {
        TRM_F_TEXT("goal", NULL, GOAL_MAX, TRM_REQUIRED),
        TRM_F_ENUM("status", NULL, goal_statuses),
        TRM_F_END,
    };
    const struct trm_field spec[] = {
        TRM_F_OBJECTS("goals", &goals, GOALS_MAX, goal_spec, TRM_REQUIRED),
        TRM_F_DATE("review_on", &x->review_on, TRM_REQUIRED),
        TRM_F_ENUM("category", &x->category, trm_case_categories),
        TRM_F_CHECK(goals_ok, &goals),
        TRM_F_END,
    };
    if (!trm_http_uuid_param(req, res, 0, x->case_id) ||
        !trm_http_idempotency(req, res, &x->idem) || !trm_handler_body(req, res, spec, NULL))
        return;
    trm_uuid_v4(x->id);
    x->goals = trm_request_keep(req, goals_value(goals));
    x->keys = app->keys;
    x->user_id = req->principal->user_id;
    x->request_id = req->request_id;
    if (trm_handler_tx(app, req, res, &tx, x))
        answer_plan(res, 201, x->out, x->state == TRM_IDEM_REPLAY ? NULL : x->goals, x->case_id);
}

/* A revision: the plan as it is (404 when not visible; its category for the goals), the
 * goals sealed anew when given, the change at the version If-Match named. */
static enum trm_db_status change_tx(struct trm_db_conn *c, void *arg)
{
    struct plan_write *x = arg;
    json_t *now = NULL;
    json_decref(x->out);
    x->out = NULL;
    enum trm_db_status st = trm_plan_get(c, x->case_id, x->id, &now);
    const char *category = json_string_value(json_object_get(now, "category"));
    trm_strlcpy(x->category_buf, category ? category : "", sizeof x->category_buf);
    json_decref(now);
    x->category = x->category_buf;
    if (st == TRM_DB_OK)
        st = seal_goals(c, x);
    enum trm_record_outcome o = TRM_RECORD_OK;
    if (st == TRM_DB_OK)
        st = trm_plan_change(c, x->case_id, x->id, x->version, x->review_on, x->status, x->sealed,
                             &o, &x->out);
    return st == TRM_DB_OK && o != TRM_RECORD_OK ? refuse_outcome(x, o) : st;
}

TRM_HANDLER(trm_handle_plan_patch)
{
    static const struct trm_tx tx = {.fn = change_tx, .outcomes = plan_outcomes};
    struct plan_write *x = trm_handler_state(req, sizeof *x, plan_write_free);
    if (x == NULL)
        return;
    json_t *goals = NULL;
    const struct trm_field goal_spec[] = {
        TRM_F_TEXT("goal", NULL, GOAL_MAX, TRM_REQUIRED),
        TRM_F_ENUM("status", NULL, goal_statuses),
        TRM_F_END,
    };
    const struct trm_field spec[] = {
        TRM_F_OBJECTS("goals", &goals, GOALS_MAX, goal_spec),
        TRM_F_DATE("review_on", &x->review_on),
        TRM_F_ENUM("status", &x->status, trm_plan_statuses),
        TRM_F_CHECK(goals_ok, &goals),
        TRM_F_END,
    };
    if (!trm_http_uuid_param(req, res, 0, x->case_id) || !trm_http_uuid_param(req, res, 1, x->id) ||
        !trm_http_if_match_version(req, res, "If-Match names no version of this plan.",
                                   &x->version) ||
        !trm_handler_body(req, res, spec, NULL))
        return;
    x->goals = goals ? trm_request_keep(req, goals_value(goals)) : NULL;
    x->keys = app->keys;
    if (trm_handler_tx(app, req, res, &tx, x))
        answer_plan(res, 200, x->out, x->goals, x->case_id);
}

TRM_HANDLER(trm_handle_plans_list)
{
    trm_sealed_list(app, req, res, &plan_kind);
}

TRM_HANDLER(trm_handle_plan_get)
{
    trm_sealed_get(app, req, res, &plan_kind);
}
