-- The reason a person withdrew a consent is free text, and free text about a person is
-- personal: it is now sealed with the case's key like every personal field, and reasons
-- written in clear before are removed.
ALTER TABLE consents ADD COLUMN sealed_withdraw_reason bytea;
UPDATE consents SET withdraw_reason = NULL WHERE withdraw_reason IS NOT NULL;
REVOKE UPDATE (withdraw_reason) ON consents FROM trm_app;
GRANT UPDATE (sealed_withdraw_reason) ON consents TO trm_app;
