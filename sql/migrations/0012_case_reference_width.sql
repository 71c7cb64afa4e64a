-- Case references: lpad() cuts a longer string to the width it is given, so a country's
-- millionth case of a year got the reference of its 100 000th (SE-2026-1000000 became
-- SE-2026-100000), and its creation failed on the unique reference. Numbers keep six digits
-- at least and grow past them. The function is as in 0005 but for that line.

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
    ref := p_country || '-' || y || '-' || lpad(n::text, greatest(6, length(n::text)), '0');
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
