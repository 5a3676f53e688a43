#!/usr/bin/python3
"""Times the dashboard's first load in a real headless Chromium, for
docs/development/performance.md, section "Dashboard" (run by tests/perf/dashboard.sh, which
builds the release binaries first).

A receiver holds a released year (examples/year.rs: 365 days of a million machines, the
cross-tabulation os.version_id x platform.id x arch, and the year's countme weeks), as in
tests/system/test_dashboard.py. Each
run opens the page in a new browser context (empty cache: a first visit) and reads the page's
own mark `dashboard-ready`, set once the reports charts and every chart near the first screen
are drawn, as milliseconds from the navigation's start. Then it scrolls through the page, as a
reader would, and times drawing every other chart.

Usage: dashboard.py [RUNS]   (default 10)
"""

import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "system"))

import cdp  # noqa: E402
import dashboard_setup as ds  # noqa: E402

RELEASE = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")).resolve() / "release"

SCROLL_THROUGH = """(async () => {
  const t0 = performance.now();
  for (const card of document.querySelectorAll(".card")) {
    card.scrollIntoView();
    while (card.hasAttribute("aria-busy")) await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
})()"""

FIRST_LOAD_BYTES = """performance.getEntriesByType("resource").concat(performance.getEntriesByType("navigation"))
  .reduce((sum, e) => sum + e.transferSize, 0)"""


def load():
    return " ".join(pathlib.Path("/proc/loadavg").read_text().split()[:3])


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    version = subprocess.run([cdp.chromium_binary(), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, load average {load()}; {version}")
    with tempfile.TemporaryDirectory(prefix="headcount-dashboard.") as work:
        year = ds.YearReceiver(work, RELEASE / "headcount-receiver", RELEASE / "examples" / "year")
        try:
            with cdp.Chromium(work) as browser:
                first, scroll, transferred, charts = [], [], [], 0
                for _ in range(runs + 1):
                    page = browser.new_page()
                    first.append(ds.first_load_ms(page, year.origin + "/"))
                    transferred.append(page.evaluate(FIRST_LOAD_BYTES))
                    scroll.append(page.evaluate(SCROLL_THROUGH))
                    charts = page.evaluate("headcountDashboard.charts().length")
                    if page.errors():
                        raise SystemExit(f"the page reported errors: {page.errors()}")
                    page.send("Target.closeTarget", {"targetId": page.target})
                # The browser's own first page pays for starting a renderer; it is reported apart.
                print(f"first page of a new browser: {first[0]:.0f} ms")
                first, scroll, transferred = first[1:], scroll[1:], transferred[1:]
                print(f"first load, {runs} runs (ms to every chart near the first screen drawn): "
                      f"median {statistics.median(first):.0f}, min {min(first):.0f}, max {max(first):.0f}; "
                      f"{statistics.median(transferred) / 1e3:.0f} kB transferred")
                print(f"scrolling through the other charts ({charts} in all), drawing each: "
                      f"median {statistics.median(scroll):.0f} ms, max {max(scroll):.0f} ms")
        finally:
            year.stop()
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
