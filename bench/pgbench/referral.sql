-- Scenario 5, a referral offer (agency A, under the person's data-sharing consent) then its
-- acceptance (agency B): two requests, each its transaction with the re-check of the
-- remembered token.
BEGIN ISOLATION LEVEL READ COMMITTED;
@context(:user_id ,, :agency_id ,, :country ,, :role ,, :cross_border ,, :token_id);
@stmt_auth_holds(:token_id ,, :user_id ,, :agency_id ,, :role ,, :cross_border_b ,, :country ,, :user_name ,, :agency_name ,, :client ,, :failure_limit ,, :window);
@stmt_offer(('00000000-0000-4000-9000-' || lpad(nextval('bench_ref')::text, 12, '0'))::uuid ,, ('00000000-0000-4000-8000-' || lpad(nextval('bench_s5')::text, 12, '0'))::uuid ,, :to_agency_id ,, :kind ,, :referral_purpose ,, :urgency ,, :categories ,, :legal_basis ,, :handling_code ,, (SELECT ('00000000-0000-4000-a000-' || lpad(currval('bench_s5')::text, 12, '0'))::uuid) ,, :hours ,, nullif(:null, '-') ,, nullif(:null, '-') ,, nullif(:null, '-'));
@stmt_referral_get((SELECT ('00000000-0000-4000-9000-' || lpad(currval('bench_ref')::text, 12, '0'))::uuid));
COMMIT;
BEGIN ISOLATION LEVEL READ COMMITTED;
@context(:user_b ,, :agency_b ,, :country ,, :role ,, :cross_border ,, :token_id_b);
@stmt_auth_holds(:token_id_b ,, :user_b ,, :agency_b ,, :role ,, :cross_border_b ,, :country ,, :user_name_b ,, :agency_name_b ,, :client ,, :failure_limit ,, :window);
@stmt_answer((SELECT ('00000000-0000-4000-9000-' || lpad(currval('bench_ref')::text, 12, '0'))::uuid) ,, :accept ,, nullif(:null, '-'));
@stmt_referral_get((SELECT ('00000000-0000-4000-9000-' || lpad(currval('bench_ref')::text, 12, '0'))::uuid));
COMMIT;
