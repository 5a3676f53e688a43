"""The receiver's dashboard in a real headless Chromium (Debian's `chromium`, driven over CDP).

Against a receiver holding a released year of a million machines a day, with its countme weeks
(examples/year.rs, loaded with `import`) and, in today's, this week's and this month's open
periods, counters of a sentinel instance type and OS version (imported by the ten thousand, and
posted): the page loads with no error, asks nothing of any host but the receiver, names no
absolute URL, every chart and every table holds exactly what `/v1/series` serves, per day, per
week and per month, nothing of an open period appears, and the screenshot in
docs/usage/receiver.md is of the current page. Against a small receiver that has counted weeks
but released none: the page offers no weekly window.
"""

import datetime
import json
import os
import re
import struct
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import zlib

import pytest

import cdp
import dashboard_setup as ds
from conftest import REPO, binary

pytestmark = pytest.mark.skipif(cdp.chromium_binary() is None,
                                reason="chromium is not installed (Debian package, tests/apt-packages)")

SCREENSHOT = REPO / "docs" / "usage" / "images" / "dashboard.png"
SCREENSHOT_KEY = "headcount-dashboard-sha256"
NOUN = {"daily": "day", "weekly": "week", "monthly": "month"}
# Values charted on their own per field, as app.js says.
TOP = int(re.search(r"const TOP = (\d+);", (ds.DASHBOARD / "app.js").read_text()).group(1))

# Scrolls every card into view (a field's chart is fetched and drawn as it comes near the screen)
# and waits until each is drawn; answers how many are still busy.
DRAW_ALL = """(async () => {
  const drawn = (card) => new Promise((resolve) => {
    const poll = () => (card.hasAttribute("aria-busy") ? setTimeout(poll, 10) : resolve());
    poll();
  });
  for (const card of document.querySelectorAll(".card")) {
    card.scrollIntoView();
    await drawn(card);
  }
  window.scrollTo(0, 0);
  return document.querySelectorAll(".card[aria-busy]").length;
})()"""

# Opens every table and reads it: header texts and, per row, the period and the cells' values
# (and the row's label apart).
READ_TABLES = """(async () => {
  const all = [...document.querySelectorAll("details.numbers")];
  for (const d of all) d.open = true;
  while (all.some((d) => !d.querySelector("table"))) await new Promise((r) => setTimeout(r, 10));
  return Object.fromEntries([...document.querySelectorAll(".card")].map((card) => [card.id, {
    head: [...card.querySelectorAll("details.numbers thead th")].map((th) => th.textContent),
    rows: [...card.querySelectorAll("details.numbers tbody tr")].map((tr) =>
      [tr.querySelector("th").dataset.period, ...[...tr.querySelectorAll("td")].map((td) => td.dataset.value)]),
    labels: [...card.querySelectorAll("details.numbers tbody th")].map((th) => th.textContent),
  }]));
})()"""

# The headline figures: window, period, value and text of each.
STATS = """[...document.querySelectorAll(".stat")].map((s) =>
    [s.dataset.window, s.dataset.period, Number(s.dataset.value), s.textContent])"""

# The weekly window's control: [shown, enabled].
WEEKLY_OFFERED = """(() => { const label = document.getElementById("window-weekly");
    const input = label.querySelector("input");
    return [!label.hidden && label.offsetParent !== null, !input.disabled]; })()"""

# Every attribute that names a URL, and any attribute value with a scheme in it.
URL_ATTRIBUTES = """[...document.querySelectorAll("*")].flatMap((e) => [...e.attributes]
  .filter((a) => ["href", "src", "action", "formaction", "srcset", "poster", "cite", "data"].includes(a.name)
    || a.value.includes("://"))
  .map((a) => [e.tagName, a.name, a.value]))"""


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    receiver = ds.YearReceiver(tmp_path_factory.mktemp("dashboard"), binary("headcount-receiver"),
                               binary("examples/year"))
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with cdp.Chromium(str(tmp_path_factory.mktemp("chromium"))) as b:
        yield b


def day(text):
    return datetime.date.fromisoformat(text)


def month_start(text):
    return datetime.date.fromisoformat(text + "-01")


def week_start(text):
    """The Monday of an ISO week `YYYY-Www`."""
    year, week = text.split("-W")
    return datetime.date.fromisocalendar(int(year), int(week), 1)


def add_months(d, n):
    m = d.year * 12 + d.month - 1 + n
    return datetime.date(m // 12, m % 12 + 1, 1)


def timestamp(d):
    return datetime.datetime(d.year, d.month, d.day, tzinfo=datetime.timezone.utc).timestamp()


def every_period(window, first, last):
    out = []
    d = first
    while d <= last:
        out.append(d)
        d = {"daily": lambda: d + datetime.timedelta(days=1), "weekly": lambda: d + datetime.timedelta(days=7),
             "monthly": lambda: add_months(d, 1)}[window]()
    return out


def parse_period(window, text):
    return {"daily": day, "weekly": week_start, "monthly": month_start}[window](text)


def period_text(window, d):
    if window == "weekly":
        return ds.iso_week(d)
    return d.isoformat()[:10 if window == "daily" else 7]


def label(window, period):
    """How the page labels a period: a week with the Monday it starts on."""
    return f"{period} (Mon {week_start(period)})" if window == "weekly" else period


def expected_chart(chart, series):
    """What a chart must hold, from its /v1/series answer: the top values by their total over
    the range, then other (the released other plus the shown values not on top); None where a
    value is not shown on its own (its reports are in other)."""
    periods = series["periods"]
    if chart["kind"] == "reports":
        return ["reports"], [[p["reports"] for p in periods]]
    totals = {}
    for p in periods:
        for v, n in (p["values"] or {}).items():
            totals[v] = totals.get(v, 0) + n
    top = sorted(totals, key=lambda v: (-totals[v], v))[:TOP]
    columns = [[] for _ in range(len(top) + 1)]
    for p in periods:
        if p["values"] is None:
            for c in columns:
                c.append(None)
            continue
        for i, v in enumerate(top):
            columns[i].append(p["values"].get(v))
        columns[-1].append(p["other"] + sum(n for v, n in p["values"].items() if v not in top))
    return top + ["other"], columns


def draw_all(page):
    """Every chart of the page drawn and every table open: (charts, tables)."""
    assert page.evaluate(DRAW_ALL) == 0, "some charts were not drawn"
    return page.evaluate("headcountDashboard.charts()"), page.evaluate(READ_TABLES)


def check_view(page, year, window, field_from, field_to):
    """Draws every chart of the view on the page and compares each, its plot and its table with
    what /v1/series answers for the URL the chart names."""
    charts, tables = draw_all(page)
    check_charts(year, charts, tables, window, field_from, field_to)
    return charts


def check_charts(year, charts, tables, window, field_from, field_to):
    counts = year.get_json(f"v1/counts?window={window}")
    fields = [c["field"] for c in charts if c["kind"] == "field"]
    assert sorted(fields) == sorted(counts["fields"]), "one chart per released field"
    assert {c["window"] for c in charts if c["kind"] == "field"} == {window}
    # The reports of every window with a release, over the same span, shortest window first.
    assert [c["window"] for c in charts if c["kind"] == "reports"] == year.windows
    for chart in charts:
        url = urllib.parse.urlsplit(chart["url"])
        assert (url.scheme, url.netloc, url.path) == ("", "", "v1/series"), chart["url"]
        query = dict(urllib.parse.parse_qsl(url.query, strict_parsing=True))
        assert query["window"] == chart["window"] and query["field"] == chart["field"]
        if chart["window"] == window:
            assert (query["from"], query["to"]) == (field_from, field_to), chart["url"]
        series = year.get_json(chart["url"])
        where = f"{chart['window']} {chart['field']} ({chart['kind']})"
        assert chart["periods"] == [p["period"] for p in series["periods"]], where
        assert chart["reports"] == [p["reports"] for p in series["periods"]], where
        columns, values = expected_chart(chart, series)
        assert chart["columns"] == columns, where
        assert chart["values"] == values, where

        # The plot: every period from the first released to the last on x (a gap where one has
        # no release), each band stacked on the ones below.
        w = chart["window"]
        if not chart["periods"]:
            assert chart["plotted"] is None
            continue
        xs = every_period(w, parse_period(w, chart["periods"][0]), parse_period(w, chart["periods"][-1]))
        assert chart["plotted"][0] == [timestamp(d) for d in xs], where
        index = {p: j for j, p in enumerate(chart["periods"])}
        below = [0 if period_text(w, x) in index else None for x in xs]
        for k, col in enumerate(values):
            below = [None if b is None else b + (col[index[period_text(w, x)]] or 0)
                     for b, x in zip(below, xs)]
            assert chart["plotted"][k + 1] == below, f"{where}: band {columns[k]}"

        # The table under the chart: the same numbers, "" where the chart shows none.
        table = tables[chart["id"]]
        head = [NOUN[w]] + (["reports"] if chart["kind"] == "field" else []) + columns
        assert table["head"] == head, where
        text = lambda x: "" if x is None else str(x)  # noqa: E731
        rows = [[p["period"]] + ([text(p["reports"])] if chart["kind"] == "field" else [])
                + [text(col[j]) for col in values] for j, p in enumerate(series["periods"])]
        assert table["rows"] == rows, where
        assert table["labels"] == [label(w, p["period"]) for p in series["periods"]], where


def load(page, url):
    ms = ds.first_load_ms(page, url)
    print(f"first load of {url}: {ms:.0f} ms (load average {os.getloadavg()[0]:.1f})")
    return ms


@pytest.fixture(scope="module")
def daily(year, browser):
    """The page as a first visit opens it (the last year of days), every chart drawn and every
    table open: (page, charts, tables)."""
    page = browser.new_page()
    load(page, year.origin + "/")
    return (page, *draw_all(page))


def test_every_chart_and_table_is_the_released_series(year, daily):
    page, charts, tables = daily
    latest = year.get_json("v1/counts?window=daily")["period"]
    first = (day(latest) - datetime.timedelta(days=364)).isoformat()
    check_charts(year, charts, tables, "daily", first, latest)
    assert len([c for c in charts if c["kind"] == "field"]) > 40
    by_kind = {(c["kind"], c["window"]): c for c in charts}
    assert len(by_kind[("reports", "daily")]["periods"]) == 365
    # Every week and month of the year (and, within minutes of a week's or a month's end, the
    # one just closed, released empty).
    assert by_kind[("reports", "weekly")]["periods"][:len(year.weeks)] == year.weeks
    assert len(year.weeks) >= 51
    assert by_kind[("reports", "monthly")]["periods"][:len(year.months)] == year.months

    # The headline: the latest released day, week and month, as /v1/counts serves them.
    stats = page.evaluate(STATS)
    for window, period, value, text in stats:
        counts = year.get_json(f"v1/counts?window={window}")
        assert (period, value) == (counts["period"], counts["reports"])
        assert text.endswith(f"machines on the latest released {NOUN[window]}, {label(window, period)}")
    assert [s[0] for s in stats] == ["daily", "weekly", "monthly"]
    assert page.evaluate(WEEKLY_OFFERED) == [True, True]

    # The page states the privacy parameters of what it shows: epsilon, the threshold, other.
    privacy = page.evaluate("""[...document.querySelectorAll("#privacy-runs li")].map((li) =>
        ({...li.dataset, text: li.textContent}))""")
    for window in year.windows:
        runs = year.get_json(by_kind[("reports", window)]["url"])["privacy"]
        shown = [p for p in privacy if p["window"] == window]
        assert [(p["from"], p["to"], float(p["epsilon"]), float(p["delta"]), int(p["threshold"]))
                for p in shown] == [(r["from"], r["to"], r["epsilon"], r["delta"], r["threshold"])
                                   for r in runs]
        for p, r in zip(shown, runs):
            assert f"ε = {r['epsilon']:g}" in p["text"] and "folded into other" in p["text"]
    intro = page.evaluate("document.getElementById('privacy-text').textContent")
    assert "differential privacy" in intro and "folded into" in intro
    assert page.errors() == []


def test_the_window_and_range_controls_show_their_series(year, browser):
    page = browser.new_page()
    load(page, year.origin + "/")
    # Per month, by the control, as a person would: the last 2 years of months.
    page.evaluate("document.querySelector('input[name=window][value=monthly]').click()")
    page.wait_for("location.search === '?window=monthly&last=24'"
                  " && document.documentElement.dataset.state === 'ready'")
    latest = year.get_json("v1/counts?window=monthly")["period"]
    first = add_months(month_start(latest), -23).strftime("%Y-%m")
    charts = check_view(page, year, "monthly", first, latest)
    months = [c for c in charts if c["kind"] == "field"][0]["periods"]
    assert months[:len(year.months)] == year.months

    # "from … to …" starts from the range shown; a changed start applies on Enter (submit).
    page.evaluate("""(() => { const last = document.getElementById('last');
        last.value = 'custom'; last.dispatchEvent(new Event('change', { bubbles: true })); })()""")
    page.wait_for(f"location.search === '?window=monthly&from={first}&to={latest}'"
                  " && document.documentElement.dataset.state === 'ready'")
    start = year.months[2]
    page.evaluate(f"""(() => {{ document.getElementById('from').value = '{start}';
        document.getElementById('controls').requestSubmit(); }})()""")
    page.wait_for(f"location.search === '?window=monthly&from={start}&to={latest}'"
                  " && document.documentElement.dataset.state === 'ready'")
    charts = check_view(page, year, "monthly", start, latest)
    assert [c for c in charts if c["kind"] == "field"][0]["periods"] == months[2:]

    # A range of days from the query string (a bookmarked view).
    start = day(year.days()[30])
    end = start + datetime.timedelta(days=89)
    load(page, f"{year.origin}/?window=daily&from={start}&to={end}")
    charts = check_view(page, year, "daily", start.isoformat(), end.isoformat())
    assert len(charts[0]["periods"]) == 90
    assert page.evaluate("[document.getElementById('last').value, document.getElementById('from').value]") == \
        ["custom", start.isoformat()]
    assert page.errors() == []


def export(receiver, window, period):
    """The operator's exact counters of one period, as CSV."""
    return subprocess.run(
        [binary("headcount-receiver"), "export", "--database", receiver.database, "--window", window,
         "--period", period], capture_output=True, text=True, check=True).stdout


def check_open_periods_absent(receiver, page, charts):
    """Nothing of today, this week or this month in the charts or anywhere in the page."""
    opened = {receiver.open_day, receiver.open_week, receiver.open_month}
    for chart in charts:
        assert not opened & set(chart["periods"]), chart["field"]
        latest = receiver.get_json(f"v1/counts?window={chart['window']}")["period"]
        # ISO weeks, days and months each sort as text.
        assert all(p <= latest for p in chart["periods"]), chart["field"]
        for column in chart["columns"]:
            assert ds.SENTINEL_INSTANCE_TYPE not in column
            # A cross-tabulation's value is its fields' values joined by |, as the views serve
            # it; the countme tuple's has the version.
            assert ds.SENTINEL_VERSION not in column.split("|"), (chart["field"], column)
    text = page.evaluate("document.documentElement.outerHTML")
    assert ds.SENTINEL_INSTANCE_TYPE not in text
    assert receiver.open_day not in text and receiver.open_week not in text
    assert page.errors() == []


def test_nothing_of_an_open_period_reaches_the_page(year, browser, daily):
    assert year.post_statuses == [202] * 3 * ds.SENTINEL_POSTS, "reports into the open periods"
    # The counters are there (the operator's exact view) ...
    sentinel = f"platform.instance_type,{ds.SENTINEL_INSTANCE_TYPE},{ds.SENTINEL_IMPORTED + ds.SENTINEL_POSTS}"
    for window, period in year.open_periods():
        assert sentinel in export(year, window, period), window
    tuple_value = f'""fedora"",""{ds.SENTINEL_VERSION}"",""coreos"",""x86_64"",""1""'
    assert tuple_value in export(year, "weekly", year.open_week)
    # ... and none of it is on the page, per day, per week or per month.
    check_open_periods_absent(year, daily[0], daily[1])
    for window in ("weekly", "monthly"):
        page = browser.new_page()
        load(page, f"{year.origin}/?window={window}")
        check_open_periods_absent(year, page, draw_all(page)[0])


def test_the_weekly_view_is_the_released_weekly_series(year, browser):
    page = browser.new_page()
    load(page, year.origin + "/")
    assert page.evaluate(WEEKLY_OFFERED) == [True, True]
    # Per week, by the control: the last year of weeks, ending with the latest released week.
    page.evaluate("document.querySelector('input[name=window][value=weekly]').click()")
    page.wait_for("location.search === '?window=weekly&last=52'"
                  " && document.documentElement.dataset.state === 'ready'")
    latest = year.get_json("v1/counts?window=weekly")["period"]
    # The year's last week (or, within minutes of a week's end, the week just closed, empty).
    assert latest in (year.weeks[-1], ds.iso_week(week_start(year.weeks[-1]) + datetime.timedelta(weeks=1)))
    first = ds.iso_week(week_start(latest) - datetime.timedelta(weeks=51))
    shown = sorted({w for w in year.weeks if w >= first} | {latest})
    charts = check_view(page, year, "weekly", first, latest)
    fields = {c["field"]: c for c in charts if c["kind"] == "field"}
    # The countme tuple is a cross-tabulation like the others, its values the tuples released.
    tuple_chart = fields[ds.COUNTME_TUPLE]
    assert tuple_chart["periods"] == shown
    assert tuple_chart["columns"][0] == "fedora|43|coreos|x86_64|4"
    assert page.evaluate(f"document.getElementById('{tuple_chart['id']}-title').textContent") == \
        " × ".join(ds.COUNTME_TUPLE.split("|"))
    assert page.evaluate("""[...document.querySelectorAll("#topic-crosstabs .card")].map((c) => c.dataset.field)""") == \
        sorted(f for f in fields if "|" in f)
    # Presets in weeks; a custom range is two ISO weeks.
    assert page.evaluate("[...document.getElementById('last').options].map((o) => o.value)") == \
        ["12", "26", "52", "104", "custom"]
    assert page.evaluate("document.getElementById('from').placeholder") == "YYYY-Www"
    status = page.evaluate("document.getElementById('status').textContent")
    assert f"per week, {label('weekly', first)} to {label('weekly', latest)}: {len(shown)} released weeks" in status

    # A bookmarked range of weeks.
    start, end = year.weeks[3], year.weeks[20]
    load(page, f"{year.origin}/?window=weekly&from={start}&to={end}")
    charts = check_view(page, year, "weekly", start, end)
    assert charts[1]["window"] == "weekly" and charts[1]["periods"] == year.weeks[3:21]
    # The other windows' reports over the same days: from the Monday of the first week to the
    # Sunday of the last.
    daily = next(c for c in charts if c["kind"] == "reports" and c["window"] == "daily")
    assert (daily["periods"][0], daily["periods"][-1]) == (
        week_start(start).isoformat(), (week_start(end) + datetime.timedelta(days=6)).isoformat())
    assert len(daily["periods"]) == 18 * 7
    monthly = next(c for c in charts if c["kind"] == "reports" and c["window"] == "monthly")
    assert monthly["url"].endswith(f"&from={week_start(start):%Y-%m}&to={week_start(end) + datetime.timedelta(days=6):%Y-%m}")
    assert page.errors() == []


def test_iso_weeks_are_read_as_the_receiver_reads_them(year, daily):
    """The page's own reading of a week (exposed as headcountDashboard.period) against Python's
    ISO calendar: every week of 1999 to 2032 (years of 52 and of 53 weeks), and weeks that do not
    exist."""
    page = daily[0]
    weeks = [f"{y}-W{w:02d}" for y in range(1999, 2033) for w in range(0, 55)]
    got = page.evaluate(f"{json.dumps(weeks)}.map((w) => headcountDashboard.period('weekly', w))")
    for text, answer in zip(weeks, got):
        year_, week = map(int, text.split("-W"))
        try:
            monday = datetime.date.fromisocalendar(year_, week, 1)
        except ValueError:
            assert answer is None, text
            continue
        assert answer == {"first": monday.isoformat(), "last": (monday + datetime.timedelta(days=6)).isoformat(),
                          "label": f"{text} (Mon {monday})"}, text
    for bad in ("2026-w48", "2026-W4", "2026-W048", "2026-48", " 2026-W48", "2026-W48 "):
        assert page.evaluate(f"headcountDashboard.period('weekly', {json.dumps(bad)})") is None, bad
    # The receiver agrees on which weeks exist.
    for text in ("2026-W53", "2027-W53", "2026-W00"):
        exists = page.evaluate(f"headcountDashboard.period('weekly', '{text}')") is not None
        try:
            year.get_json(f"v1/series?window=weekly&field=level&from={text}&to={text}")
            accepted = True
        except urllib.error.HTTPError as e:
            assert e.code == 400
            accepted = False
        assert exists == accepted, text


@pytest.fixture(scope="module")
def no_weeks(tmp_path_factory):
    """A small receiver without weekly reports but for this week's (open): each closed week since
    it first ran is released all the same, empty."""
    receiver = ds.YearReceiver(tmp_path_factory.mktemp("dashboard-no-weeks"), binary("headcount-receiver"),
                               binary("examples/year"), days=40, machines=20_000, weekly=False)
    yield receiver
    receiver.stop()


def test_no_weekly_window_without_a_released_week_of_reports(no_weeks, browser):
    assert no_weeks.post_statuses == [202] * 3 * ds.SENTINEL_POSTS
    assert f"level,minimal,{ds.SENTINEL_POSTS}" in export(no_weeks, "weekly", no_weeks.open_week)
    # Last week is released (once it closed) without a value: nothing was counted in it. Its
    # noisy reports may be above 0.
    try:
        empty = no_weeks.get_json("v1/counts?window=weekly")
        assert empty["period"] < no_weeks.open_week
        assert all(f["values"] == {} for f in empty["fields"].values()), empty
    except urllib.error.HTTPError as e:
        # Before 02:01 UTC on a Monday: last week has not closed yet.
        assert e.code == 404 and json.load(e)["error"] == "not_released"

    page = browser.new_page()
    load(page, no_weeks.origin + "/")
    latest = no_weeks.get_json("v1/counts?window=daily")["period"]
    charts, tables = draw_all(page)
    check_charts(no_weeks, charts, tables, "daily", (day(latest) - datetime.timedelta(days=364)).isoformat(), latest)
    assert page.evaluate(WEEKLY_OFFERED) == [False, False]
    assert [s[0] for s in page.evaluate(STATS)] == ["daily", "monthly"]
    assert "weekly" not in {c["window"] for c in charts}
    # The page learnt it from an empty series, not a failed request: nothing but 200s.
    statuses = [e["response"]["status"] for e in page.events("Network.responseReceived")]
    assert statuses and set(statuses) == {200}
    check_open_periods_absent(no_weeks, page, charts)

    # A view of weeks kept from elsewhere shows the days instead, and says why.
    page.navigate(no_weeks.origin + "/?window=weekly&last=12")
    page.wait_for("location.search === '?window=daily&last=365'"
                  " && document.documentElement.dataset.state === 'ready'")
    assert "This receiver has released no week with reports" in page.evaluate("document.getElementById('status').textContent")
    assert page.evaluate("document.querySelector('input[name=window]:checked').value") == "daily"
    assert page.evaluate(WEEKLY_OFFERED) == [False, False]
    assert page.errors() == []


def test_the_page_asks_only_the_receiver_and_names_no_absolute_url(year, daily):
    page = daily[0]
    requests = page.events("Network.requestWillBeSent")
    assert requests, "no request recorded"
    for r in requests:
        url = urllib.parse.urlsplit(r["request"]["url"])
        assert f"{url.scheme}://{url.netloc}" == year.origin, r["request"]["url"]
    assert page.events("Network.loadingFailed") == []
    statuses = {e["response"]["url"]: e["response"]["status"] for e in page.events("Network.responseReceived")}
    assert statuses and all(s == 200 for s in statuses.values()), statuses
    kinds = {urllib.parse.urlsplit(u).path for u in statuses}
    assert {"/", "/dashboard/app.js", "/dashboard/uPlot.iife.min.js", "/v1/counts", "/v1/series"} <= kinds

    for tag, name, value in page.evaluate(URL_ATTRIBUTES):
        parsed = urllib.parse.urlsplit(value)
        assert not parsed.scheme and not parsed.netloc and not value.startswith("/"), (tag, name, value)
    assert "://" not in page.evaluate("document.documentElement.outerHTML")

    # The policy that makes the browser itself refuse anything else.
    with urllib.request.urlopen(year.origin + "/") as r:
        policy = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert page.errors() == []


def test_the_vendored_library_is_what_refresh_sh_fetched():
    vendor = ds.DASHBOARD / "vendor"
    source = (vendor / "SOURCE").read_text().splitlines()
    hashes = {line.split()[2]: line.split()[1] for line in source if line.startswith("sha256 ")}
    assert set(hashes) == {"uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"}
    import hashlib
    for name, digest in hashes.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    script = (vendor / "refresh.sh").read_text()
    version = next(line.split()[1] for line in source if line.startswith("version "))
    assert f"VERSION={version}\n" in script
    assert "MIT License" in (vendor / "uPlot.LICENSE").read_text()


def png_text(data):
    """The tEXt chunks of a PNG, as a dict."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = {}, 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"tEXt":
            key, _, value = data[pos + 8:pos + 8 + length].partition(b"\0")
            out[key.decode()] = value.decode()
        pos += 12 + length
    return out


def with_text(png, key, value):
    """The PNG with a tEXt chunk after its header."""
    body = key.encode() + b"\0" + value.encode()
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    end_of_header = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    return png[:end_of_header] + chunk + png[end_of_header:]


def test_the_screenshot_in_the_docs_is_of_the_current_page(year, browser, tmp_path):
    page = browser.new_page(width=1280, height=1560)
    load(page, year.origin + "/")
    shot = page.screenshot()
    width, height = struct.unpack(">II", shot[16:24])
    assert (width, height) == (1280, 1560)
    digest = ds.assets_digest()
    if os.environ.get("HEADCOUNT_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        SCREENSHOT.write_bytes(with_text(shot, SCREENSHOT_KEY, digest))
    assert "images/dashboard.png" in (REPO / "docs" / "usage" / "receiver.md").read_text()
    assert SCREENSHOT.exists(), f"{SCREENSHOT} is missing"
    recorded = png_text(SCREENSHOT.read_bytes()).get(SCREENSHOT_KEY)
    assert recorded == digest, (
        f"{SCREENSHOT.relative_to(REPO)} was taken of another version of the dashboard; "
        "regenerate it with HEADCOUNT_UPDATE_SCREENSHOT=1 /usr/bin/python3 -m pytest "
        "tests/system/test_dashboard.py -k screenshot, look at it, and commit it")
    assert page.errors() == []


def test_the_page_works_under_a_reverse_proxys_path(year, browser):
    """Behind a proxy that serves the receiver under /headcount/ (as nginx's
    `location /headcount/ { proxy_pass http://127.0.0.1:8080/; }` does), every URL the page
    names, being relative, goes through the proxy."""
    import http.server
    import threading

    class Prefix(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if not self.path.startswith("/headcount/"):
                self.send_error(404)
                return
            upstream = urllib.request.Request(year.origin + self.path[len("/headcount"):],
                                              headers={"Accept": self.headers.get("Accept", "*/*")})
            try:
                with urllib.request.urlopen(upstream, timeout=30) as r:
                    status, headers, body = r.status, r.headers, r.read()
            except urllib.error.HTTPError as e:
                status, headers, body = e.code, e.headers, e.read()
            self.send_response(status)
            for name in ("Content-Type", "Content-Security-Policy", "Cache-Control", "ETag"):
                if headers.get(name):
                    self.send_header(name, headers[name])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Prefix)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        origin = f"http://127.0.0.1:{proxy.server_address[1]}"
        page = browser.new_page()
        load(page, origin + "/headcount/?window=monthly")
        assert page.evaluate(DRAW_ALL) == 0
        paths = [urllib.parse.urlsplit(e["request"]["url"]) for e in page.events("Network.requestWillBeSent")]
        assert all(f"{p.scheme}://{p.netloc}" == origin and p.path.startswith("/headcount/") for p in paths)
        statuses = [e["response"]["status"] for e in page.events("Network.responseReceived")]
        assert statuses and set(statuses) == {200}
        assert page.errors() == []
    finally:
        proxy.shutdown()
        proxy.server_close()
