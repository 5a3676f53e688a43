#!/usr/bin/env bash
# Countme totals benchmark (not a test): WEEKS weekly periods of MACHINES machines, each week's
# countme tuples spread over 4 Fedora versions, 12 variants, 5 architectures and 4 age buckets
# (960 combinations, as many as a distribution's whole DNF population shows), are loaded with
# `import`; then `export --format countme-totals` of all the weeks is timed, and
# `publish --config --format countme-totals`, which first releases every week (noise on about 1000
# cells each) and then writes the released rows. On SQLite, then on a throwaway PostgreSQL on a
# loopback port (as root, PostgreSQL runs as the postgres user). Needs python3 and the Debian
# package postgresql.
#
# Environment: WEEKS (default 52), MACHINES (1000000).
set -euo pipefail
cd "$(dirname "$0")/../../.."

WEEKS=${WEEKS:-52}
MACHINES=${MACHINES:-1000000}
BIN=target/release/headcount-receiver

cargo build --release --locked -p headcount-receiver --bins >&2

WORK=$(mktemp -d /tmp/headcount-countme.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "machine: $(nproc) cores, load average $(load)"

# The last week is the one before the previous, so every week is closed.
LAST=$(date -u -d '14 days ago' +%G-W%V)
python3 - "$WEEKS" "$MACHINES" "$LAST" >"$WORK/weeks.csv" <<'EOF'
import datetime, json, random, sys
weeks, machines, last = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
year, week = map(int, last.split("-W"))
monday = datetime.date.fromisocalendar(year, week, 1)
rng = random.Random(1)
versions = {"41": 0.15, "42": 0.35, "43": 0.45, "44": 0.05}
variants = ["workstation", "server", "coreos", "cloud", "container", "iot", "kde", "silverblue",
            "kinoite", "sericea", "onyx", "generic"]
arches = {"x86_64": 0.86, "aarch64": 0.11, "ppc64le": 0.015, "s390x": 0.01, "riscv64": 0.005}
ages = {"1": 0.04, "2": 0.07, "3": 0.25, "4": 0.64}
print("window,period,field,value,count")
for w in range(weeks):
    y, n, _ = (monday - datetime.timedelta(weeks=weeks - 1 - w)).isocalendar()
    period = f"{y}-W{n:02d}"
    total = 0
    for v, pv in versions.items():
        for i, var in enumerate(variants):
            pvar = 0.5 ** (i + 1)
            for a, pa in arches.items():
                for age, pg in ages.items():
                    count = round(machines * pv * pvar * pa * pg * rng.uniform(0.9, 1.1))
                    if count < 1:
                        continue
                    total += count
                    value = json.dumps(["fedora", v, var, a, age], separators=(",", ":"))
                    value = value.replace('"', '""')
                    print(f'weekly,{period},os.id|os.version_id|os.variant_id|arch|age_bucket,"{value}",{count}')
    print(f"weekly,{period},level,minimal,{total}")
EOF
FIRST=$(sed -n 2p "$WORK/weeks.csv" | cut -d, -f2)
echo "generated $(($(wc -l <"$WORK/weeks.csv") - 1)) counters for $FIRST to $LAST"
echo "[counts]" >"$WORK/receiver.toml"

secs() { echo "$(date +%s.%N) - $1" | bc; }

bench() { # NAME DATABASE_URL
    local name=$1 db=$2 t0
    t0=$(date +%s.%N)
    "$BIN" import --database "$db" "$WORK/weeks.csv" 2>&1 | sed "s/^/  [$name] /"
    echo "[$name] import: $(secs "$t0") s (load $(load))"
    t0=$(date +%s.%N)
    "$BIN" export --database "$db" --format countme-totals --from "$FIRST" --to "$LAST" >"$WORK/exact.csv"
    echo "[$name] export --format countme-totals of $WEEKS weeks: $(secs "$t0") s, $(($(wc -l <"$WORK/exact.csv") - 1)) rows (load $(load))"
    t0=$(date +%s.%N)
    "$BIN" publish --database "$db" --config "$WORK/receiver.toml" --format countme-totals \
        --from "$FIRST" --to "$LAST" >"$WORK/released.csv" 2>"$WORK/publish.err"
    echo "[$name] publish --format countme-totals, releasing the $WEEKS weeks first: $(secs "$t0") s, $(($(wc -l <"$WORK/released.csv") - 1)) rows (load $(load))"
    t0=$(date +%s.%N)
    "$BIN" publish --database "$db" --format countme-totals --from "$FIRST" --to "$LAST" >"$WORK/released.csv" 2>/dev/null
    echo "[$name] publish --format countme-totals of released weeks: $(secs "$t0") s (load $(load))"
}

bench sqlite "sqlite:$WORK/counts.db"

PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGDIR=$WORK/pg
mkdir -p "$PGDIR"
AS=()
if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$PGDIR"
    AS=(setpriv --reuid=postgres --regid=postgres --init-groups --reset-env)
fi
"${AS[@]}" "$PGBIN/initdb" -A trust -U headcount --no-sync -E UTF8 -D "$PGDIR/data" >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${AS[@]}" "$PGBIN/postgres" -D "$PGDIR/data" -p "$PORT" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$PGDIR" >/dev/null 2>&1 &
PIDS+=($!)
until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; do sleep 0.2; done
bench postgres "postgres://headcount@127.0.0.1:$PORT/postgres"
