-- Scenario 1, POST /v1/cases without an Idempotency-Key: authentication, then the case
-- (sealed fields of every category, blind indexes) in one function call.
@stmt_token_lookup(:selector ,, :client ,, :window);
BEGIN ISOLATION LEVEL READ COMMITTED;
@context(:user_id ,, :agency_id ,, :country ,, :role ,, :cross_border);
@stmt_case_create(gen_random_uuid() ,, :country ,, :sex ,, :age_band ,, :citizenship ,, :forms ,, :month ,, :kek_id ,, :wrapped ,, :field_categories ,, :fields ,, :sealed ,, :kinds ,, :values ,, :bits);
COMMIT;
