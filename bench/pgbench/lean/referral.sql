-- Lean scenario 5: a referral offer by agency A under the case's data-sharing consent (the
-- consent checked and locked, the referral, its handover entry hashed in SQL, the timeline
-- entry), then its acceptance by agency B (the consent checked again under a lock, the
-- referral answered, the grant, then its handover entry with the timeline entry, which the
-- grant lets the recipient write). Two transactions.
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT set_config('trm.user_id', u.id::text, true), set_config('trm.agency_id', a.id::text, true),
       set_config('trm.country', a.country, true), set_config('trm.role', u.role, true),
       set_config('trm.cross_border', 'off', true), set_config('trm.token_id', t.id::text, true)
FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN agencies a ON a.id = u.agency_id
WHERE t.id = :token_id AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
  AND NOT u.disabled AND a.active;
WITH k AS (SELECT * FROM consents
           WHERE id = (SELECT ('00000000-0000-4000-a000-' || lpad(nextval('bench_s5_lean')::text, 12, '0'))::uuid)
             AND kind = 'data_sharing' AND withdrawn_at IS NULL AND given_at <= now()
             AND (expires_at IS NULL OR expires_at > now()) AND :categories::text[] <@ categories
             AND :to_agency_id::uuid = ANY (recipient_agency_ids) FOR SHARE),
     c AS (SELECT * FROM cases WHERE id = (SELECT case_id FROM k)
           AND owner_agency_id = trm_ctx_agency()),
     r AS (INSERT INTO referrals (id, case_id, kind, from_agency_id, to_agency_id, from_country,
                                  to_country, purpose, categories, legal_basis, handling_code,
                                  consent_id, sex, age_band, citizenship, created_by, expires_at)
           SELECT ('00000000-0000-4000-9000-' || lpad(nextval('bench_ref_lean')::text, 12, '0'))::uuid,
                  c.id, :kind, c.owner_agency_id, :to_agency_id, c.country, c.country,
                  :referral_purpose, :categories, :legal_basis, :handling_code, k.id, c.sex,
                  c.age_band, c.citizenship, trm_ctx_user(), now() + make_interval(hours => :hours)
           FROM c, k RETURNING id, case_id)
INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
SELECT r.case_id, 'referral_offered', trm_ctx_user(), trm_ctx_agency(),
       jsonb_build_object('referral_id', r.id) FROM r;
WITH r AS (SELECT * FROM referrals WHERE id = (SELECT ('00000000-0000-4000-9000-' || lpad(currval('bench_ref_lean')::text, 12, '0'))::uuid)),
     h AS (SELECT seq, hash FROM handover_head WHERE id = 1 FOR UPDATE),
     e AS (SELECT (h.seq + 1, to_char(clock_timestamp() AT TIME ZONE 'UTC',
                   E'YYYY-MM-DD"T"HH24\x3aMI\x3aSS.US"Z"'), r.case_id, r.id, 'offer',
                   r.from_agency_id, r.to_agency_id, r.from_country, r.to_country, trm_ctx_user(),
                   r.categories, r.legal_basis, r.handling_code, r.consent_id, h.hash,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL)::handover_log AS row FROM r, h),
     x AS (SELECT row, sha256(trm_handover_encoding(row)) AS hash FROM e),
     u AS (UPDATE handover_head SET seq = (x.row).seq, hash = x.hash FROM x WHERE id = 1)
INSERT INTO handover_log SELECT (x.row).seq, (x.row).at, (x.row).case_id, (x.row).referral_id,
       (x.row).action, (x.row).from_agency_id, (x.row).to_agency_id, (x.row).from_country,
       (x.row).to_country, (x.row).actor_user_id, (x.row).categories, (x.row).legal_basis,
       (x.row).handling_code, (x.row).consent_id, (x.row).prev_hash, x.hash
FROM x;
SELECT * FROM referrals WHERE id = (SELECT ('00000000-0000-4000-9000-' || lpad(currval('bench_ref_lean')::text, 12, '0'))::uuid);
COMMIT;
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT set_config('trm.user_id', u.id::text, true), set_config('trm.agency_id', a.id::text, true),
       set_config('trm.country', a.country, true), set_config('trm.role', u.role, true),
       set_config('trm.cross_border', 'off', true), set_config('trm.token_id', t.id::text, true)
FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN agencies a ON a.id = u.agency_id
WHERE t.id = :token_id_b AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
  AND NOT u.disabled AND a.active;
WITH k AS (SELECT s.* FROM consents s JOIN referrals r ON r.consent_id = s.id
           WHERE r.id = (SELECT ('00000000-0000-4000-9000-' || lpad(currval('bench_ref_lean')::text, 12, '0'))::uuid) AND s.withdrawn_at IS NULL
             AND (s.expires_at IS NULL OR s.expires_at > now()) FOR SHARE OF s),
     r AS (UPDATE referrals SET status = 'accepted', answered_at = now(), answered_by = trm_ctx_user()
           WHERE id = (SELECT ('00000000-0000-4000-9000-' || lpad(currval('bench_ref_lean')::text, 12, '0'))::uuid) AND to_agency_id = trm_ctx_agency()
             AND status = 'offered' AND expires_at > now() AND EXISTS (SELECT 1 FROM k)
           RETURNING *)
SELECT count(*) FROM r;
INSERT INTO case_grants (case_id, agency_id, owner_agency_id, categories, basis, referral_id,
                         consent_id)
SELECT r.case_id, r.to_agency_id, r.from_agency_id, r.categories, 'referral', r.id, r.consent_id
FROM referrals r WHERE r.id = (SELECT ('00000000-0000-4000-9000-' || lpad(currval('bench_ref_lean')::text, 12, '0'))::uuid);
WITH r AS (SELECT * FROM referrals WHERE id = (SELECT ('00000000-0000-4000-9000-' || lpad(currval('bench_ref_lean')::text, 12, '0'))::uuid)),
     h AS (SELECT seq, hash FROM handover_head WHERE id = 1 FOR UPDATE),
     e AS (SELECT (h.seq + 1, to_char(clock_timestamp() AT TIME ZONE 'UTC',
                   E'YYYY-MM-DD"T"HH24\x3aMI\x3aSS.US"Z"'), r.case_id, r.id, 'accept',
                   r.from_agency_id, r.to_agency_id, r.from_country, r.to_country, trm_ctx_user(),
                   r.categories, r.legal_basis, r.handling_code, r.consent_id, h.hash,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL)::handover_log AS row FROM r, h),
     x AS (SELECT row, sha256(trm_handover_encoding(row)) AS hash FROM e),
     v AS (INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
           SELECT r.case_id, 'referral_accepted', trm_ctx_user(), trm_ctx_agency(),
                  jsonb_build_object('referral_id', r.id) FROM r),
     u AS (UPDATE handover_head SET seq = (x.row).seq, hash = x.hash FROM x WHERE id = 1)
INSERT INTO handover_log SELECT (x.row).seq, (x.row).at, (x.row).case_id, (x.row).referral_id,
       (x.row).action, (x.row).from_agency_id, (x.row).to_agency_id, (x.row).from_country,
       (x.row).to_country, (x.row).actor_user_id, (x.row).categories, (x.row).legal_basis,
       (x.row).handling_code, (x.row).consent_id, (x.row).prev_hash, x.hash
FROM x;
SELECT * FROM referrals WHERE id = (SELECT ('00000000-0000-4000-9000-' || lpad(currval('bench_ref_lean')::text, 12, '0'))::uuid);
COMMIT;
