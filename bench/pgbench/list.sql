-- Scenario 3, GET /v1/cases?limit=50: authentication, then 51 summaries (one more than the
-- page, for next_cursor). trmd sends SQL NULL for the absent filters; pgbench cannot, so
-- they are nullif('-', '-') of a parameter, which plans the same way.
@stmt_token_lookup(:selector ,, :client ,, :window);
BEGIN ISOLATION LEVEL READ COMMITTED;
@context(:user_id ,, :agency_id ,, :country ,, :role ,, :cross_border);
@stmt_case_list(nullif(:null, '-')::uuid ,, nullif(:null, '-') ,, nullif(:null, '-') ,, nullif(:null, '-')::timestamptz ,, nullif(:null, '-')::timestamptz ,, nullif(:null, '-')::timestamptz ,, nullif(:null, '-')::uuid ,, :limit ,, nullif(:null, '-') ,, nullif(:null, '-')::boolean);
COMMIT;
