-- Scenario 3, GET /v1/cases?limit=50: the re-check of the remembered token
-- (trm_auth_holds, sent with BEGIN and the context), then 51 summaries (one more than the
-- page, for next_cursor). trmd sends SQL NULL for the absent filters; pgbench cannot, so
-- they are nullif('-', '-') of a parameter, which plans the same way.
BEGIN ISOLATION LEVEL READ COMMITTED;
@context(:user_id ,, :agency_id ,, :country ,, :role ,, :cross_border ,, :token_id);
@stmt_auth_holds(:token_id ,, :user_id ,, :agency_id ,, :role ,, :cross_border_b ,, :country ,, :user_name ,, :agency_name ,, :client ,, :failure_limit ,, :window);
@stmt_case_list(nullif(:null, '-')::uuid ,, nullif(:null, '-') ,, nullif(:null, '-') ,, nullif(:null, '-')::timestamptz ,, nullif(:null, '-')::timestamptz ,, nullif(:null, '-')::timestamptz ,, nullif(:null, '-')::uuid ,, :limit ,, nullif(:null, '-') ,, nullif(:null, '-')::boolean ,, nullif(:null, '-')::uuid ,, nullif(:null, '-')::boolean);
COMMIT;
