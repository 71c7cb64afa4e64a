-- Monitoring statistics. These functions count across agencies, so they run with the
-- owner's rights (SECURITY DEFINER) and check the caller themselves: coordinators and
-- auditors, for their own country unless they are cross-border auditors. They read only
-- statistical fields, states and blind-index values, never personal data, and return
-- counts that trmd then passes through disclosure control.

CREATE FUNCTION trm_stats_allowed(p_country text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT trm_ctx_role() IN ('coordinator', 'auditor')
       AND (trm_ctx_cross_border() OR p_country = trm_ctx_country())
$$;

-- One person may be recorded as several cases (by several agencies): within a country,
-- cases with the same sex, citizenship and name-and-birth-year blind index are one person.
CREATE FUNCTION trm_stats_person_key(c cases) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT coalesce(
        (SELECT c.country || '|' || c.sex || '|' || c.citizenship || '|' || b.bits || ':' || min(b.value)
         FROM case_blind_index b WHERE b.case_id = c.id AND b.kind = 2 GROUP BY b.bits
         ORDER BY b.bits LIMIT 1),
        c.id::text)
$$;
REVOKE ALL ON FUNCTION trm_stats_person_key(cases) FROM PUBLIC;

CREATE FUNCTION trm_stats_status(p_case uuid, p_state text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT CASE
        WHEN p_state = 'not_identified' THEN 'not_identified'
        WHEN EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = p_case AND e.kind = 'transition'
                     AND e.details ->> 'to' = 'identified') THEN 'identified'
        ELSE 'presumed' END
$$;
REVOKE ALL ON FUNCTION trm_stats_status(uuid, text) FROM PUBLIC;

-- Registered victims as persons (the earliest case of each person stands for them), with
-- how many cases each stands for.
CREATE FUNCTION trm_stats_persons(p_country text, p_from date, p_to date)
RETURNS TABLE (country text, sex text, age_band text, citizenship text, forms text[],
               month text, state text, phase text, status text, cases bigint)
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
        SELECT DISTINCT ON (b.person) b.*, count(*) OVER (PARTITION BY b.person) AS n
        FROM base b ORDER BY b.person, b.created_at)
    SELECT p.country, p.sex, p.age_band, p.citizenship, p.exploitation_forms,
           to_char(p.identified_month, 'YYYY-MM'), coalesce(p.main_state, 'unknown'),
           coalesce(p.main_phase, 'unknown'), trm_stats_status(p.id, p.main_state), p.n
    FROM people p
    WHERE trm_stats_status(p.id, p.main_state) <> 'not_identified';
END;
$$;
REVOKE ALL ON FUNCTION trm_stats_persons(text, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_stats_persons(text, date, date) TO trm_app;

-- Assistance indicators: persons who entered a state (assistance, reflection, long-term
-- assistance with its residence permit, returned) and the median days from identification
-- (the step into "identified", or the case's creation) to entering it.
CREATE FUNCTION trm_stats_assistance(p_country text, p_from date, p_to date)
RETURNS TABLE (indicator text, persons bigint, median_days double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NOT trm_stats_allowed(coalesce(p_country, '')) AND NOT trm_ctx_cross_border() THEN
        RAISE EXCEPTION 'statistics of another country' USING ERRCODE = 'TR404';
    END IF;
    RETURN QUERY
    WITH base AS (
        SELECT c.id, trm_stats_person_key(c) AS person,
               coalesce((SELECT min(e.at) FROM case_events e WHERE e.case_id = c.id
                         AND e.kind = 'transition' AND e.details ->> 'to' = 'identified'),
                        c.created_at) AS origin
        FROM cases c
        WHERE (p_country IS NULL OR c.country = p_country)
          AND (p_from IS NULL OR c.identified_month >= p_from)
          AND (p_to IS NULL OR c.identified_month <= p_to)),
    indicators (name, state) AS (VALUES ('assisted', 'assistance'), ('reflection_period', 'reflection'),
                                        ('residence_permit', 'long_term_assistance'), ('returned', 'returned')),
    entered AS (
        SELECT i.name, b.person, min(e.at) AS at, min(b.origin) AS origin
        FROM indicators i JOIN case_events e ON e.kind = 'transition' AND e.details ->> 'to' = i.state
        JOIN base b ON b.id = e.case_id GROUP BY i.name, b.person)
    SELECT i.name, count(x.person),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY greatest(extract(epoch FROM x.at - x.origin), 0) / 86400)
    FROM indicators i LEFT JOIN entered x ON x.name = i.name
    GROUP BY i.name ORDER BY i.name;
END;
$$;
REVOKE ALL ON FUNCTION trm_stats_assistance(text, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_stats_assistance(text, date, date) TO trm_app;

-- Handovers by sending and receiving country and agency kind.
CREATE FUNCTION trm_stats_referrals(p_country text, p_from date, p_to date)
RETURNS TABLE (from_country text, to_country text, from_kind text, to_kind text,
               offered bigint, accepted bigint, declined bigint, withdrawn bigint,
               expired bigint, median_hours_to_answer double precision)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NOT trm_stats_allowed(coalesce(p_country, '')) AND NOT trm_ctx_cross_border() THEN
        RAISE EXCEPTION 'statistics of another country' USING ERRCODE = 'TR404';
    END IF;
    RETURN QUERY
    SELECT r.from_country, r.to_country, fa.kind, ta.kind, count(*),
           count(*) FILTER (WHERE r.status = 'accepted'), count(*) FILTER (WHERE r.status = 'declined'),
           count(*) FILTER (WHERE r.status = 'withdrawn'), count(*) FILTER (WHERE r.status = 'expired'),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.answered_at - r.created_at) / 3600)
               FILTER (WHERE r.status IN ('accepted', 'declined'))
    FROM referrals r JOIN agencies fa ON fa.id = r.from_agency_id JOIN agencies ta ON ta.id = r.to_agency_id
    WHERE (p_country IS NULL OR p_country IN (r.from_country, r.to_country))
      AND (p_from IS NULL OR r.created_at >= p_from) AND (p_to IS NULL OR r.created_at < p_to + 1)
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
END;
$$;
REVOKE ALL ON FUNCTION trm_stats_referrals(text, date, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_stats_referrals(text, date, date) TO trm_app;
