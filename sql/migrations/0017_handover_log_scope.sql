-- The handover log's export and verification (docs/handover-log.md): checkpoints are as
-- append-only as the log they seal.

-- Checkpoints refuse TRUNCATE like the log does (UPDATE and DELETE are refused since 0006).
CREATE TRIGGER handover_checkpoints_no_truncate BEFORE TRUNCATE ON handover_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION trm_refuse_change();
