-- Access grants: one table decides who may see what of a case.
--
-- Before this migration, who saw what was decided in several places: per-row SECURITY
-- DEFINER functions in the row-level security policies (trm_case_shared,
-- trm_category_visible, trm_case_key_visible), the referral rows themselves, and checks in
-- C. Three holes followed (issue 16): a pending offer outlived the consent it rested on; a
-- transfer handed the new custodian every note and assessment sealed under the case key; and
-- the handover export ignored the caller's scope. The per-row functions were also never
-- inlined, so every policy check planned and ran a function call per row.
--
-- Now:
-- * case_grants holds, per case, which agency may open which categories, since when, until
--   when, and why (ownership, the referral or transfer that granted it, the consent it rests
--   on). Only SECURITY DEFINER functions that perform a whole operation write it, in the
--   transaction of the change: creating a case, accepting a referral or transfer, withdrawing
--   or expiring a consent, and the federation's answers.
-- * Any grant row, even an ended one, shows the case's summary and timeline to its agency.
--   An active grant (not ended, not past the consent's expiry) opens its categories.
-- * Every row-level security policy is a plain expression over current_setting() (through
--   the inlinable trm_ctx_* functions of 0003) and case_grants.
-- * Every piece of personal data carries a category: notes (case_notes, moved out of the
--   append-only timeline so they can be erased and re-keyed), assessment details, guardians,
--   consent withdrawal reasons, referral notes. Grants decide who opens them.
-- * Accepting re-checks the consent under a lock; withdrawing or expiring a consent
--   withdraws the offers resting on it and ends the grants resting on it.
-- * Accepting a transfer re-keys the case (trm_case_rekey): only the consented categories
--   are sealed again under a fresh data key; the rest is deleted with the old key.
-- * Referral purposes are codes and answer reasons are sealed; erasure reasons are codes.
-- * Case references come from a sequence per country and year (no lock held to commit).

-- ---------------------------------------------------------------------------------------
-- Categories
CREATE FUNCTION trm_categories() RETURNS text[] LANGUAGE sql IMMUTABLE
AS $$ SELECT ARRAY['identity', 'contact', 'health', 'narrative', 'exploitation_details'] $$;

-- ---------------------------------------------------------------------------------------
-- The grants
CREATE TABLE case_grants (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id         uuid NOT NULL REFERENCES cases (id),
    agency_id       uuid NOT NULL REFERENCES agencies (id),
    -- The case's current owner, kept up to date, so the owner sees who holds grants.
    owner_agency_id uuid NOT NULL REFERENCES agencies (id),
    categories      text[] NOT NULL CHECK (categories <@ trm_categories()),
    basis           text NOT NULL CHECK (basis IN ('owner', 'referral')),
    referral_id     uuid REFERENCES referrals (id),
    consent_id      uuid REFERENCES consents (id),
    granted_at      timestamptz NOT NULL DEFAULT now(),
    -- The consent's expiry: the categories stop opening then, with no job needed.
    expires_at      timestamptz,
    ended_at        timestamptz,
    end_reason      text CHECK (end_reason IN ('consent_withdrawn', 'consent_expired',
                        'transferred', 'withdrawn_at_sender')),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL)),
    CHECK (basis = 'owner' OR referral_id IS NOT NULL)
);
CREATE INDEX case_grants_agency ON case_grants (agency_id, case_id);
CREATE INDEX case_grants_case ON case_grants (case_id);
CREATE INDEX case_grants_owner ON case_grants (owner_agency_id, case_id);
CREATE INDEX case_grants_consent ON case_grants (consent_id) WHERE ended_at IS NULL;

-- ---------------------------------------------------------------------------------------
-- Notes: sealed free text of a case (timeline notes, step notes and override reasons), each
-- with a category. Moved out of case_events, which is append-only: a note must go with its
-- key on erasure and be sealed again (or go) when a transfer re-keys the case.
CREATE TABLE case_notes (
    case_id   uuid NOT NULL REFERENCES cases (id),
    note_id   uuid NOT NULL,
    category  text NOT NULL CHECK (category = ANY (trm_categories())),
    -- The writing agency reads its own notes back whatever it holds.
    agency_id uuid NOT NULL REFERENCES agencies (id),
    sealed    bytea NOT NULL,
    PRIMARY KEY (case_id, note_id)
);

-- Existing notes: the timeline keeps the event, the note moves. Their category was never
-- recorded; a note tells the person's story, so narrative.
INSERT INTO case_notes (case_id, note_id, category, agency_id, sealed)
SELECT case_id, (details ->> 'note_id')::uuid, 'narrative',
       coalesce(actor_agency_id, (SELECT owner_agency_id FROM cases c WHERE c.id = case_id)),
       sealed_note
FROM case_events WHERE sealed_note IS NOT NULL AND details ? 'note_id'
ON CONFLICT DO NOTHING;
ALTER TABLE case_events DROP COLUMN sealed_note;

-- Assessment details, guardians and consent withdrawal reasons carry their category.
ALTER TABLE assessments ADD COLUMN category text NOT NULL DEFAULT 'narrative'
    CHECK (category = ANY (trm_categories()));
UPDATE assessments SET category = CASE kind WHEN 'needs' THEN 'health'
                                            WHEN 'best_interests' THEN 'narrative'
                                            ELSE 'exploitation_details' END;
ALTER TABLE assessments ALTER COLUMN category DROP DEFAULT;
ALTER TABLE guardians ADD COLUMN category text NOT NULL DEFAULT 'contact'
    CHECK (category = ANY (trm_categories()));
ALTER TABLE guardians ALTER COLUMN category DROP DEFAULT;
ALTER TABLE consents ADD COLUMN reason_category text
    CHECK (reason_category = ANY (trm_categories()));
UPDATE consents SET reason_category = 'narrative' WHERE sealed_withdraw_reason IS NOT NULL;

-- ---------------------------------------------------------------------------------------
-- Referrals: the purpose is a code; free text goes in the sealed note, with its category.
-- Existing purposes were short free text that may name the person: they become the code
-- their words suggest, and the text is removed. Answer reasons are sealed from now on;
-- reasons written in clear before are removed (as 0008 did for consent reasons).
ALTER TABLE referrals DROP CONSTRAINT referrals_purpose_check;
UPDATE referrals SET purpose = CASE
    WHEN purpose ~* 'shelter|accommodation|housing|placement' THEN 'accommodation'
    WHEN purpose ~* 'psycholog|counsel|therap' THEN 'psychological'
    WHEN purpose ~* 'medical|health|hospital|clinic' THEN 'medical'
    WHEN purpose ~* 'interpret|translat' THEN 'interpretation'
    WHEN purpose ~* 'legal|lawyer|court|counsel' THEN 'legal'
    WHEN purpose ~* 'return|reintegrat|reception' THEN 'return_reception'
    WHEN purpose ~* 'investigat|police|prosecut' THEN 'investigation'
    ELSE 'other' END;
ALTER TABLE referrals ADD CONSTRAINT referrals_purpose_code CHECK (purpose IN (
    'accommodation', 'medical', 'psychological', 'legal', 'interpretation',
    'return_reception', 'investigation', 'other'));
ALTER TABLE referrals ADD COLUMN note_category text CHECK (note_category = ANY (trm_categories())),
                      ADD COLUMN sealed_answer_reason bytea,
                      -- Why an offer ended without an answer from a party.
                      ADD COLUMN end_code text CHECK (end_code IN ('consent_withdrawn',
                          'consent_expired', 'case_erased'));
UPDATE referrals SET note_category = 'narrative' WHERE sealed_note IS NOT NULL;
CREATE INDEX referrals_consent ON referrals (consent_id) WHERE consent_id IS NOT NULL;
UPDATE referrals SET answer_reason = NULL WHERE answer_reason IS NOT NULL;
ALTER TABLE referrals DROP COLUMN answer_reason;

-- Erasure reasons are codes. The timeline is append-only: this one-time rewrite of the
-- free-text reasons of past erasures is the only change ever made to it.
ALTER TABLE case_events DISABLE TRIGGER case_events_append_only;
UPDATE case_events
SET details = jsonb_set(details, '{reason}', to_jsonb(CASE
    WHEN details ->> 'reason' = 'retention period ended' THEN 'retention' ELSE 'other' END))
WHERE kind = 'personal_data_erased' AND details ? 'reason';
ALTER TABLE case_events ENABLE TRIGGER case_events_append_only;

-- Consents that expired are processed once (offers withdrawn, grants ended, peers told).
ALTER TABLE consents ADD COLUMN expiry_processed_at timestamptz;
CREATE INDEX consents_expiring ON consents (expires_at)
    WHERE expires_at IS NOT NULL AND withdrawn_at IS NULL AND expiry_processed_at IS NULL;

-- The handover log records why an offer ended when it was not a party's answer (its consent
-- was withdrawn or expired): entries with a reason are version 3 (docs/handover-log.md).
ALTER TABLE handover_log ADD COLUMN reason text;

-- ---------------------------------------------------------------------------------------
-- Grants for the data that exists: every owner (all categories), every accepted local
-- referral (its categories, while its consent stands), and former owners of cases
-- transferred within this instance (the summary and timeline only).
INSERT INTO case_grants (case_id, agency_id, owner_agency_id, categories, basis, referral_id,
                         granted_at)
SELECT c.id, c.owner_agency_id, c.owner_agency_id, trm_categories(), 'owner',
       (SELECT r.id FROM referrals r WHERE r.case_id = c.id AND r.kind = 'transfer'
          AND r.status = 'accepted' AND r.to_agency_id = c.owner_agency_id
        ORDER BY r.answered_at DESC LIMIT 1),
       c.created_at
FROM cases c;
INSERT INTO case_grants (case_id, agency_id, owner_agency_id, categories, basis, referral_id,
                         consent_id, granted_at, expires_at, ended_at, end_reason)
SELECT r.case_id, r.to_agency_id, c.owner_agency_id, r.categories, 'referral', r.id, r.consent_id,
       coalesce(r.answered_at, r.created_at), k.expires_at,
       CASE WHEN k.withdrawn_at IS NOT NULL THEN k.withdrawn_at END,
       CASE WHEN k.withdrawn_at IS NOT NULL THEN 'consent_withdrawn' END
FROM referrals r JOIN cases c ON c.id = r.case_id LEFT JOIN consents k ON k.id = r.consent_id
WHERE r.kind = 'referral' AND r.status = 'accepted' AND r.peer_instance IS NULL;
INSERT INTO case_grants (case_id, agency_id, owner_agency_id, categories, basis, referral_id,
                         granted_at, ended_at, end_reason)
SELECT r.case_id, r.from_agency_id, c.owner_agency_id, '{}', 'owner', NULL, r.created_at,
       coalesce(r.answered_at, now()), 'transferred'
FROM referrals r JOIN cases c ON c.id = r.case_id
WHERE r.kind = 'transfer' AND r.status = 'accepted' AND r.peer_instance IS NULL
  AND r.from_agency_id <> c.owner_agency_id;

-- ---------------------------------------------------------------------------------------
-- Case references: a sequence per country and year, made on first use. A number taken by a
-- creation that rolls back is not reused, so references may have gaps; nothing waits for
-- another creation's commit.
CREATE FUNCTION trm_case_reference(p_country text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    y integer := extract(year FROM now() AT TIME ZONE 'UTC');
    seq text := format('case_ref_%s_%s', lower(p_country), y);
    n bigint;
BEGIN
    IF p_country !~ '^[A-Z]{2}$' THEN
        RAISE EXCEPTION 'country code' USING ERRCODE = 'check_violation';
    END IF;
    IF to_regclass(seq) IS NULL THEN
        -- Two first creations of a year: the second waits here for the first to commit.
        PERFORM pg_advisory_xact_lock(hashtext(seq));
        EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I', seq);
    END IF;
    n := nextval(seq::regclass);
    RETURN p_country || '-' || y || '-' || lpad(n::text, greatest(6, length(n::text)), '0');
END;
$$;
REVOKE ALL ON FUNCTION trm_case_reference(text) FROM PUBLIC;

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM case_refs LOOP
        EXECUTE format('CREATE SEQUENCE %I', format('case_ref_%s_%s', lower(r.country), r.year));
        PERFORM setval(format($f$case_ref_%s_%s$f$, lower(r.country), r.year)::regclass, r.last);
    END LOOP;
END;
$$;
DROP TABLE case_refs;

-- ---------------------------------------------------------------------------------------
-- Row-level security: plain expressions, inlined by the planner. "Works cases" is a
-- caseworker or coordinator; a grant is active while not ended and before its expiry.
DROP POLICY cases_read ON cases;
DROP POLICY cases_create ON cases;
DROP POLICY case_keys_read ON case_keys;
DROP POLICY case_keys_owner ON case_keys;
DROP POLICY case_personal_scope ON case_personal;
DROP POLICY case_blind_index_scope ON case_blind_index;
DROP POLICY case_events_scope ON case_events;
DROP POLICY case_tracks_scope ON case_tracks;
DROP POLICY consents_scope ON consents;
DROP POLICY assessments_scope ON assessments;
DROP POLICY guardians_scope ON guardians;
DROP POLICY handover_log_append ON handover_log;
DROP FUNCTION trm_case_key_visible(uuid);
DROP FUNCTION trm_category_visible(uuid, text);
DROP FUNCTION trm_case_shared(uuid);
DROP FUNCTION trm_case_visible(uuid);
DROP FUNCTION trm_case_in_scope(uuid);

ALTER TABLE case_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_grants FORCE ROW LEVEL SECURITY;
ALTER TABLE case_notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_notes FORCE ROW LEVEL SECURITY;

-- An agency sees its own grants; the owner sees every grant on its cases.
CREATE POLICY case_grants_read ON case_grants FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator')
           AND trm_ctx_agency() IN (agency_id, owner_agency_id));

-- Every grant check below is EXISTS (... OFFSET 0). The OFFSET keeps the planner from turning
-- the check into a hashed subplan, which reads every grant of the agency before the first row
-- (1.5 s for a page of 50 cases at 157 000 grants) because a policy's subquery is costed as
-- if every row of the table were wanted; with it, each row probes the (case_id) index.
-- The summary and timeline: any grant.
CREATE POLICY cases_read ON cases FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator') AND EXISTS (
        SELECT 1 FROM case_grants g WHERE g.case_id = cases.id AND g.agency_id = trm_ctx_agency() OFFSET 0));
CREATE POLICY case_events_scope ON case_events TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator') AND EXISTS (
        SELECT 1 FROM case_grants g WHERE g.case_id = case_events.case_id
                                      AND g.agency_id = trm_ctx_agency() OFFSET 0))
    WITH CHECK (actor_user_id = trm_ctx_user() AND actor_agency_id = trm_ctx_agency()
                AND trm_ctx_role() IN ('caseworker', 'coordinator') AND EXISTS (
        SELECT 1 FROM case_grants g WHERE g.case_id = case_events.case_id
                                      AND g.agency_id = trm_ctx_agency() OFFSET 0));
CREATE POLICY case_tracks_read ON case_tracks FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator') AND EXISTS (
        SELECT 1 FROM case_grants g WHERE g.case_id = case_tracks.case_id
                                      AND g.agency_id = trm_ctx_agency() OFFSET 0));

-- The data key: an active grant that opens something.
CREATE POLICY case_keys_read ON case_keys FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator') AND EXISTS (
        SELECT 1 FROM case_grants g
        WHERE g.case_id = case_keys.case_id AND g.agency_id = trm_ctx_agency()
          AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
          AND cardinality(g.categories) > 0 OFFSET 0));

-- Personal data and notes: an active grant of their category.
CREATE POLICY case_personal_read ON case_personal FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator') AND EXISTS (
        SELECT 1 FROM case_grants g
        WHERE g.case_id = case_personal.case_id AND g.agency_id = trm_ctx_agency()
          AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
          AND case_personal.category = ANY (g.categories) OFFSET 0));
-- A note: an active grant of its category, or the agency that wrote it. Writing one needs
-- an active grant of any category (the key to seal it).
CREATE POLICY case_notes_open ON case_notes FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator') AND (
        case_notes.agency_id = trm_ctx_agency() OR EXISTS (
        SELECT 1 FROM case_grants g
        WHERE g.case_id = case_notes.case_id AND g.agency_id = trm_ctx_agency()
          AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
          AND case_notes.category = ANY (g.categories) OFFSET 0)));
CREATE POLICY case_notes_write ON case_notes FOR INSERT TO trm_app
    WITH CHECK (trm_ctx_role() IN ('caseworker', 'coordinator')
                AND case_notes.agency_id = trm_ctx_agency() AND EXISTS (
        SELECT 1 FROM case_grants g
        WHERE g.case_id = case_notes.case_id AND g.agency_id = trm_ctx_agency()
          AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
          AND cardinality(g.categories) > 0 OFFSET 0));
-- Blind indexes are identity data.
CREATE POLICY case_blind_index_read ON case_blind_index FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator') AND EXISTS (
        SELECT 1 FROM case_grants g
        WHERE g.case_id = case_blind_index.case_id AND g.agency_id = trm_ctx_agency()
          AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
          AND 'identity' = ANY (g.categories) OFFSET 0));
-- Assessments and guardians: the owner, and an active grant of their category.
CREATE POLICY assessments_read ON assessments FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator') AND EXISTS (
        SELECT 1 FROM case_grants g
        WHERE g.case_id = assessments.case_id AND g.agency_id = trm_ctx_agency()
          AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
          AND (g.basis = 'owner' OR assessments.category = ANY (g.categories)) OFFSET 0));
CREATE POLICY guardians_read ON guardians FOR SELECT TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator') AND EXISTS (
        SELECT 1 FROM case_grants g
        WHERE g.case_id = guardians.case_id AND g.agency_id = trm_ctx_agency()
          AND g.ended_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())
          AND (g.basis = 'owner' OR guardians.category = ANY (g.categories)) OFFSET 0));

-- What only the owner changes (and, for consents, reads): an active owner grant.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['case_personal', 'case_blind_index', 'case_tracks', 'consents',
                             'assessments', 'guardians'] LOOP
        EXECUTE format(
            'CREATE POLICY %I ON %I TO trm_app USING ('
            'trm_ctx_role() IN (''caseworker'', ''coordinator'') AND EXISTS ('
            'SELECT 1 FROM case_grants g WHERE g.case_id = %I.case_id '
            'AND g.agency_id = trm_ctx_agency() AND g.basis = ''owner'' AND g.ended_at IS NULL OFFSET 0))',
            t || '_owner', t, t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['case_grants', 'case_notes'] LOOP
        EXECUTE format('CREATE POLICY %I ON %I TO %I USING (true) WITH CHECK (true)',
                       t || '_maintenance', t, current_user);
    END LOOP;
END;
$$;

-- Privileges: trm_app writes keys, grants and notes only through the functions below.
REVOKE INSERT, UPDATE, DELETE ON case_keys FROM trm_app;
REVOKE INSERT ON cases FROM trm_app;
GRANT SELECT ON case_grants TO trm_app;
GRANT SELECT, INSERT ON case_notes TO trm_app;
REVOKE INSERT, UPDATE ON referrals FROM trm_app;
REVOKE UPDATE (sealed_details) ON assessments FROM trm_app;
REVOKE UPDATE (sealed) ON guardians FROM trm_app;

-- ---------------------------------------------------------------------------------------
-- The handover log: version 3 adds the reason. Only functions that change a referral or a
-- consent append, from the rows they changed; the application role cannot call the append
-- functions at all (it could forge entries from a row it built).
CREATE OR REPLACE FUNCTION trm_handover_encoding(e handover_log) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT trm_lp(CASE WHEN e.reason IS NOT NULL THEN 'trm-handover-v3'
                       WHEN e.package_hash IS NOT NULL THEN 'trm-handover-v2'
                       ELSE 'trm-handover-v1' END) ||
           trm_lp(e.seq::text) || trm_lp(e.at) ||
           trm_lp(e.case_id::text) || trm_lp(e.referral_id::text) || trm_lp(e.action) ||
           trm_lp(e.from_agency_id::text) || trm_lp(e.to_agency_id::text) ||
           trm_lp(e.from_country) || trm_lp(e.to_country) || trm_lp(e.actor_user_id::text) ||
           trm_lp(array_to_string(e.categories, ',')) || trm_lp(e.legal_basis) ||
           trm_lp(e.handling_code) || trm_lp(e.consent_id::text) ||
           CASE WHEN e.package_hash IS NULL AND e.reason IS NULL THEN ''::bytea
                ELSE trm_lp(e.package_id::text) || trm_lp(encode(e.package_hash, 'hex')) ||
                     trm_lp(e.peer_instance) || trm_lp(e.peer_at) ||
                     trm_lp(encode(e.peer_signature, 'hex')) END ||
           CASE WHEN e.reason IS NULL THEN ''::bytea ELSE trm_lp(e.reason) END ||
           int4send(octet_length(e.prev_hash)) || e.prev_hash
$$;

CREATE FUNCTION trm_handover_add(r referrals, p_action text, p_reason text, p_package uuid,
                                 p_hash bytea, p_peer text, p_peer_at text, p_peer_sig bytea,
                                 OUT o_seq bigint, OUT o_hash bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    e handover_log;
BEGIN
    UPDATE handover_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash INTO e.seq, e.prev_hash;
    e.at := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    e.case_id := coalesce(r.case_id, r.remote_case_id);
    e.referral_id := r.id;
    e.action := p_action;
    e.from_agency_id := r.from_agency_id;
    e.to_agency_id := r.to_agency_id;
    e.from_country := r.from_country;
    e.to_country := r.to_country;
    e.actor_user_id := trm_ctx_user();
    e.categories := r.categories;
    e.legal_basis := r.legal_basis;
    e.handling_code := r.handling_code;
    e.consent_id := coalesce(r.consent_id, r.remote_consent_id);
    e.package_id := p_package;
    e.package_hash := p_hash;
    e.peer_instance := p_peer;
    e.peer_at := p_peer_at;
    e.peer_signature := p_peer_sig;
    e.reason := p_reason;
    e.hash := sha256(trm_handover_encoding(e));
    INSERT INTO handover_log SELECT e.*;
    UPDATE handover_head SET hash = e.hash WHERE id = 1;
    o_seq := e.seq;
    o_hash := e.hash;
END;
$$;
REVOKE ALL ON FUNCTION trm_handover_add(referrals, text, text, uuid, bytea, text, text, bytea)
    FROM PUBLIC;

CREATE OR REPLACE FUNCTION trm_handover_append_fed(r referrals, p_action text, p_package uuid,
                                                   p_hash bytea, p_peer text, p_peer_at text,
                                                   p_peer_sig bytea, OUT o_seq bigint,
                                                   OUT o_hash bytea)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    SELECT * FROM trm_handover_add(r, p_action, NULL, p_package, p_hash, p_peer, p_peer_at,
                                   p_peer_sig)
$$;
CREATE OR REPLACE FUNCTION trm_handover_append(r referrals, p_action text, OUT o_seq bigint,
                                               OUT o_hash bytea)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    SELECT * FROM trm_handover_add(r, p_action, NULL, NULL, NULL, NULL, NULL, NULL)
$$;
REVOKE ALL ON FUNCTION trm_handover_append(referrals, text) FROM PUBLIC, trm_app;
REVOKE ALL ON FUNCTION trm_handover_append_fed(referrals, text, uuid, bytea, text, text, bytea)
    FROM PUBLIC, trm_app;

-- ---------------------------------------------------------------------------------------
-- Cases

-- Fails unless the acting user works cases (caseworker or coordinator): the functions below
-- run with the owner's rights, so they check the caller themselves.
CREATE FUNCTION trm_require_caseworker() RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF trm_ctx_user() IS NULL OR trm_ctx_agency() IS NULL
       OR trm_ctx_role() IS DISTINCT FROM 'caseworker' AND trm_ctx_role() IS DISTINCT FROM 'coordinator' THEN
        RAISE EXCEPTION 'only caseworkers and coordinators work cases'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END;
$$;

-- Creates a case in one round trip: its reference, the row, its tracks under the country's
-- SOP, the wrapped data key, the sealed fields, the blind indexes, the owner's grant and the
-- timeline's first event.
DROP FUNCTION trm_case_create(uuid, text, text, text, text, text[], date, text, text, text[],
                              text[], text[], smallint[], bigint[], smallint);
CREATE FUNCTION trm_case_create(
    p_id uuid, p_country text, p_sex text, p_age_band text, p_citizenship text,
    p_forms text[], p_month date, p_kek_id text, p_wrapped text,
    p_categories text[], p_fields text[], p_sealed text[],
    p_index_kinds smallint[], p_index_values bigint[], p_index_bits smallint)
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
                       exploitation_forms, identified_month, created_by, sop_id)
    VALUES (p_id, trm_case_reference(p_country), p_country, trm_ctx_agency(), p_sex, p_age_band,
            p_citizenship, p_forms, p_month, trm_ctx_user(), sop.id);
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

-- A step of a track (as in 0005); its note, if any, goes to case_notes with its category.
DROP FUNCTION trm_case_transition(uuid, integer, text, text, text, boolean, jsonb, text);
CREATE FUNCTION trm_case_transition(p_id uuid, p_version integer, p_track text, p_from text,
                                    p_to text, p_terminal boolean, p_details jsonb,
                                    p_sealed_note text, p_note_category text)
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
    IF p_sealed_note IS NOT NULL THEN
        INSERT INTO case_notes (case_id, note_id, category, agency_id, sealed)
        VALUES (p_id, (p_details ->> 'note_id')::uuid, p_note_category, trm_ctx_agency(),
                decode(p_sealed_note, 'hex'));
    END IF;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_id, 'transition', trm_ctx_user(), trm_ctx_agency(),
            p_details || jsonb_build_object('track', p_track, 'from', p_from, 'to', p_to));
    RETURN true;
END;
$$;
GRANT EXECUTE ON FUNCTION trm_case_transition TO trm_app;

-- Everything sealed under a case's data key goes (the case row, its statistics, the
-- timeline, the grants and the logs stay).
CREATE FUNCTION trm_case_forget_personal(p_ids uuid[]) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM case_keys WHERE case_id = ANY (p_ids);
    DELETE FROM case_personal WHERE case_id = ANY (p_ids);
    DELETE FROM case_blind_index WHERE case_id = ANY (p_ids);
    DELETE FROM case_notes WHERE case_id = ANY (p_ids);
    UPDATE assessments SET sealed_details = NULL WHERE case_id = ANY (p_ids) AND sealed_details IS NOT NULL;
    UPDATE guardians SET sealed = NULL WHERE case_id = ANY (p_ids) AND sealed IS NOT NULL;
    UPDATE consents SET sealed_withdraw_reason = NULL
    WHERE case_id = ANY (p_ids) AND sealed_withdraw_reason IS NOT NULL;
    UPDATE referrals SET sealed_note = NULL, sealed_reason = NULL, sealed_answer_reason = NULL
    WHERE case_id = ANY (p_ids)
      AND (sealed_note IS NOT NULL OR sealed_reason IS NOT NULL OR sealed_answer_reason IS NOT NULL);
$$;
REVOKE ALL ON FUNCTION trm_case_forget_personal(uuid[]) FROM PUBLIC;

-- Withdraws the open offers of a case or of a consent (whichever is given), because of
-- p_code (consent_withdrawn, consent_expired, case_erased): each with a handover entry
-- (action withdraw, with the reason) and a timeline entry. Returns the ids of those that
-- went to a peer instance, whose withdrawal must travel.
CREATE FUNCTION trm_offers_end(p_case uuid, p_consent uuid, p_code text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
    remote jsonb := '[]';
BEGIN
    FOR r IN SELECT * FROM referrals
             WHERE status = 'offered' AND id IN (
                 SELECT id FROM referrals WHERE case_id = p_case
                 UNION ALL SELECT id FROM referrals WHERE consent_id = p_consent)
             ORDER BY created_at, id FOR UPDATE LOOP
        UPDATE referrals SET status = 'withdrawn', answered_at = now(), end_code = p_code
        WHERE id = r.id RETURNING * INTO r;
        PERFORM trm_handover_add(r, 'withdraw', p_code, NULL, NULL, NULL, NULL, NULL);
        INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
        VALUES (r.case_id, 'referral_withdrawn', trm_ctx_user(), trm_ctx_agency(),
                jsonb_build_object('referral_id', r.id, 'kind', r.kind, 'reason', p_code));
        IF r.peer_instance IS NOT NULL THEN
            remote := remote || to_jsonb(r.id);
        END IF;
    END LOOP;
    RETURN remote;
END;
$$;
REVOKE ALL ON FUNCTION trm_offers_end(uuid, uuid, text) FROM PUBLIC;

-- Erasure by the owner, with a reason code. NULL when there is nothing to erase or the case
-- is not the caller's; otherwise its open offers are withdrawn too, and the answer names
-- those that went to a peer instance: {"withdrawn": [...], "ended": []}.
DROP FUNCTION trm_case_erase(uuid, text);
CREATE FUNCTION trm_case_erase(p_id uuid, p_reason text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    remote jsonb;
BEGIN
    PERFORM trm_require_caseworker();
    IF p_reason NOT IN ('requested_by_person', 'retention', 'court_order', 'other') THEN
        RAISE EXCEPTION 'erasure reason' USING ERRCODE = 'check_violation';
    END IF;
    UPDATE cases SET personal_data_erased_at = now(), version = version + 1, updated_at = now()
    WHERE id = p_id AND owner_agency_id = trm_ctx_agency() AND personal_data_erased_at IS NULL;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    remote := trm_offers_end(p_id, NULL, 'case_erased');
    PERFORM trm_case_forget_personal(ARRAY[p_id]);
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_id, 'personal_data_erased', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('reason', p_reason));
    RETURN jsonb_build_object('withdrawn', remote, 'ended', '[]'::jsonb);
END;
$$;
REVOKE ALL ON FUNCTION trm_case_erase(uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_case_erase(uuid, text) TO trm_app;

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
    PERFORM trm_case_forget_personal(victims);
    INSERT INTO case_events (case_id, kind, details)
    SELECT v, 'personal_data_erased', jsonb_build_object('reason', 'retention')
    FROM unnest(victims) AS v;
    RETURN cardinality(victims);
END;
$$;

-- ---------------------------------------------------------------------------------------
-- Referrals

-- Offers a referral or transfer: the unmet conditions (nothing is written then), or an
-- empty array when the offer is made (the referral row, its handover entry and the timeline
-- entry). The note's category must be one of the offered ones: only who may open those may
-- read it.
DROP FUNCTION trm_referral_offer(uuid, uuid, uuid, text, text, text, text[], text, text, uuid,
                                 integer, text, text);
CREATE FUNCTION trm_referral_offer(
    p_id uuid, p_case uuid, p_to uuid, p_kind text, p_purpose text, p_urgency text,
    p_categories text[], p_basis text, p_code text, p_consent uuid, p_hours integer,
    p_note text, p_note_category text, p_reason text)
RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    c cases;
    a agencies;
    k consents;
    r referrals;
    unmet text[] := '{}';
BEGIN
    PERFORM trm_require_caseworker();
    SELECT * INTO c FROM cases WHERE id = p_case AND owner_agency_id = trm_ctx_agency();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such case in your agency' USING ERRCODE = 'TR404';
    END IF;
    IF c.personal_data_erased_at IS NOT NULL AND (cardinality(p_categories) > 0 OR p_note IS NOT NULL) THEN
        unmet := array_append(unmet, 'personal_data_erased');
    END IF;
    SELECT * INTO a FROM agencies WHERE id = p_to;
    IF NOT FOUND OR NOT a.active OR a.id = c.owner_agency_id THEN
        unmet := array_append(unmet, 'recipient');
    END IF;
    IF p_basis = 'consent' THEN
        -- Locked until commit: a withdrawal running now either sees this offer or is seen.
        SELECT * INTO k FROM consents WHERE id = p_consent AND case_id = p_case FOR SHARE;
        IF NOT FOUND OR k.kind <> 'data_sharing' THEN
            unmet := array_append(unmet, 'consent_missing');
        ELSIF k.withdrawn_at IS NOT NULL OR k.given_at > now()
              OR (k.expires_at IS NOT NULL AND k.expires_at <= now()) THEN
            unmet := array_append(unmet, 'consent_not_in_force');
        ELSE
            IF NOT (p_categories <@ k.categories) THEN
                unmet := array_append(unmet, 'consent_categories');
            END IF;
            IF NOT (p_to = ANY (k.recipient_agency_ids) OR a.country = ANY (k.recipient_countries)) THEN
                unmet := array_append(unmet, 'consent_recipient');
            END IF;
        END IF;
    ELSIF p_reason IS NULL THEN
        unmet := array_append(unmet, 'reason');
    END IF;
    IF p_basis = 'vital_interest' AND trm_ctx_role() <> 'coordinator' THEN
        unmet := array_append(unmet, 'vital_interest_role');
    END IF;
    IF p_note IS NOT NULL AND NOT (p_note_category = ANY (p_categories)) THEN
        unmet := array_append(unmet, 'note_category');
    END IF;
    IF cardinality(unmet) > 0 THEN
        RETURN unmet;
    END IF;
    INSERT INTO referrals (id, case_id, kind, from_agency_id, to_agency_id, from_country,
                           to_country, purpose, urgency, categories, legal_basis, handling_code,
                           consent_id, flagged, sex, age_band, citizenship, sealed_note,
                           note_category, sealed_reason, created_by, expires_at)
    VALUES (p_id, p_case, p_kind, c.owner_agency_id, p_to,
            (SELECT country FROM agencies WHERE id = c.owner_agency_id), a.country,
            p_purpose, p_urgency, p_categories, p_basis, p_code,
            CASE WHEN p_basis = 'consent' THEN p_consent END, p_basis = 'vital_interest',
            c.sex, c.age_band, c.citizenship, decode(p_note, 'hex'),
            CASE WHEN p_note IS NOT NULL THEN p_note_category END, decode(p_reason, 'hex'),
            trm_ctx_user(), now() + make_interval(hours => p_hours))
    RETURNING * INTO r;
    PERFORM trm_handover_add(r, 'offer', NULL, NULL, NULL, NULL, NULL, NULL);
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, 'referral_offered', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('referral_id', p_id, 'kind', p_kind, 'to_agency_id', p_to,
                               'categories', p_categories, 'legal_basis', p_basis,
                               'purpose', p_purpose));
    RETURN unmet;
END;
$$;
REVOKE ALL ON FUNCTION trm_referral_offer FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_referral_offer TO trm_app;

-- The key an answer's reason is sealed with: the case's wrapped data key, for a party of an
-- open offer of a local case (a recipient declining holds no grant yet). NULL otherwise.
CREATE FUNCTION trm_referral_seal_key(p_id uuid)
RETURNS TABLE (case_id uuid, kek_id text, dek_version integer, wrapped_dek text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT k.case_id, k.kek_id, k.dek_version, encode(k.wrapped_dek, 'hex')
    FROM referrals r JOIN case_keys k ON k.case_id = r.case_id
    WHERE r.id = p_id AND r.status = 'offered'
      AND trm_ctx_role() IN ('caseworker', 'coordinator')
      AND trm_ctx_agency() IN (r.from_agency_id, r.to_agency_id)
$$;
REVOKE ALL ON FUNCTION trm_referral_seal_key(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_referral_seal_key(uuid) TO trm_app;

-- What a transfer's new custodian re-seals under its fresh key: the case's current wrapped
-- key and every sealed value of the consented categories (nothing else leaves here).
CREATE FUNCTION trm_case_rekey_material(p_case uuid, p_categories text[]) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'case_id', k.case_id, 'kek_id', k.kek_id, 'dek_version', k.dek_version,
        'wrapped', encode(k.wrapped_dek, 'hex'),
        'items', coalesce((
            SELECT jsonb_agg(i) FROM (
                SELECT jsonb_build_object('kind', 'field', 'category', p.category, 'name', p.field,
                                          'sealed', encode(p.sealed, 'hex')) AS i
                FROM case_personal p WHERE p.case_id = p_case AND p.category = ANY (p_categories)
                UNION ALL
                SELECT jsonb_build_object('kind', 'note', 'id', n.note_id, 'category', n.category,
                                          'sealed', encode(n.sealed, 'hex'))
                FROM case_notes n WHERE n.case_id = p_case AND n.category = ANY (p_categories)
                UNION ALL
                SELECT jsonb_build_object('kind', 'assessment', 'id', a.id,
                                          'sealed', encode(a.sealed_details, 'hex'))
                FROM assessments a WHERE a.case_id = p_case AND a.sealed_details IS NOT NULL
                  AND a.category = ANY (p_categories)
                UNION ALL
                SELECT jsonb_build_object('kind', 'guardian', 'id', g.id,
                                          'sealed', encode(g.sealed, 'hex'))
                FROM guardians g WHERE g.case_id = p_case AND g.sealed IS NOT NULL
                  AND g.category = ANY (p_categories)
                UNION ALL
                SELECT jsonb_build_object('kind', 'consent_reason', 'id', s.id,
                                          'sealed', encode(s.sealed_withdraw_reason, 'hex'))
                FROM consents s WHERE s.case_id = p_case AND s.sealed_withdraw_reason IS NOT NULL
                  AND s.reason_category = ANY (p_categories)) x), '[]'))
    FROM case_keys k WHERE k.case_id = p_case
$$;
REVOKE ALL ON FUNCTION trm_case_rekey_material(uuid, text[]) FROM PUBLIC;

-- Answers an offer: accept or decline (the recipient), withdraw (the sender). Returns
-- {"outcome": ...}: ok, remote (done, and the answer must travel to the peer instance),
-- not_found, answered, expired, not_recipient, not_sender, consent_withdrawn. Nothing is
-- written unless ok or remote. Accepting re-checks the consent under a lock (case, consent,
-- referral: the order trm_consent_withdraw takes them in). Accepting a local transfer
-- moves custody and answers the re-key material as "rekey": the caller seals it again under
-- a fresh key and calls trm_case_rekey in the same transaction.
DROP FUNCTION trm_referral_answer(uuid, text, text);
CREATE FUNCTION trm_referral_answer(p_id uuid, p_action text, p_sealed_reason text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
    c cases;
    k consents;
    new_sop sops;
    old_doc jsonb;
    rekey jsonb;
    verb text := CASE p_action WHEN 'accept' THEN 'accepted' WHEN 'decline' THEN 'declined'
                               ELSE 'withdrawn' END;
BEGIN
    IF trm_ctx_role() NOT IN ('caseworker', 'coordinator') THEN
        RETURN jsonb_build_object('outcome', 'not_found');
    END IF;
    SELECT * INTO r FROM referrals WHERE id = p_id;
    IF NOT FOUND OR trm_ctx_agency() NOT IN (r.from_agency_id, r.to_agency_id) THEN
        RETURN jsonb_build_object('outcome', 'not_found');
    END IF;
    -- Locks in the order every operation takes them: the case (a transfer moves it), the
    -- consent, the referral.
    IF p_action = 'accept' AND r.kind = 'transfer' AND r.peer_instance IS NULL THEN
        PERFORM 1 FROM cases WHERE id = r.case_id FOR UPDATE;
    END IF;
    IF p_action = 'accept' AND r.consent_id IS NOT NULL THEN
        SELECT * INTO k FROM consents WHERE id = r.consent_id FOR SHARE;
    END IF;
    SELECT * INTO r FROM referrals WHERE id = p_id FOR UPDATE;
    IF p_action IN ('accept', 'decline') AND trm_ctx_agency() <> r.to_agency_id THEN
        RETURN jsonb_build_object('outcome', 'not_recipient');
    END IF;
    IF p_action = 'withdraw' AND trm_ctx_agency() <> r.from_agency_id THEN
        RETURN jsonb_build_object('outcome', 'not_sender');
    END IF;
    IF r.status <> 'offered' THEN
        RETURN jsonb_build_object('outcome', 'answered');
    END IF;
    IF p_action <> 'withdraw' AND r.expires_at <= now() THEN
        RETURN jsonb_build_object('outcome', 'expired');
    END IF;
    IF p_action = 'accept' AND r.consent_id IS NOT NULL
       AND (k.withdrawn_at IS NOT NULL OR (k.expires_at IS NOT NULL AND k.expires_at <= now())) THEN
        RETURN jsonb_build_object('outcome', 'consent_withdrawn');
    END IF;
    UPDATE referrals SET status = verb, answered_at = now(), answered_by = trm_ctx_user(),
                         sealed_answer_reason = decode(p_sealed_reason, 'hex')
    WHERE id = p_id RETURNING * INTO r;
    PERFORM trm_handover_add(r, p_action, NULL, NULL, NULL, NULL, NULL, NULL);
    IF p_action = 'decline' AND r.case_id IS NULL THEN
        PERFORM trm_fed_drop_payload(r.package_id);
    END IF;
    IF p_action = 'accept' AND r.peer_instance IS NULL AND r.kind = 'referral' THEN
        INSERT INTO case_grants (case_id, agency_id, owner_agency_id, categories, basis,
                                 referral_id, consent_id, expires_at)
        SELECT r.case_id, r.to_agency_id, r.from_agency_id, r.categories, 'referral', r.id,
               r.consent_id, k.expires_at;
    END IF;
    IF p_action = 'accept' AND r.peer_instance IS NULL AND r.kind = 'transfer' THEN
        -- Custody moves; the case continues under the recipient country's SOP from the
        -- phase it is in. The former owner keeps the summary and timeline only.
        SELECT * INTO c FROM cases WHERE id = r.case_id FOR UPDATE;
        SELECT document INTO old_doc FROM sops WHERE id = c.sop_id;
        SELECT * INTO new_sop FROM sops s WHERE s.country = r.to_country
        ORDER BY s.loaded_at DESC, s.version DESC LIMIT 1;
        IF NOT FOUND THEN
            SELECT * INTO new_sop FROM sops s WHERE s.country IS NULL
            ORDER BY s.loaded_at DESC, s.version DESC LIMIT 1;
        END IF;
        UPDATE case_grants SET ended_at = now(), end_reason = 'transferred'
        WHERE case_id = r.case_id AND basis = 'owner' AND ended_at IS NULL;
        UPDATE case_grants SET owner_agency_id = r.to_agency_id WHERE case_id = r.case_id;
        INSERT INTO case_grants (case_id, agency_id, owner_agency_id, categories, basis,
                                 referral_id, consent_id)
        VALUES (r.case_id, r.to_agency_id, r.to_agency_id, trm_categories(), 'owner', r.id,
                r.consent_id);
        UPDATE cases SET owner_agency_id = r.to_agency_id, sop_id = coalesce(new_sop.id, sop_id),
                         version = version + 1, updated_at = now()
        WHERE id = r.case_id;
        IF new_sop.id IS NOT NULL AND new_sop.id IS DISTINCT FROM c.sop_id THEN
            UPDATE case_tracks t
            SET state = trm_sop_equivalent(old_doc, new_sop.document, t.track, t.state),
                due_at = t.entered_at + trm_state_due(new_sop.document, t.track,
                             trm_sop_equivalent(old_doc, new_sop.document, t.track, t.state))
            WHERE t.case_id = r.case_id;
        END IF;
        rekey := trm_case_rekey_material(r.case_id, r.categories);
    END IF;
    IF r.case_id IS NOT NULL THEN
        INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
        VALUES (r.case_id, 'referral_' || verb, trm_ctx_user(), trm_ctx_agency(),
                jsonb_build_object('referral_id', r.id, 'kind', r.kind));
    END IF;
    RETURN jsonb_build_object('outcome', CASE WHEN r.peer_instance IS NULL THEN 'ok' ELSE 'remote' END,
                              'case_id', r.case_id, 'rekey', rekey);
END;
$$;
REVOKE ALL ON FUNCTION trm_referral_answer(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_referral_answer(uuid, text, text) TO trm_app;

-- A transfer's new custodian replaces the case's key with its fresh one and the sealed
-- values of the consented categories with their re-sealed copies (p_items as the material
-- listed them, with "sealed" under the new key). Everything else sealed under the old key
-- is deleted with it; the blind indexes stay only when identity was consented.
CREATE FUNCTION trm_case_rekey(p_case uuid, p_referral uuid, p_old_version integer,
                               p_kek_id text, p_wrapped text, p_items jsonb)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
BEGIN
    PERFORM trm_require_caseworker();
    SELECT * INTO r FROM referrals
    WHERE id = p_referral AND case_id = p_case AND kind = 'transfer' AND status = 'accepted'
      AND to_agency_id = trm_ctx_agency() AND peer_instance IS NULL;
    IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM cases WHERE id = p_case
                                AND owner_agency_id = trm_ctx_agency()) THEN
        RETURN false;
    END IF;
    UPDATE case_keys SET kek_id = p_kek_id, wrapped_dek = decode(p_wrapped, 'hex'),
                         dek_version = dek_version + 1
    WHERE case_id = p_case AND dek_version = p_old_version;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM case_personal WHERE case_id = p_case;
    INSERT INTO case_personal (case_id, category, field, sealed)
    SELECT p_case, i ->> 'category', i ->> 'name', decode(i ->> 'sealed', 'hex')
    FROM jsonb_array_elements(p_items) i WHERE i ->> 'kind' = 'field'
      AND i ->> 'category' = ANY (r.categories);
    DELETE FROM case_notes n WHERE n.case_id = p_case AND NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(p_items) i
        WHERE i ->> 'kind' = 'note' AND (i ->> 'id')::uuid = n.note_id
          AND n.category = ANY (r.categories));
    UPDATE case_notes n SET sealed = (
        SELECT decode(i ->> 'sealed', 'hex') FROM jsonb_array_elements(p_items) i
        WHERE i ->> 'kind' = 'note' AND (i ->> 'id')::uuid = n.note_id)
    WHERE n.case_id = p_case;
    UPDATE assessments a SET sealed_details = (
        SELECT decode(i ->> 'sealed', 'hex') FROM jsonb_array_elements(p_items) i
        WHERE i ->> 'kind' = 'assessment' AND (i ->> 'id')::uuid = a.id
          AND a.category = ANY (r.categories))
    WHERE a.case_id = p_case AND a.sealed_details IS NOT NULL;
    UPDATE guardians g SET sealed = (
        SELECT decode(i ->> 'sealed', 'hex') FROM jsonb_array_elements(p_items) i
        WHERE i ->> 'kind' = 'guardian' AND (i ->> 'id')::uuid = g.id
          AND g.category = ANY (r.categories))
    WHERE g.case_id = p_case AND g.sealed IS NOT NULL;
    UPDATE consents s SET sealed_withdraw_reason = (
        SELECT decode(i ->> 'sealed', 'hex') FROM jsonb_array_elements(p_items) i
        WHERE i ->> 'kind' = 'consent_reason' AND (i ->> 'id')::uuid = s.id
          AND s.reason_category = ANY (r.categories))
    WHERE s.case_id = p_case AND s.sealed_withdraw_reason IS NOT NULL;
    -- Referral notes and reasons were written for earlier handovers: they stay with the
    -- old key, which goes now.
    UPDATE referrals SET sealed_note = NULL, sealed_reason = NULL, sealed_answer_reason = NULL
    WHERE case_id = p_case
      AND (sealed_note IS NOT NULL OR sealed_reason IS NOT NULL OR sealed_answer_reason IS NOT NULL);
    IF NOT ('identity' = ANY (r.categories)) THEN
        DELETE FROM case_blind_index WHERE case_id = p_case;
    END IF;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, 'rekeyed', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('referral_id', p_referral, 'categories', to_jsonb(r.categories)));
    RETURN true;
END;
$$;
REVOKE ALL ON FUNCTION trm_case_rekey(uuid, uuid, integer, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_case_rekey(uuid, uuid, integer, text, text, jsonb) TO trm_app;

-- ---------------------------------------------------------------------------------------
-- Consents

-- Ends what rests on a consent, in the caller's transaction: open offers are withdrawn
-- (trm_offers_end), access under accepted referrals ends (handover action
-- consent_withdrawal, or consent_expiry) and the grants resting on it end. Returns the
-- referrals that crossed to a peer instance: {"withdrawn": [offers whose withdrawal must
-- travel], "ended": [accepted referrals whose peer must delete what it received]}.
CREATE FUNCTION trm_consent_end(p_consent uuid, p_code text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
    withdrawn jsonb := trm_offers_end(NULL, p_consent, p_code);
    ended jsonb := '[]';
BEGIN
    FOR r IN SELECT * FROM referrals WHERE consent_id = p_consent AND status = 'accepted'
             AND kind = 'referral' ORDER BY created_at, id LOOP
        PERFORM trm_handover_add(r, CASE p_code WHEN 'consent_expired' THEN 'consent_expiry'
                                                ELSE 'consent_withdrawal' END,
                                 NULL, NULL, NULL, NULL, NULL, NULL);
        IF r.peer_instance IS NOT NULL THEN
            ended := ended || to_jsonb(r.id);
        END IF;
    END LOOP;
    UPDATE case_grants SET ended_at = now(), end_reason = p_code
    WHERE consent_id = p_consent AND ended_at IS NULL AND basis = 'referral';
    RETURN jsonb_build_object('withdrawn', withdrawn, 'ended', ended);
END;
$$;
REVOKE ALL ON FUNCTION trm_consent_end(uuid, text) FROM PUBLIC;

-- Withdraws a consent of the caller's case (the reason sealed, with its category), and ends
-- what rests on it. Returns the consent as JSON with "crossing" (trm_consent_end's answer),
-- or NULL when there is no such consent in force on a case of the caller's agency.
CREATE FUNCTION trm_consent_withdraw(p_case uuid, p_id uuid, p_sealed_reason text,
                                     p_reason_category text)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    k consents;
    crossing jsonb;
BEGIN
    PERFORM trm_require_caseworker();
    -- The case first (a transfer accepted meanwhile makes it another agency's), then the
    -- consent: the order an acceptance takes them in.
    PERFORM 1 FROM cases c WHERE c.id = p_case AND c.owner_agency_id = trm_ctx_agency() FOR SHARE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE consents s SET withdrawn_at = now(), sealed_withdraw_reason = decode(p_sealed_reason, 'hex'),
                          reason_category = CASE WHEN p_sealed_reason IS NOT NULL THEN p_reason_category END
    WHERE s.id = p_id AND s.case_id = p_case AND s.withdrawn_at IS NULL
    RETURNING * INTO k;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    crossing := trm_consent_end(p_id, 'consent_withdrawn');
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, 'consent_withdrawn', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('consent_id', p_id, 'kind', k.kind));
    RETURN jsonb_build_object('id', k.id, 'case_id', k.case_id, 'kind', k.kind,
                              'categories', k.categories,
                              'recipients', jsonb_build_object('agency_ids', k.recipient_agency_ids,
                                                               'countries', k.recipient_countries),
                              'given_at', to_char(k.given_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                              'expires_at', to_char(k.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                              'withdrawn_at', to_char(k.withdrawn_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                              'reason_category', k.reason_category,
                              'recorded_by', k.recorded_by,
                              'recorded_at', to_char(k.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                              'crossing', crossing);
END;
$$;
REVOKE ALL ON FUNCTION trm_consent_withdraw(uuid, uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_consent_withdraw(uuid, uuid, text, text) TO trm_app;
DROP FUNCTION trm_consent_withdrawn(uuid);

-- Consents past their expiry that are still to be processed (trmd's maintenance asks every
-- few seconds), with the agency that owns their case: each is then processed in a
-- transaction acting for that agency (trm_consent_expire), so that the withdrawals it sends
-- to peer instances are that agency's.
CREATE FUNCTION trm_consents_due(p_limit integer)
RETURNS TABLE (consent_id uuid, owner_agency_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT s.id, c.owner_agency_id FROM consents s JOIN cases c ON c.id = s.case_id
    WHERE s.expires_at <= now() AND s.withdrawn_at IS NULL AND s.expiry_processed_at IS NULL
    ORDER BY s.expires_at LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION trm_consents_due(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_consents_due(integer) TO trm_app;

-- Processes one expired consent once: offers resting on it are withdrawn and access resting
-- on it ends (trm_consent_end). Returns trm_consent_end's answer, or NULL when there is
-- nothing to do (processed meanwhile, or being processed by another trmd).
CREATE FUNCTION trm_consent_expire(p_consent uuid) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    k consents;
    crossing jsonb;
BEGIN
    SELECT * INTO k FROM consents s
    WHERE s.id = p_consent AND s.expires_at <= now() AND s.withdrawn_at IS NULL
      AND s.expiry_processed_at IS NULL
    FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE consents SET expiry_processed_at = now() WHERE id = k.id;
    crossing := trm_consent_end(k.id, 'consent_expired');
    INSERT INTO case_events (case_id, kind, details)
    VALUES (k.case_id, 'consent_expired', jsonb_build_object('consent_id', k.id, 'kind', k.kind));
    RETURN crossing;
END;
$$;
REVOKE ALL ON FUNCTION trm_consent_expire(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_consent_expire(uuid) TO trm_app;

ALTER TABLE handover_log DROP CONSTRAINT handover_log_action_check;
ALTER TABLE handover_log ADD CONSTRAINT handover_log_action_check
    CHECK (action IN ('offer', 'accept', 'decline', 'withdraw', 'expire', 'consent_withdrawal',
                      'consent_expiry', 'send', 'receipt'));

-- ---------------------------------------------------------------------------------------
-- Reading a case: the fields of the categories asked for (NULL: all the caller may open),
-- and the access-log entry naming exactly the categories opened. Row-level security (the
-- grants) decides which fields the caller sees at all.
DROP FUNCTION trm_case_read(uuid, text, text);
CREATE FUNCTION trm_case_read(p_id uuid, p_request_id text, p_purpose text, p_categories text[])
RETURNS TABLE (id uuid, reference text, country text, owner_agency_id uuid, sex text,
               age_band text, citizenship text, exploitation_forms text[],
               identified_month text, version integer, created_at timestamptz,
               updated_at timestamptz, personal_data_erased_at timestamptz, sop_id uuid,
               kek_id text, dek_version integer, wrapped_dek text, fields jsonb)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    cats text[];
    f jsonb;
BEGIN
    SELECT array_agg(DISTINCT p.category ORDER BY p.category),
           coalesce(jsonb_object_agg(p.category || '.' || p.field, encode(p.sealed, 'hex')), '{}')
    INTO cats, f
    FROM case_personal p
    WHERE p.case_id = p_id AND (p_categories IS NULL OR p.category = ANY (p_categories));
    IF cats IS NOT NULL AND EXISTS (SELECT 1 FROM cases c WHERE c.id = p_id) THEN
        INSERT INTO access_log (user_id, agency_id, country, case_id, categories, purpose, request_id)
        VALUES (trm_ctx_user(), trm_ctx_agency(), trm_ctx_country(), p_id, cats, p_purpose,
                p_request_id);
    END IF;
    RETURN QUERY
    SELECT c.id, c.reference, c.country, c.owner_agency_id, c.sex, c.age_band, c.citizenship,
           c.exploitation_forms, to_char(c.identified_month, 'YYYY-MM'), c.version,
           c.created_at, c.updated_at, c.personal_data_erased_at, c.sop_id,
           k.kek_id, k.dek_version, encode(k.wrapped_dek, 'hex'), f
    FROM cases c LEFT JOIN case_keys k ON k.case_id = c.id
    WHERE c.id = p_id;
END;
$$;
GRANT EXECUTE ON FUNCTION trm_case_read(uuid, text, text, text[]) TO trm_app;

-- ---------------------------------------------------------------------------------------
-- Federation

-- The sealed payload of an incoming offer (the person, sealed to this instance) is kept
-- only while the offer is open: once it is accepted (the person then lives in the local case,
-- under its own key and erased with it), declined, withdrawn or expired, it goes. The
-- package's hash and signature stay for the handover log.
CREATE FUNCTION trm_fed_drop_payload(p_package uuid) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    UPDATE federation_packages SET package = jsonb_set(package, '{payload}', 'null')
    WHERE package_id = p_package AND direction = 'in' AND type = 'offer'
      AND package -> 'payload' <> 'null'::jsonb
$$;
REVOKE ALL ON FUNCTION trm_fed_drop_payload(uuid) FROM PUBLIC;
-- Incoming offers that are no longer open.
SELECT trm_fed_drop_payload(r.package_id) FROM referrals r
WHERE r.status <> 'offered' AND r.package_id IS NOT NULL AND r.peer_instance IS NOT NULL;

-- As in 0010, with the note's category (the note travels in the sealed payload).
CREATE OR REPLACE FUNCTION trm_fed_context(p_referral uuid) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
    me federation_instance;
    p federation_peers;
    incoming boolean;
    la agencies;
BEGIN
    SELECT * INTO r FROM referrals WHERE id = p_referral;
    IF NOT FOUND OR r.peer_instance IS NULL
       OR trm_ctx_agency() IS DISTINCT FROM r.from_agency_id AND trm_ctx_agency() IS DISTINCT FROM r.to_agency_id THEN
        RETURN NULL;
    END IF;
    SELECT * INTO me FROM federation_instance WHERE id = 1;
    SELECT * INTO p FROM federation_peers WHERE instance_id = r.peer_instance;
    incoming := EXISTS (SELECT 1 FROM agencies WHERE id = r.from_agency_id AND instance_id IS NOT NULL);
    SELECT * INTO la FROM agencies WHERE id = CASE WHEN incoming THEN r.to_agency_id ELSE r.from_agency_id END;
    RETURN jsonb_build_object(
        'instance_id', me.instance_id, 'instance_country', me.country,
        'peer_instance', p.instance_id, 'peer_active', p.active,
        'peer_signing_key', encode(p.signing_key, 'hex'), 'peer_box_key', encode(p.box_key, 'hex'),
        'incoming', incoming,
        'local_agency_id', la.id, 'local_agency_name', la.name, 'local_agency_kind', la.kind,
        'local_country', la.country,
        'remote_agency_id', CASE WHEN incoming THEN r.from_agency_id ELSE r.to_agency_id END,
        'referral_id', r.id, 'case_id', r.case_id, 'remote_case_id', r.remote_case_id,
        'kind', r.kind, 'purpose', r.purpose, 'urgency', r.urgency,
        'categories', array_to_string(r.categories, ','), 'legal_basis', r.legal_basis,
        'handling_code', r.handling_code, 'consent_id', r.consent_id,
        'note_category', r.note_category,
        'sex', r.sex, 'age_band', r.age_band, 'citizenship', r.citizenship,
        'status', r.status, 'package_id', r.package_id,
        'created_at', to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'expires_at', to_char(r.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'offer_package', (SELECT package FROM federation_packages WHERE package_id = r.package_id));
END;
$$;

-- The local case an accepted incoming offer became, with the offer's note sealed under its
-- key; the payload goes from the stored package.
DROP FUNCTION trm_fed_link_case(uuid, uuid);
CREATE FUNCTION trm_fed_link_case(p_referral uuid, p_case uuid, p_sealed_note text,
                                  p_note_category text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
BEGIN
    UPDATE referrals SET case_id = p_case, sealed_note = decode(p_sealed_note, 'hex'),
                         note_category = CASE WHEN p_sealed_note IS NOT NULL
                                              THEN coalesce(p_note_category, 'narrative') END
    WHERE id = p_referral AND to_agency_id = trm_ctx_agency() AND case_id IS NULL
      AND peer_instance IS NOT NULL
    RETURNING * INTO r;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no incoming offer to link' USING ERRCODE = 'TR404';
    END IF;
    PERFORM trm_fed_drop_payload(r.package_id);
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, 'received_from_instance', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('referral_id', r.id, 'kind', r.kind, 'instance', r.peer_instance,
                               'remote_case_id', r.remote_case_id, 'categories', r.categories));
END;
$$;
REVOKE ALL ON FUNCTION trm_fed_link_case(uuid, uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_link_case(uuid, uuid, text, text) TO trm_app;

-- Offers past their deadline become expired (as in 0006); an incoming one loses its payload.
CREATE OR REPLACE FUNCTION trm_referrals_expire() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
    n integer := 0;
BEGIN
    FOR r IN SELECT * FROM referrals WHERE status = 'offered' AND expires_at <= now()
             ORDER BY expires_at FOR UPDATE SKIP LOCKED LOOP
        UPDATE referrals SET status = 'expired', answered_at = now() WHERE id = r.id
        RETURNING * INTO r;
        PERFORM trm_handover_add(r, 'expire', NULL, NULL, NULL, NULL, NULL, NULL);
        IF r.case_id IS NULL THEN
            PERFORM trm_fed_drop_payload(r.package_id);
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;

-- A peer's agencies are in the countries registered for that peer (its own country unless
-- an admin registers more): a peer cannot place an agency in a country it does not serve, and
-- so cannot make it satisfy a consent naming that country.
ALTER TABLE federation_peers ADD COLUMN countries text[];
UPDATE federation_peers SET countries = ARRAY[country];
ALTER TABLE federation_peers ALTER COLUMN countries SET NOT NULL,
    ADD CONSTRAINT federation_peers_countries CHECK (cardinality(countries) BETWEEN 1 AND 50
                                                     AND country = ANY (countries));
-- Agencies of a peer that a previous version let in with another country become inactive.
UPDATE agencies a SET active = false FROM federation_peers p
WHERE a.instance_id = p.instance_id AND NOT (a.country = ANY (p.countries)) AND a.active;

-- A peer's directory, as fetched (as in 0010): an agency in a country the peer does not
-- serve, or named like one of our own agencies of that country, is not taken (and counted
-- as skipped in the answer). Returns how many were stored.
CREATE OR REPLACE FUNCTION trm_fed_directory_store(p_peer text, p_items jsonb) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    it jsonb;
    p federation_peers;
    n integer := 0;
BEGIN
    SELECT * INTO p FROM federation_peers WHERE instance_id = p_peer;
    FOR it IN SELECT * FROM jsonb_array_elements(p_items) LOOP
        CONTINUE WHEN NOT (it ->> 'country' = ANY (p.countries));
        CONTINUE WHEN EXISTS (SELECT 1 FROM agencies a WHERE a.instance_id IS NULL
                              AND a.country = it ->> 'country'
                              AND lower(a.name) = lower(it ->> 'name'));
        INSERT INTO agencies (id, name, country, kind, instance_id, active)
        VALUES ((it ->> 'id')::uuid, it ->> 'name', it ->> 'country', it ->> 'kind', p_peer,
                coalesce((it ->> 'active')::boolean, true))
        ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
                                       active = EXCLUDED.active
        WHERE agencies.instance_id = p_peer AND agencies.country = EXCLUDED.country;
        n := n + 1;
    END LOOP;
    UPDATE agencies SET active = false
    WHERE instance_id = p_peer AND active
      AND id NOT IN (SELECT (x ->> 'id')::uuid FROM jsonb_array_elements(p_items) x
                     WHERE x ->> 'country' = ANY (p.countries));
    UPDATE federation_peers SET directory_fetched_at = now() WHERE instance_id = p_peer;
    RETURN n;
END;
$$;

-- An offer from a peer (as in 0010): the sending agency must be in a country the peer serves
-- and the purpose must be a code.
CREATE OR REPLACE FUNCTION trm_fed_receive_offer(p_package jsonb, p_hash bytea, p_sig bytea,
                                                 p_receipt jsonb)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    h jsonb := p_package -> 'header';
    peer federation_peers;
    ra agencies;
    sa agencies;
    r referrals;
BEGIN
    SELECT * INTO peer FROM federation_peers WHERE instance_id = h ->> 'sender_instance' AND active;
    IF NOT FOUND THEN
        RETURN 'unknown_peer';
    END IF;
    IF NOT (h ->> 'sender_country' = ANY (peer.countries)) THEN
        RETURN 'sender_country';
    END IF;
    IF h ->> 'purpose' NOT IN ('accommodation', 'medical', 'psychological', 'legal',
                               'interpretation', 'return_reception', 'investigation', 'other') THEN
        RETURN 'purpose';
    END IF;
    SELECT * INTO ra FROM agencies
    WHERE id = (h ->> 'recipient_agency_id')::uuid AND instance_id IS NULL AND active;
    IF NOT FOUND THEN
        RETURN 'recipient';
    END IF;
    SELECT * INTO sa FROM agencies WHERE id = (h ->> 'sender_agency_id')::uuid;
    IF FOUND AND (sa.instance_id IS DISTINCT FROM peer.instance_id OR sa.country <> h ->> 'sender_country') THEN
        RETURN 'sender';
    END IF;
    INSERT INTO agencies (id, name, country, kind, instance_id)
    VALUES ((h ->> 'sender_agency_id')::uuid, h ->> 'sender_agency_name', h ->> 'sender_country',
            h ->> 'sender_agency_kind', peer.instance_id)
    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, active = true;
    IF EXISTS (SELECT 1 FROM referrals WHERE id = (h ->> 'referral_id')::uuid) THEN
        RETURN 'duplicate_referral';
    END IF;
    INSERT INTO referrals (id, case_id, kind, from_agency_id, to_agency_id, from_country,
                           to_country, purpose, urgency, categories, legal_basis, handling_code,
                           flagged, sex, age_band, citizenship, expires_at, peer_instance,
                           package_id, remote_case_id, remote_consent_id)
    VALUES ((h ->> 'referral_id')::uuid, NULL, h ->> 'kind', (h ->> 'sender_agency_id')::uuid,
            ra.id, h ->> 'sender_country', ra.country, h ->> 'purpose', h ->> 'urgency',
            string_to_array(nullif(h ->> 'categories', ''), ','), h ->> 'legal_basis',
            h ->> 'handling_code', h ->> 'legal_basis' = 'vital_interest', h ->> 'sex',
            h ->> 'age_band', h ->> 'citizenship', (h ->> 'expires_at')::timestamptz,
            peer.instance_id, (h ->> 'package_id')::uuid, nullif(h ->> 'case_id', '')::uuid,
            nullif(h ->> 'consent_id', '')::uuid)
    RETURNING * INTO r;
    INSERT INTO federation_packages (package_id, direction, peer_instance, type, referral_id,
                                     package, package_hash, status, receipt, delivered_at)
    VALUES (r.package_id, 'in', peer.instance_id, 'offer', r.id, p_package, p_hash, 'received',
            p_receipt, now());
    PERFORM trm_handover_append_fed(r, 'offer', r.package_id, p_hash, peer.instance_id, NULL, p_sig);
    RETURN 'ok';
END;
$$;

-- An answer from a peer (as in 0015), now also checked against the offer it answers: it must
-- name the offer's package in in_reply_to, and an acceptance or decline must come before the
-- offer expired (with the clock slack the inbox allows). A withdrawal of an offer it sent us
-- drops that offer's payload; a transfer accepted there ends our grants on the case's data.
CREATE OR REPLACE FUNCTION trm_fed_receive_answer(p_package jsonb, p_hash bytea, p_sig bytea,
                                                  p_receipt jsonb)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    h jsonb := p_package -> 'header';
    act text := h ->> 'action';
    verb text := CASE act WHEN 'accept' THEN 'accepted' WHEN 'decline' THEN 'declined'
                          WHEN 'withdraw' THEN 'withdrawn'
                          WHEN 'consent_withdrawal' THEN 'accepted' END;
    r referrals;
    crossed boolean := false;
BEGIN
    IF verb IS NULL THEN
        RETURN 'action';
    END IF;
    -- A peer speaks for its own agencies only, never for ours.
    IF NOT EXISTS (SELECT 1 FROM agencies WHERE id = (h ->> 'sender_agency_id')::uuid
                   AND instance_id = h ->> 'sender_instance') THEN
        RETURN 'not_found';
    END IF;
    SELECT * INTO r FROM referrals WHERE id = (h ->> 'referral_id')::uuid FOR UPDATE;
    IF NOT FOUND OR r.peer_instance IS DISTINCT FROM h ->> 'sender_instance'
       OR (act IN ('accept', 'decline') AND (r.to_agency_id <> (h ->> 'sender_agency_id')::uuid
                                            OR r.from_agency_id <> (h ->> 'recipient_agency_id')::uuid))
       OR (act IN ('withdraw', 'consent_withdrawal')
           AND (r.from_agency_id <> (h ->> 'sender_agency_id')::uuid
                OR r.to_agency_id <> (h ->> 'recipient_agency_id')::uuid)) THEN
        RETURN 'not_found';
    END IF;
    IF r.package_id IS NULL OR h ->> 'in_reply_to' IS DISTINCT FROM r.package_id::text THEN
        RETURN 'in_reply_to';
    END IF;
    IF act = 'consent_withdrawal' THEN
        IF r.status <> 'accepted' OR r.kind <> 'referral' THEN
            RETURN 'answered';
        END IF;
    ELSIF r.status <> 'offered' AND NOT (act = 'withdraw' AND r.status = 'accepted') THEN
        RETURN 'answered';
    END IF;
    IF act IN ('accept', 'decline') AND r.expires_at + interval '1 hour' <= now() THEN
        RETURN 'expired';
    END IF;
    IF act <> 'consent_withdrawal' THEN
        crossed := act = 'withdraw' AND r.status = 'accepted';
        UPDATE referrals SET status = verb, answered_at = now() WHERE id = r.id RETURNING * INTO r;
    END IF;
    INSERT INTO federation_packages (package_id, direction, peer_instance, type, referral_id,
                                     package, package_hash, status, receipt, delivered_at)
    VALUES ((h ->> 'package_id')::uuid, 'in', r.peer_instance, 'answer', r.id, p_package, p_hash,
            'received', p_receipt, now());
    PERFORM trm_handover_append_fed(r, act, (h ->> 'package_id')::uuid, p_hash, r.peer_instance,
                                    NULL, p_sig);
    IF act = 'consent_withdrawal' THEN
        PERFORM trm_fed_erase_received(r, 'consent_withdrawn');
        RETURN 'ok';
    END IF;
    IF crossed THEN
        PERFORM trm_fed_erase_received(r, 'referral_withdrawn');
        RETURN 'ok';
    END IF;
    IF act = 'withdraw' AND r.case_id IS NULL THEN
        PERFORM trm_fed_drop_payload(r.package_id);
    END IF;
    IF r.case_id IS NOT NULL THEN
        INSERT INTO case_events (case_id, kind, details)
        VALUES (r.case_id, 'referral_' || verb,
                jsonb_build_object('referral_id', r.id, 'kind', r.kind, 'instance', r.peer_instance));
    END IF;
    IF act = 'accept' AND r.kind = 'transfer' AND r.case_id IS NOT NULL THEN
        UPDATE cases SET transferred_to_instance = r.peer_instance, transferred_out_at = now(),
                         closed_at = coalesce(closed_at, now()),
                         personal_data_erased_at = coalesce(personal_data_erased_at, now()),
                         version = version + 1, updated_at = now()
        WHERE id = r.case_id;
        PERFORM trm_case_forget_personal(ARRAY[r.case_id]);
        INSERT INTO case_events (case_id, kind, details)
        VALUES (r.case_id, 'transferred_out',
                jsonb_build_object('referral_id', r.id, 'instance', r.peer_instance,
                                   'to_agency_id', r.to_agency_id));
    END IF;
    RETURN 'ok';
END;
$$;
