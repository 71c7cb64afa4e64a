-- Scenario 2, GET /v1/cases/{id}: the re-check of the remembered token (trm_auth_holds,
-- sent with BEGIN and the context), then the case with its sealed fields and its
-- access-log entry (trm_case_read). Case k is one of the seeded cases.
\set k random(1, :ncases)
BEGIN ISOLATION LEVEL READ COMMITTED;
@context(:user_id ,, :agency_id ,, :country ,, :role ,, :cross_border ,, :token_id);
@stmt_auth_holds(:token_id ,, :user_id ,, :agency_id ,, :role ,, :cross_border_b ,, :country ,, :user_name ,, :agency_name ,, :client ,, :failure_limit ,, :window);
@stmt_case_read(('00000000-0000-4000-8000-' || lpad(:k::text, 12, '0'))::uuid ,, :request_id ,, :purpose ,, nullif(:null, '-'));
COMMIT;
