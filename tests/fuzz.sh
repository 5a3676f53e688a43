#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (cargo-fuzz, nightly Rust) for a fixed number of inputs each,
# starting from the committed corpus (fuzz/corpus) and every crash ever found (fuzz/crashes).
#
#   tests/fuzz.sh            # the counts below, about half a minute once built (tests/run)
#   FUZZ_SCALE=100 tests/fuzz.sh    # a hundred times as many inputs (the performance harness)
#   FUZZ_TARGETS="report query" FUZZ_SEED=1234 tests/fuzz.sh
#   FUZZ_KEEP=1 tests/fuzz.sh       # merge the new inputs that reach new edges into fuzz/corpus
#
# A crash fails the script and leaves the input in fuzz/artifacts/TARGET/; commit it under
# fuzz/crashes/TARGET/ together with a regression test in the crate that owns the parser.
#
# Without nightly Rust it says so and fails under CI (CI=true), which skips nothing; elsewhere it
# skips. cargo-fuzz (pinned) and the build live outside the clone, in HEADCOUNT_FUZZ_CACHE
# (default ~/.cache/headcount-fuzz), so that only the first run pays for them.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
CACHE=${HEADCOUNT_FUZZ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/headcount-fuzz}
SCALE=${FUZZ_SCALE:-1}
SEED=${FUZZ_SEED:-0} # 0: libFuzzer draws one and prints it

# Inputs per target at scale 1: the collector targets write files for each input and collect a
# whole report, hundreds of times slower than the pure parsers.
declare -A RUNS=(
    [state_file]=100000 [report]=50000 [query]=100000 [http_framing]=50000
    [http_answer]=50000 [config_fragments]=10000 [os_release]=10000 [kernel_cmdline]=5000
    [afterburn]=10000 [aleph]=10000 [proc_sys]=1000
)
declare -A MAX_LEN=([proc_sys]=65536 [report]=16384)

skip_or_fail() {
    echo "tests/fuzz.sh: $*" >&2
    if [ "${CI:-}" = true ]; then
        echo "tests/fuzz.sh: failing: CI skips nothing" >&2
        exit 1
    fi
    echo "tests/fuzz.sh: SKIPPED (outside CI)" >&2
    exit 0
}

cargo +nightly --version >/dev/null 2>&1 ||
    skip_or_fail "nightly Rust is missing (rustup toolchain install nightly): cargo-fuzz needs it"

fuzz_root=$CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION
if ! "$fuzz_root/bin/cargo-fuzz" --version 2>/dev/null | grep -qF "$CARGO_FUZZ_VERSION"; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION into $fuzz_root"
    cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION" --locked --root "$fuzz_root" --quiet
fi
export PATH=$fuzz_root/bin:$PATH

# The committed fuzz/Cargo.lock is used as it is (cargo fuzz has no --locked of its own). When the
# crates under test gained a dependency since, cargo adds only what is missing (every version the
# lock holds stays) and this says so: commit the updated fuzz/Cargo.lock.
if ! cargo +nightly metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml \
    >/dev/null 2>&1; then
    echo "tests/fuzz.sh: fuzz/Cargo.lock lacks what the crates now use; adding it (commit it)" >&2
    cargo +nightly metadata --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
fi
target_dir=$CACHE/target
# No sanitizer: the code under test is safe Rust; debug assertions (overflow checks) stay on.
cargo +nightly fuzz build --sanitizer none --codegen-units 16 --target-dir "$target_dir"
bin=$target_dir/x86_64-unknown-linux-gnu/release

# The collector targets write a scratch root per process: keep it on tmpfs, and remove it.
work=$(mktemp -d "$( [ -d /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/headcount-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
failed=()
for t in $targets; do
    runs=$(( ${RUNS[$t]:-50000} * SCALE ))
    mkdir -p "$work/new/$t" "fuzz/corpus/$t" "fuzz/crashes/$t" "fuzz/artifacts/$t"
    started=$(date +%s.%N)
    if TMPDIR=$work "$bin/$t" "$work/new/$t" "fuzz/corpus/$t" "fuzz/crashes/$t" \
        -runs="$runs" -seed="$SEED" -max_len="${MAX_LEN[$t]:-8192}" -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 \
        >"$work/$t.log" 2>&1; then
        verdict=ok
    else
        verdict=FAILED
        failed+=("$t")
    fi
    secs=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')
    cov=$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -1 | cut -d' ' -f2)
    seed=$(grep -o 'Seed: [0-9]*' "$work/$t.log" | head -1 | cut -d' ' -f2)
    printf '%-17s %8s inputs  %6s s  coverage %-5s seed %-10s %s\n' \
        "$t" "$runs" "$secs" "${cov:-?}" "${seed:-?}" "$verdict"
    if [ "$verdict" = FAILED ]; then
        tail -40 "$work/$t.log" >&2
    elif [ "${FUZZ_KEEP:-}" = 1 ]; then
        # Only inputs that reach an edge the corpus does not (not every new hit count): the
        # committed corpus stays small (about 1,200 files, 0.7 MB for all targets).
        "$bin/$t" -set_cover_merge=1 -use_counters=0 "fuzz/corpus/$t" "$work/new/$t" \
            -max_len="${MAX_LEN[$t]:-8192}" >"$work/$t.merge.log" 2>&1
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "tests/fuzz.sh: crashed: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
