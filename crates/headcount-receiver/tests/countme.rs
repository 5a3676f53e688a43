//! The weekly window and countme totals, on SQLite and PostgreSQL: weekly reports count the
//! countme tuple, `export --format countme-totals` writes the exact rows of any week in Fedora's
//! `totals.csv` format, `publish --format countme-totals` the released rows of closed weeks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Backend, Receiver, export, period};
use headcount_report::{Period, Window};

const JSON: Option<&str> = Some("application/json");
const TUPLE: &str = "os.id|os.version_id|os.variant_id|arch|age_bucket";
const HEADER: &str =
    "week_start,week_end,hits,os_name,os_version,os_variant,os_arch,sys_age,repo_tag,repo_arch";

/// Runs the binary; returns (exit code, stdout, stderr).
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

/// A minimal report of `window`'s current period; `os` is the inside of its `os` object, `tail`
/// what follows `arch` (the age bucket, or nothing).
fn report(window: &str, os: &str, arch: &str, tail: &str) -> Vec<u8> {
    format!(
        r#"{{"schema":1,"window":"{window}","period":"{}","level":"minimal","os":{{{os}}},"platform":{{"id":"metal"}},"arch":"{arch}"{tail}}}"#,
        period(window)
    )
    .into_bytes()
}

fn week_of(days_ago: i64) -> Period {
    Period::containing(
        Window::Weekly,
        chrono::Utc::now() - chrono::Duration::days(days_ago),
    )
}

/// Weekly reports add the countme tuple; `export --format countme-totals` writes the current
/// week's exact rows (hits 1 for one machine, the Monday as week_start), spelled as Fedora's
/// totals are, and says what is in no row.
fn weekly_reports_export_as_countme_totals(b: &Backend) {
    let r = Receiver::start(&b.url, None);
    let fcos = r#""id":"fedora","variant_id":"coreos","version_id":"43""#;
    for body in [
        report("weekly", fcos, "x86_64", r#","age_bucket":4"#),
        report("weekly", fcos, "x86_64", r#","age_bucket":4"#),
        report("weekly", fcos, "x86_64", r#","age_bucket":4"#),
        report(
            "weekly",
            r#""id":"fedora","version_id":"34""#,
            "armv7l",
            r#","age_bucket":1"#,
        ),
        report(
            "weekly",
            r#""id":"rhcos","variant_id":"coreos","version_id":"4.16""#,
            "aarch64",
            r#","age_bucket":2"#,
        ),
        // No age bucket: in no row (DNF always sends one).
        report("weekly", fcos, "x86_64", ""),
        // Daily and monthly reports have no tuple.
        report("daily", fcos, "s390x", r#","age_bucket":3"#),
        report("monthly", fcos, "s390x", r#","age_bucket":3"#),
    ] {
        let resp = r.post(JSON, &body);
        assert_eq!(resp.status, 202, "{}", String::from_utf8_lossy(&resp.body));
    }
    let week = period("weekly");
    let p: Period = week.parse().unwrap();
    let (monday, sunday) = (p.first_day(), p.last_day());
    assert_eq!(monday.format("%A").to_string(), "Monday");
    let (code, out, err) = run(
        &[
            "export",
            "--database",
            &b.url,
            "--format",
            "countme-totals",
            "--from",
            &week,
            "--to",
            &week,
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "{HEADER}\r\n\
             {monday},{sunday},1,Fedora,34,generic,armhfp,1,headcount,armhfp\r\n\
             {monday},{sunday},3,Fedora Linux,43,coreos,x86_64,4,headcount,x86_64\r\n\
             {monday},{sunday},1,Red Hat Enterprise Linux CoreOS,4.16,coreos,aarch64,2,headcount,aarch64\r\n"
        )
    );
    assert!(
        err.contains(&format!(
            "week {week}: 1 reports lack an OS ID, version, architecture or age and are in no row"
        )),
        "{err}"
    );
    // The raw counters hold the tuple as a cross-tabulation of the weekly period only.
    let rows = export(&b.url, "weekly", &week);
    let tuple: Vec<_> = rows.iter().filter(|(f, _, _)| f == TUPLE).collect();
    assert_eq!(tuple.len(), 4, "{rows:?}");
    assert!(
        rows.contains(&(
            TUPLE.into(),
            r#""[""fedora"",""43"",""coreos"",""x86_64"",""4""]""#.into(),
            3
        )),
        "{rows:?}"
    );
    assert!(
        export(&b.url, "daily", &period("daily"))
            .iter()
            .all(|(f, _, _)| f != TUPLE)
    );
    // The config's spellings apply: rpm-ostree's architecture names, a distribution of its own.
    let config = b.config(
        "[countme]\nos_arch = { aarch64 = \"arm64\" }\nos_names = [{ id = \"rhcos\", name = \"RHCOS\" }]\n",
    );
    let (code, out, err) = run(
        &[
            "export",
            "--database",
            &b.url,
            "--format",
            "countme-totals",
            "--from",
            &week,
            "--to",
            &week,
            "--config",
            &config.display().to_string(),
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(&format!(
            "{monday},{sunday},1,RHCOS,4.16,coreos,arm64,2,headcount,aarch64\r\n"
        )),
        "{out}"
    );
    // Usage errors: exit 2, saying what is expected.
    for args in [
        vec!["--format", "countme-totals", "--from", week.as_str()],
        vec![
            "--format",
            "countme-totals",
            "--window",
            "weekly",
            "--from",
            week.as_str(),
            "--to",
            week.as_str(),
        ],
        vec![
            "--format",
            "countme-totals",
            "--from",
            "2026-11-23",
            "--to",
            "2026-11-29",
        ],
        vec![
            "--format",
            "countme-totals",
            "--from",
            "2026-W49",
            "--to",
            "2026-W48",
        ],
        vec!["--window", "weekly", "--period", "2026-11"],
        vec!["--window", "weekly"],
        vec!["--format", "totals"],
    ] {
        let mut all = vec!["export", "--database", b.url.as_str()];
        all.extend(&args);
        let (code, out, err) = run(&all, b"");
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty() && !err.is_empty(), "{args:?}");
    }
}

/// `publish --format countme-totals` writes closed, released weeks only, each row a noisy count
/// at or above the release's threshold (never below k); rare combinations are in no row. The
/// numbers are those of the weekly release every view shows.
fn released_weeks_publish_as_countme_totals(b: &Backend) {
    let closed = week_of(21);
    let mut csv = String::from("window,period,field,value,count\n");
    for (field, value, count) in [
        ("level", "minimal", 5010),
        ("arch", "x86_64", 5000),
        ("arch", "s390x", 10),
        (
            TUPLE,
            r#""[""fedora"",""43"",""coreos"",""x86_64"",""4""]""#,
            5000,
        ),
        (
            TUPLE,
            r#""[""fedora"",""42"",""coreos"",""s390x"",""2""]""#,
            10,
        ),
    ] {
        csv.push_str(&format!("weekly,{closed},{field},{value},{count}\n"));
    }
    let (code, _, err) = run(&["import", "--database", &b.url], csv.as_bytes());
    assert_eq!(code, 0, "{err}");
    // The exact rows, for the operator.
    let w = closed.to_string();
    let (code, exact, err) = run(
        &[
            "export",
            "--database",
            &b.url,
            "--format",
            "countme-totals",
            "--from",
            &w,
            "--to",
            &w,
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        exact.contains(",5000,Fedora Linux,43,coreos,x86_64,4,headcount,x86_64\r\n"),
        "{exact}"
    );
    assert!(
        exact.contains(",10,Fedora Linux,42,coreos,s390x,2,headcount,s390x\r\n"),
        "{exact}"
    );

    // Nothing is released yet: publish without the config only reads.
    let current = period("weekly");
    let (code, out, err) = run(
        &[
            "publish",
            "--database",
            &b.url,
            "--format",
            "countme-totals",
            "--from",
            &w,
            "--to",
            &current,
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{HEADER}\r\n"));
    assert!(
        err.contains("have no release") && err.contains(&w) && err.contains(&current),
        "{err}"
    );

    // With the receiver's config, the closed week is released first.
    let config = b.config("[counts]\nk = 3\n");
    let cfg = config.display().to_string();
    let (code, out, err) = run(
        &[
            "publish",
            "--database",
            &b.url,
            "--config",
            &cfg,
            "--format",
            "countme-totals",
            "--from",
            &w,
            "--to",
            &current,
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(lines[0], HEADER);
    assert_eq!(
        lines.len(),
        3,
        "one row and the final empty string: {out:?}"
    );
    let cols: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(
        [cols[0], cols[1]],
        [
            closed.first_day().to_string(),
            closed.last_day().to_string()
        ]
    );
    assert_eq!(
        &cols[3..],
        [
            "Fedora Linux",
            "43",
            "coreos",
            "x86_64",
            "4",
            "headcount",
            "x86_64"
        ]
    );
    let hits: f64 = cols[2].parse().unwrap();
    // The open week has no release; the rare combination is in no row.
    assert!(
        err.contains("have no release (not closed yet, or nothing counted): ")
            && err.contains(&current),
        "{err}"
    );
    assert!(
        err.contains("a combination is a row only if its noisy count is at least"),
        "{err}"
    );
    assert!(!out.contains("s390x"), "{out}");

    // The same number as the weekly release, which every view serves.
    let (code, table, err) = run(
        &[
            "publish",
            "--database",
            &b.url,
            "--window",
            "weekly",
            "--from",
            &w,
            "--to",
            &w,
            "--format",
            "json",
        ],
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let j: serde_json::Value = serde_json::from_str(&table).unwrap();
    let period = &j["periods"][0];
    let shown = &period["fields"][TUPLE]["values"]["fedora|43|coreos|x86_64|4"];
    assert_eq!(shown.as_f64(), Some(hits), "{table}");
    let sigma = j["privacy"][0]["noise_scale"].as_f64().unwrap();
    assert!((hits - 5000.0).abs() <= 6.0 * sigma, "{hits}");
    assert!(
        period["fields"][TUPLE]["values"]
            .get("fedora|42|coreos|s390x|2")
            .is_none()
    );
    // Weekly releases have one cell more per report than daily ones: the tuple.
    let daily_cells = 2 * headcount_receiver::fields::known_fields().len() + 1;
    assert_eq!(j["privacy"][0]["cells_per_report"], daily_cells + 2);

    // The views serve the weekly window and the tuple like any field.
    let r = Receiver::start(&b.url, Some(&config));
    let c = r
        .get(&format!("/v1/counts?window=weekly&period={w}"))
        .json();
    assert_eq!(c["fields"][TUPLE], period["fields"][TUPLE]);
    let s = r
        .get(&format!(
            "/v1/series?window=weekly&field={}&from={w}&to={current}",
            TUPLE.replace('|', "%7C")
        ))
        .json();
    assert_eq!(s["periods"][0]["values"], period["fields"][TUPLE]["values"]);
    // A daily release has no tuple: the series says null there.
    let day = closed.first_day().to_string();
    let s = r.get(&format!(
        "/v1/series?window=daily&field={}&from={day}&to={day}",
        TUPLE.replace('|', "%7C")
    ));
    assert_eq!(s.status, 200, "{}", String::from_utf8_lossy(&s.body));
    drop(r);

    // countme-totals is weekly: another window is a usage error.
    let (code, _, err) = run(
        &[
            "publish",
            "--database",
            &b.url,
            "--window",
            "daily",
            "--format",
            "countme-totals",
            "--from",
            &day,
            "--to",
            &day,
        ],
        b"",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("countme-totals is weekly"), "{err}");
    let (code, _, err) = run(
        &["publish", "--database", &b.url, "--from", &w, "--to", &w],
        b"",
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--window is required"), "{err}");
}

/// A weekly report is accepted for the receiver's current and next week, and for the previous
/// one only within the grace after Monday 00:00 UTC.
fn weekly_periods_follow_the_acceptance_rule(b: &Backend) {
    let r = Receiver::start(&b.url, None);
    let body = |week: Period| {
        format!(
            r#"{{"schema":1,"window":"weekly","period":"{week}","level":"minimal","arch":"x86_64"}}"#
        )
    };
    let now = week_of(0);
    for (week, status) in [
        (now, 202),
        (now.next(), 202),
        (now.next().next(), 422),
        (now.prev().prev(), 422),
    ] {
        let resp = r.post(JSON, body(week).as_bytes());
        assert_eq!(
            resp.status,
            status,
            "{week}: {}",
            String::from_utf8_lossy(&resp.body)
        );
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
    weekly_reports_export_as_countme_totals,
    released_weeks_publish_as_countme_totals,
    weekly_periods_follow_the_acceptance_rule,
);
