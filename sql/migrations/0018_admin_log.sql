-- Who acts as whom (issue 15 item 7): every API token records who issued it, every read of
-- personal data records the token it was made with and whether the token's own user issued
-- it, and every administrative change (agencies, users, tokens, SOPs, federation peers) is
-- recorded in an append-only admin log that auditors read. docs/authorization.md, "The
-- admin log" and "Tokens".

-- Token issuers. issued_via: 'api' (issued_by: the admin who issued it through the API),
-- 'trmctl' (the operator, as the owner role; issued_by NULL), 'unknown' (issued before this
-- migration, which recorded no issuer). Both are filled by the database, never by the
-- caller: an issuer is the acting user of the transaction (trm.user_id, an enabled admin of
-- an active agency) or, without one, the owner role.
ALTER TABLE api_tokens
    ADD COLUMN issued_via text NOT NULL DEFAULT 'unknown'
        CHECK (issued_via IN ('api', 'trmctl', 'unknown')),
    ADD COLUMN issued_by uuid REFERENCES users (id),
    ADD CONSTRAINT api_tokens_issuer CHECK ((issued_via = 'api') = (issued_by IS NOT NULL));
ALTER TABLE api_tokens ALTER COLUMN issued_via DROP DEFAULT;

CREATE FUNCTION trm_api_tokens_issuer() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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
CREATE TRIGGER api_tokens_issuer BEFORE INSERT ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION trm_api_tokens_issuer();

-- Whose token it is and who issued it never change, for anyone.
CREATE FUNCTION trm_api_tokens_issuer_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.user_id IS DISTINCT FROM OLD.user_id OR NEW.issued_via IS DISTINCT FROM OLD.issued_via
       OR NEW.issued_by IS DISTINCT FROM OLD.issued_by THEN
        RAISE EXCEPTION 'a token''s user and issuer never change'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER api_tokens_issuer_fixed BEFORE UPDATE OF user_id, issued_via, issued_by
    ON api_tokens FOR EACH ROW EXECUTE FUNCTION trm_api_tokens_issuer_fixed();

-- The token of the acting user, set by trmd with the rest of the context (trm.token_id).
CREATE FUNCTION trm_ctx_token() RETURNS uuid LANGUAGE sql STABLE
AS $$ SELECT nullif(current_setting('trm.token_id', true), '')::uuid $$;

-- Whether a read made with this token may not be its user's own doing: the token was issued
-- through the API by someone else (an admin for another user), or before issuers were
-- recorded. False for a token its user issued and for one the operator issued with trmctl
-- (who holds the owner role and the key file, and so could read everything anyway); NULL
-- for no token.
CREATE FUNCTION trm_token_issued_by_other(p_token uuid) RETURNS boolean LANGUAGE sql STABLE
AS $$
    SELECT t.issued_via <> 'trmctl' AND t.issued_by IS DISTINCT FROM t.user_id
    FROM api_tokens t WHERE t.id = p_token
$$;

-- Every access-log entry names the token of the read, taken from the transaction's
-- context by the column defaults, so no function that writes the log needs to know.
-- Entries written before this migration keep NULL in both.
ALTER TABLE access_log
    ADD COLUMN token_id uuid DEFAULT trm_ctx_token(),
    ADD COLUMN token_issued_by_other boolean DEFAULT trm_token_issued_by_other(trm_ctx_token());
-- The application role cannot record a read under another token than the request's, or
-- with a mark that does not match the token's user and issuer.
CREATE POLICY access_log_token ON access_log AS RESTRICTIVE FOR INSERT TO trm_app
    WITH CHECK (token_id IS NOT DISTINCT FROM trm_ctx_token()
                AND token_issued_by_other IS NOT DISTINCT FROM (
                    SELECT t.issued_via <> 'trmctl' AND t.issued_by IS DISTINCT FROM t.user_id
                    FROM api_tokens t
                    WHERE t.id = access_log.token_id AND t.user_id = access_log.user_id));

-- The admin log: who changed which agency, user, token, SOP or federation peer, when, and
-- which fields. Ids, codes and field names only: details are built here from the changed
-- row (never from the caller) and hold no name, no URL, no key and no token.
-- actor: 'user' (an admin through the API: actor_user_id, their agency and its country)
-- or 'trmctl' (the operator, as the owner role: no actor ids).
-- country: the country of what was changed (the agency's; a user's or token's agency's; a
-- SOP's, NULL for a generic one; a peer's registered country).
CREATE TABLE admin_log (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL CHECK (actor IN ('user', 'trmctl')),
    actor_user_id   uuid,
    actor_agency_id uuid,
    actor_country   text,
    action          text NOT NULL CHECK (action IN ('agency_create', 'agency_update',
                        'user_create', 'user_update', 'token_issue', 'token_revoke',
                        'sop_load', 'peer_add')),
    object_id       text NOT NULL CHECK (object_id ~ '^[a-z0-9.-]{1,63}$'),
    country         text,
    fields          text[] NOT NULL DEFAULT '{}'
                        CHECK (array_to_string(fields, ',') ~ '^[a-z_,]*$'),
    details         jsonb NOT NULL DEFAULT '{}',
    request_id      text CHECK (request_id ~ '^[A-Za-z0-9._-]{1,64}$'),
    CONSTRAINT admin_log_actor CHECK ((actor = 'user') = (actor_user_id IS NOT NULL)
        AND (actor = 'user') = (actor_agency_id IS NOT NULL)
        AND (actor = 'user') = (actor_country IS NOT NULL))
);
CREATE INDEX admin_log_at ON admin_log (at);
CREATE INDEX admin_log_actor ON admin_log (actor_user_id, seq);
CREATE TRIGGER admin_log_append_only BEFORE UPDATE OR DELETE ON admin_log
    FOR EACH ROW EXECUTE FUNCTION trm_refuse_change();
CREATE TRIGGER admin_log_no_truncate BEFORE TRUNCATE ON admin_log
    FOR EACH STATEMENT EXECUTE FUNCTION trm_refuse_change();
ALTER TABLE admin_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE admin_log FORCE ROW LEVEL SECURITY;
-- The application role records only its acting admin's own actions.
CREATE POLICY admin_log_insert ON admin_log FOR INSERT TO trm_app
    WITH CHECK (actor = 'user' AND trm_ctx_role() = 'admin'
                AND actor_user_id = trm_ctx_user() AND actor_agency_id = trm_ctx_agency()
                AND actor_country = trm_ctx_country());
-- Auditors read the actions of admins of their country and the actions on their country's
-- agencies, users, tokens, SOPs and peers; cross-border auditors read everything.
CREATE POLICY admin_log_audit ON admin_log FOR SELECT TO trm_app
    USING (trm_ctx_role() = 'auditor'
           AND (actor_country = trm_ctx_country() OR country = trm_ctx_country()
                OR trm_ctx_cross_border()));
-- The owner role (trmctl) records the operator's actions and reads everything; it cannot
-- change or remove an entry either (the triggers above).
DO $$
BEGIN
    EXECUTE format('CREATE POLICY admin_log_maintenance ON admin_log TO %I '
                   'USING (true) WITH CHECK (true)', current_user);
END;
$$;

-- Records one admin action on an object that exists (in the caller's transaction, after the
-- change). The actor is the transaction's acting user, or trmctl without one.
CREATE FUNCTION trm_admin_log_add(p_action text, p_object text, p_fields text[],
                                  p_request_id text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_country text;
    v_details jsonb;
BEGIN
    CASE split_part(p_action, '_', 1)
    WHEN 'agency' THEN
        SELECT a.country, jsonb_build_object('country', a.country, 'kind', a.kind,
                                             'active', a.active)
        INTO v_country, v_details FROM agencies a WHERE a.id = p_object::uuid;
    WHEN 'user' THEN
        SELECT a.country, jsonb_build_object('agency_id', u.agency_id, 'role', u.role,
                                             'cross_border', u.cross_border,
                                             'disabled', u.disabled)
        INTO v_country, v_details
        FROM users u JOIN agencies a ON a.id = u.agency_id WHERE u.id = p_object::uuid;
    WHEN 'token' THEN
        SELECT a.country, jsonb_build_object('user_id', t.user_id, 'issued_via', t.issued_via,
                   'expires_at', to_char(t.expires_at AT TIME ZONE 'UTC',
                                         'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   'revoked', t.revoked_at IS NOT NULL)
        INTO v_country, v_details
        FROM api_tokens t JOIN users u ON u.id = t.user_id JOIN agencies a ON a.id = u.agency_id
        WHERE t.id = p_object::uuid;
    WHEN 'sop' THEN
        SELECT s.country, jsonb_build_object('code', s.code, 'version', s.version,
                                             'country', s.country)
        INTO v_country, v_details FROM sops s WHERE s.id = p_object::uuid;
    WHEN 'peer' THEN
        SELECT p.country, jsonb_build_object('country', p.country, 'active', p.active)
        INTO v_country, v_details FROM federation_peers p WHERE p.instance_id = p_object;
    ELSE
        NULL;
    END CASE;
    IF v_details IS NULL THEN
        RAISE EXCEPTION 'admin log: no such object for this action' USING ERRCODE = 'P0002';
    END IF;
    INSERT INTO admin_log (actor, actor_user_id, actor_agency_id, actor_country, action,
                           object_id, country, fields, details, request_id)
    VALUES (CASE WHEN trm_ctx_user() IS NULL THEN 'trmctl' ELSE 'user' END, trm_ctx_user(),
            trm_ctx_agency(), trm_ctx_country(), p_action, p_object, v_country,
            coalesce(p_fields, '{}'), v_details, p_request_id);
END;
$$;

GRANT SELECT, INSERT ON admin_log TO trm_app;
GRANT EXECUTE ON FUNCTION trm_admin_log_add(text, text, text[], text) TO trm_app;
