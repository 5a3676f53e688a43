//! The receiver as a client and an operator see it: the real binary, over real HTTP, against
//! SQLite and against a real PostgreSQL server. Every test of the suite runs on both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, Client, Receiver, export, period, report, total};

const JSON: Option<&str> = Some("application/json");
const MAX_REPORT_BYTES: usize = headcount_report::MAX_REPORT_BYTES;

fn assert_problem(r: &common::Response, status: u16, error: &str) -> String {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        r.headers
    );
    let body = r.json();
    assert_eq!(body["error"], error, "{body}");
    let message = body["message"].as_str().unwrap().to_owned();
    assert!(!message.is_empty());
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    message
}

/// Every status code of the protocol, with its body.
fn status_codes(b: &Backend) {
    let r = Receiver::start(&b.url, None);

    let ok = r.post(JSON, &report("daily", "43", "x86_64"));
    assert_eq!(ok.status, 202);
    assert_eq!(ok.json(), serde_json::json!({"status": "accepted"}));
    let ok = r.post(
        Some("application/json; charset=utf-8"),
        &report("monthly", "43", "x86_64"),
    );
    assert_eq!(ok.status, 202);

    // 415: no or another Content-Type, even with a valid body.
    assert_problem(
        &r.post(None, &report("daily", "43", "x86_64")),
        415,
        "unsupported_media_type",
    );
    assert_problem(
        &r.post(Some("text/plain"), &report("daily", "43", "x86_64")),
        415,
        "unsupported_media_type",
    );

    // 400: not JSON, and JSON outside the contract; the reason names the problem.
    let m = assert_problem(&r.post(JSON, b"{\"schema\":1,"), 400, "invalid_report");
    assert!(m.contains("EOF"), "{m}");
    let mut extra: serde_json::Value =
        serde_json::from_slice(&report("daily", "43", "x86_64")).unwrap();
    extra["hostname"] = "web1".into();
    let m = assert_problem(
        &r.post(JSON, &serde_json::to_vec(&extra).unwrap()),
        400,
        "invalid_report",
    );
    assert!(m.contains("hostname"), "{m}");
    assert!(!m.contains("web1"), "{m}");

    // 400: a key given twice, anywhere: the last one winning would read `schema` as 1.
    let body = String::from_utf8(report("daily", "43", "x86_64")).unwrap();
    let version_twice = body
        .replacen(r#"{"schema":1"#, r#"{"schema":2"#, 1)
        .replacen(r#""age_bucket":4}"#, r#""age_bucket":4,"schema":1}"#, 1);
    let m = assert_problem(
        &r.post(JSON, version_twice.as_bytes()),
        400,
        "invalid_report",
    );
    assert!(m.starts_with("duplicate key `schema`"), "{m}");
    let nested = body.replacen(r#""arch":"x86_64""#, r#""arch":"x86_64","arch":"s390x""#, 1);
    let m = assert_problem(&r.post(JSON, nested.as_bytes()), 400, "invalid_report");
    assert!(m.starts_with("duplicate key `arch`"), "{m}");

    // 400 before routing, then the connection closes: framing a proxy could read otherwise.
    let valid = report("daily", "43", "x86_64");
    let mut chunked = format!("{:x}\r\n", valid.len()).into_bytes();
    chunked.extend_from_slice(&valid);
    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
    for framing in [
        format!(
            "Transfer-Encoding: chunked\r\nContent-Length: {}",
            chunked.len()
        ),
        format!(
            "Content-Length: {}\r\nTransfer-Encoding: chunked",
            chunked.len()
        ),
    ] {
        let mut c = Client::connect(r.addr);
        let mut raw = format!(
            "POST /v1/report HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
        )
        .into_bytes();
        raw.extend_from_slice(&chunked);
        let resp = c.raw(&raw).unwrap();
        let m = assert_problem(&resp, 400, "invalid_request");
        assert!(
            m.contains("both Transfer-Encoding and Content-Length"),
            "{m}"
        );
        assert_eq!(resp.header("connection"), Some("close"));
        assert!(
            c.try_post(JSON, &valid).is_err(),
            "the connection stayed open"
        );
    }
    let mut c = Client::connect(r.addr);
    let twice = format!(
        "POST /v1/report HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {0}\r\nContent-Length: {0}\r\n\r\n",
        valid.len()
    );
    let resp = c.raw(&[twice.as_bytes(), &valid].concat()).unwrap();
    assert_problem(&resp, 400, "invalid_request");

    // 422: a schema version this receiver does not know, decided before anything else.
    let m = assert_problem(
        &r.post(JSON, br#"{"schema":2,"facts":{"brand":"new"}}"#),
        422,
        "unsupported_schema",
    );
    assert!(m.contains("version 2"), "{m}");
    // 422: a period that is not the previous, current or next one.
    let stale = String::from_utf8(report("daily", "43", "x86_64"))
        .unwrap()
        .replace(&period("daily"), "2020-01-01");
    let m = assert_problem(&r.post(JSON, stale.as_bytes()), 422, "period_out_of_range");
    assert!(
        m.contains("2020-01-01") && m.contains(&period("daily")),
        "{m}"
    );

    // 413: declared too large (refused before the body is read) ...
    let mut big = report("daily", "43", "x86_64");
    big.resize(MAX_REPORT_BYTES + 1, b' ');
    assert_problem(&r.post(JSON, &big), 413, "too_large");
    // ... and a chunked body without a length, cut off at the limit.
    let mut c = Client::connect(r.addr);
    let mut raw = b"POST /v1/report HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..3 {
        raw.extend_from_slice(format!("{:x}\r\n", 4000).as_bytes());
        raw.extend(std::iter::repeat_n(b' ', 4000));
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    assert_problem(&c.raw(&raw).unwrap(), 413, "too_large");
    // ... and a length no body could have: 413 with its body too, not a bare 400.
    let mut c = Client::connect(r.addr);
    let absurd = b"POST /v1/report HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1000000000000000000000000000000\r\n\r\n";
    let m = assert_problem(&c.raw(absurd).unwrap(), 413, "too_large");
    assert!(m.contains("31 digits"), "{m}");
    // Exactly the limit is fine.
    let mut padded = report("daily", "43", "x86_64");
    padded.resize(MAX_REPORT_BYTES, b' ');
    assert_eq!(r.post(JSON, &padded).status, 202);

    // Nothing but the accepted reports was counted.
    let rows = export(&b.url, "daily", &period("daily"));
    assert_eq!(total(&rows, "level"), 2, "{rows:?}");
    let rows = export(&b.url, "monthly", &period("monthly"));
    assert_eq!(total(&rows, "level"), 1, "{rows:?}");
}

/// 429 with Retry-After when the global rate is exceeded, for every client alike.
fn rate_limit(b: &Backend) {
    let config = b.config("[rate_limit]\nreports_per_second = 1\nburst = 2\n");
    let r = Receiver::start(&b.url, Some(&config));
    let body = report("daily", "43", "x86_64");
    // The bucket holds 2 and refills 1 per second: of 6 quick posts, at most 2 plus one per
    // elapsed second are accepted (robust on a slow machine), and the others get 429.
    let t0 = Instant::now();
    let answers: Vec<_> = (0..6).map(|_| r.post(JSON, &body)).collect();
    let elapsed = t0.elapsed().as_secs() as usize;
    let accepted = answers.iter().filter(|a| a.status == 202).count();
    assert!(
        (2..=2 + elapsed + 1).contains(&accepted),
        "{accepted} accepted in {elapsed} s"
    );
    assert!(answers.iter().all(|a| a.status == 202 || a.status == 429));
    let limited = answers.iter().find(|a| a.status == 429).expect("no 429");
    assert_problem(limited, 429, "rate_limited");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(r.post(JSON, &body).status, 202);
    assert_eq!(
        total(&export(&b.url, "daily", &period("daily")), "level"),
        accepted as i64 + 1
    );
}

/// N clients x M reports at once: the counts equal the 202s, nothing lost or doubled.
fn concurrent_counts_are_exact(b: &Backend) {
    const CLIENTS: usize = 16;
    const REPORTS: usize = 150;
    let config = b.config("[counts]\nk = 1\ncrosstabs = [[\"os.version_id\", \"arch\"]]\n");
    let r = Receiver::start(&b.url, Some(&config));
    let addr = r.addr;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut accepted = [0i64; 2];
                for i in 0..REPORTS {
                    let arch = if (c + i) % 3 == 0 {
                        "aarch64"
                    } else {
                        "x86_64"
                    };
                    let window = if i % 5 == 0 { "monthly" } else { "daily" };
                    let resp = client.post(JSON, &report(window, &format!("{}", 40 + c % 4), arch));
                    assert_eq!(resp.status, 202, "{}", String::from_utf8_lossy(&resp.body));
                    accepted[usize::from(window == "monthly")] += 1;
                }
                accepted
            })
        })
        .collect();
    let mut accepted = [0i64; 2];
    for t in threads {
        let a = t.join().unwrap();
        accepted[0] += a[0];
        accepted[1] += a[1];
    }
    for (i, window) in ["daily", "monthly"].into_iter().enumerate() {
        let rows = export(&b.url, window, &period(window));
        // Every field every report has sums to the accepted reports.
        for field in [
            "level",
            "os.version_id",
            "arch",
            "platform.id",
            "age_bucket",
            "os.version_id|arch",
        ] {
            assert_eq!(total(&rows, field), accepted[i], "{window} {field}");
        }
    }
    // The public view agrees, with k = 1 showing every value.
    let view = r
        .get(&format!(
            "/v1/counts?window=daily&period={}",
            period("daily")
        ))
        .json();
    assert_eq!(view["reports"], accepted[0]);
    let arch = &view["fields"]["arch"]["values"];
    assert_eq!(
        arch["x86_64"].as_i64().unwrap() + arch["aarch64"].as_i64().unwrap(),
        accepted[0]
    );
}

/// The durability settings are read back from the receiver's own writer session and logged.
fn durability_is_real(b: &Backend) {
    let r = Receiver::start(&b.url, None);
    let log = r.log_text();
    if b.is_postgres() {
        assert!(log.contains("synchronous_commit=on fsync=on"), "{log}");
    } else {
        assert!(log.contains("journal_mode=wal synchronous=full"), "{log}");
    }
}

/// kill -9 mid-load: every acknowledged report is counted after the crash.
fn kill_9_loses_no_acknowledged_report(b: &Backend) {
    const CLIENTS: usize = 24;
    let mut r = Receiver::start(&b.url, None);
    let addr = r.addr;
    let acked = Arc::new(AtomicI64::new(0));
    let sent = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (acked, sent, stop) = (acked.clone(), sent.clone(), stop.clone());
            std::thread::spawn(move || {
                let body = report("daily", "43", "x86_64");
                let Ok(mut client) = Client::try_connect(addr) else {
                    return;
                };
                while !stop.load(Ordering::Relaxed) {
                    sent.fetch_add(1, Ordering::SeqCst);
                    match client.try_post(JSON, &body) {
                        Ok(resp) if resp.status == 202 => {
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(resp) => panic!("status {}", resp.status),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    // Kill only once reports are flowing.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.load(Ordering::SeqCst) < 2000 {
        assert!(Instant::now() < deadline, "load did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    r.child.kill().unwrap(); // SIGKILL
    r.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.load(Ordering::SeqCst);
    let sent = sent.load(Ordering::SeqCst);
    // The database after the crash (for SQLite: recovered from the WAL by the next opener).
    let counted = total(&export(&b.url, "daily", &period("daily")), "level");
    assert!(
        counted >= acked,
        "lost acknowledged reports: {counted} counted, {acked} acknowledged"
    );
    assert!(
        counted <= sent,
        "counted more than sent: {counted} > {sent}"
    );
    // A restart on the same database works and keeps counting from there.
    let r = Receiver::start(&b.url, None);
    assert_eq!(r.post(JSON, &report("daily", "43", "x86_64")).status, 202);
    assert_eq!(
        total(&export(&b.url, "daily", &period("daily")), "level"),
        counted + 1
    );
}

/// /v1/counts folds values seen fewer than k times into "other", cross-tabs too.
fn counts_are_k_anonymous(b: &Backend) {
    let config = b.config(
        "[counts]\nk = 3\ncrosstabs = [[\"os.version_id\", \"arch\"], [\"arch\", \"hardware.cpus\"]]\n",
    );
    let r = Receiver::start(&b.url, Some(&config));
    for (version, arch, n) in [
        ("43", "x86_64", 4),
        ("42", "x86_64", 2),
        ("43", "aarch64", 1),
    ] {
        for _ in 0..n {
            assert_eq!(r.post(JSON, &report("daily", version, arch)).status, 202);
        }
    }
    let resp = r.get(&format!(
        "/v1/counts?window=daily&period={}",
        period("daily")
    ));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("cache-control"), Some("no-store"));
    let v = resp.json();
    assert_eq!(v["window"], "daily");
    assert_eq!(v["period"], period("daily"));
    assert_eq!(v["k"], 3);
    assert_eq!(v["reports"], 7);
    assert_eq!(
        v["fields"]["arch"]["values"],
        serde_json::json!({"x86_64": 6})
    );
    assert_eq!(v["fields"]["arch"]["other"], 1);
    assert_eq!(
        v["fields"]["os.version_id"]["values"],
        serde_json::json!({"43": 5})
    );
    assert_eq!(v["fields"]["os.version_id"]["other"], 2);
    assert_eq!(v["fields"]["level"]["values"]["minimal"], 7);
    let tabs = v["crosstabs"].as_array().unwrap();
    assert_eq!(tabs.len(), 2);
    let by_fields = |f: serde_json::Value| tabs.iter().find(|t| t["fields"] == f).unwrap();
    let t = by_fields(serde_json::json!(["os.version_id", "arch"]));
    assert_eq!(
        t["rows"],
        serde_json::json!([{"values": ["43", "x86_64"], "count": 4}])
    );
    assert_eq!(t["other"], 3);
    // A field the reports lack is null in the combination.
    let t = by_fields(serde_json::json!(["arch", "hardware.cpus"]));
    assert_eq!(t["rows"][0]["values"], serde_json::json!(["x86_64", null]));
    assert_eq!(t["other"], 1);
    // Nothing rare leaks anywhere in the body.
    let text = String::from_utf8(resp.body.clone()).unwrap();
    assert!(
        !text.contains("aarch64") && !text.contains("\"42\""),
        "{text}"
    );

    // The period defaults to the current one; bad queries are 400 with the same body shape.
    assert_eq!(r.get("/v1/counts?window=daily").json()["reports"], 7);
    for q in [
        "/v1/counts",
        "/v1/counts?window=weekly",
        "/v1/counts?window=daily&period=2026-11",
        "/v1/counts?window=daily&ip=1",
    ] {
        assert_problem(&r.get(q), 400, "invalid_query");
    }
    // A parameter given twice is refused, not resolved by picking one.
    for q in [
        "/v1/counts?window=daily&window=monthly",
        "/v1/counts?window=daily&window=daily",
        "/v1/counts?window=daily&period=2026-11-23&period=2026-11-24",
    ] {
        let m = assert_problem(&r.get(q), 400, "invalid_query");
        assert!(m.contains("is given more than once"), "{q}: {m}");
    }
}

/// SIGTERM: in-flight reports finish, the process exits 0 promptly.
fn sigterm_stops_gracefully(b: &Backend) {
    let mut r = Receiver::start(&b.url, None);
    // An idle keep-alive connection must not hold up the stop.
    let mut idle = Client::connect(r.addr);
    assert_eq!(
        idle.post(JSON, &report("daily", "43", "x86_64")).status,
        202
    );
    // Nor may a client still sending its request (its deadline is 10 s away).
    let mut half = std::net::TcpStream::connect(r.addr).unwrap();
    std::io::Write::write_all(&mut half, b"POST /v1/report HTTP/1.1\r\nContent-Le").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    r.signal("TERM");
    let status = loop {
        if let Some(s) = r.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(r.log_text().contains("stopping"), "{}", r.log_text());
    assert_eq!(
        total(&export(&b.url, "daily", &period("daily")), "level"),
        1
    );
}

/// Retention: daily counters older than the configured age are deleted at start; monthly
/// counters and recent daily ones are kept.
fn retention_deletes_old_daily_counters_only(b: &Backend) {
    use headcount_receiver::fields::Key;
    use headcount_receiver::store;
    use headcount_report::Period;

    let today = period("daily");
    let recent: Period = today.parse::<Period>().unwrap().prev();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db: headcount_receiver::Database = b.url.parse().unwrap();
        let (writer, task, _) = store::open(&db, headcount_receiver::config::DEFAULT_MAX_VALUES)
            .await
            .unwrap();
        let key = |p: Period| Key {
            window: p.window(),
            period: p,
            field: "level".into(),
            value: "minimal".into(),
        };
        let keys = ["2025-01-01", "2025-01", "2025-02-28"]
            .into_iter()
            .map(|p| key(p.parse().unwrap()))
            .chain([key(recent)])
            .collect();
        writer.count(keys).await.unwrap();
        drop(writer);
        task.join().await;
    });
    let config = b.config("[retention]\ndaily_days = 30\n");
    let r = Receiver::start(&b.url, Some(&config));
    let deadline = Instant::now() + Duration::from_secs(10);
    while total(&export(&b.url, "daily", "2025-01-01"), "level") != 0 {
        assert!(
            Instant::now() < deadline,
            "old daily counters were not deleted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(total(&export(&b.url, "daily", "2025-02-28"), "level"), 0);
    assert_eq!(total(&export(&b.url, "monthly", "2025-01"), "level"), 1);
    assert_eq!(
        total(&export(&b.url, "daily", &recent.to_string()), "level"),
        1
    );
    assert!(
        r.log_text().contains("deleted 2 daily counters before"),
        "{}",
        r.log_text()
    );
}

/// Valid reports with ever-new open values: each field keeps at most `max_values` distinct values
/// per period and counts the rest as `other`, so the counters stop growing; nothing is lost, a
/// kept value keeps its own counter, and the bound holds across a restart.
fn distinct_values_are_bounded(b: &Backend) {
    const MAX: usize = 20;
    const CLIENTS: usize = 4;
    const REPORTS: usize = 60;
    let config = b.config(&format!(
        "[counts]\nk = 1\nmax_values = {MAX}\ncrosstabs = [[\"os.build\", \"platform.instance_type\"]]\n"
    ));
    // Distinct builds and instance types, all valid, from several clients at once (so that
    // batches carry several new values).
    let post_distinct = |r: &Receiver, round: usize| {
        let addr = r.addr;
        let threads: Vec<_> = (0..CLIENTS)
            .map(|c| {
                std::thread::spawn(move || {
                    let mut client = Client::connect(addr);
                    for i in 0..REPORTS {
                        let body = String::from_utf8(report("daily", "43", "x86_64"))
                            .unwrap()
                            .replace("43.20261102.3.0", &format!("43.{round}.{c}.{i}"))
                            .replace("m5.large", &format!("x{round}-{c}-{i}.large"));
                        assert_eq!(client.post(JSON, body.as_bytes()).status, 202);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
    };
    let values = |field: &str| -> Vec<(String, i64)> {
        export(&b.url, "daily", &period("daily"))
            .into_iter()
            .filter(|(f, _, _)| f == field)
            .map(|(_, v, n)| (v, n))
            .collect()
    };
    let r = Receiver::start(&b.url, Some(&config));
    post_distinct(&r, 0);
    let sent = (CLIENTS * REPORTS) as i64;
    for field in [
        "os.build",
        "platform.instance_type",
        "os.build|platform.instance_type",
    ] {
        let v = values(field);
        assert_eq!(v.len(), MAX + 1, "{field}: {v:?}");
        assert_eq!(v.iter().map(|(_, n)| n).sum::<i64>(), sent, "{field}");
        let other = v.iter().find(|(v, _)| v == "other").unwrap().1;
        assert_eq!(other, sent - MAX as i64, "{field}");
    }
    let kept = values("os.build")
        .into_iter()
        .find(|(v, _)| v != "other")
        .unwrap()
        .0;
    drop(r);
    // A new process knows nothing but what the database says: the bound holds, and a kept
    // value is still counted as itself.
    let r = Receiver::start(&b.url, Some(&config));
    post_distinct(&r, 1);
    let body = String::from_utf8(report("daily", "43", "x86_64"))
        .unwrap()
        .replace("43.20261102.3.0", &kept);
    assert_eq!(r.post(JSON, body.as_bytes()).status, 202);
    let v = values("os.build");
    assert_eq!(v.len(), MAX + 1, "{v:?}");
    assert_eq!(v.iter().find(|(v, _)| *v == kept).unwrap().1, 2);
    assert_eq!(
        v.iter().find(|(v, _)| v == "other").unwrap().1,
        2 * sent - MAX as i64
    );
    // The public view: the cross-tabulation's overflow is in its `other`, the field's is the
    // value "other".
    let view = r.get("/v1/counts?window=daily").json();
    assert_eq!(view["reports"], 2 * sent + 1);
    assert_eq!(
        view["fields"]["os.build"]["values"]["other"],
        2 * sent - MAX as i64
    );
    let tab = &view["crosstabs"][0];
    assert_eq!(tab["rows"].as_array().unwrap().len(), MAX, "{tab}");
    assert_eq!(tab["other"], 2 * sent + 1 - MAX as i64);
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name(&super::Backend::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $name() { super::$name(&super::Backend::postgres()) } )*
        }
    };
}

suite!(
    status_codes,
    rate_limit,
    concurrent_counts_are_exact,
    durability_is_real,
    kill_9_loses_no_acknowledged_report,
    counts_are_k_anonymous,
    sigterm_stops_gracefully,
    retention_deletes_old_daily_counters_only,
    distinct_values_are_bounded,
);
