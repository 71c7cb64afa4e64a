-- Auditors of the sending country see who read a case's personal data at the recipient,
-- abroad too: an access-log entry is visible to auditors of any country the case was handed
-- over from.
CREATE POLICY access_log_sender_audit ON access_log FOR SELECT TO trm_app
    USING (trm_ctx_role() = 'auditor' AND EXISTS (
        SELECT 1 FROM referrals r
        WHERE r.case_id = access_log.case_id AND r.from_country = trm_ctx_country()));
