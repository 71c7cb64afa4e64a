-- The handover log's export and verification (docs/handover-log.md): checkpoints are as
-- append-only as the log they seal.

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
