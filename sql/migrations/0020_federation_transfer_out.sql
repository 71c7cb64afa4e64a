-- Federation as a newcomer meets it (issue 22).
--
-- * A case transferred out to a peer instance ends its tracks here: every track goes to the
--   state transferred_out (phase closed), set by trm and in no SOP, with no deadline, so it
--   is never overdue at an agency that no longer holds it; the case says where it went.
-- * The peer that accepts an offer names the case it became (its id and reference, neither
--   of them personal) in the answer's header; the offer names ours the same way. Packages
--   carrying a reference are of version 2, sent only to peers whose directory says they
--   read it (package_versions), so a peer on an older trm goes on working.
-- * A demo agency of ours no longer hides a peer's agency of the same name: it is a
--   stand-in, never the real one.

ALTER TABLE referrals
    ADD COLUMN remote_case_reference text
        CHECK (remote_case_reference ~ '^[A-Z0-9-]{1,32}$');
ALTER TABLE cases
    ADD COLUMN transferred_remote_case_id uuid,
    ADD COLUMN transferred_remote_reference text
        CHECK (transferred_remote_reference ~ '^[A-Z0-9-]{1,32}$');
-- The highest package version a peer reads, as its directory says (1 until it says more).
ALTER TABLE federation_peers
    ADD COLUMN package_version integer NOT NULL DEFAULT 1 CHECK (package_version >= 1);

-- A peer's package version, from its signed directory answer.
CREATE FUNCTION trm_fed_peer_package_version(p_peer text, p_version integer) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    UPDATE federation_peers SET package_version = greatest(1, least(p_version, 2))
    WHERE instance_id = p_peer AND package_version IS DISTINCT FROM greatest(1, least(p_version, 2))
$$;
REVOKE ALL ON FUNCTION trm_fed_peer_package_version(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_peer_package_version(text, integer) TO trm_app;

-- transferred_out is a state of every track of every SOP, in phase closed (trm_case_tracks
-- and the case lists read phases from this table). A SOP may not name a state so (trmctl sop
-- load and POST /v1/sops refuse it).
INSERT INTO sop_state_phases (sop_id, track, state, phase)
SELECT DISTINCT s.id, t ->> 'name', 'transferred_out', 'closed'
FROM sops s, jsonb_array_elements(s.document -> 'tracks') t
ON CONFLICT DO NOTHING;

-- As in 0011, with the transferred_out state of every track.
CREATE OR REPLACE FUNCTION trm_sop_state_phases_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    INSERT INTO sop_state_phases (sop_id, track, state, phase)
    SELECT DISTINCT ON (t ->> 'name', st ->> 'name') NEW.id, t ->> 'name', st ->> 'name',
           st ->> 'phase'
    FROM jsonb_array_elements(NEW.document -> 'tracks') t,
         jsonb_array_elements(t -> 'states') st;
    INSERT INTO sop_state_phases (sop_id, track, state, phase)
    SELECT DISTINCT NEW.id, t ->> 'name', 'transferred_out', 'closed'
    FROM jsonb_array_elements(NEW.document -> 'tracks') t
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

-- Cases transferred out before this migration end their tracks the same way.
UPDATE case_tracks t SET state = 'transferred_out', entered_at = c.transferred_out_at,
                         due_at = NULL
FROM cases c
WHERE c.id = t.case_id AND c.transferred_out_at IS NOT NULL AND t.state <> 'transferred_out';
UPDATE cases c SET transferred_remote_case_id = r.remote_case_id
FROM referrals r
WHERE c.transferred_out_at IS NOT NULL AND r.case_id = c.id AND r.kind = 'transfer'
  AND r.status = 'accepted' AND r.peer_instance = c.transferred_to_instance
  AND c.transferred_remote_case_id IS NULL AND r.remote_case_id IS NOT NULL;

-- As in 0016, with the peer's package version and our case's reference.
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
        'peer_package_version', p.package_version,
        'incoming', incoming,
        'local_agency_id', la.id, 'local_agency_name', la.name, 'local_agency_kind', la.kind,
        'local_country', la.country,
        'remote_agency_id', CASE WHEN incoming THEN r.from_agency_id ELSE r.to_agency_id END,
        'referral_id', r.id, 'case_id', r.case_id, 'remote_case_id', r.remote_case_id,
        'case_reference', (SELECT reference FROM cases WHERE id = r.case_id),
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

-- As in 0016; an agency of ours hides a peer's agency of the same name and country only when
-- it is a real one (not demo).
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
        CONTINUE WHEN EXISTS (SELECT 1 FROM agencies a WHERE a.instance_id IS NULL AND NOT a.demo
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

-- As in 0016, keeping the reference the sender gives its case (version-2 packages).
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
                           package_id, remote_case_id, remote_consent_id, remote_case_reference)
    VALUES ((h ->> 'referral_id')::uuid, NULL, h ->> 'kind', (h ->> 'sender_agency_id')::uuid,
            ra.id, h ->> 'sender_country', ra.country, h ->> 'purpose', h ->> 'urgency',
            string_to_array(nullif(h ->> 'categories', ''), ','), h ->> 'legal_basis',
            h ->> 'handling_code', h ->> 'legal_basis' = 'vital_interest', h ->> 'sex',
            h ->> 'age_band', h ->> 'citizenship', (h ->> 'expires_at')::timestamptz,
            peer.instance_id, (h ->> 'package_id')::uuid, nullif(h ->> 'case_id', '')::uuid,
            nullif(h ->> 'consent_id', '')::uuid, nullif(h ->> 'case_reference', ''))
    RETURNING * INTO r;
    INSERT INTO federation_packages (package_id, direction, peer_instance, type, referral_id,
                                     package, package_hash, status, receipt, delivered_at)
    VALUES (r.package_id, 'in', peer.instance_id, 'offer', r.id, p_package, p_hash, 'received',
            p_receipt, now());
    PERFORM trm_handover_append_fed(r, 'offer', r.package_id, p_hash, peer.instance_id, NULL, p_sig);
    RETURN 'ok';
END;
$$;

-- As in 0016; an acceptance names the case it became at the peer (kept on the referral), and
-- a transfer accepted there ends our case's tracks in transferred_out (no deadline) and
-- records where the case went.
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
    IF act = 'accept' THEN
        -- The case it became there, as the peer names it (ids and a reference: nothing
        -- personal); a peer from before 0020 sends neither.
        UPDATE referrals SET remote_case_id = nullif(h ->> 'case_id', '')::uuid,
                             remote_case_reference = nullif(h ->> 'case_reference', '')
        WHERE id = r.id RETURNING * INTO r;
    END IF;
    IF act = 'accept' AND r.kind = 'transfer' AND r.case_id IS NOT NULL THEN
        UPDATE cases SET transferred_to_instance = r.peer_instance, transferred_out_at = now(),
                         transferred_remote_case_id = r.remote_case_id,
                         transferred_remote_reference = r.remote_case_reference,
                         closed_at = coalesce(closed_at, now()),
                         personal_data_erased_at = coalesce(personal_data_erased_at, now()),
                         version = version + 1, updated_at = now()
        WHERE id = r.case_id;
        PERFORM trm_case_forget_personal(ARRAY[r.case_id]);
        -- Its tracks end here: the procedure goes on at the peer, no deadline is ours.
        UPDATE case_tracks SET state = 'transferred_out', entered_at = now(), due_at = NULL
        WHERE case_id = r.case_id;
        INSERT INTO case_events (case_id, kind, details)
        VALUES (r.case_id, 'transferred_out',
                jsonb_build_object('referral_id', r.id, 'instance', r.peer_instance,
                                   'to_agency_id', r.to_agency_id,
                                   'remote_case_id', r.remote_case_id,
                                   'remote_reference', r.remote_case_reference));
    END IF;
    RETURN 'ok';
END;
$$;
