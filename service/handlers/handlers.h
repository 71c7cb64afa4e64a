/* The handlers of trmd, one file per resource, each of the one shape handler.h describes;
 * wired in routes.c. */
#ifndef TRM_HANDLERS_H
#define TRM_HANDLERS_H

#include "trm/app.h"
#include "trm/cases.h"
#include "trm/handler.h"
#include "trm/http.h"

struct trm_agency;

TRM_HANDLER(trm_handle_healthz);
TRM_HANDLER(trm_handle_federation_identity);
TRM_HANDLER(trm_handle_federation_agencies);
TRM_HANDLER(trm_handle_federation_inbox);
TRM_HANDLER(trm_handle_readyz);
TRM_HANDLER(trm_handle_openapi_yaml);
TRM_HANDLER(trm_handle_openapi_json);
TRM_HANDLER(trm_handle_me);
TRM_HANDLER(trm_handle_session_create);
TRM_HANDLER(trm_handle_session_get);
TRM_HANDLER(trm_handle_session_delete);
TRM_HANDLER(trm_handle_agencies_list);
TRM_HANDLER(trm_handle_agency_get);
TRM_HANDLER(trm_handle_agency_create);
TRM_HANDLER(trm_handle_agency_patch);
TRM_HANDLER(trm_handle_users_list);
TRM_HANDLER(trm_handle_user_get);
TRM_HANDLER(trm_handle_user_create);
TRM_HANDLER(trm_handle_user_patch);
TRM_HANDLER(trm_handle_token_issue);
TRM_HANDLER(trm_handle_tokens_list);
TRM_HANDLER(trm_handle_token_revoke);
TRM_HANDLER(trm_handle_case_create);
TRM_HANDLER(trm_handle_case_get);
TRM_HANDLER(trm_handle_case_summary);
TRM_HANDLER(trm_handle_case_patch);
TRM_HANDLER(trm_handle_cases_list);
TRM_HANDLER(trm_handle_case_search);
TRM_HANDLER(trm_handle_case_erase);
TRM_HANDLER(trm_handle_sops_list);
TRM_HANDLER(trm_handle_sop_get);
TRM_HANDLER(trm_handle_sop_create);
TRM_HANDLER(trm_handle_case_transitions);
TRM_HANDLER(trm_handle_case_transition);
TRM_HANDLER(trm_handle_consent_create);
TRM_HANDLER(trm_handle_consent_withdraw);
TRM_HANDLER(trm_handle_consents_list);
TRM_HANDLER(trm_handle_assessment_create);
TRM_HANDLER(trm_handle_screening_create);
TRM_HANDLER(trm_handle_screenings_list);
TRM_HANDLER(trm_handle_assessments_list);
TRM_HANDLER(trm_handle_guardian_create);
TRM_HANDLER(trm_handle_guardians_list);
TRM_HANDLER(trm_handle_case_events);
TRM_HANDLER(trm_handle_document_upload);
TRM_HANDLER(trm_handle_documents_list);
TRM_HANDLER(trm_handle_document_get);
TRM_HANDLER(trm_handle_document_content);
TRM_HANDLER(trm_handle_document_delete);
TRM_HANDLER(trm_handle_case_event_add);
TRM_HANDLER(trm_handle_referral_create);
TRM_HANDLER(trm_handle_referral_get);
TRM_HANDLER(trm_handle_referrals_list);
TRM_HANDLER(trm_handle_referral_accept);
TRM_HANDLER(trm_handle_referral_decline);
TRM_HANDLER(trm_handle_referral_withdraw);
TRM_HANDLER(trm_handle_handovers_list);
TRM_HANDLER(trm_handle_handovers_verify);
TRM_HANDLER(trm_handle_handovers_export);
TRM_HANDLER(trm_handle_signing_key);
TRM_HANDLER(trm_handle_case_access_log);
TRM_HANDLER(trm_handle_admin_log_list);
TRM_HANDLER(trm_handle_admin_log_export);
TRM_HANDLER(trm_handle_stats_victims);
TRM_HANDLER(trm_handle_stats_assistance);
TRM_HANDLER(trm_handle_stats_referrals);
TRM_HANDLER(trm_handle_stats_services);
TRM_HANDLER(trm_handle_case_assign);
TRM_HANDLER(trm_handle_tasks_list);
TRM_HANDLER(trm_handle_notifications_list);
TRM_HANDLER(trm_handle_notification_read);
TRM_HANDLER(trm_handle_notifications_read_all);
TRM_HANDLER(trm_handle_webhook_get);
TRM_HANDLER(trm_handle_webhook_put);
TRM_HANDLER(trm_handle_webhook_delete);
TRM_HANDLER(trm_handle_services_list);
TRM_HANDLER(trm_handle_service_create);
TRM_HANDLER(trm_handle_service_get);
TRM_HANDLER(trm_handle_service_patch);
TRM_HANDLER(trm_handle_plans_list);
TRM_HANDLER(trm_handle_plan_create);
TRM_HANDLER(trm_handle_plan_get);
TRM_HANDLER(trm_handle_plan_patch);
TRM_HANDLER(trm_handle_stats_screenings);
TRM_HANDLER(trm_handle_access_log);
TRM_HANDLER(trm_handle_case_subject_access);

json_t *trm_agency_json(const struct trm_agency *a);
/* 200 with a case's summary and its version as ETag (service/handlers/cases.c). */
void trm_case_summary_answer(struct trm_response *res, const struct trm_case_summary *s);

/* In a transaction function: refuses because a personal value cannot be sealed under the
 * case's key (trm_case_seal's outcome): TRM_WHY_CASE_ERASED or TRM_WHY_NOT_GRANTED
 * (service/handlers/case_records.c). */
enum trm_db_status trm_refuse_sealing(void *state, enum trm_seal_outcome outcome);

/* The sealed parts of a list of a case's records (services' notes, plans' goals), opened for
 * the caller (service/handlers/sealed_items.c): each item's hex member `sealed_member` (given
 * by the store only to a caller who may open it) is opened with the case's key (bound to
 * `label` and the item's id) into `into`; an item with a category says "content_visible";
 * the hex never stays; the categories opened go to the access log with request_id. */
struct trm_sealed_items {
    const char *case_id, *label, *sealed_member, *category_member, *into, *request_id;
    struct trm_keyring_source *keys;
};
enum trm_db_status trm_open_sealed_items(struct trm_db_conn *c, const struct trm_sealed_items *k,
                                         json_t *items);
/* A kind of a case's records with a sealed part (services, plans): its store's reads, the
 * answers to its outcomes and how its part is opened (as in trm_sealed_items). The GET
 * handlers of the list and of one record are the same for every kind. */
struct trm_sealed_kind {
    enum trm_db_status (*list)(struct trm_db_conn *c, const char *case_id, const char *after_at,
                               const char *after_id, unsigned limit, json_t **out);
    enum trm_db_status (*get)(struct trm_db_conn *c, const char *case_id, const char *id,
                              json_t **out);
    const struct trm_outcome *outcomes;
    const char *label, *sealed_member, *category_member, *into;
};
/* One record of kind k, its part opened for the caller and logged (a GET, an idempotent
 * create's replay): *out is the record, NULL unless TRM_DB_OK. */
enum trm_db_status trm_sealed_load(struct trm_db_conn *c, const struct trm_sealed_kind *k,
                                   const char *case_id, const char *id, const char *request_id,
                                   struct trm_keyring_source *keys, json_t **out);
/* GET /v1/cases/{id}/<kind>: a page in the order recorded, each part opened for the caller. */
void trm_sealed_list(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                     const struct trm_sealed_kind *k);
/* GET /v1/cases/{id}/<kind>/{rid}: one record, opened for the caller, with its ETag. */
void trm_sealed_get(struct trm_app *app, struct trm_request *req, struct trm_response *res,
                    const struct trm_sealed_kind *k);

#endif
