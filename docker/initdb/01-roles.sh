#!/bin/bash
# First start of the database container: the owner role (runs migrations, owns the tables)
# and the application role (owns nothing, cannot bypass row-level security).
set -euo pipefail
owner_pw=$(cat /run/secrets/trm_owner_password)
app_pw=$(cat /run/secrets/trm_app_password)
psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres \
     -v owner_pw="$owner_pw" -v app_pw="$app_pw" <<'SQL'
CREATE ROLE trm_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE trm_app LOGIN PASSWORD :'app_pw' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION;
CREATE DATABASE trm OWNER trm_owner;
REVOKE ALL ON DATABASE trm FROM PUBLIC;
GRANT CONNECT ON DATABASE trm TO trm_owner, trm_app;
\connect trm
ALTER SCHEMA public OWNER TO trm_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO trm_app;
SQL
