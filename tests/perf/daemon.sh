#!/usr/bin/env bash
# Daemon measurements for docs/development/performance.md, section "Daemon":
# stripped release binary size, start to READY=1, bytes on the wire per report (minimal, full),
# idle RSS after both reports over TLS, context switches over 60 s idle (PERF_IDLE_SECS).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -p headcount
bin=target/release/headcount
echo "stripped release binary: $(stat -c %s "$bin") bytes ($(file -b "$bin" | grep -o 'stripped\|not stripped'))"
# The release profile strips; the test below runs that same profile's binary.
cargo test --release --locked -p headcount --test perf -- --ignored --nocapture 2>&1 \
    | grep -E '^\[|^binary:|test result'
