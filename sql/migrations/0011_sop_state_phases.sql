-- The phase of every state of every SOP version, for trm_case_tracks, which every case
-- summary calls (lists of 50, reads, creations, transitions). It used to expand its SOP's
-- whole JSON document (detoasted) once per track of every case it described; a list page
-- spent most of its time there. SOP versions never change once loaded (sops_immutable), so
-- rows written when a version is loaded stay true.
CREATE TABLE sop_state_phases (
    sop_id uuid NOT NULL REFERENCES sops (id),
    track  text NOT NULL,
    state  text NOT NULL,
    phase  text,
    PRIMARY KEY (sop_id, track, state)
);
GRANT SELECT ON sop_state_phases TO trm_app;

-- SECURITY DEFINER: trmd loads SOP versions as trm_app, which may not write this table.
CREATE FUNCTION trm_sop_state_phases_add() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    INSERT INTO sop_state_phases (sop_id, track, state, phase)
    SELECT DISTINCT ON (t ->> 'name', st ->> 'name') NEW.id, t ->> 'name', st ->> 'name',
           st ->> 'phase'
    FROM jsonb_array_elements(NEW.document -> 'tracks') t,
         jsonb_array_elements(t -> 'states') st;
    RETURN NULL;
END;
$$;
CREATE TRIGGER sops_state_phases AFTER INSERT ON sops
    FOR EACH ROW EXECUTE FUNCTION trm_sop_state_phases_add();

INSERT INTO sop_state_phases (sop_id, track, state, phase)
SELECT DISTINCT ON (s.id, t ->> 'name', st ->> 'name') s.id, t ->> 'name', st ->> 'name',
       st ->> 'phase'
FROM sops s, jsonb_array_elements(s.document -> 'tracks') t,
     jsonb_array_elements(t -> 'states') st;

-- As in 0005, with the phase looked up instead of computed. Still VOLATILE: called on the
-- row trm_case_create or a transition has just written, it must see that statement's work.
CREATE OR REPLACE FUNCTION trm_case_tracks(p_id uuid) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$
    SELECT coalesce(jsonb_object_agg(ct.track, jsonb_build_object(
               'state', ct.state,
               'phase', p.phase,
               'entered_at', to_char(ct.entered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'due_at', to_char(ct.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))), '{}')
    FROM case_tracks ct JOIN cases c ON c.id = ct.case_id
    LEFT JOIN sop_state_phases p ON p.sop_id = c.sop_id AND p.track = ct.track
                                AND p.state = ct.state
    WHERE ct.case_id = p_id
$$;
