-- Issue 19: documents travel with offers to peer instances (docs/federation.md, package
-- version 3: an offer's sealed payload may carry the documents of the offered categories).
-- A peer's directory may now say it reads version 3; we keep the highest version we read.
CREATE OR REPLACE FUNCTION trm_fed_peer_package_version(p_peer text, p_version integer)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    UPDATE federation_peers SET package_version = greatest(1, least(p_version, 3))
    WHERE instance_id = p_peer AND package_version IS DISTINCT FROM greatest(1, least(p_version, 3))
$$;
REVOKE ALL ON FUNCTION trm_fed_peer_package_version(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_peer_package_version(text, integer) TO trm_app;

-- Deleting what was received (a consent withdrawn after the acceptance, a withdrawal that
-- crossed it) now deletes the documents of the referral's categories too; the case's data
-- key goes once nothing personal is left, documents included.
CREATE OR REPLACE FUNCTION trm_fed_erase_received(r referrals, p_event text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF r.case_id IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM case_personal WHERE case_id = r.case_id AND category = ANY (r.categories);
    DELETE FROM documents WHERE case_id = r.case_id AND category = ANY (r.categories);
    IF 'identity' = ANY (r.categories) THEN
        DELETE FROM case_blind_index WHERE case_id = r.case_id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM case_personal WHERE case_id = r.case_id)
       AND NOT EXISTS (SELECT 1 FROM documents WHERE case_id = r.case_id) THEN
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
