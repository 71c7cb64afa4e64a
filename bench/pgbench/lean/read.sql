-- Lean scenario 2: the token check setting the context, then in one statement the case, its
-- key, its sealed fields of the categories the grants open, its tracks, and the access-log
-- entry of the categories read.
\set k random(1, :ncases)
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT set_config('trm.user_id', u.id::text, true), set_config('trm.agency_id', a.id::text, true),
       set_config('trm.country', a.country, true), set_config('trm.role', u.role, true),
       set_config('trm.cross_border', 'off', true), set_config('trm.token_id', t.id::text, true)
FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN agencies a ON a.id = u.agency_id
WHERE t.id = :token_id AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
  AND NOT u.disabled AND a.active;
WITH p AS (SELECT category, field, sealed FROM case_personal
           WHERE case_id = ('00000000-0000-4000-8000-' || lpad(:k::text, 12, '0'))::uuid),
     logged AS (INSERT INTO access_log (user_id, agency_id, country, case_id, categories, purpose,
                                        request_id)
                SELECT trm_ctx_user(), trm_ctx_agency(), trm_ctx_country(),
                       ('00000000-0000-4000-8000-' || lpad(:k::text, 12, '0'))::uuid,
                       (SELECT array_agg(DISTINCT category) FROM p), 'case_view', :request_id
                WHERE EXISTS (SELECT 1 FROM p))
SELECT c.*, k.kek_id, k.dek_version, k.wrapped_dek,
       (SELECT jsonb_object_agg(category || '.' || field, encode(sealed, 'hex')) FROM p),
       (SELECT jsonb_object_agg(t.track, jsonb_build_object('state', t.state, 'phase', sp.phase,
                                'entered_at', t.entered_at, 'due_at', t.due_at))
        FROM case_tracks t LEFT JOIN sop_state_phases sp ON sp.sop_id = c.sop_id
             AND sp.track = t.track AND sp.state = t.state WHERE t.case_id = c.id)
FROM cases c LEFT JOIN case_keys k ON k.case_id = c.id
WHERE c.id = ('00000000-0000-4000-8000-' || lpad(:k::text, 12, '0'))::uuid;
COMMIT;
