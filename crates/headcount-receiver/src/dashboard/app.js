// The headcount dashboard: charts the receiver's released tables, read from v1/counts and
// v1/series with relative URLs (the page works under any path prefix of a reverse proxy).
// Everything from the data is inserted as text, never as markup. Days and months are always
// counted; weeks (countme weeks, written as ISO weeks) only where the vendor turned the weekly
// window on, so the page offers weeks once the receiver has released one.
"use strict";

(() => {
  // Values charted on their own per field, by their total over the range; the rest joins other.
  const TOP = 7;
  // The series API's bound on periods per request.
  const MAX_PERIODS = 1000;
  // The windows, shortest first: the order of the controls, headline figures and reports charts.
  const WINDOWS = ["daily", "weekly", "monthly"];
  const PRESETS = {
    daily: [[30, "last 30 days"], [90, "last 90 days"], [365, "last year"], [730, "last 2 years"]],
    weekly: [[12, "last 12 weeks"], [26, "last 26 weeks"], [52, "last year"], [104, "last 2 years"]],
    monthly: [[12, "last 12 months"], [24, "last 2 years"], [36, "last 3 years"], [60, "last 5 years"]],
  };
  const DEFAULT_LAST = { daily: 365, weekly: 52, monthly: 24 };
  const NOUN = { daily: ["day", "days"], weekly: ["week", "weeks"], monthly: ["month", "months"] };
  const PER = { daily: "per day", weekly: "per week", monthly: "per month" };
  const SPELLING = { daily: "YYYY-MM-DD", weekly: "YYYY-Www", monthly: "YYYY-MM" };
  const DAY_MS = 86400000;
  const WEEK_MS = 7 * DAY_MS;
  // Okabe and Ito's palette, distinguishable with the common colour-vision deficiencies.
  const COLORS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442"];
  const OTHER_COLOR = "#9a9a9a";
  const REPORTS_COLOR = "#0072b2";
  // Topics in the order an analyst reads them; fields of other topics follow, by name.
  const TOPIC_ORDER = ["os", "original_os", "platform", "", "hardware", "network", "containers", "packages"];
  const TOPIC_TITLE = {
    os: "Operating system", original_os: "Installed from", platform: "Platform", "": "Machine",
    hardware: "Hardware", network: "Network", containers: "Containers", packages: "Packages",
    "|": "Cross-tabulations",
  };
  const CHART_HEIGHT = 240;

  const number = new Intl.NumberFormat(undefined);
  const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c);
    return e;
  };

  // Periods, as the Date of their first day's UTC midnight: a day; a week, its Monday (a countme
  // week runs from Monday 00:00 UTC, as an ISO 8601 week does, and is written as the ISO week:
  // 2027-01-01 is in 2026-W53); a month, its 1st.
  const PATTERN = {
    daily: /^(\d{4})-(\d{2})-(\d{2})$/, weekly: /^(\d{4})-W(\d{2})$/, monthly: /^(\d{4})-(\d{2})$/,
  };
  // Days since Monday, 0 to 6.
  const sinceMonday = (d) => (d.getUTCDay() + 6) % 7;
  const addDays = (d, n) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + n));
  function parsePeriod(win, text) {
    const m = PATTERN[win].exec(text || "");
    if (!m) return null;
    let d;
    if (win === "weekly") {
      // ISO week 1 is the week with 4 January in it.
      const jan4 = new Date(Date.UTC(+m[1], 0, 4));
      d = addDays(jan4, 7 * (+m[2] - 1) - sinceMonday(jan4));
    } else {
      d = new Date(Date.UTC(+m[1], +m[2] - 1, win === "daily" ? +m[3] : 1));
    }
    // Also refuses week 0, and week 53 of a year with 52.
    return formatPeriod(win, d) === text ? d : null;
  }
  function formatPeriod(win, d) {
    if (win === "weekly") {
      // An ISO week belongs to the year of its Thursday.
      const thursday = addDays(d, 3 - sinceMonday(d));
      const year = thursday.getUTCFullYear();
      const week = Math.floor((thursday - Date.UTC(year, 0, 1)) / WEEK_MS) + 1;
      return `${String(year).padStart(4, "0")}-W${String(week).padStart(2, "0")}`;
    }
    const iso = d.toISOString();
    return win === "daily" ? iso.slice(0, 10) : iso.slice(0, 7);
  }
  // How a period is shown to a reader: a week also names the Monday it starts on.
  function periodLabel(win, text) {
    const d = win === "weekly" ? parsePeriod(win, text) : null;
    return d ? `${text} (Mon ${formatPeriod("daily", d)})` : text;
  }
  function addPeriods(win, d, n) {
    if (win === "daily") return addDays(d, n);
    if (win === "weekly") return addDays(d, 7 * n);
    return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1));
  }
  function periodsBetween(win, from, to) {
    if (win === "daily") return Math.round((to - from) / DAY_MS) + 1;
    if (win === "weekly") return Math.round((to - from) / WEEK_MS) + 1;
    return (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + to.getUTCMonth() - from.getUTCMonth() + 1;
  }
  // The period of `win` that the day `d` is in, and the last day of a period.
  function periodOf(win, d) {
    if (win === "daily") return d;
    if (win === "weekly") return addDays(d, -sinceMonday(d));
    return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
  }
  function lastDayOf(win, p) {
    if (win === "daily") return p;
    if (win === "weekly") return addDays(p, 6);
    return new Date(Date.UTC(p.getUTCFullYear(), p.getUTCMonth() + 1, 0));
  }
  const minDate = (a, b) => (a < b ? a : b);
  const maxDate = (a, b) => (a > b ? a : b);

  // The choice on the page, kept in the query string so a view can be bookmarked and shared.
  function readState() {
    const q = new URLSearchParams(location.search);
    const win = WINDOWS.includes(q.get("window")) ? q.get("window") : "daily";
    const from = parsePeriod(win, q.get("from"));
    const to = parsePeriod(win, q.get("to"));
    if (from && to && from <= to) return { window: win, from, to };
    const last = Number.parseInt(q.get("last"), 10);
    return {
      window: win,
      last: Number.isInteger(last) && last >= 1 && last <= MAX_PERIODS ? last : DEFAULT_LAST[win],
    };
  }
  function stateQuery(s) {
    const q = new URLSearchParams({ window: s.window });
    if (s.from) {
      q.set("from", formatPeriod(s.window, s.from));
      q.set("to", formatPeriod(s.window, s.to));
    } else {
      q.set("last", String(s.last));
    }
    return "?" + q.toString();
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: "omit", headers: { Accept: "application/json" } });
    let body = null;
    if ((r.headers.get("Content-Type") || "").startsWith("application/json")) body = await r.json();
    if (r.ok && body) return body;
    const problem = body && body.message ? `: ${body.message}` : "";
    const e = new Error(`${url} answered ${r.status}${problem}`);
    e.status = r.status;
    throw e;
  }
  const seriesURL = (win, field, from, to) =>
    "v1/series?" + new URLSearchParams({
      window: win, field, from: formatPeriod(win, from), to: formatPeriod(win, to),
    }).toString();

  // The latest released period of a window as {period, reports}, or null when none is released.
  // Days and months: v1/counts, which answers 404 before the first release. Weeks: a receiver
  // releases every closed week from when it first ran, with or without reports (which periods
  // exist must not depend on the data), so a week released is no sign that weeks are counted;
  // one that shows a value of `level` (in every report) is: a value is shown only once its noisy
  // count reaches the release's threshold, which an empty week's, having no values at all, never
  // does. So the page reads the series of `level` over the last MAX_PERIODS weeks (empty, not an
  // error, where no week was released: the page logs no failed request) and offers weeks if one
  // of them shows a value. The range ends a year after the browser's clock, so a clock that is
  // behind still finds the latest week.
  async function newestRelease(win) {
    if (win === "weekly") {
      const to = periodOf(win, addDays(new Date(), 366));
      const series = await getJSON(seriesURL(win, "level", addPeriods(win, to, 1 - MAX_PERIODS), to));
      const counted = series.periods.some((p) => p.values && Object.keys(p.values).length > 0);
      const last = series.periods[series.periods.length - 1];
      return counted ? { period: last.period, reports: last.reports } : null;
    }
    try {
      return await getJSON(`v1/counts?window=${win}`);
    } catch (e) {
      if (e.status === 404) return null;
      throw e;
    }
  }

  // Every chart on the page, for a reader who wants the data behind it (the tests read it too).
  const charts = [];
  window.headcountDashboard = {
    charts() {
      return charts.map((c) => ({
        id: c.id, kind: c.kind, window: c.window, field: c.field, url: c.url,
        periods: c.periods, reports: c.reports, columns: c.columns.map((col) => col.label),
        values: c.raw, plotted: c.plot ? c.plot.data : null,
      }));
    },
    // How the page reads a period: its first and last day and its label, or null.
    period(win, text) {
      const d = WINDOWS.includes(win) ? parsePeriod(win, text) : null;
      return d && {
        first: formatPeriod("daily", d), last: formatPeriod("daily", lastDayOf(win, d)),
        label: periodLabel(win, text),
      };
    },
  };

  let generation = 0;
  let loadedSearch = null;
  let observer = null;
  // The window and range on the page, to start a custom range from.
  let current = null;

  function setupControls(s) {
    const form = $("controls");
    for (const r of form.elements.window) r.checked = r.value === s.window;
    offerWeeks(s.window === "weekly" || !$("window-weekly").hidden);
    const last = $("last");
    last.replaceChildren();
    for (const [n, label] of PRESETS[s.window]) last.append(el("option", { value: String(n), text: label }));
    last.append(el("option", { value: "custom", text: "from … to …" }));
    const preset = s.from ? "custom" : String(s.last);
    if (!PRESETS[s.window].some(([n]) => String(n) === preset) && preset !== "custom") {
      last.prepend(el("option", { value: preset, text: `last ${s.last} ${NOUN[s.window][1]}` }));
    }
    last.value = preset;
    for (const id of ["from", "to"]) {
      $(id).placeholder = SPELLING[s.window];
      $(id).value = s[id] ? formatPeriod(s.window, s[id]) : "";
    }
    form.classList.toggle("is-custom", preset === "custom");
  }

  // The weekly window is on offer only where weeks are released (the vendor counts them).
  function offerWeeks(offered) {
    const label = $("window-weekly");
    label.hidden = !offered;
    label.querySelector("input").disabled = !offered;
  }

  function onControls(event) {
    const form = $("controls");
    const win = WINDOWS.includes(form.elements.window.value) ? form.elements.window.value : "daily";
    let s;
    if (event && event.target && event.target.name === "window") {
      s = { window: win, last: DEFAULT_LAST[win] };
    } else if ($("last").value === "custom") {
      if (current && current.window === win && !$("from").value && !$("to").value) {
        $("from").value = formatPeriod(win, current.from);
        $("to").value = formatPeriod(win, current.to);
      }
      const from = parsePeriod(win, $("from").value.trim());
      const to = parsePeriod(win, $("to").value.trim());
      form.classList.add("is-custom");
      if (!from || !to || from > to) {
        if (event && event.type === "submit") {
          status(`Give the range as two ${NOUN[win][1]} (${SPELLING[win]}), the first not after the second.`);
        }
        return;
      }
      s = { window: win, from, to };
    } else {
      s = { window: win, last: Number.parseInt($("last").value, 10) };
    }
    const search = stateQuery(s);
    if (search !== location.search) history.pushState(null, "", search);
    load();
  }

  function status(text) {
    $("status").textContent = text;
  }

  // The range of periods to show in `s.window` for the state, given the latest released period.
  function rangeOf(s, latest) {
    let from = s.from;
    let to = s.to;
    if (!from) {
      to = latest;
      from = addPeriods(s.window, to, 1 - s.last);
    }
    let clipped = false;
    if (periodsBetween(s.window, from, to) > MAX_PERIODS) {
      from = addPeriods(s.window, to, 1 - MAX_PERIODS);
      clipped = true;
    }
    return { from, to, clipped };
  }

  // The same span of time in another window, for its reports chart: the periods of `other`
  // that the range's first and last days are in, up to the latest released one.
  function sameSpan(win, range, other, latestOther) {
    if (!latestOther) return null;
    const to = minDate(periodOf(other, lastDayOf(win, range.to)), latestOther);
    const from = maxDate(periodOf(other, range.from), addPeriods(other, to, 1 - MAX_PERIODS));
    return to >= from ? { from, to } : null;
  }

  function topicOf(field) {
    if (field.includes("|")) return "|";
    const dot = field.indexOf(".");
    return dot < 0 ? "" : field.slice(0, dot);
  }
  function orderFields(fields) {
    const rank = (t) => (t === "|" ? 1e6 : TOPIC_ORDER.includes(t) ? TOPIC_ORDER.indexOf(t) : 1e3);
    return [...fields].sort((a, b) => {
      const ta = topicOf(a);
      const tb = topicOf(b);
      return rank(ta) - rank(tb) || (ta < tb ? -1 : ta > tb ? 1 : 0) || (a < b ? -1 : a > b ? 1 : 0);
    });
  }
  const fieldTitle = (field) => field.split("|").join(" × ");

  // The parameters the shown periods were released with, as the views state them.
  function renderPrivacy(runs) {
    const list = $("privacy-runs");
    list.replaceChildren();
    for (const { window: win, run } of runs) {
      const span = run.from === run.to
        ? periodLabel(win, run.from)
        : `${periodLabel(win, run.from)} to ${periodLabel(win, run.to)}`;
      const grace = run.grace_secs % 3600 === 0 ? `${run.grace_secs / 3600} h` : `${run.grace_secs} s`;
      const noun = NOUN[win][0];
      list.append(el("li", {
        "data-window": win, "data-from": run.from, "data-to": run.to,
        "data-epsilon": String(run.epsilon), "data-delta": String(run.delta),
        "data-threshold": String(run.threshold), "data-noise-scale": String(run.noise_scale),
        text: `${NOUN[win][1][0].toUpperCase()}${NOUN[win][1].slice(1)} ${span}: ε = ${run.epsilon}, ` +
          `δ = ${run.delta} per ${noun}; noise of standard deviation ${run.noise_scale.toFixed(1)} ` +
          `on every count; a value counted fewer than ${number.format(run.threshold)} times in a ` +
          `${noun} is folded into other; reports accepted until ${grace} after the ${noun} ended.`,
      }));
    }
  }

  // One chart's columns (top values then other, or reports alone) and their numbers per period.
  function fieldColumns(periods) {
    const totals = new Map();
    for (const p of periods) {
      for (const [v, n] of Object.entries(p.values || {})) totals.set(v, (totals.get(v) || 0) + n);
    }
    const ranked = [...totals.keys()].sort((a, b) =>
      totals.get(b) - totals.get(a) || (a < b ? -1 : a > b ? 1 : 0));
    const top = ranked.slice(0, TOP);
    const shown = new Set(top);
    const columns = top.map((v, i) => ({ label: v, color: COLORS[i % COLORS.length] }));
    columns.push({ label: "other", color: OTHER_COLOR });
    // null: not shown on its own in that period (its reports are in other), or no release of
    // the field that period.
    const raw = columns.map(() => []);
    for (const p of periods) {
      if (!p.values) {
        raw.forEach((col) => col.push(null));
        continue;
      }
      let other = p.other;
      for (const [v, n] of Object.entries(p.values)) if (!shown.has(v)) other += n;
      top.forEach((v, i) => raw[i].push(Object.hasOwn(p.values, v) ? p.values[v] : null));
      raw[top.length].push(other);
    }
    return { columns, raw, folded: ranked.length - top.length };
  }

  function makeCard(parent, kind, win, field) {
    const id = `chart-${charts.length + 1}`;
    const title = kind === "reports" ? `Reports ${PER[win]}` : fieldTitle(field);
    const card = el("section", {
      class: "card", id, "data-kind": kind, "data-window": win, "data-field": field || "",
      "aria-labelledby": `${id}-title`, "aria-busy": "true",
    });
    const heading = el(kind === "reports" ? "h3" : "h4", { id: `${id}-title`, text: title });
    const note = el("p", { class: "note", text: "Loading…" });
    const plot = el("div", { class: "chart", role: "img", "aria-label": `${title}: chart; the numbers are in the table below it` });
    const details = el("details", { class: "numbers" }, el("summary", { text: "Table of the numbers" }),
      el("p", { class: "note", text: kind === "reports"
        ? "Released periods only."
        : "Released periods only; – where a value was not shown on its own (its reports are in other)." }));
    const links = el("p", { class: "links" });
    card.append(heading, note, plot, details, links);
    parent.append(card);
    const chart = { id, kind, window: win, field, card, note, plotBox: plot, details, links, columns: [], raw: [], periods: [], reports: [], plot: null };
    charts.push(chart);
    return chart;
  }

  function drawChart(chart, s, url, from, to) {
    chart.url = url;
    chart.periods = s.periods.map((p) => p.period);
    chart.reports = s.periods.map((p) => p.reports);
    if (chart.kind === "reports") {
      chart.columns = [{ label: "reports", color: REPORTS_COLOR }];
      chart.raw = [chart.reports.slice()];
    } else {
      const c = fieldColumns(s.periods);
      chart.columns = c.columns;
      chart.raw = c.raw;
      chart.folded = c.folded;
    }
    const n = chart.periods.length;
    const span = `${periodLabel(chart.window, formatPeriod(chart.window, from))} to ` +
      periodLabel(chart.window, formatPeriod(chart.window, to));
    if (chart.kind === "reports") {
      chart.note.textContent = n
        ? `Machines that reported, ${PER[chart.window]}: ${n} released ${NOUN[chart.window][n === 1 ? 0 : 1]} from ${span}.`
        : `No ${NOUN[chart.window][0]} from ${span} is released.`;
    } else {
      const folded = chart.folded
        ? `the top ${chart.columns.length - 1} of ${chart.columns.length - 1 + chart.folded} values shown; other adds the ${chart.folded} smaller ones to the values below the threshold`
        : `${chart.columns.length - 1} value${chart.columns.length === 2 ? "" : "s"} shown; other holds the values below the threshold`;
      chart.note.textContent = `Reports ${PER[chart.window]} by value, stacked: ${folded}.`;
    }
    chart.links.replaceChildren(el("a", { href: url, text: "JSON" }), " (every value)");
    chart.card.removeAttribute("aria-busy");
    chart.details.addEventListener("toggle", () => {
      if (chart.details.open && !chart.details.querySelector("table")) {
        chart.details.append(el("div", { class: "scroll" }, table(chart)));
      }
    });
    if (n === 0) return;

    // x: every period from the first released to the last, so a period without a release is a
    // gap in the chart, not a straight line across it.
    const first = parsePeriod(chart.window, chart.periods[0]);
    const count = periodsBetween(chart.window, first, parsePeriod(chart.window, chart.periods[n - 1]));
    const xs = [];
    const index = [];
    for (let i = 0, j = 0; i < count; i++) {
      const d = addPeriods(chart.window, first, i);
      xs.push(d.getTime() / 1000);
      index.push(j < n && chart.periods[j] === formatPeriod(chart.window, d) ? j++ : -1);
    }
    // Stacked: each band from the one below; a value not shown counts 0 (it is inside other).
    const data = [xs];
    let below = index.map((j) => (j >= 0 && chart.raw.some((c) => c[j] !== null) ? 0 : null));
    for (const col of chart.raw) {
      below = index.map((j, i) => (below[i] === null || j < 0 ? null : below[i] + (col[j] === null ? 0 : col[j])));
      data.push(below);
    }
    const valueAt = (ci) => (u, v, si, i) => {
      if (i === null || i === undefined || index[i] < 0) return "–";
      const x = chart.raw[ci][index[i]];
      return x === null ? "not shown" : number.format(x);
    };
    const series = [{
      label: NOUN[chart.window][0],
      value: (u, v, si, i) => (i === null || i === undefined
        ? "–"
        : periodLabel(chart.window, formatPeriod(chart.window, new Date(xs[i] * 1000)))),
    }];
    chart.columns.forEach((col, ci) => {
      series.push({ label: col.label, stroke: col.color, fill: col.color + "b0", width: 1, points: { show: false }, value: valueAt(ci) });
    });
    const bands = [];
    for (let si = 2; si < series.length; si++) bands.push({ series: [si, si - 1] });
    const opts = {
      width: chartWidth,
      height: CHART_HEIGHT,
      series,
      bands,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.05 : 1] } },
      axes: [
        { stroke: "#444", grid: { stroke: "#eee" } },
        { stroke: "#444", grid: { stroke: "#eee" }, size: 56, values: (u, splits) => splits.map((v) => compact.format(v)) },
      ],
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      // Off the chart, the legend shows the latest period's numbers.
      hooks: { setCursor: [(u) => { if (u.cursor.idx === null || u.cursor.idx === undefined) u.setLegend({ idx: xs.length - 1 }); }] },
    };
    chart.plot = new uPlot(opts, data, chart.plotBox);
    chart.plot.setLegend({ idx: xs.length - 1 });
  }

  // The accessible form of a chart: its columns for every released period.
  function table(chart) {
    const head = el("tr", {}, el("th", { scope: "col", text: NOUN[chart.window][0] }));
    if (chart.kind !== "reports") head.append(el("th", { scope: "col", text: "reports" }));
    for (const col of chart.columns) head.append(el("th", { scope: "col", text: col.label }));
    const body = el("tbody");
    chart.periods.forEach((period, j) => {
      const row = el("tr", {}, el("th", { scope: "row", "data-period": period, text: periodLabel(chart.window, period) }));
      const cells = chart.kind === "reports" ? [] : [chart.reports[j]];
      for (const col of chart.raw) cells.push(col[j]);
      for (const x of cells) {
        row.append(x === null
          ? el("td", { "data-value": "", text: "–" })
          : el("td", { "data-value": String(x), text: number.format(x) }));
      }
      body.append(row);
    });
    const title = chart.kind === "reports" ? `Reports ${PER[chart.window]}` : `${fieldTitle(chart.field)} ${PER[chart.window]}`;
    return el("table", {}, el("caption", { text: title }), el("thead", {}, head), body);
  }

  async function load() {
    const gen = ++generation;
    loadedSearch = location.search;
    let s = readState();
    setupControls(s);
    document.documentElement.dataset.state = "loading";
    charts.length = 0;
    if (observer) observer.disconnect();
    $("headline").replaceChildren();
    $("reports-charts").replaceChildren();
    $("topics").replaceChildren();
    $("fields").replaceChildren();
    status("Loading the released tables…");

    // The latest released period of every window; the fields of the one shown.
    const newest = {};
    let counts = null;
    let note = "";
    try {
      await Promise.all(WINDOWS.map(async (win) => {
        newest[win] = await newestRelease(win);
      }));
      if (gen !== generation) return;
      offerWeeks(newest.weekly !== null);
      if (s.window === "weekly" && !newest.weekly) {
        // A view of weeks kept from elsewhere, on a receiver that does not count them.
        s = { window: "daily", last: DEFAULT_LAST.daily };
        history.replaceState(null, "", stateQuery(s));
        loadedSearch = location.search;
        setupControls(s);
        note = " This receiver has released no week with reports (weeks are counted only where " +
          "the vendor turned the weekly window on), so this is the view per day.";
      }
      const shown = newest[s.window];
      counts = shown && shown.fields ? shown
        : shown ? await getJSON(`v1/counts?${new URLSearchParams({ window: s.window, period: shown.period })}`)
          : null;
    } catch (e) {
      if (gen !== generation) return;
      status(`The released tables could not be read (${e.message}). Reload the page to try again.`);
      document.documentElement.dataset.state = "error";
      return;
    }
    if (gen !== generation) return;
    const w = s.window;
    const latest = counts ? parsePeriod(w, counts.period) : null;
    if (!latest) {
      status(`No ${NOUN[w][0]} has been released yet. A ${NOUN[w][0]} is released once it has ` +
        "closed (its end plus the grace for late reports); its counts appear here then.");
      document.documentElement.dataset.state = "ready";
      return;
    }
    const range = rangeOf(s, latest);
    current = { window: w, from: range.from, to: range.to };
    const fields = orderFields(Object.keys(counts.fields));
    const reportsField = fields.includes("level") ? "level" : fields[0];

    // Headline: the latest released day, week (where weeks are counted) and month; and the
    // reports of every released window over the same span of time.
    const grid = $("reports-charts");
    const headline = $("headline");
    const jobs = [];
    for (const win of WINDOWS) {
      if (!newest[win]) continue;
      const { period, reports } = newest[win];
      headline.append(el("span", { class: "stat", "data-window": win, "data-period": period, "data-value": String(reports) },
        el("strong", { text: number.format(reports) }),
        ` machines on the latest released ${NOUN[win][0]}, ${periodLabel(win, period)}`));
      const r = win === w ? range : sameSpan(w, range, win, parsePeriod(win, period));
      if (r) jobs.push({ chart: makeCard(grid, "reports", win, reportsField), window: win, field: reportsField, range: r });
    }

    // One card per field, grouped by topic, in the order the charts are fetched.
    let topic = null;
    let section = null;
    for (const field of fields) {
      const t = topicOf(field);
      if (t !== topic) {
        topic = t;
        const tid = `topic-${t === "|" ? "crosstabs" : t || "machine"}`;
        const title = TOPIC_TITLE[t] || t;
        section = el("div", { class: "grid" });
        $("fields").append(el("section", { class: "topic", id: tid, "aria-labelledby": `${tid}-title` },
          el("h3", { id: `${tid}-title`, text: title }), section));
        $("topics").append(el("a", { href: `#${tid}`, text: title }), " ");
      }
      jobs.push({ chart: makeCard(section, "field", w, field), window: w, field, range });
    }

    measure();
    const privacy = {};
    let failures = 0;
    const run = (job) => {
      if (!job.done) {
        job.done = (async () => {
          const url = seriesURL(job.window, job.field, job.range.from, job.range.to);
          try {
            const series = await getJSON(url);
            if (gen !== generation) return;
            if (job.chart.kind === "reports") privacy[job.window] = series.privacy;
            drawChart(job.chart, series, url, job.range.from, job.range.to);
          } catch (e) {
            if (gen !== generation) return;
            failures++;
            job.chart.note.textContent = `Could not be read: ${e.message}`;
            job.chart.card.removeAttribute("aria-busy");
            document.documentElement.dataset.state = "error";
          }
        })();
      }
      return job.done;
    };
    // The reports charts at once; a field's chart once its card comes near the screen, so a
    // visit costs the charts it looks at (a year of every field is megabytes).
    const byCard = new Map(jobs.map((job) => [job.chart.card, job]));
    const firstScreen = [];
    let seen = null;
    const firstLook = new Promise((resolve) => {
      seen = resolve;
    });
    observer = new IntersectionObserver((entries, obs) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        obs.unobserve(entry.target);
        firstScreen.push(run(byCard.get(entry.target)));
      }
      seen();
    }, { rootMargin: "50% 0px" });
    for (const job of jobs) {
      if (job.chart.kind === "reports") firstScreen.push(run(job));
      else observer.observe(job.chart.card);
    }
    if (!fields.length) seen();
    await firstLook;
    await Promise.all(firstScreen);
    if (gen !== generation) return;

    renderPrivacy(WINDOWS.flatMap((win) => (privacy[win] || []).map((r) => ({ window: win, run: r }))));
    const reports = charts.find((c) => c.kind === "reports" && c.window === w);
    const released = reports ? reports.periods.length : 0;
    const clipped = range.clipped ? ` (at most ${MAX_PERIODS} ${NOUN[w][1]} at once)` : "";
    const crosstabs = fields.filter((f) => f.includes("|")).length;
    const what = `${fields.length - crosstabs} fields` +
      (crosstabs ? ` and ${crosstabs} cross-tabulation${crosstabs === 1 ? "" : "s"}` : "");
    const label = (d) => periodLabel(w, formatPeriod(w, d));
    status(`${what} ${PER[w]}, ${label(range.from)} to ${label(range.to)}${clipped}: ` +
      `${released} released ${NOUN[w][released === 1 ? 0 : 1]}. The latest released ${NOUN[w][0]} is ` +
      `${periodLabel(w, counts.period)}; later ones appear once they close.${note}` +
      (failures ? ` ${failures} charts could not be read; reload to try again.` : ""));
    document.documentElement.dataset.state = failures ? "error" : "ready";
    performance.mark("dashboard-ready");
  }

  // Every card has the width of a grid column: measured once, not once per chart (each
  // measurement after a chart is drawn would lay the whole page out again).
  let chartWidth = 400;
  function measure() {
    const box = charts.length ? charts[0].plotBox : null;
    chartWidth = Math.max(200, box ? box.clientWidth : 400);
  }
  function resize() {
    const before = chartWidth;
    measure();
    if (chartWidth === before) return;
    for (const c of charts) if (c.plot) c.plot.setSize({ width: chartWidth, height: CHART_HEIGHT });
  }

  function start() {
    const form = $("controls");
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      onControls(e);
    });
    form.addEventListener("change", onControls);
    window.addEventListener("popstate", () => {
      if (location.search !== loadedSearch) load();
    });
    let pending = false;
    new ResizeObserver(() => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        resize();
      });
    }).observe(document.querySelector("main"));
    load().catch((e) => {
      status(`The dashboard failed: ${e.message}`);
      document.documentElement.dataset.state = "error";
    });
  }

  start();
})();
