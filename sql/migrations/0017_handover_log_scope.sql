-- The handover log's export and verification (docs/handover-log.md): checkpoints are as
-- append-only as the log they seal; export and verify show each caller exactly what the list
-- shows them, and the rest of the chain only as links; a checkpoint is signed only over a
-- chain that holds.

-- Checkpoints refuse TRUNCATE like the log does (UPDATE and DELETE are refused since 0006).
CREATE TRIGGER handover_checkpoints_no_truncate BEFORE TRUNCATE ON handover_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION trm_refuse_change();

-- What a new checkpoint over entry p_seq would rest on (docs/handover-log.md, Checkpoints):
-- the chain is recomputed from the newest checkpoint before p_seq (or from the start)
-- through the oldest checkpoint after it (or to p_seq itself), every entry hashed again and
-- chained to the one before, and the checkpoints at both ends must match. Returns
-- {"sealed": true} when a checkpoint over p_seq exists, else {"sealed": false, "hash": the
-- entry's hash, or null when anything on the way does not hold (or there is no such entry),
-- "checkpoints": [the two it rests on]}, whose signatures the signer checks before it signs.
-- Without this, signing a checkpoint where an export needs one would seal a rewritten log.
-- SECURITY DEFINER for the whole operation: it reads entries outside the caller's scope and
-- answers only with hashes and checkpoints, which every scope sees.
CREATE FUNCTION trm_handover_seal_basis(p_seq bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    lo handover_checkpoints;
    hi handover_checkpoints;
    e handover_log;
    expect bigint;
    prev bytea;
    target bytea;
    ok boolean := true;
BEGIN
    IF EXISTS (SELECT 1 FROM handover_checkpoints WHERE seq = p_seq) THEN
        RETURN jsonb_build_object('sealed', true);
    END IF;
    SELECT * INTO lo FROM handover_checkpoints WHERE seq < p_seq ORDER BY seq DESC LIMIT 1;
    SELECT * INTO hi FROM handover_checkpoints WHERE seq > p_seq ORDER BY seq LIMIT 1;
    expect := coalesce(lo.seq, 0) + 1;
    prev := coalesce(lo.head_hash, decode(repeat('00', 32), 'hex'));
    FOR e IN SELECT * FROM handover_log
             WHERE seq >= expect AND seq <= coalesce(hi.seq, p_seq) ORDER BY seq LOOP
        IF e.seq <> expect OR e.prev_hash <> prev OR sha256(trm_handover_encoding(e)) <> e.hash THEN
            ok := false;
            EXIT;
        END IF;
        IF e.seq = p_seq THEN
            target := e.hash;
        END IF;
        prev := e.hash;
        expect := expect + 1;
    END LOOP;
    IF expect <= coalesce(hi.seq, p_seq) OR prev <> coalesce(hi.head_hash, prev) THEN
        ok := false;
    END IF;
    RETURN jsonb_build_object(
        'sealed', false,
        'hash', CASE WHEN ok THEN encode(target, 'hex') END,
        'checkpoints', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                   'type', 'checkpoint', 'seq', k.seq,
                                   'head_hash', encode(k.head_hash, 'hex'), 'at', k.at,
                                   'key_id', k.key_id, 'signature', encode(k.signature, 'hex'))
                                   ORDER BY k.seq), '[]')
                        FROM handover_checkpoints k WHERE k.seq IN (lo.seq, hi.seq)));
END;
$$;
REVOKE ALL ON FUNCTION trm_handover_seal_basis(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_handover_seal_basis(bigint) TO trm_app;

-- Who sees a handover entry in full: auditors the entries that leave or reach their country
-- (cross-border auditors all of them), coordinators those their agency sent or received.
-- ONE predicate for the list's row-level security policy and for the chain that export and
-- verify read, so the two cannot drift. A plain LANGUAGE sql expression over the request
-- context (no SECURITY DEFINER, no SET clause), which the planner inlines into the policy.
CREATE FUNCTION trm_handover_in_scope(p_from_agency uuid, p_to_agency uuid,
                                      p_from_country text, p_to_country text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT (trm_ctx_role() = 'auditor'
            AND (trm_ctx_cross_border() OR trm_ctx_country() IN (p_from_country, p_to_country)))
        OR (trm_ctx_role() = 'coordinator' AND trm_ctx_agency() IN (p_from_agency, p_to_agency))
$$;

ALTER POLICY handover_log_audit ON handover_log
    USING (trm_handover_in_scope(from_agency_id, to_agency_id, from_country, to_country));

-- An entry as the list and the export show it (docs/handover-log.md: fields, hashes hex, the
-- package fields of version 2 only when it has a package).
CREATE FUNCTION trm_handover_entry_json(e handover_log) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
               'type', 'entry', 'seq', e.seq, 'at', e.at, 'case_id', e.case_id,
               'referral_id', e.referral_id, 'action', e.action,
               'from_agency_id', e.from_agency_id, 'to_agency_id', e.to_agency_id,
               'from_country', e.from_country, 'to_country', e.to_country,
               'actor_user_id', e.actor_user_id, 'categories', e.categories,
               'legal_basis', e.legal_basis, 'handling_code', e.handling_code,
               'consent_id', e.consent_id, 'prev_hash', encode(e.prev_hash, 'hex'),
               'hash', encode(e.hash, 'hex'))
        || CASE WHEN e.package_hash IS NULL THEN '{}'::jsonb ELSE jsonb_build_object(
               'package_id', e.package_id, 'package_hash', encode(e.package_hash, 'hex'),
               'peer_instance', e.peer_instance, 'peer_at', e.peer_at,
               'peer_signature', encode(e.peer_signature, 'hex')) END
        || CASE WHEN e.reason IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('reason', e.reason) END
$$;

-- The chain after p_after for export and verify: the entries in the caller's scope in full,
-- every other entry as a link ({"type": "link", "seq", "prev_hash", "hash"}, nothing else),
-- so a scoped auditor checks the whole chain's continuity and its signed checkpoints without
-- learning the case, agencies, countries or consent of an entry outside the scope. SECURITY
-- DEFINER for the whole operation: the links come from rows the policy hides. Auditors and
-- coordinators only (the roles of the list).
DROP FUNCTION trm_handover_chain(bigint, integer);
CREATE FUNCTION trm_handover_chain(p_after bigint, p_limit integer) RETURNS SETOF jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT CASE WHEN trm_handover_in_scope(l.from_agency_id, l.to_agency_id, l.from_country,
                                           l.to_country)
                THEN trm_handover_entry_json(l)
                ELSE jsonb_build_object('type', 'link', 'seq', l.seq,
                                        'prev_hash', encode(l.prev_hash, 'hex'),
                                        'hash', encode(l.hash, 'hex')) END
    FROM handover_log l
    WHERE trm_ctx_role() IN ('auditor', 'coordinator') AND l.seq > p_after
    ORDER BY l.seq
    LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION trm_handover_chain(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_handover_chain(bigint, integer) TO trm_app;
