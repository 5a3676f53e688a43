"""A receiver with a released year for the dashboard: its test and its performance script.

The year is `examples/year.rs` (a million machines a day, about 300 instance types, the
cross-tabulation os.version_id x platform.id x arch; with `weekly`, also every countme week wholly
inside the year, with the countme tuple), ending two days ago so that every daily period of it is
closed by the real clock, loaded with `headcount-receiver import`; `serve` releases it at start.
Known counters besides: a sentinel instance type and OS version are put into today's, this
week's and this month's periods (open, so never released), by `import` in large numbers and by
real POSTs; so a receiver without `weekly` has weekly counters, but no released week.
"""

import concurrent.futures
import datetime
import http.client
import json
import pathlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "crates" / "headcount-receiver" / "src" / "dashboard"
CROSSTAB = ("os.version_id", "platform.id", "arch")
# The receiver's built-in cross-tabulation of every weekly release.
COUNTME_TUPLE = "os.id|os.version_id|os.variant_id|arch|age_bucket"
# Values that exist only in open periods: they must never reach the page. Each is a value a
# report can have (the instance type one AWS documents, absent from the generated year).
SENTINEL_INSTANCE_TYPE = "x8g.48xlarge"
SENTINEL_VERSION = "99"
SENTINEL_IMPORTED = 50000
# Reports posted into each open period (today, this week, this month).
SENTINEL_POSTS = 8
# A period is released once its end plus the grace (2 h) and a minute to settle have passed;
# five minutes more so a test started right then does not race the receiver's first look.
CLOSES_AFTER = datetime.timedelta(hours=2, minutes=6)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{path}", timeout=30) as r:
        return json.load(r)


def iso_week(d):
    """The ISO week `YYYY-Www` (the countme week) that the date `d` is in."""
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


def report(window, period):
    return json.dumps({
        "schema": 1, "window": window, "period": period, "level": "minimal",
        "os": {"id": "fedora", "variant_id": "coreos", "version_id": SENTINEL_VERSION,
               "build": "99.20261102.3.0"},
        "platform": {"id": "aws", "instance_type": SENTINEL_INSTANCE_TYPE},
        "arch": "x86_64", "age_bucket": 1,
    }, separators=(",", ":")).encode()


def post(port, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/v1/report", body, {"Content-Type": "application/json"})
        return conn.getresponse().status
    finally:
        conn.close()


class YearReceiver:
    """`headcount-receiver serve` on a database holding a released year and open periods."""

    def __init__(self, workdir, receiver_bin, year_bin, days=365, machines=1_000_000, weekly=True):
        self.workdir = pathlib.Path(workdir)
        # The windows with released periods, in the page's order.
        self.windows = ["daily", "weekly", "monthly"] if weekly else ["daily", "monthly"]
        now = datetime.datetime.now(datetime.timezone.utc)
        self.today = now.date()
        # The latest day the receiver releases at start: closed (its end plus the grace of 2 h)
        # and settled (a minute more). Earlier than that, yesterday is not released yet.
        self.last = (now - CLOSES_AFTER).date() - datetime.timedelta(days=1)
        self.first = self.last - datetime.timedelta(days=days - 1)
        self.open_day = self.today.isoformat()
        self.open_week = iso_week(self.today)
        self.open_month = self.today.strftime("%Y-%m")
        # The weeks year.rs writes: Monday to Sunday inside the year, so each closed with its
        # Sunday.
        monday = self.first + datetime.timedelta(days=-self.first.weekday() % 7)
        self.weeks = []
        while weekly and monday + datetime.timedelta(days=6) <= self.last:
            self.weeks.append(iso_week(monday))
            monday += datetime.timedelta(days=7)
        first_month = self.first.replace(day=1)
        last_closed_month = ((now - CLOSES_AFTER).date().replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
        self.months = []
        m = first_month
        while m <= last_closed_month:
            self.months.append(m.strftime("%Y-%m"))
            m = (m + datetime.timedelta(days=32)).replace(day=1)
        self.database = f"sqlite:{self.workdir / 'counts.db'}"
        csv = self.workdir / "year.csv"
        with open(csv, "wb") as out:
            subprocess.run([year_bin, str(days), str(machines), self.last.isoformat(), ",".join(self.windows)],
                           stdout=out, check=True)
        with open(csv, "a") as out:
            for window, period in self.open_periods():
                for field, value in (("platform.instance_type", SENTINEL_INSTANCE_TYPE),
                                     ("os.version_id", SENTINEL_VERSION)):
                    out.write(f"{window},{period},{field},{value},{SENTINEL_IMPORTED}\n")
        subprocess.run([receiver_bin, "import", "--database", self.database, csv],
                       check=True, capture_output=True)
        config = self.workdir / "receiver.toml"
        config.write_text("[counts]\ncrosstabs = [[%s]]\n" % ", ".join(f'"{f}"' for f in CROSSTAB))
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.log = open(self.workdir / "receiver.log", "w")
        self.proc = subprocess.Popen(
            [receiver_bin, "serve", "--listen", f"127.0.0.1:{self.port}",
             "--database", self.database, "--config", config],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        try:
            wait_until(self._released, 120, "the year to be released")
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                bodies = [report(w, p) for w, p in self.open_periods() for _ in range(SENTINEL_POSTS)]
                self.post_statuses = list(pool.map(lambda b: post(self.port, b), bodies))
        except BaseException:
            self.stop()
            raise

    def _released(self):
        if self.proc.poll() is not None:
            raise RuntimeError((self.workdir / "receiver.log").read_text())
        expected = {"daily": self.days(), "monthly": self.months}
        if self.weeks:
            expected["weekly"] = self.weeks
        try:
            for window, periods in expected.items():
                series = get_json(self.port, f"v1/series?window={window}&field=level&from={periods[0]}&to={periods[-1]}")
                if [p["period"] for p in series["periods"]] != periods:
                    return False
        except (OSError, urllib.error.URLError, ValueError):
            return False
        return True

    def open_periods(self):
        """(window, period) of today, this week and this month: open, never released."""
        return (("daily", self.open_day), ("weekly", self.open_week), ("monthly", self.open_month))

    def days(self):
        """Every released day of the year, in order."""
        return [(self.first + datetime.timedelta(days=i)).isoformat()
                for i in range((self.last - self.first).days + 1)]

    def get_json(self, path):
        return get_json(self.port, path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def assets_digest():
    """SHA-256 over the files the dashboard serves (names and bytes): what the screenshot was
    taken of. The Rust module around them and the vendoring script are not part of the look."""
    import hashlib

    h = hashlib.sha256()
    served = (p for p in DASHBOARD.rglob("*")
              if p.is_file() and p.suffix != ".rs" and p.name not in ("refresh.sh", "SOURCE"))
    for path in sorted(served):
        h.update(str(path.relative_to(DASHBOARD)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def first_load_ms(page, url):
    """Navigates to the dashboard and returns the milliseconds from the navigation's start to the
    page's mark `dashboard-ready` (every series fetched and every chart drawn)."""
    page.navigate(url)
    page.wait_for(f"location.href === {json.dumps(url)} && document.readyState !== 'loading'"
                  " && document.documentElement.dataset.state !== 'loading'", timeout=120)
    state = page.evaluate("document.documentElement.dataset.state")
    if state != "ready":
        raise RuntimeError(f"the dashboard ended in state {state}: "
                           + page.evaluate("document.getElementById('status').textContent"))
    return page.evaluate("performance.getEntriesByName('dashboard-ready')[0].startTime")
