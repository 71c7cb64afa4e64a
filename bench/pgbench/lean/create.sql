-- Lean scenario 1: the token check setting the context (and drawing the case's id); the case
-- row (its reference from a sequence); the owner's grant; then the tracks in the SOP's
-- initial states with their deadlines, the wrapped key, the sealed fields, the blind indexes
-- and the first timeline event. Three statements for what trm_case_create does in one: the
-- row-level security of each reads what the one before wrote.
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT set_config('trm.user_id', u.id::text, true) AS c1,
       set_config('trm.agency_id', a.id::text, true) AS c2,
       set_config('trm.country', a.country, true) AS c3, set_config('trm.role', u.role, true) AS c4,
       set_config('trm.cross_border', 'off', true) AS c5,
       set_config('trm.token_id', t.id::text, true) AS c6, gen_random_uuid() AS cid
FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN agencies a ON a.id = u.agency_id
WHERE t.id = :token_id AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
  AND NOT u.disabled AND a.active \gset
INSERT INTO cases (id, reference, country, owner_agency_id, sex, age_band, citizenship,
                   exploitation_forms, identified_month, created_by, sop_id)
SELECT :cid, :country || '-L-' || nextval('lean_ref'), :country, trm_ctx_agency(), :sex,
       :age_band, :citizenship, :forms, :month, trm_ctx_user(),
       (SELECT id FROM sops WHERE country = :country ORDER BY loaded_at DESC, version DESC LIMIT 1);
INSERT INTO case_grants (case_id, agency_id, owner_agency_id, categories, basis)
VALUES (:cid, trm_ctx_agency(), trm_ctx_agency(), trm_categories(), 'owner');
WITH sop AS (SELECT s.document FROM sops s JOIN cases c ON c.sop_id = s.id WHERE c.id = :cid),
     tr AS (INSERT INTO case_tracks (case_id, track, state, entered_at, due_at)
            SELECT :cid, t ->> 'name', t ->> 'initial', now(),
                   now() + trm_state_due(sop.document, t ->> 'name', t ->> 'initial')
            FROM sop, jsonb_array_elements(sop.document -> 'tracks') t),
     k AS (INSERT INTO case_keys (case_id, kek_id, wrapped_dek)
           VALUES (:cid, :kek_id, decode(:wrapped, 'hex'))),
     p AS (INSERT INTO case_personal (case_id, category, field, sealed)
           SELECT :cid, u.c, u.f, decode(u.s, 'hex')
           FROM unnest(:field_categories::text[], :fields::text[], :sealed::text[]) u (c, f, s)),
     b AS (INSERT INTO case_blind_index (case_id, kind, bits, value)
           SELECT DISTINCT :cid::uuid, u.k, :bits::smallint, u.v
           FROM unnest(:kinds::smallint[], :values::bigint[]) u (k, v))
INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
VALUES (:cid, 'created', trm_ctx_user(), trm_ctx_agency(), '{}');
COMMIT;
