-- Authentication re-checked inside the request's own work. trmd remembers, for a minute, who
-- a token it has verified belongs to (the token itself is never kept: only a keyed hash of
-- it). Every request served from that memory sends trm_auth_holds with its first statements,
-- in the same round trip, so the database itself confirms on every use that the token still
-- authenticates exactly that user: not revoked, not expired, the user enabled with the same
-- role, agency, country, cross-border right and names, the agency active, and the client
-- address not over its failed-authentication limit. When anything changed, the request's
-- work does not run (the error aborts the pipeline and its transaction) and trmd answers as
-- a full lookup would: revocation and a change of role take effect on the very next request,
-- in every trmd process, as before.
CREATE FUNCTION trm_auth_holds(
    p_token uuid, p_user uuid, p_agency uuid, p_role text, p_cross_border boolean,
    p_country text, p_display_name text, p_agency_name text,
    p_client text, p_failure_limit integer, p_window_s integer)
RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM 1
    FROM api_tokens t
    JOIN users u ON u.id = t.user_id
    JOIN agencies a ON a.id = u.agency_id
    WHERE t.id = p_token AND u.id = p_user AND a.id = p_agency
      AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
      AND NOT u.disabled AND a.active
      AND u.role = p_role AND u.cross_border = p_cross_border AND a.country = p_country
      AND u.display_name = p_display_name AND a.name = p_agency_name
      AND NOT EXISTS (SELECT 1 FROM auth_failures f
                      WHERE f.client = p_client AND f.failures > p_failure_limit
                        AND f.window_start > now() - make_interval(secs => p_window_s));
    IF NOT FOUND THEN
        -- Says nothing about which condition failed: trmd looks the token up afresh.
        RAISE EXCEPTION 'authentication no longer holds' USING ERRCODE = 'TR401';
    END IF;
END $$;
GRANT EXECUTE ON FUNCTION trm_auth_holds TO trm_app;
