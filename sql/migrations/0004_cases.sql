-- Case records. Statistical fields are in clear (for counting); personal data lives only in
-- case_personal, sealed field by field with the case's data key, which case_keys holds
-- wrapped by a key-encryption key. Erasure deletes the data key, the sealed fields and the
-- blind indexes; statistics, the timeline and the logs remain.

CREATE TABLE case_refs (
    country text NOT NULL,
    year    integer NOT NULL,
    last    integer NOT NULL,
    PRIMARY KEY (country, year)
);

CREATE TABLE cases (
    id                 uuid PRIMARY KEY,
    reference          text NOT NULL UNIQUE,
    country            text NOT NULL REFERENCES countries (code),
    owner_agency_id    uuid NOT NULL REFERENCES agencies (id),
    sex                text NOT NULL CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    age_band           text NOT NULL CHECK (age_band IN ('0-8', '9-17', '18-20', '21-23',
                           '24-26', '27-29', '30-38', '39-47', '48+', 'unknown')),
    citizenship        text NOT NULL CHECK (citizenship = 'unknown' OR citizenship ~ '^[A-Z]{2}$'),
    exploitation_forms text[] NOT NULL CHECK (exploitation_forms <@ ARRAY['sexual', 'labour',
                           'forced_criminality', 'begging', 'domestic_servitude',
                           'forced_marriage', 'organ_removal', 'other']::text[]),
    identified_month   date NOT NULL CHECK (extract(day FROM identified_month) = 1),
    version            integer NOT NULL DEFAULT 1,
    created_by         uuid NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    closed_at          timestamptz,
    personal_data_erased_at timestamptz
);
CREATE INDEX cases_owner_created ON cases (owner_agency_id, created_at DESC, id DESC);
CREATE INDEX cases_created ON cases (created_at DESC, id DESC);

-- One data key per case, wrapped by the KEK named kek_id (rotation re-wraps, in batches).
CREATE TABLE case_keys (
    case_id     uuid PRIMARY KEY REFERENCES cases (id),
    kek_id      text NOT NULL,
    dek_version integer NOT NULL DEFAULT 1,
    wrapped_dek bytea NOT NULL CHECK (length(wrapped_dek) = 72)
);
CREATE INDEX case_keys_kek ON case_keys (kek_id);

CREATE TABLE case_personal (
    case_id  uuid NOT NULL REFERENCES cases (id),
    category text NOT NULL CHECK (category IN ('identity', 'contact', 'health', 'narrative',
                 'exploitation_details')),
    field    text NOT NULL CHECK (field ~ '^[a-z_]{1,40}$'),
    sealed   bytea NOT NULL,
    PRIMARY KEY (case_id, category, field)
);

-- Keyed, truncated hashes of normalised identity values, for duplicate search.
CREATE TABLE case_blind_index (
    case_id uuid NOT NULL REFERENCES cases (id),
    kind    smallint NOT NULL CHECK (kind BETWEEN 1 AND 3),
    bits    smallint NOT NULL CHECK (bits BETWEEN 1 AND 32),
    value   bigint NOT NULL,
    PRIMARY KEY (case_id, kind, value)
);
CREATE INDEX case_blind_index_lookup ON case_blind_index (kind, value);

-- The case timeline: append-only. Details never hold personal values (field changes list
-- field names only).
CREATE TABLE case_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id    uuid NOT NULL REFERENCES cases (id),
    at         timestamptz NOT NULL DEFAULT now(),
    kind       text NOT NULL,
    actor_user_id   uuid,
    actor_agency_id uuid,
    details    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX case_events_case ON case_events (case_id, id);
CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION trm_refuse_change();
CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events
    FOR EACH STATEMENT EXECUTE FUNCTION trm_refuse_change();

-- Which cases the acting user's agency may work on: the ones it owns. (Referrals add the
-- cases an agency has accepted.) Caseworkers and coordinators only.
CREATE FUNCTION trm_case_in_scope(owner uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT trm_ctx_role() IN ('caseworker', 'coordinator') AND owner = trm_ctx_agency()
$$;
CREATE FUNCTION trm_case_visible(c uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM cases WHERE id = c)
$$;

ALTER TABLE cases ENABLE ROW LEVEL SECURITY;
ALTER TABLE cases FORCE ROW LEVEL SECURITY;
CREATE POLICY cases_read ON cases FOR SELECT TO trm_app USING (trm_case_in_scope(owner_agency_id));
CREATE POLICY cases_create ON cases FOR INSERT TO trm_app
    WITH CHECK (owner_agency_id = trm_ctx_agency() AND created_by = trm_ctx_user()
                AND trm_ctx_role() IN ('caseworker', 'coordinator'));
CREATE POLICY cases_change ON cases FOR UPDATE TO trm_app
    USING (owner_agency_id = trm_ctx_agency() AND trm_ctx_role() IN ('caseworker', 'coordinator'));

-- The dependent tables follow the case: visible (through the cases policy) means usable.
ALTER TABLE case_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY case_keys_scope ON case_keys TO trm_app USING (trm_case_visible(case_id));
ALTER TABLE case_personal ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_personal FORCE ROW LEVEL SECURITY;
CREATE POLICY case_personal_scope ON case_personal TO trm_app USING (trm_case_visible(case_id));
ALTER TABLE case_blind_index ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_blind_index FORCE ROW LEVEL SECURITY;
CREATE POLICY case_blind_index_scope ON case_blind_index TO trm_app USING (trm_case_visible(case_id));
ALTER TABLE case_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_events FORCE ROW LEVEL SECURITY;
CREATE POLICY case_events_scope ON case_events TO trm_app USING (trm_case_visible(case_id));

GRANT SELECT, INSERT, UPDATE ON case_refs TO trm_app;
GRANT SELECT, INSERT ON cases TO trm_app;
GRANT UPDATE (sex, age_band, citizenship, exploitation_forms, identified_month, version,
              updated_at, closed_at, personal_data_erased_at, owner_agency_id) ON cases TO trm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON case_keys, case_personal, case_blind_index TO trm_app;
GRANT SELECT, INSERT ON case_events TO trm_app;

-- Creates a case in one round trip: the next gapless reference for its country and year,
-- the row, its wrapped data key, its sealed fields, its blind indexes and the timeline's
-- first event. Runs as the caller, so row-level security applies.
CREATE FUNCTION trm_case_create(
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
BEGIN
    IF NOT EXISTS (SELECT 1 FROM countries WHERE code = p_country) THEN
        RAISE EXCEPTION 'unknown country' USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF p_citizenship <> 'unknown' AND NOT EXISTS (SELECT 1 FROM countries WHERE code = p_citizenship) THEN
        RAISE EXCEPTION 'unknown citizenship' USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- The counter row stays locked until commit, and a rollback undoes the increment:
    -- references have no gaps, whatever runs concurrently.
    INSERT INTO case_refs AS r (country, year, last) VALUES (p_country, y, 1)
    ON CONFLICT (country, year) DO UPDATE SET last = r.last + 1
    RETURNING r.last INTO n;
    ref := p_country || '-' || y || '-' || lpad(n::text, 6, '0');
    INSERT INTO cases (id, reference, country, owner_agency_id, sex, age_band, citizenship,
                       exploitation_forms, identified_month, created_by)
    VALUES (p_id, ref, p_country, trm_ctx_agency(), p_sex, p_age_band, p_citizenship,
            p_forms, p_month, trm_ctx_user());
    INSERT INTO case_keys (case_id, kek_id, wrapped_dek) VALUES (p_id, p_kek_id, decode(p_wrapped, 'hex'));
    INSERT INTO case_personal (case_id, category, field, sealed)
    SELECT p_id, c, f, decode(s, 'hex') FROM unnest(p_categories, p_fields, p_sealed) AS u (c, f, s);
    INSERT INTO case_blind_index (case_id, kind, bits, value)
    SELECT DISTINCT p_id, k, p_index_bits, v FROM unnest(p_index_kinds, p_index_values) AS u (k, v);
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_id, 'created', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('categories', (SELECT coalesce(jsonb_agg(DISTINCT c), '[]')
                                              FROM unnest(p_categories) AS c)));
    RETURN QUERY SELECT * FROM cases c WHERE c.id = p_id;
END;
$$;
GRANT EXECUTE ON FUNCTION trm_case_create TO trm_app;

-- Read a case with its sealed fields and record the read in the access log, in one round
-- trip. Returns no row when the case is not visible to the caller.
CREATE FUNCTION trm_case_read(p_id uuid, p_request_id text, p_purpose text)
RETURNS TABLE (id uuid, reference text, country text, owner_agency_id uuid, sex text,
               age_band text, citizenship text, exploitation_forms text[],
               identified_month text, version integer, created_at timestamptz,
               updated_at timestamptz, personal_data_erased_at timestamptz,
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
           c.created_at, c.updated_at, c.personal_data_erased_at,
           k.kek_id, k.dek_version, encode(k.wrapped_dek, 'hex'),
           (SELECT coalesce(jsonb_object_agg(p.category || '.' || p.field, encode(p.sealed, 'hex')), '{}')
            FROM case_personal p WHERE p.case_id = c.id)
    FROM cases c LEFT JOIN case_keys k ON k.case_id = c.id
    WHERE c.id = p_id;
END;
$$;
GRANT EXECUTE ON FUNCTION trm_case_read TO trm_app;

-- Erasure: the data key, the sealed fields and the blind indexes go; the case row (its
-- statistics), the timeline and the logs stay. Returns false when there is nothing to erase
-- or the case is not the caller's.
CREATE FUNCTION trm_case_erase(p_id uuid, p_reason text) RETURNS boolean
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
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_id, 'personal_data_erased', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('reason', p_reason));
    RETURN true;
END;
$$;
GRANT EXECUTE ON FUNCTION trm_case_erase TO trm_app;

-- The owner role (which runs migrations and trmctl maintenance: key rotation, retention)
-- sees every row; row-level security is forced for the application role only through the
-- policies above. The owner could disable RLS anyway: this hides nothing from it.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['cases', 'case_keys', 'case_personal', 'case_blind_index',
                             'case_events', 'access_log'] LOOP
        EXECUTE format('CREATE POLICY %I ON %I TO %I USING (true) WITH CHECK (true)',
                       t || '_maintenance', t, current_user);
    END LOOP;
END;
$$;

-- Retention: erase the personal data of cases closed longer than p_days ago (trmctl
-- retention run, as the owner role). Returns how many cases were erased.
CREATE FUNCTION trm_case_erase_retention(p_days integer) RETURNS integer
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
    INSERT INTO case_events (case_id, kind, details)
    SELECT v, 'personal_data_erased', jsonb_build_object('reason', 'retention period ended')
    FROM unnest(victims) AS v;
    RETURN cardinality(victims);
END;
$$;
