-- The SOP engine: versioned SOP documents, each case's state on every track of its SOP,
-- consents, assessments and guardians (the facts guards look at), and sealed notes in the
-- timeline.

CREATE TABLE sops (
    id        uuid PRIMARY KEY,
    code      text NOT NULL CHECK (code ~ '^[a-z0-9_-]{1,40}$'),
    version   integer NOT NULL CHECK (version > 0),
    country   text REFERENCES countries (code),
    title     text NOT NULL,
    document  jsonb NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    loaded_by uuid,
    UNIQUE (code, version)
);
CREATE INDEX sops_country ON sops (country, loaded_at DESC);
-- A SOP version never changes once loaded: a new version is a new row.
CREATE TRIGGER sops_immutable BEFORE UPDATE OR DELETE ON sops
    FOR EACH ROW EXECUTE FUNCTION trm_refuse_change();
CREATE TRIGGER sops_no_truncate BEFORE TRUNCATE ON sops
    FOR EACH STATEMENT EXECUTE FUNCTION trm_refuse_change();

ALTER TABLE cases ADD COLUMN sop_id uuid REFERENCES sops (id);
GRANT UPDATE (sop_id) ON cases TO trm_app;

CREATE TABLE case_tracks (
    case_id    uuid NOT NULL REFERENCES cases (id),
    track      text NOT NULL,
    state      text NOT NULL,
    entered_at timestamptz NOT NULL DEFAULT now(),
    due_at     timestamptz,
    PRIMARY KEY (case_id, track)
);
CREATE INDEX case_tracks_due ON case_tracks (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX case_tracks_state ON case_tracks (track, state);

CREATE TABLE consents (
    id                   uuid PRIMARY KEY,
    case_id              uuid NOT NULL REFERENCES cases (id),
    kind                 text NOT NULL CHECK (kind IN ('assistance', 'data_sharing', 'return', 'proceedings')),
    categories           text[] NOT NULL DEFAULT '{}',
    recipient_agency_ids uuid[] NOT NULL DEFAULT '{}',
    recipient_countries  text[] NOT NULL DEFAULT '{}',
    given_at             timestamptz NOT NULL,
    expires_at           timestamptz,
    withdrawn_at         timestamptz,
    withdraw_reason      text,
    recorded_by          uuid NOT NULL,
    recorded_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consents_case ON consents (case_id, recorded_at);

CREATE TABLE assessments (
    id          uuid PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases (id),
    kind        text NOT NULL CHECK (kind IN ('risk', 'needs', 'return_risk', 'best_interests')),
    outcome     text NOT NULL,
    sealed_details bytea,
    recorded_by uuid NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assessments_case ON assessments (case_id, kind, recorded_at DESC);

CREATE TABLE guardians (
    id            uuid PRIMARY KEY,
    case_id       uuid NOT NULL REFERENCES cases (id),
    sealed        bytea,
    appointed_on  date NOT NULL,
    recorded_by   uuid NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX guardians_case ON guardians (case_id);

ALTER TABLE case_events ADD COLUMN sealed_note bytea;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['case_tracks', 'consents', 'assessments', 'guardians'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO trm_app USING (trm_case_visible(case_id))',
                       t || '_scope', t);
        EXECUTE format('CREATE POLICY %I ON %I TO %I USING (true) WITH CHECK (true)',
                       t || '_maintenance', t, current_user);
    END LOOP;
END;
$$;
GRANT SELECT, INSERT ON sops TO trm_app;
GRANT SELECT, INSERT, UPDATE ON case_tracks TO trm_app;
GRANT SELECT, INSERT ON consents, assessments, guardians TO trm_app;
GRANT UPDATE (withdrawn_at, withdraw_reason) ON consents TO trm_app;
-- Erasure removes the sealed parts of assessments and guardians with the data key.
GRANT UPDATE (sealed_details) ON assessments TO trm_app;
GRANT UPDATE (sealed) ON guardians TO trm_app;

-- The deadline of a state in a SOP document ({"days": n} or {"hours": n}), or NULL.
CREATE FUNCTION trm_state_due(doc jsonb, p_track text, p_state text) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT make_interval(days => coalesce((s -> 'due' ->> 'days')::int, 0),
                         hours => coalesce((s -> 'due' ->> 'hours')::int, 0))
    FROM jsonb_array_elements(doc -> 'tracks') t, jsonb_array_elements(t -> 'states') s
    WHERE t ->> 'name' = p_track AND s ->> 'name' = p_state AND s ? 'due'
$$;

-- A case's tracks as JSON. VOLATILE on purpose: called in the same statement that created
-- the case, it must see the rows that statement's function inserted.
CREATE FUNCTION trm_case_tracks(p_id uuid) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(jsonb_object_agg(ct.track, jsonb_build_object(
               'state', ct.state,
               'phase', (SELECT st ->> 'phase'
                         FROM sops s, jsonb_array_elements(s.document -> 'tracks') t,
                              jsonb_array_elements(t -> 'states') st
                         WHERE s.id = c.sop_id AND t ->> 'name' = ct.track
                           AND st ->> 'name' = ct.state),
               'entered_at', to_char(ct.entered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'due_at', to_char(ct.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))), '{}')
    FROM case_tracks ct JOIN cases c ON c.id = ct.case_id WHERE ct.case_id = p_id
$$;

-- Case creation binds the case to the current SOP of its country (or the generic one) and
-- starts every track in its initial state, with its deadline.
CREATE OR REPLACE FUNCTION trm_case_create(
    p_id uuid, p_country text, p_sex text, p_age_band text, p_citizenship text,
    p_forms text[], p_month date, p_kek_id text, p_wrapped text,
    p_categories text[], p_fields text[], p_sealed text[],
    p_index_kinds smallint[], p_index_values bigint[], p_index_bits smallint)
RETURNS SETOF cases
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    n integer;
    y integer := extract(year FROM now() AT TIME ZONE 'UTC');
    ref text;
    sop sops;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM countries WHERE code = p_country) THEN
        RAISE EXCEPTION 'unknown country' USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF p_citizenship <> 'unknown' AND NOT EXISTS (SELECT 1 FROM countries WHERE code = p_citizenship) THEN
        RAISE EXCEPTION 'unknown citizenship' USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT * INTO sop FROM sops s WHERE s.country = p_country
    ORDER BY s.loaded_at DESC, s.version DESC LIMIT 1;
    IF NOT FOUND THEN
        SELECT * INTO sop FROM sops s WHERE s.country IS NULL
        ORDER BY s.loaded_at DESC, s.version DESC LIMIT 1;
    END IF;
    IF sop.id IS NULL THEN
        RAISE EXCEPTION 'no SOP is loaded' USING ERRCODE = 'TR409';
    END IF;
    -- The counter row stays locked until commit, and a rollback undoes the increment:
    -- references have no gaps, whatever runs concurrently.
    INSERT INTO case_refs AS r (country, year, last) VALUES (p_country, y, 1)
    ON CONFLICT (country, year) DO UPDATE SET last = r.last + 1
    RETURNING r.last INTO n;
    ref := p_country || '-' || y || '-' || lpad(n::text, 6, '0');
    INSERT INTO cases (id, reference, country, owner_agency_id, sex, age_band, citizenship,
                       exploitation_forms, identified_month, created_by, sop_id)
    VALUES (p_id, ref, p_country, trm_ctx_agency(), p_sex, p_age_band, p_citizenship,
            p_forms, p_month, trm_ctx_user(), sop.id);
    INSERT INTO case_tracks (case_id, track, state, entered_at, due_at)
    SELECT p_id, t ->> 'name', t ->> 'initial', now(),
           now() + trm_state_due(sop.document, t ->> 'name', t ->> 'initial')
    FROM jsonb_array_elements(sop.document -> 'tracks') t;
    INSERT INTO case_keys (case_id, kek_id, wrapped_dek) VALUES (p_id, p_kek_id, decode(p_wrapped, 'hex'));
    INSERT INTO case_personal (case_id, category, field, sealed)
    SELECT p_id, c, f, decode(s, 'hex') FROM unnest(p_categories, p_fields, p_sealed) AS u (c, f, s);
    INSERT INTO case_blind_index (case_id, kind, bits, value)
    SELECT DISTINCT p_id, k, p_index_bits, v FROM unnest(p_index_kinds, p_index_values) AS u (k, v);
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_id, 'created', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('sop', sop.code || ' v' || sop.version,
                               'categories', (SELECT coalesce(jsonb_agg(DISTINCT c), '[]')
                                              FROM unnest(p_categories) AS c)));
    RETURN QUERY SELECT * FROM cases c WHERE c.id = p_id;
END;
$$;

-- What the guards of a transition look at, in one round trip; with p_lock the case row is
-- locked until commit, so concurrent transitions on one case take turns.
CREATE FUNCTION trm_case_facts(p_id uuid, p_lock boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    c cases;
BEGIN
    IF p_lock THEN
        SELECT * INTO c FROM cases WHERE id = p_id FOR UPDATE;
    ELSE
        SELECT * INTO c FROM cases WHERE id = p_id;
    END IF;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN jsonb_build_object(
        'version', c.version, 'age_band', c.age_band, 'sop_id', c.sop_id,
        'erased', c.personal_data_erased_at IS NOT NULL,
        'consents', (SELECT coalesce(jsonb_agg(DISTINCT kind), '[]') FROM consents
                     WHERE case_id = p_id AND withdrawn_at IS NULL AND given_at <= now()
                       AND (expires_at IS NULL OR expires_at > now())),
        'assessments', (SELECT coalesce(jsonb_object_agg(kind, outcome), '{}') FROM (
                            SELECT DISTINCT ON (kind) kind, outcome FROM assessments
                            WHERE case_id = p_id ORDER BY kind, recorded_at DESC, id) a),
        'guardians', (SELECT count(*) FROM guardians WHERE case_id = p_id),
        'categories', (SELECT coalesce(jsonb_agg(DISTINCT category), '[]') FROM case_personal
                       WHERE case_id = p_id),
        'tracks', (SELECT coalesce(jsonb_object_agg(track, jsonb_build_object(
                              'state', state,
                              'seconds', floor(extract(epoch FROM now() - entered_at))::bigint)), '{}')
                   FROM case_tracks WHERE case_id = p_id));
END;
$$;

-- Takes a transition already checked against the guards: moves the track, sets its new
-- deadline, bumps the case version (false when it changed meanwhile), closes the case when
-- the main track reaches a terminal state, and writes the timeline entry.
CREATE FUNCTION trm_case_transition(p_id uuid, p_version integer, p_track text, p_from text,
                                    p_to text, p_terminal boolean, p_details jsonb,
                                    p_sealed_note text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    doc jsonb;
BEGIN
    UPDATE cases SET version = version + 1, updated_at = now(),
                     closed_at = CASE WHEN p_terminal AND p_track = 'main' THEN now() ELSE closed_at END
    WHERE id = p_id AND version = p_version;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT s.document INTO doc FROM sops s JOIN cases c ON c.sop_id = s.id WHERE c.id = p_id;
    UPDATE case_tracks SET state = p_to, entered_at = now(),
                           due_at = now() + trm_state_due(doc, p_track, p_to)
    WHERE case_id = p_id AND track = p_track AND state = p_from;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the track is no longer in that state' USING ERRCODE = 'TR409';
    END IF;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details, sealed_note)
    VALUES (p_id, 'transition', trm_ctx_user(), trm_ctx_agency(),
            p_details || jsonb_build_object('track', p_track, 'from', p_from, 'to', p_to),
            decode(p_sealed_note, 'hex'));
    RETURN true;
END;
$$;

-- Erasure now also removes sealed assessment details and guardian names.
CREATE OR REPLACE FUNCTION trm_case_erase(p_id uuid, p_reason text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cases SET personal_data_erased_at = now(), version = version + 1, updated_at = now()
    WHERE id = p_id AND personal_data_erased_at IS NULL;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM case_keys WHERE case_id = p_id;
    DELETE FROM case_personal WHERE case_id = p_id;
    DELETE FROM case_blind_index WHERE case_id = p_id;
    UPDATE assessments SET sealed_details = NULL WHERE case_id = p_id;
    UPDATE guardians SET sealed = NULL WHERE case_id = p_id;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_id, 'personal_data_erased', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('reason', p_reason));
    RETURN true;
END;
$$;

CREATE OR REPLACE FUNCTION trm_case_erase_retention(p_days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    victims uuid[];
BEGIN
    SELECT coalesce(array_agg(id), '{}') INTO victims FROM cases
    WHERE closed_at < now() - make_interval(days => p_days)
      AND personal_data_erased_at IS NULL;
    UPDATE cases SET personal_data_erased_at = now(), version = version + 1, updated_at = now()
    WHERE id = ANY (victims);
    DELETE FROM case_keys WHERE case_id = ANY (victims);
    DELETE FROM case_personal WHERE case_id = ANY (victims);
    DELETE FROM case_blind_index WHERE case_id = ANY (victims);
    UPDATE assessments SET sealed_details = NULL WHERE case_id = ANY (victims);
    UPDATE guardians SET sealed = NULL WHERE case_id = ANY (victims);
    INSERT INTO case_events (case_id, kind, details)
    SELECT v, 'personal_data_erased', jsonb_build_object('reason', 'retention period ended')
    FROM unnest(victims) AS v;
    RETURN cardinality(victims);
END;
$$;

-- trm_case_read as before; the caller reads sop_id and tracks from its result row.
DROP FUNCTION trm_case_read(uuid, text, text);
CREATE FUNCTION trm_case_read(p_id uuid, p_request_id text, p_purpose text)
RETURNS TABLE (id uuid, reference text, country text, owner_agency_id uuid, sex text,
               age_band text, citizenship text, exploitation_forms text[],
               identified_month text, version integer, created_at timestamptz,
               updated_at timestamptz, personal_data_erased_at timestamptz, sop_id uuid,
               kek_id text, dek_version integer, wrapped_dek text, fields jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    cats text[];
BEGIN
    SELECT array_agg(DISTINCT p.category ORDER BY p.category) INTO cats
    FROM case_personal p WHERE p.case_id = p_id;
    IF cats IS NOT NULL AND EXISTS (SELECT 1 FROM cases c WHERE c.id = p_id) THEN
        INSERT INTO access_log (user_id, agency_id, country, case_id, categories, purpose, request_id)
        VALUES (trm_ctx_user(), trm_ctx_agency(), trm_ctx_country(), p_id, cats, p_purpose,
                p_request_id);
    END IF;
    RETURN QUERY
    SELECT c.id, c.reference, c.country, c.owner_agency_id, c.sex, c.age_band, c.citizenship,
           c.exploitation_forms, to_char(c.identified_month, 'YYYY-MM'), c.version,
           c.created_at, c.updated_at, c.personal_data_erased_at, c.sop_id,
           k.kek_id, k.dek_version, encode(k.wrapped_dek, 'hex'),
           (SELECT coalesce(jsonb_object_agg(p.category || '.' || p.field, encode(p.sealed, 'hex')), '{}')
            FROM case_personal p WHERE p.case_id = c.id)
    FROM cases c LEFT JOIN case_keys k ON k.case_id = c.id
    WHERE c.id = p_id;
END;
$$;
GRANT EXECUTE ON FUNCTION trm_case_read TO trm_app;
