-- Sessions for the web console (docs/console.md, docs/authorization.md "Sessions").
--
-- A session is a token like any other, so it goes through the one authentication path
-- (lookup, remembered tokens, the database's re-check of every request, revocation, rate
-- limits): kind 'session', carried in an HttpOnly cookie instead of the Authorization
-- header. It is opened by presenting an API token (kind 'api') or a one-time sign-in code
-- (kind 'signin', printed by trmctl), its parent; it ends after session_idle_s seconds
-- without use, session_max_s seconds after it opened, when its parent is revoked, or at
-- sign-out. A sign-in code opens one session and never serves a request itself.
ALTER TABLE api_tokens
    ADD COLUMN kind text NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'session', 'signin')),
    ADD COLUMN parent_id uuid REFERENCES api_tokens (id),
    ADD COLUMN idle_s integer CHECK (idle_s > 0),
    ADD COLUMN used_at timestamptz,
    ADD CONSTRAINT api_tokens_session
        CHECK ((kind = 'session') = (parent_id IS NOT NULL) AND (kind = 'session') = (idle_s IS NOT NULL));
CREATE INDEX api_tokens_parent ON api_tokens (parent_id) WHERE parent_id IS NOT NULL;

-- Whether a token authenticates a request now: the one rule, used by the lookup and by the
-- re-check of remembered tokens. p is the token's parent (the row a LEFT JOIN on parent_id
-- gives, all NULL for an API token). No subquery, so that the planner inlines it: a SQL
-- function with a subquery is planned again on every call (0.3 ms of every request).
CREATE FUNCTION trm_token_usable(t api_tokens, p api_tokens) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
       AND CASE t.kind
               WHEN 'api' THEN true
               WHEN 'signin' THEN false
               ELSE coalesce(coalesce(t.last_used_at, t.created_at)
                                 > now() - make_interval(secs => t.idle_s)
                             AND p.id = t.parent_id AND p.revoked_at IS NULL
                             AND (p.kind = 'signin' OR p.expires_at IS NULL
                                  OR p.expires_at > now()), false)
           END
$$;

-- A session's issuer is its parent's: a session opened with a token an admin issued for
-- someone else is marked in the access log exactly as that token is.
CREATE OR REPLACE FUNCTION trm_api_tokens_issuer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'session' THEN
        SELECT p.issued_via, p.issued_by INTO NEW.issued_via, NEW.issued_by
        FROM api_tokens p WHERE p.id = NEW.parent_id AND p.user_id = NEW.user_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'a session is opened with a token of its own user'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END IF;
    NEW.issued_by := trm_ctx_user();
    IF NEW.issued_by IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM users u JOIN agencies a ON a.id = u.agency_id
                       WHERE u.id = NEW.issued_by AND u.role = 'admin' AND NOT u.disabled
                         AND a.active) THEN
            RAISE EXCEPTION 'tokens are issued by enabled admins'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        NEW.issued_via := 'api';
    ELSIF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID),
                      'MEMBER') THEN
        NEW.issued_via := 'trmctl';
    ELSE
        RAISE EXCEPTION 'a token is issued by an admin (trm.user_id) or by the owner role'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

-- Opens a session with a parent token trmd has just verified (its verifier matched): the
-- parent must still be usable (an API token) or unused (a sign-in code, which is then used
-- up), its user enabled and its agency active. Returns the session's expiry, or NULL when
-- the parent does not qualify (nothing is written then).
CREATE FUNCTION trm_session_open(p_parent uuid, p_id uuid, p_selector text, p_hash bytea,
                                 p_idle_s integer, p_max_s integer)
RETURNS timestamptz
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    p api_tokens;
    expires timestamptz := date_trunc('second', now()) + make_interval(secs => p_max_s);
BEGIN
    SELECT t.* INTO p FROM api_tokens t JOIN users u ON u.id = t.user_id
    JOIN agencies a ON a.id = u.agency_id
    WHERE t.id = p_parent AND NOT u.disabled AND a.active AND t.revoked_at IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > now())
      AND ((t.kind = 'api') OR (t.kind = 'signin' AND t.used_at IS NULL))
    FOR UPDATE OF t;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p.kind = 'signin' THEN
        UPDATE api_tokens SET used_at = now(), last_used_at = now() WHERE id = p.id;
    END IF;
    INSERT INTO api_tokens (id, user_id, selector, verifier_hash, expires_at, kind, parent_id,
                            idle_s, last_used_at)
    VALUES (p_id, p.user_id, p_selector, p_hash, expires, 'session', p.id, p_idle_s, now());
    RETURN expires;
END;
$$;
REVOKE ALL ON FUNCTION trm_session_open(uuid, uuid, text, bytea, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_session_open(uuid, uuid, text, bytea, integer, integer) TO trm_app;

-- Signing out: the session's own user ends it (as any token, kept with revoked_at).
CREATE FUNCTION trm_session_close(p_id uuid) RETURNS boolean
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
    WITH s AS (UPDATE api_tokens SET revoked_at = now()
               WHERE id = p_id AND kind = 'session' AND user_id = trm_ctx_user()
                 AND revoked_at IS NULL RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM s)
$$;
REVOKE ALL ON FUNCTION trm_session_close(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION trm_session_close(uuid) TO trm_app;

-- The re-check of a remembered token (as in 0013) through the one rule.
CREATE OR REPLACE FUNCTION trm_auth_holds(
    p_token uuid, p_user uuid, p_agency uuid, p_role text, p_cross_border boolean,
    p_country text, p_display_name text, p_agency_name text,
    p_client text, p_failure_limit integer, p_window_s integer)
RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM 1
    FROM api_tokens t
    LEFT JOIN api_tokens p ON p.id = t.parent_id
    JOIN users u ON u.id = t.user_id
    JOIN agencies a ON a.id = u.agency_id
    WHERE t.id = p_token AND u.id = p_user AND a.id = p_agency
      AND trm_token_usable(t, p)
      AND NOT u.disabled AND a.active
      AND u.role = p_role AND u.cross_border = p_cross_border AND a.country = p_country
      AND u.display_name = p_display_name AND a.name = p_agency_name
      AND NOT EXISTS (SELECT 1 FROM auth_failures f
                      WHERE f.client = p_client AND f.failures > p_failure_limit
                        AND f.window_start > now() - make_interval(secs => p_window_s));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'authentication no longer holds' USING ERRCODE = 'TR401';
    END IF;
END $$;
