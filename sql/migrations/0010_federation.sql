-- Federation: handovers between trm instances (docs/federation.md). This instance's
-- identity, the peers an admin registered (never trusted on first use), their agencies in
-- our directory, the packages sent and received, and the handover-log fields that record
-- package hashes and the counterpart's signatures.

CREATE TABLE federation_instance (
    id          integer PRIMARY KEY CHECK (id = 1),
    instance_id text NOT NULL CHECK (instance_id ~ '^[a-z0-9][a-z0-9.-]{1,62}$'),
    country     text NOT NULL REFERENCES countries (code),
    url         text CHECK (url ~ '^https?://[^[:space:]]+$' AND length(url) <= 500)
);

CREATE TABLE federation_peers (
    instance_id          text PRIMARY KEY CHECK (instance_id ~ '^[a-z0-9][a-z0-9.-]{1,62}$'),
    country              text NOT NULL REFERENCES countries (code),
    url                  text NOT NULL CHECK (url ~ '^https?://[^[:space:]]+$' AND length(url) <= 500),
    signing_key          bytea NOT NULL CHECK (length(signing_key) = 32),
    box_key              bytea NOT NULL CHECK (length(box_key) = 32),
    active               boolean NOT NULL DEFAULT true,
    added_at             timestamptz NOT NULL DEFAULT now(),
    directory_fetched_at timestamptz
);

-- A peer's agencies live in our directory, marked with the peer's instance id; names are
-- unique per country among our own agencies only.
ALTER TABLE agencies ADD COLUMN instance_id text REFERENCES federation_peers (instance_id);
DROP INDEX agencies_country_name;
CREATE UNIQUE INDEX agencies_country_name ON agencies (country, lower(name)) WHERE instance_id IS NULL;

CREATE FUNCTION trm_users_check_local_agency() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM agencies WHERE id = NEW.agency_id AND instance_id IS NOT NULL) THEN
        RAISE EXCEPTION 'users belong to agencies of this instance'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'users_local_agency';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER users_local_agency BEFORE INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION trm_users_check_local_agency();

-- A case handed over to another instance: the summary and timeline stay, the personal data
-- goes with the transfer.
ALTER TABLE cases ADD COLUMN transferred_to_instance text,
                  ADD COLUMN transferred_out_at timestamptz;

-- Referrals across instances. An incoming offer has no local case until it is accepted
-- (remote_case_id names the sender's); an outgoing one names the package it travels in.
ALTER TABLE referrals ALTER COLUMN case_id DROP NOT NULL,
                      ALTER COLUMN created_by DROP NOT NULL,
                      ADD COLUMN peer_instance text REFERENCES federation_peers (instance_id),
                      ADD COLUMN package_id uuid,
                      ADD COLUMN remote_case_id uuid,
                      ADD COLUMN remote_consent_id uuid,
                      ADD CONSTRAINT referrals_case_or_peer
                          CHECK (case_id IS NOT NULL OR peer_instance IS NOT NULL);

-- Packages sent (the outbox, queued in the offer's or answer's transaction) and received.
-- The payload inside `package` is sealed to the recipient instance: only the header's
-- non-personal fields are readable here.
CREATE TABLE federation_packages (
    package_id      uuid PRIMARY KEY,
    direction       text NOT NULL CHECK (direction IN ('out', 'in')),
    peer_instance   text NOT NULL REFERENCES federation_peers (instance_id),
    type            text NOT NULL CHECK (type IN ('offer', 'answer')),
    referral_id     uuid NOT NULL,
    package         jsonb NOT NULL,
    package_hash    bytea NOT NULL CHECK (length(package_hash) = 32),
    status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'rejected', 'received')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    receipt         jsonb
);
CREATE INDEX federation_packages_due ON federation_packages (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX federation_packages_referral ON federation_packages (referral_id, created_at);

-- The handover log records packages: entries of version 2 carry the package id and hash,
-- the counterpart instance, and the counterpart's signed time and signature where the entry
-- records something the counterpart signed (docs/handover-log.md).
ALTER TABLE handover_log ADD COLUMN package_id uuid,
                         ADD COLUMN package_hash bytea,
                         ADD COLUMN peer_instance text,
                         ADD COLUMN peer_at text,
                         ADD COLUMN peer_signature bytea;
ALTER TABLE handover_log DROP CONSTRAINT handover_log_action_check;
ALTER TABLE handover_log ADD CONSTRAINT handover_log_action_check
    CHECK (action IN ('offer', 'accept', 'decline', 'withdraw', 'expire', 'consent_withdrawal',
                      'send', 'receipt'));

CREATE OR REPLACE FUNCTION trm_handover_encoding(e handover_log) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT trm_lp(CASE WHEN e.package_hash IS NULL THEN 'trm-handover-v1' ELSE 'trm-handover-v2' END) ||
           trm_lp(e.seq::text) || trm_lp(e.at) ||
           trm_lp(e.case_id::text) || trm_lp(e.referral_id::text) || trm_lp(e.action) ||
           trm_lp(e.from_agency_id::text) || trm_lp(e.to_agency_id::text) ||
           trm_lp(e.from_country) || trm_lp(e.to_country) || trm_lp(e.actor_user_id::text) ||
           trm_lp(array_to_string(e.categories, ',')) || trm_lp(e.legal_basis) ||
           trm_lp(e.handling_code) || trm_lp(e.consent_id::text) ||
           CASE WHEN e.package_hash IS NULL THEN ''::bytea
                ELSE trm_lp(e.package_id::text) || trm_lp(encode(e.package_hash, 'hex')) ||
                     trm_lp(e.peer_instance) || trm_lp(e.peer_at) ||
                     trm_lp(encode(e.peer_signature, 'hex')) END ||
           int4send(octet_length(e.prev_hash)) || e.prev_hash
$$;

-- An incoming offer has no local case: its entries name the sender's case.
CREATE FUNCTION trm_handover_append_fed(r referrals, p_action text, p_package uuid,
                                        p_hash bytea, p_peer text, p_peer_at text,
                                        p_peer_sig bytea, OUT o_seq bigint, OUT o_hash bytea)
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
    e.hash := sha256(trm_handover_encoding(e));
    INSERT INTO handover_log SELECT e.*;
    UPDATE handover_head SET hash = e.hash WHERE id = 1;
    o_seq := e.seq;
    o_hash := e.hash;
END;
$$;
REVOKE ALL ON FUNCTION trm_handover_append_fed(referrals, text, uuid, bytea, text, text, bytea) FROM PUBLIC;

CREATE OR REPLACE FUNCTION trm_handover_append(r referrals, p_action text, OUT o_seq bigint,
                                               OUT o_hash bytea)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    SELECT * FROM trm_handover_append_fed(r, p_action, NULL, NULL, NULL, NULL, NULL)
$$;

-- Answers: as in 0006, but an offer that crossed instances has no local custody to move
-- here (the transfer happens at the receiving instance) and may have no local case yet; it
-- answers 'remote' instead of 'ok' when it succeeded for such an offer.
CREATE OR REPLACE FUNCTION trm_referral_answer(p_id uuid, p_action text, p_reason text) RETURNS text
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
    IF p_action = 'accept' AND r.kind = 'transfer' AND r.peer_instance IS NULL THEN
        SELECT * INTO c FROM cases WHERE id = r.case_id FOR UPDATE;
        SELECT document INTO old_doc FROM sops WHERE id = c.sop_id;
        SELECT * INTO new_sop FROM sops s WHERE s.country = r.to_country
        ORDER BY s.loaded_at DESC, s.version DESC LIMIT 1;
        IF NOT FOUND THEN
            SELECT * INTO new_sop FROM sops s WHERE s.country IS NULL
            ORDER BY s.loaded_at DESC, s.version DESC LIMIT 1;
        END IF;
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
    IF r.case_id IS NOT NULL THEN
        INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
        VALUES (r.case_id, 'referral_' || verb, trm_ctx_user(), trm_ctx_agency(),
                jsonb_build_object('referral_id', r.id, 'kind', r.kind));
    END IF;
    -- 'remote': done here, and the answer must now travel to the peer instance.
    RETURN CASE WHEN r.peer_instance IS NULL THEN 'ok' ELSE 'remote' END;
END;
$$;

-- What the C side needs to build a package for a referral that crosses instances: our
-- identity, the peer's keys, the local and remote agency, the referral's fields and, for an
-- incoming offer, the package it came in. NULL for a referral within this instance.
CREATE FUNCTION trm_fed_context(p_referral uuid) RETURNS jsonb
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
        'sex', r.sex, 'age_band', r.age_band, 'citizenship', r.citizenship,
        'status', r.status, 'package_id', r.package_id,
        'created_at', to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'expires_at', to_char(r.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'offer_package', (SELECT package FROM federation_packages WHERE package_id = r.package_id));
END;
$$;
REVOKE ALL ON FUNCTION trm_fed_context(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_context(uuid) TO trm_app;

-- Queues a package we signed for the peer (the outbox), in the caller's transaction, and
-- records it in the handover log as 'send'. An offer's package becomes the referral's.
CREATE FUNCTION trm_fed_queue(p_referral uuid, p_type text, p_package jsonb, p_hash bytea)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
    pkg uuid := (p_package -> 'header' ->> 'package_id')::uuid;
BEGIN
    SELECT * INTO r FROM referrals WHERE id = p_referral FOR UPDATE;
    IF NOT FOUND OR r.peer_instance IS NULL
       OR trm_ctx_agency() IS DISTINCT FROM r.from_agency_id AND trm_ctx_agency() IS DISTINCT FROM r.to_agency_id THEN
        RAISE EXCEPTION 'no such referral across instances' USING ERRCODE = 'TR404';
    END IF;
    INSERT INTO federation_packages (package_id, direction, peer_instance, type, referral_id,
                                     package, package_hash, status)
    VALUES (pkg, 'out', r.peer_instance, p_type, r.id, p_package, p_hash, 'pending');
    IF p_type = 'offer' THEN
        UPDATE referrals SET package_id = pkg WHERE id = r.id RETURNING * INTO r;
    END IF;
    RETURN (trm_handover_append_fed(r, 'send', pkg, p_hash, r.peer_instance, NULL, NULL)).o_seq;
END;
$$;
REVOKE ALL ON FUNCTION trm_fed_queue(uuid, text, jsonb, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_queue(uuid, text, jsonb, bytea) TO trm_app;

-- Marks the referral's recipient agency as a peer's, so the offer travels (called by the
-- offering transaction right after trm_referral_offer).
CREATE FUNCTION trm_fed_mark_remote(p_referral uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    peer text;
BEGIN
    SELECT a.instance_id INTO peer FROM referrals r JOIN agencies a ON a.id = r.to_agency_id
    WHERE r.id = p_referral AND r.from_agency_id = trm_ctx_agency();
    IF peer IS NULL THEN
        RETURN false;
    END IF;
    UPDATE referrals SET peer_instance = peer WHERE id = p_referral;
    RETURN true;
END;
$$;
REVOKE ALL ON FUNCTION trm_fed_mark_remote(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_mark_remote(uuid) TO trm_app;

-- The local case an accepted incoming offer became (the recipient's own case).
CREATE FUNCTION trm_fed_link_case(p_referral uuid, p_case uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    r referrals;
BEGIN
    UPDATE referrals SET case_id = p_case
    WHERE id = p_referral AND to_agency_id = trm_ctx_agency() AND case_id IS NULL
      AND peer_instance IS NOT NULL
    RETURNING * INTO r;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no incoming offer to link' USING ERRCODE = 'TR404';
    END IF;
    INSERT INTO case_events (case_id, kind, actor_user_id, actor_agency_id, details)
    VALUES (p_case, 'received_from_instance', trm_ctx_user(), trm_ctx_agency(),
            jsonb_build_object('referral_id', r.id, 'kind', r.kind, 'instance', r.peer_instance,
                               'remote_case_id', r.remote_case_id, 'categories', r.categories));
END;
$$;
REVOKE ALL ON FUNCTION trm_fed_link_case(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_link_case(uuid, uuid) TO trm_app;

-- A package received before: its hash and our receipt (the same answer to a duplicate).
CREATE FUNCTION trm_fed_received(p_package uuid, OUT o_direction text, OUT o_hash bytea,
                                 OUT o_receipt jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT direction, package_hash, receipt FROM federation_packages WHERE package_id = p_package
$$;
REVOKE ALL ON FUNCTION trm_fed_received(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_received(uuid) TO trm_app;

-- An offer from a peer (already verified by trmd: registered peer, signature, recipient
-- instance, expiry). Stores the sending agency in our directory, the referral for our
-- recipient agency, the package and its handover entry. Returns 'ok' or why not.
CREATE FUNCTION trm_fed_receive_offer(p_package jsonb, p_hash bytea, p_sig bytea, p_receipt jsonb)
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
    SELECT * INTO ra FROM agencies
    WHERE id = (h ->> 'recipient_agency_id')::uuid AND instance_id IS NULL AND active;
    IF NOT FOUND THEN
        RETURN 'recipient';
    END IF;
    SELECT * INTO sa FROM agencies WHERE id = (h ->> 'sender_agency_id')::uuid;
    IF FOUND AND sa.instance_id IS DISTINCT FROM peer.instance_id THEN
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
REVOKE ALL ON FUNCTION trm_fed_receive_offer(jsonb, bytea, bytea, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_receive_offer(jsonb, bytea, bytea, jsonb) TO trm_app;

-- An answer from a peer: accept or decline of our offer, or the withdrawal of theirs. An
-- accepted transfer leaves us the case's summary and timeline: its personal data and key go.
CREATE FUNCTION trm_fed_receive_answer(p_package jsonb, p_hash bytea, p_sig bytea, p_receipt jsonb)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    h jsonb := p_package -> 'header';
    act text := h ->> 'action';
    verb text := CASE act WHEN 'accept' THEN 'accepted' WHEN 'decline' THEN 'declined'
                          WHEN 'withdraw' THEN 'withdrawn' END;
    r referrals;
BEGIN
    IF verb IS NULL THEN
        RETURN 'action';
    END IF;
    SELECT * INTO r FROM referrals WHERE id = (h ->> 'referral_id')::uuid FOR UPDATE;
    IF NOT FOUND OR r.peer_instance IS DISTINCT FROM h ->> 'sender_instance'
       OR (act IN ('accept', 'decline') AND (r.to_agency_id <> (h ->> 'sender_agency_id')::uuid
                                            OR r.from_agency_id <> (h ->> 'recipient_agency_id')::uuid))
       OR (act = 'withdraw' AND (r.from_agency_id <> (h ->> 'sender_agency_id')::uuid
                                 OR r.to_agency_id <> (h ->> 'recipient_agency_id')::uuid)) THEN
        RETURN 'not_found';
    END IF;
    IF r.status <> 'offered' THEN
        RETURN 'answered';
    END IF;
    UPDATE referrals SET status = verb, answered_at = now() WHERE id = r.id RETURNING * INTO r;
    INSERT INTO federation_packages (package_id, direction, peer_instance, type, referral_id,
                                     package, package_hash, status, receipt, delivered_at)
    VALUES ((h ->> 'package_id')::uuid, 'in', r.peer_instance, 'answer', r.id, p_package, p_hash,
            'received', p_receipt, now());
    PERFORM trm_handover_append_fed(r, act, (h ->> 'package_id')::uuid, p_hash, r.peer_instance,
                                    NULL, p_sig);
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
        DELETE FROM case_keys WHERE case_id = r.case_id;
        DELETE FROM case_personal WHERE case_id = r.case_id;
        DELETE FROM case_blind_index WHERE case_id = r.case_id;
        INSERT INTO case_events (case_id, kind, details)
        VALUES (r.case_id, 'transferred_out',
                jsonb_build_object('referral_id', r.id, 'instance', r.peer_instance,
                                   'to_agency_id', r.to_agency_id));
    END IF;
    RETURN 'ok';
END;
$$;
REVOKE ALL ON FUNCTION trm_fed_receive_answer(jsonb, bytea, bytea, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_receive_answer(jsonb, bytea, bytea, jsonb) TO trm_app;

-- Delivery: claims due packages for lease_s seconds (another trmd may take them after), so
-- several trmd processes share the outbox without sending a package twice at once.
CREATE FUNCTION trm_fed_claim(p_limit integer, p_lease_s integer)
RETURNS TABLE (package_id uuid, peer_instance text, url text, signing_key text, package text,
               package_hash text, attempts integer)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    UPDATE federation_packages f SET next_attempt_at = now() + make_interval(secs => p_lease_s)
    FROM federation_peers p
    WHERE p.instance_id = f.peer_instance AND f.package_id IN (
        SELECT package_id FROM federation_packages
        WHERE status = 'pending' AND next_attempt_at <= now()
        ORDER BY next_attempt_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
    RETURNING f.package_id, f.peer_instance, p.url, encode(p.signing_key, 'hex'), f.package::text,
              encode(f.package_hash, 'hex'), f.attempts
$$;
REVOKE ALL ON FUNCTION trm_fed_claim(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_claim(integer, integer) TO trm_app;

-- The peer's signed receipt: the package is delivered, and the receipt is a handover entry.
CREATE FUNCTION trm_fed_delivered(p_package uuid, p_receipt jsonb) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    f federation_packages;
    r referrals;
BEGIN
    UPDATE federation_packages SET status = 'delivered', delivered_at = now(), receipt = p_receipt,
                                   attempts = attempts + 1, last_error = NULL
    WHERE package_id = p_package AND direction = 'out' AND status = 'pending'
    RETURNING * INTO f;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    SELECT * INTO r FROM referrals WHERE id = f.referral_id;
    PERFORM trm_handover_append_fed(r, 'receipt', f.package_id, f.package_hash, f.peer_instance,
                                    p_receipt ->> 'received_at',
                                    decode(p_receipt ->> 'signature', 'hex'));
    RETURN true;
END;
$$;
REVOKE ALL ON FUNCTION trm_fed_delivered(uuid, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_delivered(uuid, jsonb) TO trm_app;

-- A failed attempt: retried with exponential backoff (at most p_max_s apart), or, when the
-- peer refused the package for good, marked rejected. p_error is a problem code, never text
-- from the package.
CREATE FUNCTION trm_fed_failed(p_package uuid, p_error text, p_final boolean, p_max_s integer)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    UPDATE federation_packages
    SET attempts = attempts + 1, last_error = left(p_error, 200),
        status = CASE WHEN p_final THEN 'rejected' ELSE status END,
        next_attempt_at = now() + make_interval(secs => least(p_max_s, power(2, least(attempts, 20))::integer))
    WHERE package_id = p_package AND direction = 'out' AND status = 'pending'
$$;
REVOKE ALL ON FUNCTION trm_fed_failed(uuid, text, boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_failed(uuid, text, boolean, integer) TO trm_app;

-- A peer's agency directory, as fetched: new and changed agencies are stored under the
-- peer, and those it no longer lists become inactive. An id that is one of ours is skipped.
CREATE FUNCTION trm_fed_directory_store(p_peer text, p_items jsonb) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    it jsonb;
    n integer := 0;
BEGIN
    FOR it IN SELECT * FROM jsonb_array_elements(p_items) LOOP
        INSERT INTO agencies (id, name, country, kind, instance_id, active)
        VALUES ((it ->> 'id')::uuid, it ->> 'name', it ->> 'country', it ->> 'kind', p_peer,
                coalesce((it ->> 'active')::boolean, true))
        ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
                                       active = EXCLUDED.active
        WHERE agencies.instance_id = p_peer;
        n := n + 1;
    END LOOP;
    UPDATE agencies SET active = false
    WHERE instance_id = p_peer AND active
      AND id NOT IN (SELECT (x ->> 'id')::uuid FROM jsonb_array_elements(p_items) x);
    UPDATE federation_peers SET directory_fetched_at = now() WHERE instance_id = p_peer;
    RETURN n;
END;
$$;
REVOKE ALL ON FUNCTION trm_fed_directory_store(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_directory_store(text, jsonb) TO trm_app;

-- Peers whose directory is due for a refresh.
CREATE FUNCTION trm_fed_directory_due(p_every_s integer)
RETURNS TABLE (instance_id text, url text, signing_key text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT instance_id, url, encode(signing_key, 'hex') FROM federation_peers
    WHERE active AND (directory_fetched_at IS NULL
                      OR directory_fetched_at < now() - make_interval(secs => p_every_s))
$$;
REVOKE ALL ON FUNCTION trm_fed_directory_due(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_directory_due(integer) TO trm_app;

GRANT SELECT ON federation_instance, federation_peers TO trm_app;
GRANT SELECT (package_id, direction, peer_instance, type, referral_id, status, attempts,
              next_attempt_at, last_error, created_at, delivered_at)
    ON federation_packages TO trm_app;
