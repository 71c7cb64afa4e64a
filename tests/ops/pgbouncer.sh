#!/usr/bin/env bash
# The integration suite's core journeys through PgBouncer in transaction pooling mode
# (Debian's pgbouncer): a PgBouncer of its own in front of the test database, with fewer
# server connections than trmd has pooled connections (so consecutive transactions of one
# trmd connection run on different server connections), and the test programs named as
# arguments run with TRM_TEST_APP_URL leading through it and trmd in transaction-pooling
# mode (db_transaction_pooling = on). Afterwards PgBouncer's own statistics show the
# transactions went through it. docs/deploy.md, "PgBouncer".
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
: "${TRM_TEST_TMPDIR:?run through scripts/test}" "${TRM_TEST_APP_URL:?}"
[ $# -gt 0 ] || die "usage: tests/ops/pgbouncer.sh TEST_PROGRAM..."
command -v pgbouncer >/dev/null || PATH=$PATH:/usr/sbin
command -v pgbouncer >/dev/null || die "pgbouncer is not installed (scripts/packages.txt)"

dir=$TRM_TEST_TMPDIR/pgbouncer.$$
sock=$(sed -E 's/.*host=([^ ]+).*/\1/' <<<"$TRM_TEST_APP_URL")
port=$(sed -E 's/.*port=([0-9]+).*/\1/' <<<"$TRM_TEST_APP_URL")
bport=$(trm_free_port)
mkdir -p "$dir"
chmod 755 "$dir"
# The PostgreSQL socket's users only (trust on a private socket, like the test cluster).
cat >"$dir/userlist.txt" <<USERS
"trm_app" ""
"pgbouncer" ""
USERS
cat >"$dir/pgbouncer.ini" <<INI
[databases]
trm = host=$sock port=$port dbname=trm
[pgbouncer]
listen_addr =
unix_socket_dir = $dir
listen_port = $bport
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = pgbouncer
stats_users = pgbouncer
pool_mode = transaction
default_pool_size = 3
max_client_conn = 500
server_reset_query =
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
# PgBouncer will not run as root: as root, it runs as the postgres user.
[ "$(id -u)" -eq 0 ] && chown -R postgres "$dir"
trm_as_pg pgbouncer -d -q "$dir/pgbouncer.ini"
stop() { [ -f "$dir/pgbouncer.pid" ] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true; }
trap stop EXIT
for _ in $(seq 1 100); do [ -S "$dir/.s.PGSQL.$bport" ] && break; sleep 0.05; done
[ -S "$dir/.s.PGSQL.$bport" ] || die "pgbouncer did not start: $(tail -3 "$dir/pgbouncer.log")"

export TRM_TEST_APP_URL="host=$dir port=$bport dbname=trm user=trm_app"
export TRM_DB_TRANSACTION_POOLING=on
status=0
for t in "$@"; do
    "$t" || { echo "pgbouncer: $(basename "$t") failed through PgBouncer"; status=1; }
done
# PgBouncer's count of what it carried, and how many server connections it needed.
stats=$(trm_as_pg "$PGBIN/psql" -h "$dir" -p "$bport" -U pgbouncer -d pgbouncer -At \
    -c "SHOW STATS" | awk -F'|' '$1 == "trm" { print $2, $3 }')
pools=$(trm_as_pg "$PGBIN/psql" -h "$dir" -p "$bport" -U pgbouncer -d pgbouncer -At \
    -c "SHOW SERVERS" | grep -c '|trm|' || true)
read -r xacts queries <<<"${stats:-0 0}"
[ "${xacts:-0}" -gt 0 ] || { echo "pgbouncer: no transaction went through PgBouncer"; status=1; }
names=$(for t in "$@"; do basename "$t"; done | paste -sd, -)
echo "pgbouncer: $names through PgBouncer 1.18 (pool_mode=transaction, at most 3 server connections, $pools at the end): $xacts transactions, $queries statements; $([ $status -eq 0 ] && echo passed || echo FAILED)"
exit $status
