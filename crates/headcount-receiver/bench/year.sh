#!/usr/bin/env bash
# Released-tables benchmark (not a test): a realistic year of a large fleet (examples/year.rs:
# DAYS daily periods of MACHINES machines, about 300 instance types, the cross-tabulation
# os.version_id x platform.id x arch) is loaded with `import`, released by `serve` at start
# (each release timed from the receiver's log), then `/v1/series` is timed for every daily period
# of the year on the field with the most values and on the cross-tabulation, and `publish` for
# the year. On SQLite, then on a throwaway PostgreSQL on a loopback port (as root, PostgreSQL runs
# as the postgres user). Needs curl and the Debian package postgresql.
#
# Environment: DAYS (default 365), MACHINES (1000000), REQUESTS per series (30).
set -euo pipefail
cd "$(dirname "$0")/../../.."

DAYS=${DAYS:-365}
MACHINES=${MACHINES:-1000000}
REQUESTS=${REQUESTS:-30}
BIN=target/release/headcount-receiver
YEAR=target/release/examples/year

cargo build --release --locked -p headcount-receiver --bins --examples >&2

# shellcheck source=crates/headcount-receiver/bench/common.sh
. crates/headcount-receiver/bench/common.sh
make_work headcount-year
echo "machine: $(nproc) cores, load average $(load)"

LAST=$(date -u -d '2 days ago' +%F)
FIRST=$(date -u -d "$LAST - $((DAYS - 1)) days" +%F)
START=$(date +%s.%N)
"$YEAR" "$DAYS" "$MACHINES" "$LAST" >"$WORK/year.csv"
echo "generated $(($(wc -l <"$WORK/year.csv") - 1)) counters ($(du -m "$WORK/year.csv" | cut -f1) MB) for $FIRST to $LAST in $(echo "$(date +%s.%N) - $START" | bc) s"

cat >"$WORK/receiver.toml" <<'EOF'
[counts]
crosstabs = [["os.version_id", "platform.id", "arch"]]
EOF

# ms of one request: curl's own clock, so the client's start-up is not counted.
series_ms() { # URL -> median and max over REQUESTS, and bytes
    local times
    times=$(for _ in $(seq "$REQUESTS"); do curl -s -o "$WORK/series.json" -w '%{time_total}\n' "$1"; done | sort -n)
    echo "median $(echo "$times" | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]*1000}') ms, max $(echo "$times" | tail -1 | awk '{printf "%.1f", $1*1000}') ms, $(wc -c <"$WORK/series.json") bytes, $(grep -o '"period"' "$WORK/series.json" | wc -l) periods"
}

bench() { # NAME DATABASE_URL PORT
    local name=$1 db=$2 port=$3 t0 log
    t0=$(date +%s.%N)
    "$BIN" import --database "$db" "$WORK/year.csv" 2>&1 | sed "s/^/  [$name] /"
    echo "[$name] import: $(echo "$(date +%s.%N) - $t0" | bc) s (load $(load))"
    log=$WORK/$name.log
    t0=$(date +%s.%N)
    "$BIN" serve --listen 127.0.0.1:"$port" --database "$db" --config "$WORK/receiver.toml" 2>"$log" &
    PIDS+=($!)
    local want=$((DAYS + 12))
    for _ in $(seq 6000); do
        [ "$(grep -c 'released ' "$log" || true)" -ge "$want" ] && break
        sleep 0.05
    done
    echo "[$name] $(grep -c 'released ' "$log") periods released in $(echo "$(date +%s.%N) - $t0" | bc) s from start (load $(load))"
    grep -o 'released daily period [0-9-]* in [0-9]* ms' "$log" | awk '{print $(NF-1)}' | sort -n |
        awk -v n="$name" '{a[NR]=$1} END {printf "[%s] one daily release: median %d ms, p95 %d ms, max %d ms (%d releases)\n", n, a[int((NR+1)/2)], a[int(NR*0.95)], a[NR], NR}'
    for field in platform.instance_type 'os.version_id%7Cplatform.id%7Carch'; do
        local url="http://127.0.0.1:$port/v1/series?window=daily&field=$field&from=$FIRST&to=$LAST"
        curl -s -o /dev/null "$url" # warm
        echo "[$name] /v1/series $field, $DAYS daily periods: $(series_ms "$url") (load $(load))"
    done
    t0=$(date +%s.%N)
    "$BIN" publish --database "$db" --config "$WORK/receiver.toml" --window daily --from "$FIRST" --to "$LAST" >"$WORK/publish.csv"
    echo "[$name] publish csv, $DAYS daily periods: $(echo "$(date +%s.%N) - $t0" | bc) s, $(wc -l <"$WORK/publish.csv") lines"
    echo "[$name] peak RSS of serve: $(awk '/VmHWM/ {print $2}' "/proc/${PIDS[-1]}/status") KiB"
    kill "${PIDS[-1]}"
}

bench sqlite "sqlite:$WORK/year.db" 18281

start_postgres 15433
bench postgresql "$PG_URL" 18282
echo "machine after: load average $(load)"
