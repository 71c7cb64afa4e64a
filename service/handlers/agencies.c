/* /v1/me and /v1/agencies: who am I, and the directory of agencies (no personal data).
 * Changes are recorded in the admin log in the transaction that makes them. */
#include "handlers.h"

#include "trm/admin_log_store.h"
#include "trm/directory_store.h"
#include "trm/http_util.h"
#include "trm/idempotency_store.h"

TRM_HANDLER(trm_handle_me)
{
    (void)app;
    const struct trm_principal *p = req->principal;
    trm_response_json(res, 200,
                      json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "user_id", p->user_id,
                                "display_name", p->display_name, "role", trm_role_name(p->role),
                                "agency_id", p->agency_id, "agency_name", p->agency_name, "country",
                                p->country, "cross_border", p->cross_border));
}

json_t *trm_agency_json(const struct trm_agency *a)
{
    /* instance_id names the peer instance of an agency that is not ours; local_only marks ours
     * that peers never see (demo and deactivated agencies): docs/federation.md. */
    bool ours = a->instance_id[0] == '\0';
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:o, s:b}", "id", a->id, "name", a->name,
                     "country", a->country, "kind", a->kind, "active", a->active, "demo", a->demo,
                     "instance_id", ours ? json_null() : json_string(a->instance_id), "local_only",
                     ours && (a->demo || !a->active));
}

/* The directory is the same for every user: its reads need no row-level security context. */
struct agency_list {
    const char *country, *kind;
    struct trm_page page;
    unsigned n;
    struct trm_agency rows[TRM_PAGE_MAX + 1];
};

static enum trm_db_status list_tx(struct trm_db_conn *c, void *arg)
{
    struct agency_list *x = arg;
    const struct trm_page *p = &x->page;
    return trm_directory_agency_list(c, x->country, x->kind, trm_page_text(p, 0),
                                     trm_page_text(p, 1), trm_page_text(p, 2), x->rows,
                                     trm_page_fetch(p), &x->n);
}

TRM_HANDLER(trm_handle_agencies_list)
{
    static const struct trm_tx tx = {.fn = list_tx, .without_context = true};
    static const char *const keys[] = {"country", "name", "id", NULL};
    struct agency_list *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL)
        return;
    const struct trm_param params[] = {
        TRM_Q_COUNTRY("country", &x->country),
        TRM_Q_ENUM("kind", &x->kind, trm_agency_kinds),
        TRM_Q_END,
    };
    if (!trm_http_query(req, res, params) || !trm_handler_page(app, req, res, "sss", &x->page))
        return;
    x->kind = trm_agency_kind_canonical(x->kind);
    if (!trm_handler_tx(app, req, res, &tx, x))
        return;
    json_t *items = json_array();
    for (unsigned i = 0; i < x->n; i++)
        json_array_append_new(items, trm_agency_json(&x->rows[i]));
    trm_handler_page_answer(app, res, &x->page, items, keys);
}

struct agency_one {
    char id[TRM_UUID_STR_LEN + 1];
    struct trm_agency a;
};

static enum trm_db_status get_tx(struct trm_db_conn *c, void *arg)
{
    struct agency_one *x = arg;
    return trm_directory_agency_get(c, x->id, &x->a);
}

TRM_HANDLER(trm_handle_agency_get)
{
    static const struct trm_tx tx = {.fn = get_tx, .without_context = true};
    struct agency_one *x = trm_handler_state(req, sizeof *x, NULL);
    if (x && trm_http_uuid_param(req, res, 0, x->id) && trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, trm_agency_json(&x->a));
}

struct agency_create {
    const char *name, *country, *kind, *user_id, *request_id;
    struct trm_idem idem;
    enum trm_idem_state state;
    struct trm_agency a;
};

/* The agency and its admin-log entry (COMMIT travels with the entry). */
static enum trm_db_status create_agency(struct trm_db_conn *c, void *arg)
{
    struct agency_create *x = arg;
    enum trm_db_status st = trm_directory_agency_insert(c, &x->a);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_admin_log_add(c, TRM_ADMIN_AGENCY_CREATE, x->a.id, "name,country,kind",
                             x->request_id);
}

static enum trm_db_status load_agency(struct trm_db_conn *c, void *arg, const char *id)
{
    struct agency_create *x = arg;
    return trm_directory_agency_get(c, id, &x->a);
}

static enum trm_db_status create_tx(struct trm_db_conn *c, void *arg)
{
    struct agency_create *x = arg;
    enum trm_db_status st = trm_idem_create(c, x->user_id, &x->idem, x->a.id, false, create_agency,
                                            load_agency, x, &x->state);
    return x->state == TRM_IDEM_MISMATCH ? trm_refuse(x, TRM_WHY_IDEM_MISMATCH, NULL) : st;
}

static const struct trm_outcome create_outcomes[] = {
    TRM_WHEN_FIELD(TRM_DB_NOT_FOUND, "/country", "is not a known country"),
    TRM_WHEN(TRM_DB_CONFLICT, TRM_E_CONFLICT, "This country already has an agency with that name."),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_agency_create)
{
    static const struct trm_tx tx = {.fn = create_tx, .outcomes = create_outcomes};
    struct agency_create *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL)
        return;
    const struct trm_field spec[] = {
        TRM_F_STRING("name", &x->name, TRM_NAME_MAX, TRM_REQUIRED),
        TRM_F_COUNTRY("country", &x->country, TRM_REQUIRED),
        TRM_F_ENUM("kind", &x->kind, trm_agency_kinds, TRM_REQUIRED),
        TRM_F_END,
    };
    if (!trm_http_idempotency(req, res, &x->idem) || !trm_handler_body(req, res, spec, NULL))
        return;
    x->user_id = req->principal->user_id;
    x->request_id = req->request_id;
    trm_uuid_v4(x->a.id);
    trm_strlcpy(x->a.name, x->name, sizeof x->a.name);
    trm_strlcpy(x->a.country, x->country, sizeof x->a.country);
    trm_strlcpy(x->a.kind, trm_agency_kind_canonical(x->kind), sizeof x->a.kind);
    x->a.active = true;
    if (trm_handler_tx(app, req, res, &tx, x))
        trm_http_created_at(res, trm_agency_json(&x->a), "/v1/agencies/%s", x->a.id);
}

struct agency_patch {
    char id[TRM_UUID_STR_LEN + 1];
    bool active;
    const char *request_id;
    struct trm_agency a;
};

static enum trm_db_status patch_tx(struct trm_db_conn *c, void *arg)
{
    struct agency_patch *x = arg;
    enum trm_db_status st = trm_directory_agency_set_active(c, x->id, x->active);
    if (st == TRM_DB_OK)
        st = trm_admin_log_add(c, TRM_ADMIN_AGENCY_UPDATE, x->id, "active", x->request_id);
    if (st != TRM_DB_OK)
        return st;
    trm_db_commit_with_next(c);
    return trm_directory_agency_get(c, x->id, &x->a);
}

static const struct trm_outcome patch_outcomes[] = {
    TRM_WHEN(TRM_DB_CONFLICT, TRM_E_CONFLICT,
             "An agency of another instance is kept up to date by that instance."),
    TRM_WHEN_END,
};

TRM_HANDLER(trm_handle_agency_patch)
{
    static const struct trm_tx tx = {.fn = patch_tx, .outcomes = patch_outcomes};
    struct agency_patch *x = trm_handler_state(req, sizeof *x, NULL);
    if (x == NULL)
        return;
    const struct trm_field spec[] = {TRM_F_BOOL("active", &x->active, TRM_REQUIRED), TRM_F_END};
    x->request_id = req->request_id;
    if (trm_http_uuid_param(req, res, 0, x->id) && trm_handler_body(req, res, spec, NULL) &&
        trm_handler_tx(app, req, res, &tx, x))
        trm_response_json(res, 200, trm_agency_json(&x->a));
}
