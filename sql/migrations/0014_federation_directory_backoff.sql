-- A peer whose directory cannot be fetched (down, or answering what is not a directory) was
-- asked again on every worker round, once a second by default, with a warning each time.
-- Now it is asked again after 1, 2, 4, ... seconds, up to federation_retry_max_s; a
-- successful fetch, or registering the peer again (trmctl peer add), starts over.
ALTER TABLE federation_peers
    ADD COLUMN directory_failures integer NOT NULL DEFAULT 0 CHECK (directory_failures >= 0),
    ADD COLUMN directory_retry_at timestamptz;

CREATE OR REPLACE FUNCTION trm_fed_directory_due(p_every_s integer)
RETURNS TABLE (instance_id text, url text, signing_key text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT instance_id, url, encode(signing_key, 'hex') FROM federation_peers
    WHERE active AND (directory_fetched_at IS NULL
                      OR directory_fetched_at < now() - make_interval(secs => p_every_s))
      AND (directory_retry_at IS NULL OR directory_retry_at <= now())
$$;

-- The outcome of one fetch: success starts over; a failure doubles the wait (1 s first),
-- capped at p_max_s. Returns the failures in a row and the seconds until the next attempt.
CREATE FUNCTION trm_fed_directory_result(p_peer text, p_ok boolean, p_max_s integer)
RETURNS TABLE (failures integer, retry_in_s integer)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    UPDATE federation_peers
    SET directory_failures = CASE WHEN p_ok THEN 0 ELSE directory_failures + 1 END,
        directory_retry_at = CASE WHEN p_ok THEN NULL ELSE now() + make_interval(
            secs => least(power(2, least(directory_failures, 20)), greatest(p_max_s, 1))) END
    WHERE instance_id = p_peer
    RETURNING directory_failures,
              CASE WHEN p_ok THEN 0
                   ELSE least(power(2, least(directory_failures - 1, 20)),
                              greatest(p_max_s, 1))::integer END
$$;
REVOKE ALL ON FUNCTION trm_fed_directory_result(text, boolean, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_fed_directory_result(text, boolean, integer) TO trm_app;
