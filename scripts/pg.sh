#!/usr/bin/env bash
# The checkout's private Postgres 15 cluster: .data/pg, reachable only through a unix socket.
#
#   usage: scripts/pg.sh start|stop|status|url
#
#   start   initdb (first time), start, create the database electric_sync; idempotent
#   stop    fast shutdown; idempotent
#   status  exit 0 when running (prints the URL), 3 when not
#   url     the connection string (libpq URI; also understood by node-postgres)
#
# DATABASE_URL set: that database is used instead; start/stop/status do nothing to it and url
# prints it. Invariants:
#   - binaries come from `pg_config --bindir` (never whatever initdb is first on PATH);
#   - no TCP listener (listen_addresses=''); the socket lives in .data/run, or, when that path
#     would exceed the 107-byte sun_path limit, in /tmp/esync-<hash of the checkout path>;
#   - the port (part of the socket file name only) is derived from the checkout path too, so two
#     checkouts on one machine never share a socket;
#   - initdb and postgres refuse to run as root: as root every server-side command runs as the
#     `postgres` system user through runuser, and the directories are chowned to it;
#   - concurrent callers (parallel tests, npm run dev) serialize on .data/pg.lock.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd -P)  # physical: one checkout, one cluster, however reached
cmd=${1:-status}

if [ -n "${DATABASE_URL:-}" ]; then
    case "$cmd" in
        url|status) echo "$DATABASE_URL" ;;
        start|stop) echo "pg: DATABASE_URL is set; the private cluster is not used" >&2 ;;
        *) echo "usage: scripts/pg.sh start|stop|status|url" >&2; exit 2 ;;
    esac
    exit 0
fi

data="$root/.data"
pgdata="$data/pg"
log="$data/pg.log"
dbname=electric_sync
hash=$(printf '%s' "$root" | cksum | cut -d' ' -f1)
port=$((20000 + hash % 20000))
sockdir="$data/run"
if [ $((${#sockdir} + ${#port} + 10)) -gt 107 ]; then
    # "/.s.PGSQL." is 10 bytes; the kernel's sun_path holds 107 plus the NUL.
    sockdir="/tmp/esync-$(printf '%08x' "$hash")"
fi
url="postgresql:///$dbname?host=$sockdir&port=$port&user=postgres"

bindir=$(pg_config --bindir 2>/dev/null || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
    # pg_config comes with libpq-dev; the server binaries with postgresql-15 (scripts/setup.sh).
    for d in /usr/lib/postgresql/15/bin; do [ -x "$d/pg_ctl" ] && bindir=$d; done
fi
[ -x "$bindir/pg_ctl" ] || { echo "pg: no pg_ctl in '$bindir' (run scripts/setup.sh)" >&2; exit 1; }

as_pg=()
if [ "$(id -u)" -eq 0 ]; then
    as_pg=(runuser -u postgres --)
fi

running() {
    # pg_ctl status reads postmaster.pid and checks the process; 0 = running.
    [ -f "$pgdata/PG_VERSION" ] || return 1
    (cd / && "${as_pg[@]}" "$bindir/pg_ctl" -D "$pgdata" status >/dev/null 2>&1)
}

psql_admin() {
    psql -X -q -v ON_ERROR_STOP=1 "host=$sockdir port=$port user=postgres dbname=postgres" "$@"
}

do_start() {
    mkdir -p "$data" "$sockdir"
    chmod 700 "$sockdir"
    if [ ${#as_pg[@]} -gt 0 ]; then
        # The postgres user must reach the checkout: every parent directory needs o+x.
        local d=$data
        while [ "$d" != / ]; do
            d=$(dirname "$d")
            if ! runuser -u postgres -- test -x "$d"; then
                echo "pg: the postgres user cannot enter $d; make it world-executable (chmod o+x)" >&2
                exit 1
            fi
        done
        chown postgres:postgres "$sockdir"
        touch "$log"; chown postgres:postgres "$log"
    fi
    if [ ! -f "$pgdata/PG_VERSION" ]; then
        rm -rf "$pgdata"; mkdir -p "$pgdata"; chmod 700 "$pgdata"
        [ ${#as_pg[@]} -gt 0 ] && chown postgres:postgres "$pgdata"
        echo "pg: initdb $pgdata" >&2
        (cd / && "${as_pg[@]}" "$bindir/initdb" -D "$pgdata" -U postgres -A trust -E UTF8 \
            --locale=C.UTF-8 --no-sync >/dev/null)
        # Settings live in the cluster's own config so a manual pg_ctl start behaves the same.
        # fsync=off: a dev cluster; synchronous_commit=on keeps logical decoding latency at
        # tens of microseconds instead of wal_writer_delay (200 ms).
        cat >> "$pgdata/postgresql.conf" <<EOF

# electric-sync (scripts/pg.sh)
listen_addresses = ''
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
fsync = off
full_page_writes = off
synchronous_commit = on
timezone = 'UTC'
log_timezone = 'UTC'
EOF
    fi
    if ! running; then
        rm -f "$pgdata/postmaster.pid.stale"
        # port and socket directory are passed per start: they follow the checkout's path.
        # 9>&-: the postmaster must not inherit the lock, or it would hold it for its lifetime.
        if ! (cd / && "${as_pg[@]}" "$bindir/pg_ctl" -D "$pgdata" -l "$log" -w -t 60 \
                -o "-c port=$port -c unix_socket_directories='$sockdir'" start >/dev/null 9>&-); then
            echo "pg: start failed; last lines of $log:" >&2
            tail -20 "$log" >&2
            exit 1
        fi
    fi
    if [ "$(psql_admin -tAc "select 1 from pg_database where datname = '$dbname'")" != 1 ]; then
        psql_admin -c "create database $dbname"
    fi
}

do_stop() {
    if running; then
        (cd / && "${as_pg[@]}" "$bindir/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null)
    fi
}

with_lock() {
    mkdir -p "$data"
    exec 9>"$data/pg.lock"
    flock 9
    "$@"
}

case "$cmd" in
    start) with_lock do_start ;;
    stop) with_lock do_stop ;;
    status) if running; then echo "$url"; else echo "pg: not running ($pgdata)" >&2; exit 3; fi ;;
    url) echo "$url" ;;
    *) echo "usage: scripts/pg.sh start|stop|status|url" >&2; exit 2 ;;
esac
