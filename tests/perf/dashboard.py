"""Times the dashboard's first load in a real headless Chromium: the `dashboard` section of the
performance harness (tests/perf/run imports this module after building the release binaries;
`DASHBOARD_RUNS=10 tests/perf/run dashboard`).

A receiver holds a released year (examples/year.rs: 365 days of a million machines, the
cross-tabulation os.version_id x platform.id x arch, and the year's countme weeks), as in
tests/system/test_dashboard.py. Each run opens the page in a new browser context (empty cache: a
first visit) and reads the page's own mark `dashboard-ready`, set once the reports charts and every
chart near the first screen are drawn, as milliseconds from the navigation's start. Then it scrolls
through the page, as a reader would, and times drawing every other chart.
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


def measure(runs=10):
    """Returns the dashboard's figures over `runs` cold loads (and prints what it measured)."""
    version = subprocess.run([cdp.chromium_binary(), "--version"], capture_output=True,
                             text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, load average {load()}; {version}", file=sys.stderr)
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
                        raise RuntimeError(f"the page reported errors: {page.errors()}")
                    page.send("Target.closeTarget", {"targetId": page.target})
        finally:
            year.stop()
    # The browser's own first page pays for starting a renderer; it is reported apart.
    browser_first, first, scroll, transferred = first[0], first[1:], scroll[1:], transferred[1:]
    figures = {
        "dashboard_runs": runs,
        "dashboard_first_load_ms": (statistics.median(first), min(first), max(first)),
        "dashboard_first_load_kb": statistics.median(transferred) / 1e3,
        "dashboard_browser_first_ms": browser_first,
        "dashboard_charts": charts,
        "dashboard_scroll_ms": (statistics.median(scroll), max(scroll)),
        "dashboard_browser": version,
    }
    print(f"dashboard: {figures}; load average after: {load()}", file=sys.stderr)
    return figures


