-- Lean scenario 4: the token check setting the context; then in one statement the case
-- locked, its guards of start_reflection checked (an assistance consent in force, a risk
-- assessment, a guardian for a child), the step (version, track with its new deadline from
-- the SOP, the timeline entry), answering the new version and state.
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT set_config('trm.user_id', u.id::text, true), set_config('trm.agency_id', a.id::text, true),
       set_config('trm.country', a.country, true), set_config('trm.role', u.role, true),
       set_config('trm.cross_border', 'off', true), set_config('trm.token_id', t.id::text, true)
FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN agencies a ON a.id = u.agency_id
WHERE t.id = :token_id AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
  AND NOT u.disabled AND a.active;
WITH c AS (SELECT id, version, sop_id, age_band FROM cases
           WHERE id = (SELECT ('00000000-0000-4000-8000-' || lpad(nextval('bench_s4_lean')::text, 12, '0'))::uuid)
           FOR UPDATE),
     ok AS (SELECT c.* FROM c WHERE c.version = :version
            AND EXISTS (SELECT 1 FROM consents s WHERE s.case_id = c.id AND s.kind = 'assistance'
                        AND s.withdrawn_at IS NULL AND s.given_at <= now()
                        AND (s.expires_at IS NULL OR s.expires_at > now()))
            AND EXISTS (SELECT 1 FROM assessments a WHERE a.case_id = c.id AND a.kind = 'risk')
            AND (c.age_band NOT IN ('0-8', '9-17')
                 OR EXISTS (SELECT 1 FROM guardians g WHERE g.case_id = c.id))),
     v AS (UPDATE cases SET version = cases.version + 1, updated_at = now() FROM ok
           WHERE cases.id = ok.id RETURNING cases.id, cases.version),
     t AS (UPDATE case_tracks SET state = :to, entered_at = now(),
                  due_at = now() + trm_state_due((SELECT document FROM sops s, ok
                                                  WHERE s.id = ok.sop_id), :track, :to)
           FROM v WHERE case_tracks.case_id = v.id AND track = :track AND state = :from
           RETURNING case_tracks.case_id, case_tracks.state, case_tracks.due_at),
     e AS (INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
           SELECT t.case_id, 'transition', trm_ctx_user(), trm_ctx_agency(), :details::jsonb
           FROM t)
SELECT v.version, t.state, t.due_at FROM v JOIN t ON t.case_id = v.id;
COMMIT;
