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
    // The open period is not public: it is released only once it has closed.
    let open = r.get(&format!(
        "/v1/counts?window=daily&period={}",
        period("daily")
    ));
    assert_problem(&open, 404, "not_released");
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
    // PostgreSQL may still finish a COMMIT the killed receiver had sent: read until the count
    // stops moving, so a late commit is not taken for a report counted after the restart.
    let read = || total(&export(&b.url, "daily", &period("daily")), "level");
    let mut counted = read();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let again = read();
        if again == counted {
            break;
        }
        counted = again;
    }
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

/// Runs the binary with `args`, `stdin` as standard input; returns (exit code, stdout, stderr).
fn run(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    use std::io::Write;
    let mut child = std::process::Command::new(common::BIN)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Days before today, as a daily period.
fn days_ago(n: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(n))
        .format("%Y-%m-%d")
        .to_string()
}

/// export's CSV of one large daily period: 5000 reports, one rare architecture.
fn year_like_csv(period: &str) -> String {
    let mut csv = String::from("window,period,field,value,count\n");
    for (field, value, count) in [
        ("arch", "aarch64", 990),
        ("arch", "s390x", 10),
        ("arch", "x86_64", 4000),
        ("level", "minimal", 5000),
        ("os.version_id", "43", 5000),
        ("os.version_id|arch", r#""[""43"",""aarch64""]""#, 990),
        ("os.version_id|arch", r#""[""43"",""s390x""]""#, 10),
        ("os.version_id|arch", r#""[""43"",""x86_64""]""#, 4000),
    ] {
        csv.push_str(&format!("daily,{period},{field},{value},{count}\n"));
    }
    csv
}

/// import adds export's CSV (twice is twice, --replace makes it once, a bad line writes
/// nothing); the running receiver releases the imported closed periods once; publish writes
/// exactly what the views serve.
fn import_release_publish(b: &Backend) {
    let (p1, p2) = (days_ago(10), days_ago(9));
    let file = format!("{}{}", year_like_csv(&p1), year_like_csv(&p2));
    let import = |args: &[&str], input: &str| {
        let mut all = vec!["import", "--database", &b.url];
        all.extend(args);
        run(&all, input.as_bytes())
    };
    let (code, _, err) = import(&[], &file);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("imported 16 counters of 2 periods"), "{err}");
    let arch = |p: &str| -> i64 {
        export(&b.url, "daily", p)
            .iter()
            .filter(|(f, v, _)| f == "arch" && v == "x86_64")
            .map(|(_, _, n)| n)
            .sum()
    };
    assert_eq!(arch(&p1), 4000);
    let exported = export(&b.url, "daily", &p1);
    assert_eq!(exported.len(), 8, "{exported:?}");
    // The export is the file again, quoting and all.
    assert!(
        exported.contains(&(
            "os.version_id|arch".into(),
            r#""[""43"",""s390x""]""#.into(),
            10
        )),
        "{exported:?}"
    );
    // Counters are sums: the same file twice counts twice; --replace counts it once again.
    assert_eq!(import(&[], &file).0, 0);
    assert_eq!(arch(&p1), 8000);
    let (code, _, err) = import(&["--replace"], &file);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("(16 counters replaced)"), "{err}");
    assert_eq!(arch(&p1), 4000);
    // A bad line refuses the whole file, naming the line; nothing of it is counted.
    let bad = format!("{}daily,{p1},arch,sparc64,5\n", year_like_csv(&p1));
    let (code, _, err) = import(&[], &bad);
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("line 10") && err.contains("sparc64"), "{err}");
    assert_eq!(arch(&p1), 4000);
    let (code, _, err) = import(&[], "daily,2026-11-01,arch,x86_64,1\n");
    assert_eq!(code, 65, "{err}");
    assert!(err.contains("header"), "{err}");

    let config = b.config("[counts]\nk = 3\ncrosstabs = [[\"os.version_id\", \"arch\"]]\n");
    // publish without the receiver's config only reads: nothing is released yet.
    let (code, out, err) = run(
        &[
            "publish",
            "--database",
            &b.url,
            "--window",
            "daily",
            "--from",
            &p1,
            "--to",
            &p1,
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!(
            "have no release (not closed yet, or nothing counted): {p1}"
        )),
        "{err}"
    );
    assert!(!out.contains(&format!("daily,{p1},")), "{out}");
    let counts = format!("/v1/counts?window=daily&period={p1}");
    let wait_released = |r: &Receiver| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let resp = r.get(&counts);
            if resp.status == 200 {
                return resp;
            }
            assert!(
                Instant::now() < deadline,
                "{}",
                String::from_utf8_lossy(&resp.body)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let r = Receiver::start(&b.url, Some(&config));
    let released = wait_released(&r);
    let v = released.json();
    let sigma = v["privacy"]["noise_scale"].as_f64().unwrap();
    let threshold = v["privacy"]["threshold"].as_u64().unwrap();
    let near =
        |got: &serde_json::Value, exact: f64| (got.as_f64().unwrap() - exact).abs() <= 6.0 * sigma;
    assert!(near(&v["reports"], 5000.0), "{v}");
    assert!(
        near(&v["fields"]["arch"]["values"]["x86_64"], 4000.0),
        "{v}"
    );
    assert!(
        near(&v["fields"]["arch"]["values"]["aarch64"], 990.0),
        "{v}"
    );
    assert!(v["fields"]["arch"]["values"].get("s390x").is_none(), "{v}");
    assert!(near(&v["fields"]["arch"]["other"], 10.0), "{v}");
    assert!(
        near(
            &v["fields"]["os.version_id|arch"]["values"]["43|x86_64"],
            4000.0
        ),
        "{v}"
    );
    assert!(threshold > 10, "{v}");
    assert!(
        r.log_text()
            .contains(&format!("released daily period {p1}")),
        "{}",
        r.log_text()
    );
    drop(r);
    // Restarted, the receiver serves the same bytes: the release is stored, never redrawn.
    let r = Receiver::start(&b.url, Some(&config));
    assert_eq!(wait_released(&r).body, released.body);

    // publish writes the released tables, parameters in its header, the same numbers.
    let (code, csv, err) = run(
        &[
            "publish",
            "--database",
            &b.url,
            "--config",
            &config.display().to_string(),
            "--window",
            "daily",
            "--from",
            &p1,
            "--to",
            &p2,
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert!(csv.starts_with("# headcount released counts"), "{csv}");
    assert!(
        csv.contains(&format!(
            "epsilon 1 per period, delta 1e-7, threshold {threshold}, grace 7200 s"
        )),
        "{csv}"
    );
    let rows: Vec<&str> = csv.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(rows[0], "window,period,field,value,count");
    assert!(
        rows.contains(&format!("daily,{p1},reports,,{}", v["reports"]).as_str()),
        "{csv}"
    );
    assert!(
        rows.contains(
            &format!(
                "daily,{p1},arch,x86_64,{}",
                v["fields"]["arch"]["values"]["x86_64"]
            )
            .as_str()
        ),
        "{csv}"
    );
    assert!(
        rows.contains(&format!("daily,{p1},arch,,{}", v["fields"]["arch"]["other"]).as_str()),
        "{csv}"
    );
    assert!(
        rows.contains(
            &format!(
                "daily,{p1},os.version_id|arch,43|x86_64,{}",
                v["fields"]["os.version_id|arch"]["values"]["43|x86_64"]
            )
            .as_str()
        ),
        "{csv}"
    );
    assert!(!csv.contains("s390x"), "{csv}");
    assert!(
        rows.iter()
            .any(|l| l.starts_with(&format!("daily,{p2},reports,,"))),
        "{csv}"
    );
    let (code, json, err) = run(
        &[
            "publish",
            "--database",
            &b.url,
            "--window",
            "daily",
            "--from",
            &p1,
            "--to",
            &days_ago(-1),
            "--format",
            "json",
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("have no release"), "{err}");
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["periods"][0]["period"], p1.as_str());
    assert_eq!(j["periods"][0]["fields"], v["fields"]);
    assert_eq!(j["privacy"][0]["threshold"], threshold);
    // A moved database takes the released tables along: publish's JSON imported elsewhere is
    // stored as it is, and published from there byte for byte the same.
    let moved = format!("sqlite:{}", b.dir.path().join("moved.db").display());
    let (code, _, err) = run(&["import", "--database", &moved], json.as_bytes());
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("stored") && err.contains("released tables"),
        "{err}"
    );
    let (code, again, err) = run(
        &[
            "publish",
            "--database",
            &moved,
            "--window",
            "daily",
            "--from",
            &p1,
            "--to",
            &p2,
            "--format",
            "json",
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["periods"][0], j["periods"][0]);
    assert_eq!(again["periods"][1], j["periods"][1]);
    let (code, _, err) = run(&["import", "--database", &moved], json.as_bytes());
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("already released"), "{err}");
    let (code, _, err) = run(
        &["import", "--database", &moved, "--replace"],
        json.as_bytes(),
    );
    assert_eq!(code, 65, "{err}");
    // The series of the field agrees too.
    let s = r
        .get(&format!(
            "/v1/series?window=daily&field=arch&from={p1}&to={p2}"
        ))
        .json();
    assert_eq!(s["periods"][0]["values"], v["fields"]["arch"]["values"]);
    assert_eq!(s["periods"][1]["period"], p2.as_str());

    // Importing into a released period says its public table stays as it is.
    let (code, _, err) = import(&[], &year_like_csv(&p1));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("already released") && err.contains(&p1),
        "{err}"
    );
    assert_eq!(r.get(&counts).body, released.body);
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
                        // Real shapes: a Fedora CoreOS build, an AWS instance type.
                        let build = format!("43.20261102.{}.{i}", 10 * round + c);
                        let size = format!("m{}.{}xlarge", 10 * round + c + 1, i + 1);
                        let body = String::from_utf8(report("daily", "43", "x86_64"))
                            .unwrap()
                            .replace("43.20261102.3.0", &build)
                            .replace("m5.large", &size);
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
    // The period is open, so nothing of it is public yet; once released, the cross-tabulation's
    // overflow is in its `other` and the field's is the value "other" (release.rs's tests).
    assert_problem(
        &r.get(&format!(
            "/v1/counts?window=daily&period={}",
            period("daily")
        )),
        404,
        "not_released",
    );
    // Values that break their field's rule (instance IDs, a site's OS name, addresses) are
    // accepted and counted as other from the first one: they never take a place under the
    // bound, and the version and builds of an unknown OS are not counted at all.
    const JUNK: usize = 30;
    for i in 0..JUNK {
        let body = String::from_utf8(report("monthly", "43", "x86_64"))
            .unwrap()
            .replace("m5.large", &format!("i-0abc{i:04}def4567890"))
            .replace(r#""id":"fedora""#, &format!(r#""id":"acme-host{i}""#))
            .replace(
                r#""version_id":"43""#,
                &format!(r#""version_id":"10.0.0.{i}""#),
            );
        assert_eq!(r.post(JSON, body.as_bytes()).status, 202, "{body}");
    }
    let monthly = export(&b.url, "monthly", &period("monthly"));
    let of = |field: &str| -> Vec<(String, i64)> {
        monthly
            .iter()
            .filter(|(f, _, _)| f == field)
            .map(|(_, v, n)| (v.clone(), *n))
            .collect()
    };
    for field in ["platform.instance_type", "os.id"] {
        assert_eq!(of(field), [("other".to_owned(), JUNK as i64)], "{field}");
    }
    for field in ["os.version_id", "os.build", "original_os.build"] {
        assert_eq!(of(field), [], "{field}");
    }
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
    import_release_publish,
    sigterm_stops_gracefully,
    retention_deletes_old_daily_counters_only,
    distinct_values_are_bounded,
);
