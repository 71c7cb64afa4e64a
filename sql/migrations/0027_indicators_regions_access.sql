-- Issue 20: identification indicators (screenings), territory and sector, subject access and
-- the access log across cases; and the person key of statistics.

-- Statistics count persons: within a country, cases with the same sex, citizenship and blind
-- index values are one person. The key was the name-and-birth-year value alone (kind 2),
-- truncated to blind_index_bits bits, so a group could never count more than 2^bits persons
-- (16 384 at 14 bits; a quarter short at 10 000 people). It is now the pair of the full-name
-- value (kind 1) and the name-and-birth-year value (kind 2): the two kinds have independent
-- keys, so the pair has 2 x bits bits (28 by default) and distinct people collide about
-- 2^bits times less often (docs/encryption.md, "Person counts in statistics"). A case without
-- a name or a date of birth counts on its own, as before.
CREATE OR REPLACE FUNCTION trm_stats_person_key(c cases) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT coalesce(
        (SELECT c.country || '|' || c.sex || '|' || c.citizenship || '|' || n.bits || ':'
                || n.value || ':' || y.value
         FROM case_blind_index n
         JOIN case_blind_index y ON y.case_id = n.case_id AND y.kind = 2 AND y.bits = n.bits
         WHERE n.case_id = c.id AND n.kind = 1
         ORDER BY n.bits, n.value, y.value LIMIT 1),
        c.id::text)
$$;
REVOKE ALL ON FUNCTION trm_stats_person_key(cases) FROM PUBLIC;

-- ---------------------------------------------------------------------------------------
-- Identification indicators (docs/identification.md). A set is versioned data like a SOP:
-- a loaded version never changes.
CREATE TABLE indicator_sets (
    code         text NOT NULL CHECK (code ~ '^[a-z0-9_-]{1,63}$'),
    version      integer NOT NULL CHECK (version > 0),
    population   text NOT NULL CHECK (population IN ('adults', 'children')),
    exploitation text NOT NULL CHECK (exploitation IN ('labour', 'sexual')),
    document     jsonb NOT NULL,
    loaded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, version)
);
CREATE TRIGGER indicator_sets_immutable BEFORE UPDATE OR DELETE ON indicator_sets
    FOR EACH ROW EXECUTE FUNCTION trm_refuse_change();
CREATE TRIGGER indicator_sets_no_truncate BEFORE TRUNCATE ON indicator_sets
    FOR EACH STATEMENT EXECUTE FUNCTION trm_refuse_change();
GRANT SELECT ON indicator_sets TO trm_app;

-- Loads a version (owner role, trmctl): 'loaded', 'same' (already there with this content)
-- or 'different' (already there with other content: nothing changes).
CREATE FUNCTION trm_indicator_set_load(p_code text, p_version integer, p_population text,
                                       p_exploitation text, p_document jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    old jsonb;
BEGIN
    SELECT document INTO old FROM indicator_sets WHERE code = p_code AND version = p_version;
    IF FOUND THEN
        RETURN CASE WHEN old = p_document THEN 'same' ELSE 'different' END;
    END IF;
    INSERT INTO indicator_sets (code, version, population, exploitation, document)
    VALUES (p_code, p_version, p_population, p_exploitation, p_document);
    RETURN 'loaded';
END;
$$;
REVOKE ALL ON FUNCTION trm_indicator_set_load(text, integer, text, text, jsonb) FROM PUBLIC;

-- A screening: which indicators of a set were observed, and what the set's combination rule
-- computed from them (by trmd). Personal data of one category: rows are seen, like
-- assessments, by the owner and by holders of an active grant of their category. The codes
-- and the result are kept in clear (statistics count them, the screening guard reads them);
-- the note is a case note (case_notes, note_id = the screening's id), sealed under the case
-- key, so erasure and a transfer's re-key treat it as every other note.
CREATE TABLE screenings (
    id                    uuid PRIMARY KEY,
    case_id               uuid NOT NULL REFERENCES cases (id),
    set_code              text NOT NULL,
    set_version           integer NOT NULL,
    observed              text[] NOT NULL,
    result                jsonb NOT NULL,
    presumed_victim       boolean NOT NULL,
    category              text NOT NULL CHECK (category IN ('identity', 'contact', 'health',
                                                             'narrative', 'exploitation_details')),
    recorded_by           uuid NOT NULL,
    recorded_by_agency_id uuid NOT NULL,
    recorded_at           timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (set_code, set_version) REFERENCES indicator_sets (code, version)
);
CREATE INDEX screenings_case ON screenings (case_id, recorded_at DESC);
ALTER TABLE screenings ENABLE ROW LEVEL SECURITY;
ALTER TABLE screenings FORCE ROW LEVEL SECURITY;
CREATE POLICY screenings_read ON screenings FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator') AND EXISTS (
        SELECT 1 FROM case_grants g
        WHERE g.case_id = screenings.case_id AND g.agency_id = trm_ctx_agency()
          AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
          AND (g.basis = 'owner' OR screenings.category = ANY (g.categories)) OFFSET 0));
-- Written by the case's agencies that hold an active grant of the screening's category.
CREATE POLICY screenings_write ON screenings FOR INSERT TO trm_app
    WITH CHECK (trm_ctx_role() IN ('caseworker', 'coordinator')
                AND recorded_by = trm_ctx_user() AND recorded_by_agency_id = trm_ctx_agency()
                AND EXISTS (
        SELECT 1 FROM case_grants g
        WHERE g.case_id = screenings.case_id AND g.agency_id = trm_ctx_agency()
          AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
          AND screenings.category = ANY (g.categories) OFFSET 0));
CREATE POLICY screenings_maintenance ON screenings TO CURRENT_USER USING (true) WITH CHECK (true);
GRANT SELECT, INSERT ON screenings TO trm_app;

-- A transfer re-keys the case and keeps only the consented categories: a screening of
-- another category goes with the key (its note already goes with case_notes).
CREATE FUNCTION trm_screenings_rekeyed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    DELETE FROM screenings s WHERE s.case_id = NEW.case_id AND NOT (s.category IN (
        SELECT jsonb_array_elements_text(NEW.details -> 'categories')));
    RETURN NULL;
END;
$$;
REVOKE ALL ON FUNCTION trm_screenings_rekeyed() FROM PUBLIC;
CREATE TRIGGER case_events_rekeyed AFTER INSERT ON case_events
    FOR EACH ROW WHEN (NEW.kind = 'rekeyed') EXECUTE FUNCTION trm_screenings_rekeyed();

-- The guards' facts gain the latest screening the caller may see: positive, negative, or
-- none (null).
CREATE OR REPLACE FUNCTION trm_case_facts(p_id uuid, p_lock boolean) RETURNS jsonb
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
        'screening', (SELECT CASE WHEN s.presumed_victim THEN 'positive' ELSE 'negative' END
                      FROM screenings s WHERE s.case_id = p_id
                      ORDER BY s.recorded_at DESC, s.id LIMIT 1),
        'tracks', (SELECT coalesce(jsonb_object_agg(track, jsonb_build_object(
                              'state', state,
                              'seconds', floor(extract(epoch FROM now() - entered_at))::bigint)), '{}')
                   FROM case_tracks WHERE case_id = p_id));
END;
$$;

-- ---------------------------------------------------------------------------------------
-- Territory and sector (docs/statistics.md, "Territory and sector"): where the person was
-- identified (a NUTS 3 code, or a region of a documented list for countries outside NUTS)
-- and, for labour exploitation, the economic sector (a NACE Rev. 2 section). Statistical
-- fields in clear, optional. trmd checks them against the code lists of config/codes (the
-- lists are data, not schema); the database keeps their shape: never finer than NUTS 3
-- (5 characters) or a listed region, a section is one letter. trm_case_create takes them as
-- two more arguments, NULL by default (trmctl seed and older callers name fifteen).
ALTER TABLE cases
    ADD COLUMN identified_region text CHECK (identified_region ~ '^[A-Z]{2}[A-Z0-9-]{1,3}$'),
    ADD COLUMN economic_sector text CHECK (economic_sector ~ '^[A-U]$');
GRANT UPDATE (identified_region, economic_sector) ON cases TO trm_app;

DROP FUNCTION trm_case_create(uuid, text, text, text, text, text[], date, text, text, text[],
                              text[], text[], smallint[], bigint[], smallint);
CREATE FUNCTION trm_case_create(
    p_id uuid, p_country text, p_sex text, p_age_band text, p_citizenship text,
    p_forms text[], p_month date, p_kek_id text, p_wrapped text,
    p_categories text[], p_fields text[], p_sealed text[],
    p_index_kinds smallint[], p_index_values bigint[], p_index_bits smallint,
    p_region text DEFAULT NULL, p_sector text DEFAULT NULL)
RETURNS SETOF cases
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
#variable_conflict use_column
DECLARE
    sop sops;
BEGIN
    PERFORM trm_require_caseworker();
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
    INSERT INTO cases (id, reference, country, owner_agency_id, sex, age_band, citizenship,
                       exploitation_forms, identified_month, created_by, sop_id,
                       identified_region, economic_sector)
    VALUES (p_id, trm_case_reference(p_country), p_country, trm_ctx_agency(), p_sex, p_age_band,
            p_citizenship, p_forms, p_month, trm_ctx_user(), sop.id, p_region, p_sector);
    INSERT INTO case_grants (case_id, agency_id, owner_agency_id, categories, basis)
    VALUES (p_id, trm_ctx_agency(), trm_ctx_agency(), trm_categories(), 'owner');
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
REVOKE ALL ON FUNCTION trm_case_create FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_case_create TO trm_app;


-- Agency kind labour_inspectorate (as the issue and CB LAB name it) replaces
-- labour_inspection: existing agencies are renamed, and a row written with the old word (an
-- older client, or a peer instance's directory) is stored with the new one.
ALTER TABLE agencies DROP CONSTRAINT agencies_kind_check;
UPDATE agencies SET kind = 'labour_inspectorate' WHERE kind = 'labour_inspection';
ALTER TABLE agencies ADD CONSTRAINT agencies_kind_check CHECK (kind IN ('police', 'prosecution',
    'migration_authority', 'social_services', 'labour_inspectorate', 'ngo', 'embassy',
    'international_org', 'national_coordinator', 'other'));
CREATE FUNCTION trm_agency_kind_renamed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'labour_inspection' THEN
        NEW.kind := 'labour_inspectorate';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER agencies_kind_renamed BEFORE INSERT OR UPDATE OF kind ON agencies
    FOR EACH ROW EXECUTE FUNCTION trm_agency_kind_renamed();

-- ---------------------------------------------------------------------------------------
-- Statistics by region and sector (docs/statistics.md): a person's region and sector are
-- the first recorded on any of their cases (the earliest case first).
DROP FUNCTION trm_stats_persons(text, date, date);
CREATE FUNCTION trm_stats_persons(p_country text, p_from date, p_to date)
RETURNS TABLE (country text, sex text, age_band text, citizenship text, forms text[],
               month text, state text, phase text, status text, cases bigint,
               region text, sector text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NOT trm_stats_allowed(coalesce(p_country, '')) AND NOT trm_ctx_cross_border() THEN
        RAISE EXCEPTION 'statistics of another country' USING ERRCODE = 'TR404';
    END IF;
    RETURN QUERY
    WITH base AS (
        SELECT c.*, trm_stats_person_key(c) AS person, t.state AS main_state,
               (SELECT st ->> 'phase' FROM sops s, jsonb_array_elements(s.document -> 'tracks') tr,
                       jsonb_array_elements(tr -> 'states') st
                WHERE s.id = c.sop_id AND tr ->> 'name' = 'main' AND st ->> 'name' = t.state) AS main_phase
        FROM cases c LEFT JOIN case_tracks t ON t.case_id = c.id AND t.track = 'main'
        WHERE (p_country IS NULL OR c.country = p_country)
          AND (p_from IS NULL OR c.identified_month >= p_from)
          AND (p_to IS NULL OR c.identified_month <= p_to)),
    people AS (
        SELECT DISTINCT ON (b.person) b.*, count(*) OVER (PARTITION BY b.person) AS n,
               first_value(b.identified_region) OVER (PARTITION BY b.person
                   ORDER BY b.identified_region IS NULL, b.created_at) AS person_region,
               first_value(b.economic_sector) OVER (PARTITION BY b.person
                   ORDER BY b.economic_sector IS NULL, b.created_at) AS person_sector
        FROM base b ORDER BY b.person, b.created_at)
    SELECT p.country, p.sex, p.age_band, p.citizenship, p.exploitation_forms,
           to_char(p.identified_month, 'YYYY-MM'), coalesce(p.main_state, 'unknown'),
           coalesce(p.main_phase, 'unknown'), trm_stats_status(p.id, p.main_state), p.n,
           p.person_region, p.person_sector
    FROM people p
    WHERE trm_stats_status(p.id, p.main_state) <> 'not_identified';
END;
$$;
REVOKE ALL ON FUNCTION trm_stats_persons(text, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_stats_persons(text, date, date) TO trm_app;

-- Screenings by indicator and dimension: each person's latest screening (the latest of any
-- of their cases, as the guard reads a case's latest), counted per set: persons screened,
-- presumed victims, persons with each dimension positive, persons with each indicator
-- observed (its dimension from the set). Nothing personal: codes and counts.
CREATE FUNCTION trm_stats_screenings(p_country text, p_from date, p_to date)
RETURNS TABLE (set_code text, set_version integer, measure text, dimension text,
               indicator text, persons bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NOT trm_stats_allowed(coalesce(p_country, '')) AND NOT trm_ctx_cross_border() THEN
        RAISE EXCEPTION 'statistics of another country' USING ERRCODE = 'TR404';
    END IF;
    RETURN QUERY
    WITH latest AS (
        SELECT DISTINCT ON (k.person) s.*
        FROM screenings s JOIN cases c ON c.id = s.case_id
        CROSS JOIN LATERAL (SELECT trm_stats_person_key(c) AS person) k
        WHERE (p_country IS NULL OR c.country = p_country)
          AND (p_from IS NULL OR c.identified_month >= p_from)
          AND (p_to IS NULL OR c.identified_month <= p_to)
        ORDER BY k.person, s.recorded_at DESC, s.id),
    codes AS (
        SELECT i.code AS set_code, i.version AS set_version, d ->> 'code' AS dimension,
               ind ->> 'code' AS indicator
        FROM indicator_sets i, jsonb_array_elements(i.document -> 'dimensions') d,
             jsonb_array_elements(d -> 'indicators') ind)
    SELECT l.set_code, l.set_version, 'screened', NULL::text, NULL::text, count(*)
    FROM latest l GROUP BY l.set_code, l.set_version
    UNION ALL
    SELECT l.set_code, l.set_version, 'presumed_victim', NULL, NULL,
           count(*) FILTER (WHERE l.presumed_victim)
    FROM latest l GROUP BY l.set_code, l.set_version
    UNION ALL
    SELECT l.set_code, l.set_version, 'dimension', d.key, NULL, count(*)
    FROM latest l, jsonb_each(l.result -> 'dimensions') d
    WHERE (d.value ->> 'positive')::boolean
    GROUP BY l.set_code, l.set_version, d.key
    UNION ALL
    SELECT l.set_code, l.set_version, 'indicator', c.dimension, o, count(*)
    FROM latest l CROSS JOIN LATERAL unnest(l.observed) o
    JOIN codes c ON c.set_code = l.set_code AND c.set_version = l.set_version AND c.indicator = o
    GROUP BY l.set_code, l.set_version, c.dimension, o;
END;
$$;
REVOKE ALL ON FUNCTION trm_stats_screenings(text, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_stats_screenings(text, date, date) TO trm_app;

-- ---------------------------------------------------------------------------------------
-- The access log across cases (GET /v1/access-log, docs/authorization.md): queried by the
-- reader's agency or user, in the order of entries (row-level security as before).
CREATE INDEX access_log_agency ON access_log (agency_id, id);
CREATE INDEX access_log_user ON access_log (user_id, id);
