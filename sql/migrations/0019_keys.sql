-- Retiring key-encryption keys (trmctl keys retire, docs/encryption.md). A KEK removed from
-- the key file can never unwrap anything again, which is what makes an erasure reach the
-- backups taken before it. Two rules keep that from destroying live data:
--
-- * a KEK is retired only when no data key is wrapped under it: trm_kek_retire counts and
--   records under a lock that waits for the writers in flight and holds new ones back, so
--   no key wrapped under it slips in between the count and the record;
-- * once retired, no data key may be wrapped under it again: a trmd process that has not
--   read the new key file (a failed reload) gets an error instead of writing a case that
--   nobody could ever open.

CREATE TABLE retired_keks (
    kek_id     text PRIMARY KEY,
    retired_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION trm_case_key_kek_live() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM retired_keks WHERE kek_id = NEW.kek_id) THEN
        RAISE EXCEPTION 'key-encryption key % is retired: reload the key file', NEW.kek_id
            USING ERRCODE = 'TR500';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER case_keys_kek_live BEFORE INSERT OR UPDATE OF kek_id ON case_keys
    FOR EACH ROW EXECUTE FUNCTION trm_case_key_kek_live();

-- Records p_kek as retired unless data keys are still wrapped under it; returns how many
-- are (0: retired now or before). Run by trmctl as the owner role.
CREATE FUNCTION trm_kek_retire(p_kek text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    LOCK TABLE case_keys IN SHARE MODE;
    SELECT count(*) INTO n FROM case_keys WHERE kek_id = p_kek;
    IF n = 0 THEN
        INSERT INTO retired_keks (kek_id) VALUES (p_kek) ON CONFLICT DO NOTHING;
    END IF;
    RETURN n;
END;
$$;
REVOKE ALL ON FUNCTION trm_kek_retire(text) FROM PUBLIC;
