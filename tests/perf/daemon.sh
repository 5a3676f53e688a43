#!/usr/bin/env bash
# Daemon measurements for docs/development/performance.md, section "Daemon":
# stripped release binary size, start to READY=1, bytes on the wire per report (minimal, full),
# idle RSS after both reports over TLS, context switches over 60 s idle (PERF_IDLE_SECS).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -p headcount
bin=target/release/headcount
echo "stripped release binary: $(stat -c %s "$bin") bytes ($(file -b "$bin" | grep -o 'stripped\|not stripped'))"
# The harness itself can be a debug build; it measures the stripped release binary.
HEADCOUNT_BIN="$PWD/$bin" cargo test --locked -p headcount --test perf -- --ignored --nocapture 2>&1 \
    | grep -E '^\[|^binary:|test result'
