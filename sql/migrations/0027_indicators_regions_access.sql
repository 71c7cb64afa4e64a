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
