-- What every request pays in PostgreSQL, made smaller.
--
-- No JIT compilation for trm's database. trm's statements are short and run thousands of
-- times a second; PostgreSQL compiles a statement whose estimated cost passes jit_above_cost,
-- and a page of the case list, estimated expensive because row-level security hides how few
-- rows it reads, crossed that line at about 10 000 cases: 0.4 s of compiling for 7 ms of work.
-- The setting applies to every new session in this database (trmd's, trmctl's, a pooler's).
-- Only the database's owner may set it; otherwise an operator runs the ALTER DATABASE below.
DO $$
BEGIN
    IF pg_has_role(current_user, (SELECT datdba FROM pg_database
                                  WHERE datname = current_database()), 'USAGE') THEN
        EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
    ELSE
        RAISE WARNING 'JIT stays on: run ALTER DATABASE % SET jit = off as its owner',
            quote_ident(current_database());
    END IF;
END;
$$;

-- SQL functions the planner cannot inline (a FROM clause or a subquery) are planned again
-- on every statement that calls them; PL/pgSQL keeps its plans for the session. These three
-- run in every read (the access log's column default), transition and creation.
CREATE OR REPLACE FUNCTION trm_token_issued_by_other(p_token uuid) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT t.issued_via <> 'trmctl' AND t.issued_by IS DISTINCT FROM t.user_id
            FROM api_tokens t WHERE t.id = p_token);
END;
$$;

CREATE OR REPLACE FUNCTION trm_state_due(doc jsonb, p_track text, p_state text) RETURNS interval
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (SELECT make_interval(days => coalesce((s -> 'due' ->> 'days')::int, 0),
                                 hours => coalesce((s -> 'due' ->> 'hours')::int, 0))
            FROM jsonb_array_elements(doc -> 'tracks') t, jsonb_array_elements(t -> 'states') s
            WHERE t ->> 'name' = p_track AND s ->> 'name' = p_state AND s ? 'due'
            LIMIT 1);
END;
$$;

-- VOLATILE on purpose (as in 0005): called in the statement that created the case, it must
-- see the rows that statement's function inserted.
CREATE OR REPLACE FUNCTION trm_case_tracks(p_id uuid) RETURNS jsonb
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(ct.track, jsonb_build_object(
                       'state', ct.state,
                       'phase', p.phase,
                       'entered_at', to_char(ct.entered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       'due_at', to_char(ct.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))), '{}')
            FROM case_tracks ct JOIN cases c ON c.id = ct.case_id
            LEFT JOIN sop_state_phases p ON p.sop_id = c.sop_id AND p.track = ct.track
                                        AND p.state = ct.state
            WHERE ct.case_id = p_id);
END;
$$;
