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
