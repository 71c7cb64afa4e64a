#!/usr/bin/env bash
# The Debian package, installed into a throwaway root (dpkg -x) and run from there: its
# files, `trmd --version`, its library dependencies, the systemd unit's hardening, and then
# trmctl and trmd of the package against a database of its own in the test cluster (migrate
# from the migrations it ships, load its SOPs, a key file handed over like systemd's
# LoadCredential does, bootstrap, trmd answering with that admin's token).
# Needs TRM_TEST_DEB (scripts/test builds it with cpack) and the TRM_TEST_* of scripts/test.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
: "${TRM_TEST_DEB:?the .deb to test: scripts/test sets it (cpack in build/release)}"
: "${TRM_TEST_TMPDIR:?run through scripts/test}" "${TRM_TEST_OWNER_URL:?}" "${TRM_TEST_PGBIN:?}"

fail() { echo "package: $*"; exit 1; }
work=$TRM_TEST_TMPDIR/package.$$
root=$work/root
db=trm_pkg_$$
sock=$(sed -E 's/.*host=([^ ]+).*/\1/' <<<"$TRM_TEST_OWNER_URL")
port=$(sed -E 's/.*port=([0-9]+).*/\1/' <<<"$TRM_TEST_OWNER_URL")
owner="host=$sock port=$port dbname=$db user=trm_owner"
app="host=$sock port=$port dbname=$db user=trm_app"
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    trm_as_pg "$TRM_TEST_PGBIN/psql" -h "$sock" -p "$port" -U "$(trm_pg_user)" -d postgres -q \
        -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mkdir -p "$root"
dpkg -x "$TRM_TEST_DEB" "$root"

# Its files.
for f in usr/bin/trmd usr/bin/trmctl etc/trm/trmd.conf usr/lib/systemd/system/trmd.service \
    usr/share/doc/trm/deploy.md; do
    [ -f "$root/$f" ] || fail "$f is missing from the package"
done
n_sql=$(find "$TRM_ROOT/sql/migrations" -name '[0-9][0-9][0-9][0-9]_*.sql' | wc -l)
[ "$(find "$root/usr/share/trm/migrations" -name '*.sql' | wc -l)" -eq "$n_sql" ] ||
    fail "not every migration is in the package"
[ "$(find "$root/usr/share/trm/sops" -name '*.json' | wc -l)" -ge 1 ] || fail "no SOPs in the package"
dpkg-deb -f "$TRM_TEST_DEB" Conffiles 2>/dev/null | grep -q /etc/trm/trmd.conf ||
    dpkg-deb -I "$TRM_TEST_DEB" conffiles | grep -qx /etc/trm/trmd.conf ||
    fail "/etc/trm/trmd.conf is not a conffile"
depends=$(dpkg-deb -f "$TRM_TEST_DEB" Depends)
for lib in libmicrohttpd12 libpq5 libjansson4 libsodium23 libcurl4; do
    grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done

# The version, and the schema it needs: the highest migration it ships.
highest=$(find "$root/usr/share/trm/migrations" -name '*.sql' -printf '%f\n' | sort | tail -1)
schema=$((10#${highest:0:4}))
version=$("$root/usr/bin/trmd" --version)
[[ $version =~ ^trmd\ [0-9]+\.[0-9]+\.[0-9]+\ \(schema\ $schema\)$ ]] ||
    fail "trmd --version said: $version"
echo "package: $(basename "$TRM_TEST_DEB"): $version"

# The unit: the hardening asked for, and systemd's own rating of it.
unit=$root/usr/lib/systemd/system/trmd.service
for line in 'DynamicUser=yes' 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'PrivateTmp=yes' \
    'MemoryDenyWriteExecute=yes' 'LoadCredential=master.key:/etc/trm/keys/master.key' \
    'Environment=TRM_KEY_FILE=%d/master.key' 'ExecStart=/usr/bin/trmd --config /etc/trm/trmd.conf'; do
    grep -qxF "$line" "$unit" || fail "trmd.service lacks $line"
done
if command -v systemd-analyze >/dev/null; then
    rating=$(systemd-analyze security --offline=yes --root="$root" --threshold=20 trmd.service 2>&1) ||
        fail "systemd-analyze security rates the unit above 2.0: $(tail -1 <<<"$rating")"
    echo "package: $(tail -1 <<<"$rating")"
fi

# A database of its own, migrated by the package's trmctl from the migrations it ships.
trm_pg_bootstrap "$sock" "$port" "$db"
export TRM_DATABASE_URL=$owner
applied=$("$root/usr/bin/trmctl" migrate | grep -c '^applied ') || fail "trmctl migrate failed"
[ "$applied" -eq "$n_sql" ] || fail "trmctl migrate applied $applied of $n_sql migrations"
"$root/usr/bin/trmctl" sop load "$root"/usr/share/trm/sops/*.json >/dev/null || fail "sop load failed"
"$root/usr/bin/trmctl" indicators load "$root"/usr/share/trm/indicators/*.json >/dev/null ||
    fail "indicators load failed"

# The key file as systemd hands it over (LoadCredential): a private copy, mode 0400.
mkdir -m 0700 "$work/credentials"
"$root/usr/bin/trmctl" keys init "$work/master.key" >/dev/null
install -m 0400 "$work/master.key" "$work/credentials/master.key"
export TRM_KEY_FILE=$work/credentials/master.key
token=$("$root/usr/bin/trmctl" bootstrap --country SE | sed -nE 's/.*(trm_[A-Za-z0-9_-]+).*/\1/p' | head -1)
[ -n "$token" ] || fail "trmctl bootstrap gave no token"

# trmd of the package, with the configuration it installs, as the unit starts it.
log=$work/trmd.log
TRM_DATABASE_URL=$app TRM_LISTEN=127.0.0.1:0 TRM_METRICS_LISTEN=127.0.0.1:0 \
    TRM_WEB_DIR=$root/usr/share/trm/web TRM_CODES_DIR=$root/usr/share/trm/codes "$root/usr/bin/trmd" --config "$root/etc/trm/trmd.conf" \
    >"$log" 2>&1 &
pid=$!
trmd_port=
for _ in $(seq 1 200); do
    trmd_port=$(sed -nE 's/.*"event":"started".*"port":([0-9]+).*/\1/p' "$log" | head -1)
    [ -n "$trmd_port" ] && break
    kill -0 "$pid" 2>/dev/null || fail "trmd of the package exited: $(tail -3 "$log")"
    sleep 0.05
done
[ -n "$trmd_port" ] || fail "trmd of the package did not start"
base=http://127.0.0.1:$trmd_port
curl -fsS "$base/readyz" | grep -q '"ready"' || fail "/readyz is not ready"
curl -fsS -H "Authorization: Bearer $token" "$base/v1/me" | grep -q '"role":"admin"' ||
    fail "/v1/me did not answer the bootstrap admin"
curl -fsS "$base/v1/openapi.json" | grep -q '"openapi":"3.1.0"' || fail "/v1/openapi.json"
kill -TERM "$pid"
wait "$pid" || fail "trmd of the package did not stop cleanly"
pid=
echo "package: installed into a throwaway root, migrated ($applied migrations), trmd served"
