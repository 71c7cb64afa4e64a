#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for the operations drills (backup and restore, failover):
# each lives in a directory of its own, DIR/data and its socket DIR/sock (port 5432 names the
# socket only; nothing listens on TCP), as the postgres user when run as root.
#   cluster.sh init DIR                   a new cluster, ready to be streamed from
#   cluster.sh start DIR [SETTING=VALUE]...   start it (settings as -c), wait until it answers
#   cluster.sh stop DIR [fast|immediate]  stop it (fast by default)
#   cluster.sh trm DIR TRMCTL             roles, database trm, migrated, SOPs loaded
#   cluster.sh basebackup DIR DEST [--standby]   pg_basebackup of DIR into DEST/data (with
#                                         the WAL it needs; --standby: to stream from DIR)
#   cluster.sh backup DIR BACKUP          a base backup as docs/deploy.md takes it: tar files
#                                         (base.tar.gz, pg_wal.tar.gz) and a manifest in BACKUP
#   cluster.sh restore BACKUP DEST        that backup verified and unpacked into DEST/data
#   cluster.sh promote DIR                a standby becomes a primary
#   cluster.sh psql DIR SQL               one statement as the superuser, on database trm
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib.sh"
cmd=${1:?usage: cluster.sh init|start|stop|trm|basebackup|promote|psql DIR ...}
dir=$(realpath -m "${2:?a cluster directory}")
shift 2
pgctl() {
    trm_as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 "$@"
}
prepare_dirs() { # DIR: the socket directory and the log, the postgres user's
    mkdir -p "$1/sock"
    touch "$1/pg.log"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$1" "$1/sock" "$1/pg.log"; fi
}

case $cmd in
init)
    mkdir -p "$dir"
    chmod 755 "$dir"
    trm_pg_init "$dir/data" "$dir/sock"
    prepare_dirs "$dir"
    # A primary that standbys and pg_basebackup can stream from (local trust: initdb -A trust).
    trm_as_pg tee -a "$dir/data/postgresql.conf" >/dev/null <<'CONF'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = '256MB'
hot_standby = on
fsync = off
CONF
    ;;
start)
    opts="-k $dir/sock -p 5432 -c listen_addresses=''"
    for s in "$@"; do opts="$opts -c $s"; done
    pgctl -o "$opts" start >/dev/null || { tail -n 20 "$dir/pg.log" >&2; exit 1; }
    ;;
stop)
    pgctl -m "${1:-fast}" stop >/dev/null
    ;;
trm)
    trmctl=${1:?TRMCTL}
    trm_pg_bootstrap "$dir/sock" 5432 trm
    export TRM_DATABASE_URL="host=$dir/sock port=5432 dbname=trm user=trm_owner"
    "$trmctl" migrate --dir "$TRM_ROOT/sql/migrations" >/dev/null
    "$trmctl" sop load "$TRM_ROOT"/config/sops/*.json >/dev/null
    # Statistics for the planner now, not when autovacuum gets to it: without any, a fresh
    # database plans a case read for tens of milliseconds instead of a few.
    trm_as_pg "$PGBIN/psql" -h "$dir/sock" -p 5432 -U "$(trm_pg_user)" -d trm -qc ANALYZE
    ;;
basebackup)
    dest=$(realpath -m "${1:?DEST}")
    mkdir -p "$dest"
    chmod 755 "$dest"
    prepare_dirs "$dest"
    extra=()
    [ "${2:-}" = --standby ] && extra=(-R)
    [ "$(id -u)" -eq 0 ] && chown postgres "$dest"
    trm_as_pg "$PGBIN/pg_basebackup" -h "$dir/sock" -p 5432 -U "$(trm_pg_user)" \
        -D "$dest/data" -X stream -c fast "${extra[@]}"
    ;;
backup)
    backup=$(realpath -m "${1:?BACKUP}")
    mkdir -p "$backup"
    [ "$(id -u)" -eq 0 ] && chown postgres "$backup"
    trm_as_pg "$PGBIN/pg_basebackup" -h "$dir/sock" -p 5432 -U "$(trm_pg_user)" \
        -D "$backup" -Ft -z -X stream -c fast
    ;;
restore)
    # DIR is the backup here, and the first argument the new cluster's directory.
    dest=$(realpath -m "${1:?DEST}")
    mkdir -p "$dest/data/pg_wal"
    chmod 755 "$dest"
    chmod 700 "$dest/data"
    prepare_dirs "$dest"
    tar -xzf "$dir/base.tar.gz" -C "$dest/data"
    tar -xzf "$dir/pg_wal.tar.gz" -C "$dest/data/pg_wal"
    [ "$(id -u)" -eq 0 ] && chown -R postgres "$dest/data"
    trm_as_pg "$PGBIN/pg_verifybackup" -q -m "$dir/backup_manifest" "$dest/data"
    ;;
promote)
    pgctl promote >/dev/null
    ;;
psql)
    trm_as_pg "$PGBIN/psql" -h "$dir/sock" -p 5432 -U "$(trm_pg_user)" -d trm -v ON_ERROR_STOP=1 \
        -qAt -c "${1:?SQL}"
    ;;
*)
    die "unknown command $cmd"
    ;;
esac
