#!/usr/bin/env bash
# Receiver benchmark (not a test): wrk on loopback posting a realistic full-level report to
#   1. a bare axum endpoint that only parses the JSON (examples/bare.rs),
#   2. headcount-receiver on SQLite,
#   3. headcount-receiver on PostgreSQL (a throwaway server on a loopback port),
# then checks that every acknowledged report was counted (no loss) and prints throughput, the
# ratio to the bare endpoint, the server's CPU time per answered report (user + system, steadier
# than throughput when other processes share the machine), latency and peak RSS (VmHWM). Run as
# root or as a user that can run PostgreSQL; needs the Debian packages wrk and postgresql.
#
# Besides the summary, it prints one `FIGURE key value` line per figure, the form the performance
# harness (tests/perf/run) reads: the load average before and after, each server's reports/s and
# CPU per report, and each receiver's ratio to the bare endpoint, both to the bare one at its own
# connection count and at the receiver's (`*_ratio_to_bare`, the stricter of the two, is the
# lower), and whether every acknowledged report was counted.
#
# Environment: DURATION (default 10s), THREADS (2), BARE_CONNECTIONS (64), CONNECTIONS (256),
# BIN and BARE (the binaries to measure; default the release build of this tree).
set -euo pipefail
cd "$(dirname "$0")/../../.."

DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
BARE_CONNECTIONS=${BARE_CONNECTIONS:-64}
CONNECTIONS=${CONNECTIONS:-256}
BIN=${BIN:-target/release/headcount-receiver}
BARE=${BARE:-target/release/examples/bare}
LUA=crates/headcount-receiver/bench/post.lua

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
cargo build --release --locked -p headcount -p headcount-receiver --bins --examples >&2

WORK=$(mktemp -d /tmp/headcount-bench.XXXXXX)
chmod 755 "$WORK" # PostgreSQL runs as the postgres user below
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

export BODY_FILE=$WORK/body.json
# What a real machine posts: `headcount preview --json` of a fixture machine, without the final
# newline preview adds (the daemon posts exactly these bytes).
printf %s "$(target/release/headcount --root tests/fixtures/aws-fcos-x86_64 preview --json --level full)" >"$BODY_FILE"
echo "body: $(wc -c <"$BODY_FILE") bytes (full level, headcount preview --json of tests/fixtures/aws-fcos-x86_64)"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

wait_listening() { # LOGFILE
    for _ in $(seq 200); do grep -q "listening on" "$1" && return 0; sleep 0.05; done
    echo "server did not start:" >&2; cat "$1" >&2; exit 1
}

# CPU seconds (user + system, in clock ticks) the process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_wrk NAME URL CONNECTIONS SERVER_PID -> sets REQS, NON2XX, ERRS, RPS, P50, P99, CPU_US
run_wrk() {
    local out c0
    c0=$(cpu_ticks "$4")
    out=$(wrk -t"$THREADS" -c"$3" -d"$DURATION" -s "$LUA" "$2")
    echo "$out" | sed "s/^/  [$1] /" >&2
    local r
    r=$(echo "$out" | grep '^RESULT')
    REQS=$(echo "$r" | sed 's/.*requests=\([0-9]*\).*/\1/')
    NON2XX=$(echo "$r" | sed 's/.*non2xx=\([0-9]*\).*/\1/')
    ERRS=$(echo "$r" | awk '{for(i=1;i<=NF;i++){split($i,a,"=");if(a[1]~/^(connect|read|write|timeout)$/)s+=a[2]}}END{print s+0}')
    local us
    us=$(echo "$r" | sed 's/.*duration_us=\([0-9]*\).*/\1/')
    RPS=$(( (REQS - NON2XX) * 1000000 / us ))
    P50=$(echo "$r" | sed 's/.*p50_us=\([0-9]*\).*/\1/')
    P99=$(echo "$r" | sed 's/.*p99_us=\([0-9]*\).*/\1/')
    CPU_US=$(awk -v t="$(( $(cpu_ticks "$4") - c0 ))" -v hz="$(getconf CLK_TCK)" -v n="$(( REQS - NON2XX ))" \
        'BEGIN{printf "%.1f", n ? t / hz * 1e6 / n : 0}')
}

peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }

counted() { # DATABASE_URL
    "$BIN" export --database "$1" --window daily --period "$(date -u +%F)" |
        awk -F, '$3 == "level" {s += $5} END {print s + 0}'
}

SUMMARY=()
FIGURES=("load_before $(cut -d' ' -f1 /proc/loadavg)")

# --- 1. bare endpoint ---
"$BARE" 127.0.0.1:18181 2>"$WORK/bare.log" & PIDS+=($!); BARE_PID=$!
wait_listening "$WORK/bare.log"
run_wrk bare http://127.0.0.1:18181/v1/report "$BARE_CONNECTIONS" "$BARE_PID"
BARE_RPS=$RPS
FIGURES+=("bare_rps_c$BARE_CONNECTIONS $RPS" "bare_cpu_us_per_report_c$BARE_CONNECTIONS $CPU_US")
SUMMARY+=("bare axum (parse only)  c=$BARE_CONNECTIONS  ${RPS}/s  cpu ${CPU_US}us/report  p50 ${P50}us p99 ${P99}us  peak RSS $(peak_rss_kib $BARE_PID) KiB")
run_wrk bare-c$CONNECTIONS http://127.0.0.1:18181/v1/report "$CONNECTIONS" "$BARE_PID"
SUMMARY+=("bare axum (parse only)  c=$CONNECTIONS  ${RPS}/s  cpu ${CPU_US}us/report  p50 ${P50}us p99 ${P99}us")
BARE_RPS_HIGH=$RPS
FIGURES+=("bare_rps_c$CONNECTIONS $RPS" "bare_cpu_us_per_report_c$CONNECTIONS $CPU_US")
kill "$BARE_PID"

# --- receiver on a database: bench_receiver NAME DATABASE_URL ---
bench_receiver() {
    local name=$1 db=$2 port=18182 log=$WORK/$1.log
    "$BIN" serve --listen 127.0.0.1:$port --database "$db" 2>"$log" & PIDS+=($!)
    local pid=$!
    wait_listening "$log"
    local before after acked
    before=$(counted "$db")
    run_wrk "$name" http://127.0.0.1:$port/v1/report "$CONNECTIONS" "$pid"
    sleep 1 # requests cut off by wrk's end may still commit: they can only add, never lose
    after=$(counted "$db")
    acked=$((REQS - NON2XX))
    local rss
    rss=$(peak_rss_kib $pid)
    kill -TERM "$pid"; wait "$pid" || true
    local got=$((after - before)) verdict="ok"
    if [ "$got" -lt "$acked" ]; then verdict="LOST $((acked - got)) ACKNOWLEDGED REPORTS"; fi
    if [ "$got" -gt $((acked + CONNECTIONS)) ]; then verdict="COUNTED $((got - acked)) MORE THAN SENT"; fi
    SUMMARY+=("receiver $name  c=$CONNECTIONS  ${RPS}/s durable  cpu ${CPU_US}us/report  p50 ${P50}us p99 ${P99}us  peak RSS $rss KiB  acked $acked counted $got non-2xx $NON2XX socket errors $ERRS: $verdict")
    local own same
    own=$(awk -v a="$RPS" -v b="$BARE_RPS" 'BEGIN{printf "%.2f", a/b}')
    same=$(awk -v a="$RPS" -v b="$BARE_RPS_HIGH" 'BEGIN{printf "%.2f", a/b}')
    SUMMARY+=("  ratio to bare (c=$BARE_CONNECTIONS): $own, to bare (c=$CONNECTIONS): $same")
    FIGURES+=("${name}_rps $RPS" "${name}_cpu_us_per_report $CPU_US"
        "${name}_ratio_to_bare_c$BARE_CONNECTIONS $own" "${name}_ratio_to_bare_c$CONNECTIONS $same"
        "${name}_ratio_to_bare $(awk -v a="$own" -v b="$same" 'BEGIN{print (a < b ? a : b)}')"
        "${name}_p99_us $P99" "${name}_acknowledged $acked" "${name}_counted $got"
        "${name}_lost $([ "$got" -lt "$acked" ] && echo $((acked - got)) || echo 0)")
    [ "$verdict" = ok ]
}

bench_receiver sqlite "sqlite:$WORK/counts.db"

# --- PostgreSQL: a throwaway server, as the postgres user when run as root ---
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" -eq 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups --reset-env "$@"; else "$@"; fi; }
mkdir "$WORK/pg"
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/pg"
as_pg "$PGBIN/initdb" -A trust -U headcount --no-sync -E UTF8 -D "$WORK/pg/data" >/dev/null
as_pg "$PGBIN/postgres" -D "$WORK/pg/data" -p 15432 -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$WORK/pg" >"$WORK/pg.log" 2>&1 & PIDS+=($!)
PG_PID=$!
# Up to a minute: on a loaded machine PostgreSQL's startup can take more than a few seconds, and a
# receiver started before it accepts fails with "the database system is starting up".
for _ in $(seq 600); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p 15432 && break; sleep 0.1; done
"$PGBIN/pg_isready" -q -h 127.0.0.1 -p 15432 || { echo "PostgreSQL did not start:" >&2; cat "$WORK/pg.log" >&2; exit 1; }
bench_receiver postgresql "postgres://headcount@127.0.0.1:15432/postgres"
kill -INT "$PG_PID"

echo
echo "== headcount-receiver benchmark: wrk -t$THREADS -d$DURATION, $(date -u +%FT%TZ)"
printf '%s\n' "${SUMMARY[@]}"
FIGURES+=("load_after $(cut -d' ' -f1 /proc/loadavg)")
printf 'FIGURE %s\n' "${FIGURES[@]}"
