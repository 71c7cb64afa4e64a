-- Scenario 2, GET /v1/cases/{id}: authentication, then the case with its sealed fields and
-- its access-log entry (trm_case_read). Case k is one of the seeded cases.
\set k random(1, :ncases)
@stmt_token_lookup(:selector ,, :client ,, :window);
BEGIN ISOLATION LEVEL READ COMMITTED;
@context(:user_id ,, :agency_id ,, :country ,, :role ,, :cross_border);
@stmt_case_read(('00000000-0000-4000-8000-' || lpad(:k::text, 12, '0'))::uuid ,, :request_id ,, :purpose);
COMMIT;
