/* The route table: every endpoint of trmd in one place, with the action each performs (the
 * request core checks it against the caller's role before the handler runs). */
#include "handlers.h"

const struct trm_route trm_routes[] = {
    {"GET", "/healthz", trm_handle_healthz, TRM_ROUTE_PUBLIC, TRM_ACT_NONE},
    {"GET", "/readyz", trm_handle_readyz, TRM_ROUTE_PUBLIC, TRM_ACT_NONE},
    {"GET", "/v1/me", trm_handle_me, 0, TRM_ACT_NONE},
    {"GET", "/v1/agencies", trm_handle_agencies_list, 0, TRM_ACT_DIRECTORY_READ},
    {"POST", "/v1/agencies", trm_handle_agency_create, 0, TRM_ACT_DIRECTORY_MANAGE},
    {"GET", "/v1/agencies/{}", trm_handle_agency_get, 0, TRM_ACT_DIRECTORY_READ},
    {"GET", "/v1/users", trm_handle_users_list, 0, TRM_ACT_DIRECTORY_MANAGE},
    {"POST", "/v1/users", trm_handle_user_create, 0, TRM_ACT_DIRECTORY_MANAGE},
    {"GET", "/v1/users/{}", trm_handle_user_get, 0, TRM_ACT_DIRECTORY_MANAGE},
    {"PATCH", "/v1/users/{}", trm_handle_user_patch, 0, TRM_ACT_DIRECTORY_MANAGE},
    {"POST", "/v1/users/{}/tokens", trm_handle_token_issue, 0, TRM_ACT_DIRECTORY_MANAGE},
    {"DELETE", "/v1/tokens/{}", trm_handle_token_revoke, 0, TRM_ACT_DIRECTORY_MANAGE},
    {"POST", "/v1/cases", trm_handle_case_create, 0, TRM_ACT_CASE_WRITE},
    {"GET", "/v1/cases", trm_handle_cases_list, 0, TRM_ACT_CASE_READ},
    {"POST", "/v1/cases/search", trm_handle_case_search, 0, TRM_ACT_CASE_READ},
    {"GET", "/v1/cases/{}", trm_handle_case_get, 0, TRM_ACT_CASE_READ},
    {"PATCH", "/v1/cases/{}", trm_handle_case_patch, 0, TRM_ACT_CASE_WRITE},
    {"DELETE", "/v1/cases/{}/personal-data", trm_handle_case_erase, 0, TRM_ACT_CASE_APPROVE},
    {"GET", "/v1/cases/{}/transitions", trm_handle_case_transitions, 0, TRM_ACT_CASE_READ},
    {"POST", "/v1/cases/{}/transitions", trm_handle_case_transition, 0, TRM_ACT_CASE_WRITE},
    {"GET", "/v1/cases/{}/consents", trm_handle_consents_list, 0, TRM_ACT_CASE_READ},
    {"POST", "/v1/cases/{}/consents", trm_handle_consent_create, 0, TRM_ACT_CASE_WRITE},
    {"POST", "/v1/cases/{}/consents/{}/withdraw", trm_handle_consent_withdraw, 0,
     TRM_ACT_CASE_WRITE},
    {"GET", "/v1/cases/{}/assessments", trm_handle_assessments_list, 0, TRM_ACT_CASE_READ},
    {"POST", "/v1/cases/{}/assessments", trm_handle_assessment_create, 0, TRM_ACT_CASE_WRITE},
    {"GET", "/v1/cases/{}/guardians", trm_handle_guardians_list, 0, TRM_ACT_CASE_READ},
    {"POST", "/v1/cases/{}/guardians", trm_handle_guardian_create, 0, TRM_ACT_CASE_WRITE},
    {"GET", "/v1/cases/{}/events", trm_handle_case_events, 0, TRM_ACT_CASE_READ},
    {"GET", "/v1/sops", trm_handle_sops_list, 0, TRM_ACT_DIRECTORY_READ},
    {"POST", "/v1/sops", trm_handle_sop_create, 0, TRM_ACT_SOP_MANAGE},
    {"GET", "/v1/sops/{}", trm_handle_sop_get, 0, TRM_ACT_DIRECTORY_READ},
};

const size_t trm_routes_count = sizeof trm_routes / sizeof trm_routes[0];
