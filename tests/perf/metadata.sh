#!/usr/bin/env bash
# The daemon after a cloud metadata query, for docs/development/performance.md ("Daemon"):
# threads, context switches over PERF_IDLE_SECS idle (60 by default) and RSS, once the query and
# both reports are done. Runs as root: a network and mount namespace plays a GCP machine whose
# metadata service is a stand-in on 169.254.169.254 (tests/system/metadata_host.py).
# Prints one `FIGURE key value` line a figure (the form tests/perf/run reads): metadata_requests
# (what the stand-in was asked for the run's two reports), reports, idle_threads, idle_rss_kib,
# idle_secs, idle_switches (context switches of all threads over idle_secs) and binary_bytes.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --locked -p headcount
idle="${PERF_IDLE_SECS:-60}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scenario=$(python3 - "$PWD/target/release/headcount" "$work" "$idle" <<'PY'
import json, os, sys
binary, work, idle = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(json.dumps({
    "outside": {ns: os.readlink(f"/proc/self/ns/{ns}") for ns in ("mnt", "net")},
    "binary": binary, "work": work, "dmi": None,
    "cmdline": "BOOT_IMAGE=(hd0,gpt3)/ostree/vmlinuz rw ignition.platform.id=gcp",
    "config": '[collecting]\nlevel = "minimal"\n\n[reporting]\nendpoint = "{endpoint}"\n'
              "max_startup_delay_secs = 0\nmax_rollover_delay_secs = 0\n",
    "standin": {"provider": "gcp", "answer": "projects/1/machineTypes/e2-medium"},
    "runs": [{"args": ["daemon"], "wait_reports": 2, "idle_secs": idle}],
}))
PY
)
unshare --net --mount --fork /usr/bin/python3 tests/system/metadata_host.py "$scenario" \
    | python3 -c '
import json, os, sys
r = json.load(sys.stdin)
idle = r["runs"][0]["idle"]
before, after = idle["before"], idle["after"]
binary = sys.argv[1]
figures = {
    "metadata_requests": len(r["metadata_requests"]),
    "reports": len(r["reports"]),
    "idle_threads": after["threads"],
    "idle_rss_kib": after["rss_kib"],
    "idle_secs": idle["secs"],
    "idle_switches": after["context_switches"] - before["context_switches"],
    "binary_bytes": os.stat(binary).st_size,
}
for key, value in figures.items():
    print("FIGURE", key, value)
' "$PWD/target/release/headcount"
