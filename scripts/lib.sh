# shellcheck shell=bash
# Shared by scripts/run and scripts/test: package installation and a private PostgreSQL
# cluster. Sourced, not run.

TRM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGBIN=/usr/lib/postgresql/15/bin

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# Installs the packages of scripts/packages.txt (or of the list named) not installed yet. A
# line may name a command after the package: the package is then needed only when the command
# is missing (node and npm may come from another repository than Debian's).
trm_ensure_packages() {
    local list=${1:-$TRM_ROOT/scripts/packages.txt} missing=() pkg cmd line
    while read -r line; do
        line=${line%%#*}
        read -r pkg cmd <<<"$line" || true
        [ -n "${pkg:-}" ] || continue
        if [ -n "${cmd:-}" ]; then
            command -v "$cmd" >/dev/null && continue
        fi
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$pkg")
    done <"$list"
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing: ${missing[*]}"
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "missing packages (${missing[*]}) and no sudo: install them as root"
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        die "apt-get install failed"
}

# PostgreSQL refuses to run as root: as root, the cluster belongs to the postgres user.
trm_pg_user() {
    if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

trm_as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# trm_pg_init DATA SOCKDIR: a new cluster (trust on its private socket only).
trm_pg_init() {
    local data=$1 sock=$2
    mkdir -p "$data" "$sock"
    chmod 700 "$data" "$sock"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$data" "$sock"
        runuser -u postgres -- test -x "$data" ||
            die "the postgres user cannot reach $data: move the checkout to a directory others can enter"
    fi
    trm_as_pg "$PGBIN/initdb" -D "$data" -U "$(trm_pg_user)" -A trust --encoding=UTF8 \
        --locale=C.UTF-8 >/dev/null || die "initdb failed"
}

# trm_pg_start DATA SOCKDIR PORT LOG [LISTEN]: start and wait until ready.
trm_pg_start() {
    local data=$1 sock=$2 port=$3 log=$4 listen=${5:-}
    touch "$log" 2>/dev/null || true
    [ "$(id -u)" -eq 0 ] && chown postgres "$log"
    trm_as_pg "$PGBIN/pg_ctl" -D "$data" -l "$log" -w -t 60 \
        -o "-k $sock -p $port -c listen_addresses='$listen' -c fsync=${TRM_PG_FSYNC:-on}" \
        start >/dev/null || { tail -n 20 "$log" >&2; die "PostgreSQL did not start"; }
}

trm_pg_stop() {
    local data=$1
    [ -f "$data/postmaster.pid" ] || return 0
    trm_as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# trm_pg_bootstrap SOCKDIR PORT [DATABASE]: the two roles and a database (idempotent).
trm_pg_bootstrap() {
    local sock=$1 port=$2 db=${3:-trm} super
    super=$(trm_pg_user)
    local psql=("$PGBIN/psql" -h "$sock" -p "$port" -U "$super" -v ON_ERROR_STOP=1 -q -v "db=$db")
    trm_as_pg "${psql[@]}" -d postgres >/dev/null <<'SQL' || die "creating roles failed"
SELECT 'CREATE ROLE trm_owner LOGIN'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trm_owner') \gexec
SELECT 'CREATE ROLE trm_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION'
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'trm_app') \gexec
SELECT format('CREATE DATABASE %I OWNER trm_owner', :'db')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO trm_owner, trm_app', :'db') \gexec
SQL
    trm_as_pg "${psql[@]}" -d "$db" >/dev/null <<'SQL' || die "preparing the database failed"
ALTER SCHEMA public OWNER TO trm_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO trm_app;
SQL
}

# trm_var [DIR]: the absolute path of an instance's directory (TRM_VAR, default var/ in the
# checkout; a relative path is taken from where the command was started). scripts/run keeps
# everything of one instance there: pg/ (the cluster and its socket), keys/master.key, and
# the demo marker. Two directories are two instances that do not clash.
trm_var() {
    local dir=${1:-${TRM_VAR:-$TRM_ROOT/var}}
    realpath -m -- "$dir"
}

# The owner's connection string for the instance of directory VAR (scripts/run, scripts/trmctl).
# The cluster listens on its unix socket only, so the port just names the socket file.
trm_owner_url() {
    echo "host=$1/pg/sock port=${TRM_PG_PORT:-5432} dbname=trm user=trm_owner"
}

# A port number nobody uses, below the kernel's ephemeral range (it also names the unix
# socket, so two test runs on one machine do not collide).
trm_free_port() {
    local port
    for _ in $(seq 1 50); do
        port=$((20000 + RANDOM % 12000))
        ss -ltnH "sport = :$port" 2>/dev/null | grep -q . || { echo "$port"; return 0; }
    done
    die "no free port found"
}
