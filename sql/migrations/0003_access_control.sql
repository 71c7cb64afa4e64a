-- Who may act: agencies, their users, API tokens; failed-authentication counters for rate
-- limiting; idempotency keys; the access log of personal-data reads; and the functions that
-- expose the acting user to row-level security policies.

CREATE TABLE agencies (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    country    text NOT NULL REFERENCES countries (code),
    kind       text NOT NULL CHECK (kind IN ('police', 'prosecution', 'migration_authority',
                   'social_services', 'labour_inspection', 'ngo', 'embassy',
                   'international_org', 'national_coordinator', 'other')),
    active     boolean NOT NULL DEFAULT true,
    demo       boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX agencies_country_name ON agencies (country, lower(name));

CREATE TABLE users (
    id           uuid PRIMARY KEY,
    agency_id    uuid NOT NULL REFERENCES agencies (id),
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role         text NOT NULL CHECK (role IN ('caseworker', 'coordinator', 'auditor', 'admin')),
    -- Auditors of an international organisation or national coordinator may audit across
    -- borders; nobody else.
    cross_border boolean NOT NULL DEFAULT false CHECK (NOT cross_border OR role = 'auditor'),
    disabled     boolean NOT NULL DEFAULT false,
    demo         boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_agency ON users (agency_id, created_at);

CREATE FUNCTION trm_users_check_cross_border() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.cross_border AND NOT EXISTS (
        SELECT 1 FROM agencies
        WHERE id = NEW.agency_id AND kind IN ('international_org', 'national_coordinator')) THEN
        RAISE EXCEPTION 'cross-border auditors belong to an international organisation or a national coordinator'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'users_cross_border_agency';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER users_cross_border BEFORE INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION trm_users_check_cross_border();

-- A token is trm_<selector>_<verifier>. Only the selector (to find the row) and a keyed
-- BLAKE2b hash of the verifier are stored: a database dump reveals no usable token.
CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id),
    selector      text NOT NULL UNIQUE CHECK (selector ~ '^[A-Za-z0-9_-]{16}$'),
    verifier_hash bytea NOT NULL CHECK (length(verifier_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Failed authentications per client address in a fixed window; shared by every trmd.
CREATE TABLE auth_failures (
    client       text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    failures     integer NOT NULL
);

-- Idempotency-Key of creating POSTs: the request's hash and the resource it created, so a
-- retry gets the same resource once. No response body is kept (it may hold personal data).
CREATE TABLE idempotency_keys (
    user_id      uuid NOT NULL,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    route        text NOT NULL,
    request_hash bytea NOT NULL,
    status       integer NOT NULL,
    resource_id  uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- The acting user, set per transaction with set_config(..., true) by trmd. Outside such a
-- transaction every one of these is NULL, and policies then match no case rows.
CREATE FUNCTION trm_ctx_user() RETURNS uuid LANGUAGE sql STABLE
AS $$ SELECT nullif(current_setting('trm.user_id', true), '')::uuid $$;
CREATE FUNCTION trm_ctx_agency() RETURNS uuid LANGUAGE sql STABLE
AS $$ SELECT nullif(current_setting('trm.agency_id', true), '')::uuid $$;
CREATE FUNCTION trm_ctx_country() RETURNS text LANGUAGE sql STABLE
AS $$ SELECT nullif(current_setting('trm.country', true), '') $$;
CREATE FUNCTION trm_ctx_role() RETURNS text LANGUAGE sql STABLE
AS $$ SELECT nullif(current_setting('trm.role', true), '') $$;
CREATE FUNCTION trm_ctx_cross_border() RETURNS boolean LANGUAGE sql STABLE
AS $$ SELECT coalesce(current_setting('trm.cross_border', true), '') = 'on' $$;

-- Every read or export of decrypted personal data, written in the same transaction as the
-- read. Append-only for everyone.
CREATE TABLE access_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    user_id    uuid NOT NULL,
    agency_id  uuid NOT NULL,
    country    text NOT NULL,
    case_id    uuid NOT NULL,
    categories text[] NOT NULL,
    purpose    text NOT NULL,
    request_id text NOT NULL
);
CREATE INDEX access_log_case ON access_log (case_id, at);
CREATE INDEX access_log_country ON access_log (country, at);
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION trm_refuse_change();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION trm_refuse_change();
ALTER TABLE access_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_log FORCE ROW LEVEL SECURITY;
-- A user records only their own reads.
CREATE POLICY access_log_insert ON access_log FOR INSERT
    WITH CHECK (user_id = trm_ctx_user() AND agency_id = trm_ctx_agency()
                AND country = trm_ctx_country());
-- Auditors read the log of their country (cross-border auditors: every country).
CREATE POLICY access_log_audit ON access_log FOR SELECT
    USING (trm_ctx_role() = 'auditor'
           AND (country = trm_ctx_country() OR trm_ctx_cross_border()));

GRANT SELECT, INSERT ON agencies, users TO trm_app;
GRANT UPDATE (active) ON agencies TO trm_app;
GRANT UPDATE (disabled) ON users TO trm_app;
GRANT SELECT, INSERT ON api_tokens TO trm_app;
GRANT UPDATE (last_used_at, revoked_at) ON api_tokens TO trm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON auth_failures TO trm_app;
GRANT SELECT, INSERT, DELETE ON idempotency_keys TO trm_app;
GRANT SELECT, INSERT ON access_log TO trm_app;
