-- Two things the receiving side of a referral from a peer instance now does with what it
-- received from the sender (its local case holds the person only under that referral):
--
-- * A consent withdrawn at the sender travels to the peer that accepted a referral (not a
--   transfer) resting on it: an answer package with the action consent_withdrawal, sent by
--   the referring agency. The receiver deletes the categories it received, logs
--   consent_withdrawal with the sender's signature and records the event consent_withdrawn.
--   The referral stays accepted: the person still has the service, without the shared data.
-- * An offer withdrawn at the sender while the receiver accepted it (the two crossed in
--   flight): the withdrawal wins. The receiver marks the referral withdrawn and deletes what
--   it received; the sender refuses the late acceptance (it answers 'answered'), so both
--   sides end withdrawn instead of disagreeing.
--
-- Deleting what was received: the referral's categories from the local case and, once
-- nothing personal is left, the case's data key.
CREATE FUNCTION trm_fed_erase_received(r referrals, p_event text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF r.case_id IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM case_personal WHERE case_id = r.case_id AND category = ANY (r.categories);
    IF 'identity' = ANY (r.categories) THEN
        DELETE FROM case_blind_index WHERE case_id = r.case_id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM case_personal WHERE case_id = r.case_id) THEN
        DELETE FROM case_blind_index WHERE case_id = r.case_id;
        DELETE FROM case_keys WHERE case_id = r.case_id;
        UPDATE cases SET personal_data_erased_at = coalesce(personal_data_erased_at, now())
        WHERE id = r.case_id;
    END IF;
    UPDATE cases SET version = version + 1, updated_at = now() WHERE id = r.case_id;
    INSERT INTO case_events (case_id, kind, details)
    VALUES (r.case_id, p_event,
            jsonb_build_object('referral_id', r.id, 'instance', r.peer_instance,
                               'categories', to_jsonb(r.categories)));
END;
$$;
REVOKE ALL ON FUNCTION trm_fed_erase_received(referrals, text) FROM PUBLIC;

-- As in 0010 but for those two branches, and the sender's agency must be the peer's own.
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
    -- A peer speaks for its own agencies only, never for ours: without this, a peer could
    -- send a withdrawal "from" our own agency and have us erase our own case.
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
    IF act = 'consent_withdrawal' THEN
        IF r.status <> 'accepted' OR r.kind <> 'referral' THEN
            RETURN 'answered';
        END IF;
    ELSIF r.status <> 'offered' AND NOT (act = 'withdraw' AND r.status = 'accepted') THEN
        RETURN 'answered';
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
