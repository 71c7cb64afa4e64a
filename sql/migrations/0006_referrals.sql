-- Referrals and transfers between agencies (and countries), and the tamper-evident handover
-- log. A referral shares the offered categories of a case with the recipient once accepted;
-- a transfer moves custody. Every offer, answer, expiry and consent withdrawal that ends
-- access is appended to handover_log in the same transaction, hash-chained.

CREATE TABLE referrals (
    id             uuid PRIMARY KEY,
    case_id        uuid NOT NULL REFERENCES cases (id),
    kind           text NOT NULL CHECK (kind IN ('referral', 'transfer')),
    from_agency_id uuid NOT NULL REFERENCES agencies (id),
    to_agency_id   uuid NOT NULL REFERENCES agencies (id),
    from_country   text NOT NULL,
    to_country     text NOT NULL,
    purpose        text NOT NULL CHECK (length(purpose) BETWEEN 1 AND 300),
    urgency        text NOT NULL DEFAULT 'routine' CHECK (urgency IN ('routine', 'urgent', 'emergency')),
    categories     text[] NOT NULL,
    legal_basis    text NOT NULL CHECK (legal_basis IN ('consent', 'vital_interest', 'legal_obligation')),
    handling_code  text NOT NULL CHECK (handling_code IN ('H0', 'H1', 'H2', 'H3')),
    consent_id     uuid REFERENCES consents (id),
    flagged        boolean NOT NULL DEFAULT false,
    -- The minimal summary the recipient sees before accepting (statistical, not personal).
    sex            text NOT NULL,
    age_band       text NOT NULL,
    citizenship    text NOT NULL,
    sealed_note    bytea,
    sealed_reason  bytea,
    status         text NOT NULL DEFAULT 'offered'
                   CHECK (status IN ('offered', 'accepted', 'declined', 'withdrawn', 'expired')),
    created_by     uuid NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    answered_at    timestamptz,
    answered_by    uuid,
    answer_reason  text
);
CREATE INDEX referrals_to ON referrals (to_agency_id, status, created_at DESC);
CREATE INDEX referrals_from ON referrals (from_agency_id, status, created_at DESC);
CREATE INDEX referrals_case ON referrals (case_id);
CREATE UNIQUE INDEX referrals_one_open_offer ON referrals (case_id, to_agency_id)
    WHERE status = 'offered';

-- The chain head: one row, locked by every append, so sequence numbers have no gaps and the
-- chain has no forks whatever runs concurrently.
CREATE TABLE handover_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash bytea NOT NULL
);
INSERT INTO handover_head VALUES (1, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE handover_log (
    seq            bigint PRIMARY KEY,
    at             text NOT NULL, -- RFC 3339 UTC with microseconds: hashed as written
    case_id        uuid NOT NULL,
    referral_id    uuid,
    action         text NOT NULL CHECK (action IN ('offer', 'accept', 'decline', 'withdraw',
                       'expire', 'consent_withdrawal')),
    from_agency_id uuid NOT NULL,
    to_agency_id   uuid NOT NULL,
    from_country   text NOT NULL,
    to_country     text NOT NULL,
    actor_user_id  uuid,
    categories     text[] NOT NULL,
    legal_basis    text NOT NULL,
    handling_code  text NOT NULL,
    consent_id     uuid,
    prev_hash      bytea NOT NULL,
    hash           bytea NOT NULL
);
CREATE INDEX handover_log_case ON handover_log (case_id, seq);
CREATE INDEX handover_log_countries ON handover_log (from_country, to_country, seq);

CREATE TABLE handover_checkpoints (
    seq       bigint PRIMARY KEY,
    head_hash bytea NOT NULL,
    at        text NOT NULL,
    key_id    text NOT NULL,
    signature bytea NOT NULL
);

CREATE TRIGGER handover_log_append_only BEFORE UPDATE OR DELETE ON handover_log
    FOR EACH ROW EXECUTE FUNCTION trm_refuse_change();
CREATE TRIGGER handover_log_no_truncate BEFORE TRUNCATE ON handover_log
    FOR EACH STATEMENT EXECUTE FUNCTION trm_refuse_change();
CREATE TRIGGER handover_checkpoints_append_only BEFORE UPDATE OR DELETE ON handover_checkpoints
    FOR EACH ROW EXECUTE FUNCTION trm_refuse_change();

-- Version 1 of the entry encoding (docs/handover-log.md): the label and every field as
-- UTF-8 text, each preceded by its length as 4 bytes big-endian; the previous hash as 32
-- raw bytes with its length. hash = SHA-256 of the encoding.
CREATE FUNCTION trm_lp(t text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT int4send(octet_length(convert_to(coalesce(t, ''), 'UTF8'))) || convert_to(coalesce(t, ''), 'UTF8')
$$;
CREATE FUNCTION trm_handover_encoding(e handover_log) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
    SELECT trm_lp('trm-handover-v1') || trm_lp(e.seq::text) || trm_lp(e.at) ||
           trm_lp(e.case_id::text) || trm_lp(e.referral_id::text) || trm_lp(e.action) ||
           trm_lp(e.from_agency_id::text) || trm_lp(e.to_agency_id::text) ||
           trm_lp(e.from_country) || trm_lp(e.to_country) || trm_lp(e.actor_user_id::text) ||
           trm_lp(array_to_string(e.categories, ',')) || trm_lp(e.legal_basis) ||
           trm_lp(e.handling_code) || trm_lp(e.consent_id::text) ||
           int4send(octet_length(e.prev_hash)) || e.prev_hash
$$;

-- Appends one entry for a referral (the caller's transaction); returns seq and hash.
-- SECURITY DEFINER: the head row is not the application's to change by hand.
CREATE FUNCTION trm_handover_append(r referrals, p_action text, OUT o_seq bigint, OUT o_hash bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    e handover_log;
BEGIN
    UPDATE handover_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash INTO e.seq, e.prev_hash;
    e.at := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    e.case_id := r.case_id;
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
    e.consent_id := r.consent_id;
    e.hash := sha256(trm_handover_encoding(e));
    INSERT INTO handover_log SELECT e.*;
    UPDATE handover_head SET hash = e.hash WHERE id = 1;
    o_seq := e.seq;
    o_hash := e.hash;
END;
$$;
REVOKE ALL ON FUNCTION trm_handover_append(referrals, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_handover_append(referrals, text) TO trm_app;

-- Who may see what of a case, now that agencies share cases.
-- The summary and timeline: the owner, an agency that accepted a referral or transfer of it,
-- and the former owner after a transfer.
CREATE OR REPLACE FUNCTION trm_case_in_scope(owner uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT trm_ctx_role() IN ('caseworker', 'coordinator') AND owner = trm_ctx_agency()
$$;
CREATE FUNCTION trm_case_shared(p_case uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT trm_ctx_role() IN ('caseworker', 'coordinator') AND EXISTS (
        SELECT 1 FROM referrals r
        WHERE r.case_id = p_case AND r.status = 'accepted'
          AND (r.to_agency_id = trm_ctx_agency()
               OR (r.kind = 'transfer' AND r.from_agency_id = trm_ctx_agency())))
$$;
-- Personal data by category: the owner sees all; a recipient of an accepted referral sees
-- the offered categories while the consent it rests on stands.
CREATE FUNCTION trm_category_visible(p_case uuid, p_category text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT trm_ctx_role() IN ('caseworker', 'coordinator') AND (
        EXISTS (SELECT 1 FROM cases c WHERE c.id = p_case AND c.owner_agency_id = trm_ctx_agency())
        OR EXISTS (
            SELECT 1 FROM referrals r LEFT JOIN consents k ON k.id = r.consent_id
            WHERE r.case_id = p_case AND r.status = 'accepted' AND r.kind = 'referral'
              AND r.to_agency_id = trm_ctx_agency() AND p_category = ANY (r.categories)
              AND (r.legal_basis <> 'consent'
                   OR (k.withdrawn_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())))))
$$;
CREATE FUNCTION trm_case_key_visible(p_case uuid) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (SELECT 1 FROM unnest(ARRAY['identity', 'contact', 'health', 'narrative',
                                              'exploitation_details']) c
                   WHERE trm_category_visible(p_case, c))
$$;

DROP POLICY cases_read ON cases;
CREATE POLICY cases_read ON cases FOR SELECT TO trm_app
    USING (trm_case_in_scope(owner_agency_id) OR trm_case_shared(id));
DROP POLICY case_personal_scope ON case_personal;
CREATE POLICY case_personal_scope ON case_personal TO trm_app
    USING (trm_category_visible(case_id, category));
DROP POLICY case_keys_scope ON case_keys;
CREATE POLICY case_keys_read ON case_keys FOR SELECT TO trm_app USING (trm_case_key_visible(case_id));
CREATE POLICY case_keys_owner ON case_keys TO trm_app
    USING (EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id AND c.owner_agency_id = trm_ctx_agency()));
-- Blind indexes, consents, assessments and guardians stay with the owner.
DROP POLICY case_blind_index_scope ON case_blind_index;
CREATE POLICY case_blind_index_scope ON case_blind_index TO trm_app
    USING (EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id AND c.owner_agency_id = trm_ctx_agency()));
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['consents', 'assessments', 'guardians'] LOOP
        EXECUTE format('DROP POLICY %I ON %I', t || '_scope', t);
        EXECUTE format('CREATE POLICY %I ON %I TO trm_app USING (EXISTS (SELECT 1 FROM cases c '
                       'WHERE c.id = case_id AND c.owner_agency_id = trm_ctx_agency()))',
                       t || '_scope', t);
    END LOOP;
END;
$$;

ALTER TABLE referrals ENABLE ROW LEVEL SECURITY;
ALTER TABLE referrals FORCE ROW LEVEL SECURITY;
CREATE POLICY referrals_parties ON referrals TO trm_app
    USING (trm_ctx_role() IN ('caseworker', 'coordinator')
           AND trm_ctx_agency() IN (from_agency_id, to_agency_id));
CREATE POLICY referrals_audit ON referrals FOR SELECT TO trm_app
    USING (trm_ctx_role() = 'auditor'
           AND (trm_ctx_cross_border() OR trm_ctx_country() IN (from_country, to_country)));
ALTER TABLE handover_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE handover_log FORCE ROW LEVEL SECURITY;
CREATE POLICY handover_log_audit ON handover_log FOR SELECT TO trm_app
    USING ((trm_ctx_role() = 'auditor'
            AND (trm_ctx_cross_border() OR trm_ctx_country() IN (from_country, to_country)))
           OR (trm_ctx_role() = 'coordinator'
               AND trm_ctx_agency() IN (from_agency_id, to_agency_id)));
CREATE POLICY handover_log_append ON handover_log FOR INSERT TO trm_app WITH CHECK (true);
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['referrals', 'handover_log'] LOOP
        EXECUTE format('CREATE POLICY %I ON %I TO %I USING (true) WITH CHECK (true)',
                       t || '_maintenance', t, current_user);
    END LOOP;
END;
$$;

-- The sending side's coordinators see who read a case's personal data, including at the
-- recipient.
CREATE POLICY access_log_sender ON access_log FOR SELECT TO trm_app
    USING (trm_ctx_role() = 'coordinator' AND (
        EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id AND c.owner_agency_id = trm_ctx_agency())
        OR EXISTS (SELECT 1 FROM referrals r WHERE r.case_id = access_log.case_id
                   AND r.from_agency_id = trm_ctx_agency())));

GRANT SELECT, INSERT ON referrals TO trm_app;
GRANT UPDATE (status, answered_at, answered_by, answer_reason) ON referrals TO trm_app;
GRANT SELECT ON handover_log, handover_checkpoints TO trm_app;
GRANT INSERT ON handover_checkpoints TO trm_app;
GRANT SELECT ON handover_head TO trm_app;

-- Offers a referral or transfer. Returns the unmet conditions (nothing is written then) or
-- an empty array when the offer is made: the referral row, its handover entry and the
-- timeline entry, in one round trip.
CREATE FUNCTION trm_referral_offer(
    p_id uuid, p_case uuid, p_to uuid, p_kind text, p_purpose text, p_urgency text,
    p_categories text[], p_basis text, p_code text, p_consent uuid, p_hours integer,
    p_note text, p_reason text)
RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    c cases;
    a agencies;
    k consents;
    r referrals;
    unmet text[] := '{}';
BEGIN
    SELECT * INTO c FROM cases WHERE id = p_case AND owner_agency_id = trm_ctx_agency();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such case in your agency' USING ERRCODE = 'TR404';
    END IF;
    IF c.personal_data_erased_at IS NOT NULL AND cardinality(p_categories) > 0 THEN
        unmet := array_append(unmet, 'personal_data_erased');
    END IF;
    SELECT * INTO a FROM agencies WHERE id = p_to;
    IF NOT FOUND OR NOT a.active OR a.id = c.owner_agency_id THEN
        unmet := array_append(unmet, 'recipient');
    END IF;
    IF p_basis = 'consent' THEN
        SELECT * INTO k FROM consents WHERE id = p_consent AND case_id = p_case;
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
    IF cardinality(unmet) > 0 THEN
        RETURN unmet;
    END IF;
    INSERT INTO referrals (id, case_id, kind, from_agency_id, to_agency_id, from_country,
                           to_country, purpose, urgency, categories, legal_basis, handling_code,
                           consent_id, flagged, sex, age_band, citizenship, sealed_note,
                           sealed_reason, created_by, expires_at)
    VALUES (p_id, p_case, p_kind, c.owner_agency_id, p_to,
            (SELECT country FROM agencies WHERE id = c.owner_agency_id), a.country,
            p_purpose, p_urgency, p_categories, p_basis, p_code,
            CASE WHEN p_basis = 'consent' THEN p_consent END, p_basis = 'vital_interest',
            c.sex, c.age_band, c.citizenship, decode(p_note, 'hex'), decode(p_reason, 'hex'),
            trm_ctx_user(), now() + make_interval(hours => p_hours))
    RETURNING * INTO r;
    PERFORM trm_handover_append(r, 'offer');
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, 'referral_offered', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('referral_id', p_id, 'kind', p_kind, 'to_agency_id', p_to,
                               'categories', p_categories, 'legal_basis', p_basis));
    RETURN unmet;
END;
$$;
GRANT EXECUTE ON FUNCTION trm_referral_offer TO trm_app;

-- The SOP state that continues a track in another SOP: the same state if it exists there,
-- else the first state of the same phase, else the track's initial state.
CREATE FUNCTION trm_sop_equivalent(old_doc jsonb, new_doc jsonb, p_track text, p_state text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    WITH phase AS (
        SELECT st ->> 'phase' AS p FROM jsonb_array_elements(old_doc -> 'tracks') t,
             jsonb_array_elements(t -> 'states') st
        WHERE t ->> 'name' = p_track AND st ->> 'name' = p_state),
    candidates AS (
        SELECT st ->> 'name' AS name, ord,
               CASE WHEN st ->> 'name' = p_state THEN 0
                    WHEN st ->> 'phase' = (SELECT p FROM phase) THEN 1 ELSE 2 END AS rank
        FROM jsonb_array_elements(new_doc -> 'tracks') t,
             jsonb_array_elements(t -> 'states') WITH ORDINALITY AS s (st, ord)
        WHERE t ->> 'name' = p_track)
    SELECT coalesce((SELECT name FROM candidates WHERE rank < 2 ORDER BY rank, ord LIMIT 1),
                    (SELECT t ->> 'initial' FROM jsonb_array_elements(new_doc -> 'tracks') t
                     WHERE t ->> 'name' = p_track))
$$;

-- Answers an offer: accept or decline (the recipient), withdraw (the sender). Returns 'ok'
-- or why not: not_found, answered, expired, not_recipient, not_sender. Nothing is written
-- unless 'ok'. SECURITY DEFINER because a declining recipient never sees the case; the
-- parties are checked here against the acting user.
CREATE FUNCTION trm_referral_answer(p_id uuid, p_action text, p_reason text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
    c cases;
    new_sop sops;
    old_doc jsonb;
    verb text := CASE p_action WHEN 'accept' THEN 'accepted' WHEN 'decline' THEN 'declined'
                               ELSE 'withdrawn' END;
BEGIN
    IF trm_ctx_role() NOT IN ('caseworker', 'coordinator') THEN
        RETURN 'not_found';
    END IF;
    SELECT * INTO r FROM referrals WHERE id = p_id FOR UPDATE;
    IF NOT FOUND OR trm_ctx_agency() NOT IN (r.from_agency_id, r.to_agency_id) THEN
        RETURN 'not_found';
    END IF;
    IF p_action IN ('accept', 'decline') AND trm_ctx_agency() <> r.to_agency_id THEN
        RETURN 'not_recipient';
    END IF;
    IF p_action = 'withdraw' AND trm_ctx_agency() <> r.from_agency_id THEN
        RETURN 'not_sender';
    END IF;
    IF r.status <> 'offered' THEN
        RETURN 'answered';
    END IF;
    IF p_action <> 'withdraw' AND r.expires_at <= now() THEN
        RETURN 'expired';
    END IF;
    UPDATE referrals SET status = verb, answered_at = now(), answered_by = trm_ctx_user(),
                         answer_reason = p_reason
    WHERE id = p_id RETURNING * INTO r;
    PERFORM trm_handover_append(r, p_action);
    IF p_action = 'accept' AND r.kind = 'transfer' THEN
        -- Custody moves; the case continues under the recipient country's SOP from the
        -- phase it is in.
        SELECT * INTO c FROM cases WHERE id = r.case_id FOR UPDATE;
        SELECT document INTO old_doc FROM sops WHERE id = c.sop_id;
        SELECT * INTO new_sop FROM sops s WHERE s.country = r.to_country
        ORDER BY s.loaded_at DESC, s.version DESC LIMIT 1;
        IF NOT FOUND THEN
            SELECT * INTO new_sop FROM sops s WHERE s.country IS NULL
            ORDER BY s.loaded_at DESC, s.version DESC LIMIT 1;
        END IF;
        -- The new owner receives exactly what was consented: other categories go.
        DELETE FROM case_personal WHERE case_id = r.case_id AND NOT (category = ANY (r.categories));
        IF NOT ('identity' = ANY (r.categories)) THEN
            DELETE FROM case_blind_index WHERE case_id = r.case_id;
        END IF;
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
    END IF;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (r.case_id, 'referral_' || verb, trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('referral_id', r.id, 'kind', r.kind));
    RETURN 'ok';
END;
$$;
REVOKE ALL ON FUNCTION trm_referral_answer(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_referral_answer(uuid, text, text) TO trm_app;

-- Offers past their deadline become expired (trmd runs this every few seconds).
CREATE FUNCTION trm_referrals_expire() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
    n integer := 0;
BEGIN
    FOR r IN SELECT * FROM referrals WHERE status = 'offered' AND expires_at <= now()
             ORDER BY expires_at FOR UPDATE SKIP LOCKED LOOP
        UPDATE referrals SET status = 'expired', answered_at = now() WHERE id = r.id
        RETURNING * INTO r;
        PERFORM trm_handover_append(r, 'expire');
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
REVOKE ALL ON FUNCTION trm_referrals_expire() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_referrals_expire() TO trm_app;

-- A withdrawn consent ends the access of every accepted referral resting on it: each such
-- end is a handover entry.
CREATE FUNCTION trm_consent_withdrawn(p_consent uuid) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
    n integer := 0;
BEGIN
    FOR r IN SELECT * FROM referrals WHERE consent_id = p_consent AND status = 'accepted'
             AND kind = 'referral' AND from_agency_id = trm_ctx_agency() ORDER BY created_at LOOP
        PERFORM trm_handover_append(r, 'consent_withdrawal');
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
REVOKE ALL ON FUNCTION trm_consent_withdrawn(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_consent_withdrawn(uuid) TO trm_app;

-- The whole chain (for verification and export by auditors, whatever their country: entries
-- carry ids, countries and categories, never personal data).
CREATE FUNCTION trm_handover_chain(p_after bigint, p_limit integer)
RETURNS SETOF handover_log
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF trm_ctx_role() NOT IN ('auditor', 'coordinator') THEN
        RETURN;
    END IF;
    RETURN QUERY SELECT * FROM handover_log WHERE seq > p_after ORDER BY seq LIMIT p_limit;
END;
$$;
REVOKE ALL ON FUNCTION trm_handover_chain(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_handover_chain(bigint, integer) TO trm_app;
