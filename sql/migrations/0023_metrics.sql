-- What trmd's metrics endpoint (GET /metrics, docs/deploy.md "Metrics") reads from the
-- database at each scrape: counts and ages only, never an id or a value. One call, as the
-- application role, which cannot read the federation outbox itself.
--   handover_head_seq            the handover log's length
--   checkpoint_seq, checkpoint_age_s   the last signed checkpoint: the entry it covers and how
--                                old it is (null before the first)
--   outbox_pending, outbox_oldest_age_s   packages for peers not yet delivered, and how long
--                                the oldest has waited (null when none waits)
CREATE FUNCTION trm_metrics_snapshot() RETURNS jsonb
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT jsonb_build_object(
        'handover_head_seq', (SELECT seq FROM handover_head WHERE id = 1),
        'checkpoint_seq', k.seq,
        'checkpoint_age_s', extract(epoch FROM now() - k.at::timestamptz),
        'outbox_pending', o.n,
        'outbox_oldest_age_s', extract(epoch FROM now() - o.oldest))
    FROM (SELECT max(seq) AS seq, (array_agg(at ORDER BY seq DESC))[1] AS at
          FROM handover_checkpoints) k,
         (SELECT count(*) AS n, min(created_at) AS oldest FROM federation_packages
          WHERE direction = 'out' AND status = 'pending') o
$$;
REVOKE ALL ON FUNCTION trm_metrics_snapshot() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_metrics_snapshot() TO trm_app;
