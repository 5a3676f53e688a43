//! Several receivers, one PostgreSQL database: the answer for a fleet that outgrows one machine.
//! Two real receiver processes under load at once, incrementing the same counters (and admitting
//! new values under the cardinality bound at the same time): every 202 counted exactly once, not
//! one 5xx, no deadlock and no serialization failure in the server's log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Backend, Client, Receiver, export, period, report, total};

const JSON: Option<&str> = Some("application/json");
const CLIENTS: usize = 16;
const REPORTS: usize = 200;
/// New values a field may take per period: small, so both receivers admit and fold at once.
const MAX_VALUES: usize = 25;

#[test]
fn two_receivers_on_one_postgresql_count_every_report_once() {
    let b = Backend::postgres();
    let config = b.config(&format!(
        "[counts]\nk = 1\nmax_values = {MAX_VALUES}\n\
         crosstabs = [[\"os.version_id\", \"arch\"], [\"os.build\", \"platform.instance_type\"]]\n\
         [metrics]\nlisten = \"127.0.0.1:0\"\n"
    ));
    let receivers = [
        Receiver::start(&b.url, Some(&config)),
        Receiver::start(&b.url, Some(&config)),
    ];
    let addrs = [receivers[0].addr, receivers[1].addr];
    let accepted = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let accepted = accepted.clone();
            std::thread::spawn(move || {
                // Each client keeps a connection to both receivers, as a load balancer's
                // backends see them, and alternates.
                let mut clients = addrs.map(Client::connect);
                for i in 0..REPORTS {
                    let to = (c + i) % 2;
                    let arch = if i % 3 == 0 { "aarch64" } else { "x86_64" };
                    let window = if i % 4 == 0 { "monthly" } else { "daily" };
                    // Mostly the same counters on both sides; every fifth report a new build and
                    // instance type (of shapes the open-field rules keep), so new values race
                    // into the bound from both receivers.
                    let mut body = String::from_utf8(report(window, "43", arch)).unwrap();
                    if i % 5 == 0 {
                        body = body
                            .replace("43.20261102.3.0", &format!("43.20261102.{c}.{i}"))
                            .replace("m5.large", &format!("m{}.{}xlarge", 5 + c % 4, i + 1));
                    }
                    let r = clients[to].post(JSON, body.as_bytes());
                    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
                    accepted[to].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let sent = CLIENTS * REPORTS;
    let per_receiver = accepted.each_ref().map(|a| a.load(Ordering::Relaxed));
    assert_eq!(per_receiver.iter().sum::<usize>(), sent);

    let monthly = (0..REPORTS).filter(|i| i % 4 == 0).count() * CLIENTS;
    for (window, expected) in [("daily", sent - monthly), ("monthly", monthly)] {
        let rows = export(&b.url, window, &period(window));
        for field in [
            "level",
            "arch",
            "os.version_id",
            "os.build",
            "platform.instance_type",
            "os.version_id|arch",
            "os.build|platform.instance_type",
        ] {
            assert_eq!(
                total(&rows, field),
                expected as i64,
                "{window} {field}: counted differs from the 202s"
            );
        }
        // The bound held across both receivers, up to the values they admitted at the same time
        // (at worst each its full room), and the rest went to other.
        let builds = rows.iter().filter(|(f, _, _)| f == "os.build").count();
        assert!(
            (MAX_VALUES + 1..=2 * MAX_VALUES + 1).contains(&builds),
            "{window}: {builds} os.build counters"
        );
    }

    // Each receiver's metrics count its own 202s, and neither met a database error.
    for (r, n) in receivers.iter().zip(per_receiver) {
        assert_eq!(
            r.metric("headcount_receiver_reports_accepted_total"),
            n as f64
        );
        let errors: Vec<_> = r
            .metrics()
            .into_iter()
            .filter(|(s, _)| s.starts_with("headcount_receiver_database_errors_total"))
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            r.metric("headcount_receiver_reports_unavailable_total"),
            0.0
        );
        let log = r.log_text();
        assert!(!log.contains("storing counts failed"), "{log}");
    }
    let pg = b.postgres.as_ref().unwrap().log();
    for bad in ["deadlock detected", "could not serialize", "ERROR"] {
        assert!(!pg.contains(bad), "PostgreSQL logged {bad:?}:\n{pg}");
    }
}
