-- The lean column's role (bench/run only, never in a migration): trm_lean is a member of
-- trm_app, so every row-level security policy of trm_app applies to it unchanged, and it
-- has only what hand-written SQL needs to do trm's work without trm's functions: inserts
-- into the tables trm_app reaches only through SECURITY DEFINER functions (the case row,
-- its key and grant, the referral, the handover chain), each guarded by a plain policy as
-- strict as the function's own checks.
CREATE ROLE trm_lean LOGIN NOSUPERUSER NOBYPASSRLS IN ROLE trm_app;
GRANT INSERT ON cases, case_keys, case_grants, referrals, handover_log TO trm_lean;
GRANT UPDATE ON handover_head, referrals TO trm_lean;
GRANT SELECT ON consents TO trm_lean;
CREATE POLICY lean_cases_create ON cases FOR INSERT TO trm_lean
    WITH CHECK (owner_agency_id = trm_ctx_agency() AND created_by = trm_ctx_user()
                AND trm_ctx_role() IN ('caseworker', 'coordinator'));
-- The owner sees its case before its grant exists (trm_case_create writes both at once).
CREATE POLICY lean_cases_owner ON cases FOR SELECT TO trm_lean
    USING (owner_agency_id = trm_ctx_agency());
CREATE POLICY lean_case_keys_create ON case_keys FOR INSERT TO trm_lean
    WITH CHECK (EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id
                        AND c.owner_agency_id = trm_ctx_agency()));
CREATE POLICY lean_case_grants_create ON case_grants FOR INSERT TO trm_lean
    WITH CHECK ((basis = 'owner' AND agency_id = trm_ctx_agency() AND EXISTS (
                     SELECT 1 FROM cases c WHERE c.id = case_id
                     AND c.owner_agency_id = trm_ctx_agency()))
                OR (basis = 'referral' AND agency_id = trm_ctx_agency() AND EXISTS (
                     SELECT 1 FROM referrals r WHERE r.id = referral_id AND r.status = 'accepted'
                     AND r.to_agency_id = trm_ctx_agency())));
CREATE POLICY lean_referrals_create ON referrals FOR INSERT TO trm_lean
    WITH CHECK (from_agency_id = trm_ctx_agency() AND EXISTS (
        SELECT 1 FROM cases c WHERE c.id = case_id AND c.owner_agency_id = trm_ctx_agency()));
CREATE POLICY lean_handover_append ON handover_log FOR INSERT TO trm_lean WITH CHECK (true);
-- The recipient reads and locks the consent an offer to it rests on (trm's acceptance does
-- the same inside trm_referral_answer).
CREATE POLICY lean_consents_recipient ON consents FOR SELECT TO trm_lean
    USING (EXISTS (SELECT 1 FROM referrals r WHERE r.consent_id = consents.id
                   AND r.to_agency_id = trm_ctx_agency() AND r.status = 'offered'));
CREATE POLICY lean_consents_recipient_lock ON consents FOR UPDATE TO trm_lean
    USING (EXISTS (SELECT 1 FROM referrals r WHERE r.consent_id = consents.id
                   AND r.to_agency_id = trm_ctx_agency() AND r.status = 'offered'));
-- Sequences of its own: references of the lean creations, the fresh cases and referrals of
-- the lean scenarios 4 and 5 (bench/run sets their starts).
CREATE SEQUENCE lean_ref;
GRANT USAGE ON SEQUENCE lean_ref TO trm_lean;
