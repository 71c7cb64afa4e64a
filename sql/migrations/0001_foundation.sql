-- Foundation: what every later migration builds on.
-- trmctl migrate creates schema_migrations itself; trmd (role trm_app) only reads it, to
-- know whether the schema is at the version it was built for (/readyz).
GRANT SELECT ON schema_migrations TO trm_app;

-- Append-only tables (access log, handover log, timelines) attach this trigger to refuse
-- UPDATE, DELETE and TRUNCATE, whoever asks.
CREATE FUNCTION trm_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
