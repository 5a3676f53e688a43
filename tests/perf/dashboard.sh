#!/usr/bin/env bash
# Dashboard measurements for docs/development/performance.md, section "Dashboard": first load
# of the page over a released year of daily data in Debian's headless Chromium, and the time to
# draw every other chart while scrolling (tests/perf/dashboard.py). RUNS (default 10) cold loads.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -p headcount-receiver --bins --examples >&2
/usr/bin/python3 tests/perf/dashboard.py "${RUNS:-10}"
