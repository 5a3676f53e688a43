//! Released periods, with the receiver's clock and noise injected: the library's `serve` on a
//! real loopback socket over SQLite and a real PostgreSQL, the clock moved by the test across a
//! period's end, its grace and its release.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{Backend, Client, Response};
use headcount_receiver::dp::{DpError, Noise, OpenDpNoise};
use headcount_receiver::{ServeOptions, Settings};

const JSON: Option<&str> = Some("application/json");

/// A clock the test sets.
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn at(t: &str) -> TestClock {
        let c = TestClock(Arc::new(AtomicI64::new(0)));
        c.set(t);
        c
    }
    fn set(&self, t: &str) {
        let t = DateTime::parse_from_rfc3339(t).unwrap().timestamp();
        self.0.store(t, Ordering::SeqCst);
    }
    fn clock(&self) -> headcount_receiver::periods::Clock {
        let a = self.0.clone();
        Arc::new(move || DateTime::<Utc>::from_timestamp(a.load(Ordering::SeqCst), 0).unwrap())
    }
}

/// Noise that always adds the same amount.
struct Fixed(i64);

impl Noise for Fixed {
    fn sample(&mut self, _: &dashu::rational::RBig) -> Result<i64, DpError> {
        Ok(self.0)
    }
}

/// The library's receiver on its own runtime; stopped (gracefully) when dropped.
struct InProcess {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), headcount_receiver::Error>>>,
}

impl InProcess {
    fn start(b: &Backend, settings: Settings, clock: &TestClock, noise: Box<dyn Noise>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut options = ServeOptions::new(addr, b.url.parse().unwrap(), settings);
        options.clock = clock.clock();
        options.noise = noise;
        options.look_interval = Duration::from_millis(50);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(headcount_receiver::serve(options, async {
            let _ = stopped.await;
        }));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(!task.is_finished(), "the receiver stopped at start");
            assert!(Instant::now() < deadline, "the receiver did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        InProcess {
            addr,
            runtime: Some(runtime),
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn get(&self, path: &str) -> Response {
        Client::connect(self.addr).request("GET", path, &[], b"")
    }

    fn post(&self, body: &[u8]) -> Response {
        Client::connect(self.addr).post(JSON, body)
    }

    /// Waits until `path` answers 200 (the release loop runs every 50 ms).
    fn wait_for(&self, path: &str) -> Response {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.get(path);
            if r.status == 200 {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {}",
                String::from_utf8_lossy(&r.body)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let (Some(rt), Some(task)) = (self.runtime.take(), self.task.take()) {
            let r = rt.block_on(task);
            if !std::thread::panicking() {
                r.unwrap().unwrap();
            }
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

fn report(period: &str, version: &str, arch: &str) -> Vec<u8> {
    let window = if period.len() == 7 {
        "monthly"
    } else {
        "daily"
    };
    format!(
        r#"{{"schema":1,"window":"{window}","period":"{period}","level":"minimal","os":{{"id":"fedora","variant_id":"coreos","version_id":"{version}","build":"{version}.20261102.3.0"}},"platform":{{"id":"aws","instance_type":"m5.large"}},"arch":"{arch}","age_bucket":4}}"#
    )
    .into_bytes()
}

fn settings() -> Settings {
    Settings {
        k: 3,
        crosstabs: vec![vec!["os.version_id".into(), "arch".into()]],
        ..Settings::default()
    }
}

/// The life of a period: open (invisible, whatever is posted), within the grace, closed,
/// released once; then the same bytes for every request and after a restart with other noise.
fn a_period_is_released_once_and_never_recomputed(b: &Backend) {
    let clock = TestClock::at("2026-11-23T12:00:00Z");
    let r = InProcess::start(b, settings(), &clock, Box::new(OpenDpNoise));
    // The day before the receiver first looked is released (empty) right away.
    r.wait_for("/v1/counts?window=daily&period=2026-11-22");

    // Polling the open period before and after a post shows nothing, byte for byte.
    let open = "/v1/counts?window=daily&period=2026-11-23";
    let before = r.get(open);
    assert_eq!(before.status, 404);
    assert_eq!(before.json()["error"], "not_released");
    let latest_before = r.get("/v1/counts?window=daily");
    assert_eq!(latest_before.json()["period"], "2026-11-22");
    assert_eq!(r.post(&report("2026-11-23", "43", "aarch64")).status, 202);
    let after = r.get(open);
    assert_eq!(
        (after.status, &after.body),
        (before.status, &before.body),
        "posting changed the view of the open period"
    );
    assert_eq!(r.get("/v1/counts?window=daily").body, latest_before.body);

    for i in 0..40 {
        let version = if i % 4 == 0 { "42" } else { "43" };
        assert_eq!(r.post(&report("2026-11-23", version, "x86_64")).status, 202);
    }
    // Within the grace the previous day is still accepted; the one before is closed.
    clock.set("2026-11-24T01:59:59Z");
    assert_eq!(r.post(&report("2026-11-23", "43", "x86_64")).status, 202);
    let closed = r.post(&report("2026-11-22", "43", "x86_64"));
    assert_eq!(closed.status, 422);
    assert!(
        closed.json()["message"]
            .as_str()
            .unwrap()
            .contains("is closed"),
        "{}",
        closed.json()
    );
    assert_eq!(r.get(open).status, 404);
    // At the end of the grace the period closes; it is released a settling minute later.
    clock.set("2026-11-24T02:00:00Z");
    assert_eq!(r.post(&report("2026-11-23", "43", "x86_64")).status, 422);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(r.get(open).status, 404, "released before it settled");
    clock.set("2026-11-24T02:01:00Z");
    let released = r.wait_for(open);
    let v = released.json();
    assert_eq!(v["window"], "daily");
    assert_eq!(v["period"], "2026-11-23");
    let privacy = &v["privacy"];
    assert_eq!(privacy["epsilon"], 1.0);
    assert_eq!(privacy["delta"], 1e-7);
    assert_eq!(privacy["grace_secs"], 7200);
    let sigma = privacy["noise_scale"].as_f64().unwrap();
    let threshold = privacy["threshold"].as_u64().unwrap();
    assert!(threshold >= 3 && sigma > 1.0, "{privacy}");
    // 42 reports: far below the threshold, so no value is shown and the total is noise around 42.
    assert!(
        (v["reports"].as_i64().unwrap() - 42).abs() as f64 <= 6.0 * sigma,
        "{v}"
    );
    let fields = v["fields"].as_object().unwrap();
    assert!(fields.contains_key("os.version_id|arch") && fields.contains_key("hardware.cpus"));
    for (name, f) in fields {
        for (value, count) in f["values"].as_object().unwrap() {
            assert!(
                count.as_u64().unwrap() >= threshold,
                "{name}={value}: {count}"
            );
        }
    }
    assert_eq!(
        r.get("/v1/counts?window=daily").json()["period"],
        "2026-11-23"
    );
    for _ in 0..3 {
        assert_eq!(r.get(open).body, released.body, "a second request differs");
    }
    drop(r);

    // A restart with other noise and another budget releases the next day with them, and leaves
    // this one alone.
    clock.set("2026-11-25T03:00:00Z");
    let mut other_budget = settings();
    other_budget.privacy.epsilon = 2.0;
    let r = InProcess::start(b, other_budget, &clock, Box::new(Fixed(1000)));
    let next = r
        .wait_for("/v1/counts?window=daily&period=2026-11-24")
        .json();
    assert_eq!(next["reports"], 1000, "{next}");
    assert_eq!(
        r.get(open).body,
        released.body,
        "the release was recomputed"
    );
    let series = r
        .get("/v1/series?window=daily&field=os.version_id%7Carch&from=2026-11-22&to=2026-11-30")
        .json();
    let periods = series["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 3, "{series}");
    assert_eq!(periods[1]["period"], "2026-11-23");
    assert_eq!(periods[1]["reports"], v["reports"]);
    assert_eq!(
        periods[1]["values"],
        v["fields"]["os.version_id|arch"]["values"]
    );
    assert_eq!(series["privacy"].as_array().unwrap().len(), 2, "{series}");
}

/// Views refuse what they do not understand, with the problem body.
fn views_refuse_bad_queries(b: &Backend) {
    let clock = TestClock::at("2026-11-23T12:00:00Z");
    let r = InProcess::start(b, settings(), &clock, Box::new(OpenDpNoise));
    r.wait_for("/v1/counts?window=daily&period=2026-11-22");
    for q in [
        "/v1/counts",
        "/v1/counts?window=yearly",
        "/v1/counts?window=daily&period=2026-11",
        "/v1/counts?window=weekly&period=2026-11-23",
        "/v1/counts?window=weekly&period=2026-W54",
        "/v1/counts?window=daily&ip=1",
        "/v1/counts?window=daily&window=monthly",
        "/v1/series?window=daily&field=arch&from=2026-11-01",
        "/v1/series?window=daily&field=arch&from=2026-11-01&to=2026-11-30&to=2026-12-01",
        "/v1/series?window=daily&field=arch&field=level&from=2026-11-01&to=2026-11-30",
        "/v1/series?window=daily&field=hostname&from=2026-11-01&to=2026-11-30",
        "/v1/series?window=daily&field=arch&from=2026-11-30&to=2026-11-01",
        "/v1/series?window=daily&field=arch&from=2020-01-01&to=2026-11-01",
    ] {
        let resp = r.get(q);
        assert_eq!(
            resp.status,
            400,
            "{q}: {}",
            String::from_utf8_lossy(&resp.body)
        );
        let body = resp.json();
        assert_eq!(body["error"], "invalid_query", "{q}");
        assert_eq!(body.as_object().unwrap().len(), 2);
    }
    let resp = r.wait_for("/v1/counts?window=monthly");
    assert_eq!(resp.json()["period"], "2026-10");
    // The week that ended at Monday 00:00 closed at 02:00 and is released, with the countme tuple.
    let resp = r.wait_for("/v1/counts?window=weekly");
    let week = resp.json();
    assert_eq!(week["period"], "2026-W47");
    assert!(
        week["fields"]
            .get(headcount_receiver::countme::FIELD)
            .is_some(),
        "{week}"
    );
    assert_eq!(
        r.get("/v1/counts?window=monthly&period=2026-11").status,
        404
    );
}

/// A database a receiver released daily and monthly periods from since 2026-11-01, before it knew
/// the weekly window: upgraded on 2026-11-23, it releases weeks from the one before the upgrade
/// on, not every empty week since 2026-11-01.
fn a_receiver_upgraded_to_weekly_releases_weeks_from_the_upgrade_on(b: &Backend) {
    let database: headcount_receiver::Database = b.url.parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (writer, task, _) = headcount_receiver::store::open(&database, 2000)
            .await
            .unwrap();
        drop(writer);
        task.join().await;
        let first = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        for window in [
            headcount_report::Window::Daily,
            headcount_report::Window::Monthly,
        ] {
            headcount_receiver::store::release_state(&database, window, first)
                .await
                .unwrap();
        }
    });
    drop(rt);
    let clock = TestClock::at("2026-11-23T12:00:00Z");
    let r = InProcess::start(b, settings(), &clock, Box::new(OpenDpNoise));
    r.wait_for("/v1/counts?window=weekly&period=2026-W47");
    // The daily periods since the first look are released as before.
    r.wait_for("/v1/counts?window=daily&period=2026-10-31");
    r.wait_for("/v1/counts?window=daily&period=2026-11-22");
    for week in ["2026-W44", "2026-W45", "2026-W46"] {
        let resp = r.get(&format!("/v1/counts?window=weekly&period={week}"));
        assert_eq!(
            resp.status,
            404,
            "{week}: {}",
            String::from_utf8_lossy(&resp.body)
        );
    }
}

/// Two receivers share one PostgreSQL database and race to release the same closed periods,
/// each with its own noise: every period is stored once, whole, by one of them (never the total
/// of one and the cells of the other), and both serve the same bytes.
#[test]
fn two_receivers_release_each_period_once() {
    let b = Backend::postgres();
    let clock = TestClock::at("2026-11-23T12:00:00Z");
    let noises = [1000, 2000];
    let receivers: Vec<InProcess> = noises
        .iter()
        .map(|&n| InProcess::start(&b, settings(), &clock, Box::new(Fixed(n))))
        .collect();
    for (day, next) in [
        ("2026-11-23", "2026-11-24"),
        ("2026-11-24", "2026-11-25"),
        ("2026-11-25", "2026-11-26"),
    ] {
        clock.set(&format!("{day}T12:00:00Z"));
        for i in 0..30 {
            for r in &receivers {
                let arch = if i % 3 == 0 { "aarch64" } else { "x86_64" };
                assert_eq!(r.post(&report(day, "43", arch)).status, 202);
            }
        }
        // Closed and settled for both at the same instant: both release loops race for it.
        clock.set(&format!("{next}T02:01:00Z"));
        let path = format!("/v1/counts?window=daily&period={day}");
        let seen: Vec<Response> = receivers.iter().map(|r| r.wait_for(&path)).collect();
        assert_eq!(seen[0].body, seen[1].body, "{day}: the receivers disagree");
        let v = seen[0].json();
        let noise = v["reports"].as_i64().unwrap() - 60;
        assert!(noises.contains(&noise), "{day}: {v}");
        let arch = &v["fields"]["arch"]["values"];
        assert_eq!(arch["x86_64"], 40 + noise, "{day}: {v}");
        assert_eq!(arch["aarch64"], 20 + noise, "{day}: {v}");
        assert_eq!(v["fields"]["os.version_id"]["values"]["43"], 60 + noise);
        assert_eq!(
            v["fields"]["os.version_id|arch"]["values"]["43|x86_64"],
            40 + noise
        );
        assert_eq!(v["fields"]["arch"]["other"], noise, "{day}: {v}");
        for r in &receivers {
            assert_eq!(r.get(&path).body, seen[0].body);
        }
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
    a_period_is_released_once_and_never_recomputed,
    views_refuse_bad_queries,
    a_receiver_upgraded_to_weekly_releases_weeks_from_the_upgrade_on,
);
