-- Scenario 4, POST /v1/cases/{id}/transitions (start_reflection, guarded by consent, risk
-- assessment and guardian-if-child): the re-check of the remembered token, the case's
-- facts (locked), the transition, the new summary. Each transaction takes a fresh seeded case (a sequence,
-- as each wrk connection walks its own range; currval in a subquery, so that it is
-- evaluated once and the index is used); the guards are evaluated by trmd in C.
BEGIN ISOLATION LEVEL READ COMMITTED;
@context(:user_id ,, :agency_id ,, :country ,, :role ,, :cross_border ,, :token_id);
@stmt_auth_holds(:token_id ,, :user_id ,, :agency_id ,, :role ,, :cross_border_b ,, :country ,, :user_name ,, :agency_name ,, :client ,, :failure_limit ,, :window);
@stmt_facts(('00000000-0000-4000-8000-' || lpad(nextval('bench_s4')::text, 12, '0'))::uuid ,, :lock);
@stmt_transition((SELECT ('00000000-0000-4000-8000-' || lpad(currval('bench_s4')::text, 12, '0'))::uuid) ,, :version ,, :track ,, :from ,, :to ,, :terminal ,, :details ,, nullif(:null, '-') ,, nullif(:null, '-'));
@stmt_case_summary((SELECT ('00000000-0000-4000-8000-' || lpad(currval('bench_s4')::text, 12, '0'))::uuid));
COMMIT;
