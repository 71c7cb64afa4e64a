-- Scenario 1, POST /v1/cases without an Idempotency-Key: the re-check of the remembered
-- token (trm_auth_holds, sent with BEGIN and the context), then the case (sealed fields
-- of every category, blind indexes) in one function call.
BEGIN ISOLATION LEVEL READ COMMITTED;
@context(:user_id ,, :agency_id ,, :country ,, :role ,, :cross_border ,, :token_id);
@stmt_auth_holds(:token_id ,, :user_id ,, :agency_id ,, :role ,, :cross_border_b ,, :country ,, :user_name ,, :agency_name ,, :client ,, :failure_limit ,, :window);
@stmt_case_create(gen_random_uuid() ,, :country ,, :sex ,, :age_band ,, :citizenship ,, :forms ,, :month ,, :kek_id ,, :wrapped ,, :field_categories ,, :fields ,, :sealed ,, :kinds ,, :values ,, :bits ,, nullif(:null, '-') ,, nullif(:null, '-'));
COMMIT;
