# Sourced by the receiver's benchmarks, from the repository's root: a work directory removed at
# exit with every process in PIDS, the load average, and a throwaway PostgreSQL server on a
# loopback port (as the postgres user when run as root: PostgreSQL refuses root).

PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}

# make_work NAME: WORK, a fresh directory /tmp/NAME.XXXXXX that the postgres user can enter,
# removed at exit.
make_work() {
    WORK=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$WORK"
    trap cleanup EXIT
}

load() { cut -d' ' -f1-3 /proc/loadavg; }

# start_postgres PORT: a server with its data in $WORK/pg on 127.0.0.1:PORT, waited for up to a
# minute (on a loaded machine its startup can take more than a few seconds, and a receiver started
# before it accepts fails with "the database system is starting up"). Sets PG_URL and PG_PID.
start_postgres() {
    local port=$1 bin as=()
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    mkdir "$WORK/pg"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$WORK/pg"
        as=(setpriv --reuid=postgres --regid=postgres --init-groups --reset-env)
    fi
    "${as[@]}" "$bin/initdb" -A trust -U headcount --no-sync -E UTF8 -D "$WORK/pg/data" >/dev/null
    "${as[@]}" "$bin/postgres" -D "$WORK/pg/data" -p "$port" -c listen_addresses=127.0.0.1 \
        -c unix_socket_directories="$WORK/pg" >"$WORK/pg.log" 2>&1 &
    PG_PID=$!
    PIDS+=("$PG_PID")
    for _ in $(seq 600); do "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break; sleep 0.1; done
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" ||
        { echo "PostgreSQL did not start:" >&2; cat "$WORK/pg.log" >&2; exit 1; }
    PG_URL="postgres://headcount@127.0.0.1:$port/postgres"
}
