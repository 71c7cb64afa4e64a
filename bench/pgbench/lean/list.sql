-- Lean scenario 3: the token check setting the context, then 51 summaries with their tracks.
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT set_config('trm.user_id', u.id::text, true), set_config('trm.agency_id', a.id::text, true),
       set_config('trm.country', a.country, true), set_config('trm.role', u.role, true),
       set_config('trm.cross_border', 'off', true), set_config('trm.token_id', t.id::text, true)
FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN agencies a ON a.id = u.agency_id
WHERE t.id = :token_id AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
  AND NOT u.disabled AND a.active;
SELECT c.id, c.reference, c.country, c.owner_agency_id, c.sex, c.age_band, c.citizenship,
       c.exploitation_forms, c.identified_month, c.version, c.created_at, c.updated_at,
       c.personal_data_erased_at, c.sop_id, c.assigned_to,
       (SELECT jsonb_object_agg(t.track, jsonb_build_object('state', t.state, 'phase', sp.phase,
                                'entered_at', t.entered_at, 'due_at', t.due_at))
        FROM case_tracks t LEFT JOIN sop_state_phases sp ON sp.sop_id = c.sop_id
             AND sp.track = t.track AND sp.state = t.state WHERE t.case_id = c.id)
FROM cases c ORDER BY c.created_at DESC, c.id DESC LIMIT :limit;
COMMIT;
