//! `headcount status [--json]`: what the daemon is set to do, from config and state alone
//! (no network, nothing written).

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use headcount_report::{Level, Period, Window};
use serde::Serialize;

use crate::config::Settings;
use crate::config::redact;
use crate::schedule::{self, Timing};
use crate::state::{State, StateFile};

/// The whole status, as `--json` prints it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    /// The effective level.
    pub level: Level,
    /// Whether anything will be sent (a level other than off and an endpoint).
    pub sending: bool,
    /// The endpoint, without credentials.
    pub endpoint: Option<String>,
    /// The configured proxy, credentials redacted; `null` means the environment decides.
    pub proxy: Option<String>,
    /// The state file read.
    pub state_file: String,
    /// Why the state file could not be used, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_error: Option<String>,
    /// The wall clock, and whether it is believed.
    pub clock: Clock,
    /// Per configured window: last settled period and the next due time.
    pub windows: Vec<WindowStatus>,
    /// The login notice the running service shows (`null` when nothing is sent).
    pub notice: Option<String>,
}

/// The wall clock as the daemon judges it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Clock {
    /// What it reads.
    pub now: DateTime<Utc>,
    /// Whether it is at or after `plausible_from`; while it is not, nothing is sent and no due
    /// time is shown.
    pub plausible: bool,
    /// This build's date: the earliest time the daemon believes.
    pub plausible_from: DateTime<Utc>,
}

/// One window's line.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WindowStatus {
    /// The window.
    pub window: Window,
    /// The last period accepted or refused by the receiver.
    pub last_settled: Option<Period>,
    /// The next period to report (none when nothing is sent).
    pub next_period: Option<Period>,
    /// The earliest time it may be sent (the daemon adds a random delay of up to
    /// `max_delay_secs`).
    pub next_due: Option<DateTime<Utc>>,
    /// The upper bound of that random delay.
    pub max_delay_secs: Option<u64>,
}

/// Computes the status from `settings` and the state file, with the clock reading `now` and
/// believed from `plausible_from` on.
pub fn status(
    settings: &Settings,
    state_file: &StateFile,
    now: DateTime<Utc>,
    plausible_from: DateTime<Utc>,
) -> Status {
    let (state, state_error) = match state_file.load() {
        Ok(s) => (s, None),
        Err(e) => (State::default(), Some(e.to_string())),
    };
    let sending = settings.sends();
    let plausible = now >= plausible_from;
    let timing = Timing::from(settings);
    let windows = settings
        .windows
        .iter()
        .map(|window| {
            let last = state.get(window);
            // Before the clock is set, the period to report is unknown and nothing is due.
            let next = (sending && plausible).then(|| schedule::next(&state, window, now, &timing));
            WindowStatus {
                window,
                last_settled: last,
                next_period: next.map(|n| n.period),
                next_due: next.map(|n| n.earliest),
                max_delay_secs: next.map(|n| n.max_delay.as_secs()),
            }
        })
        .collect();
    Status {
        level: settings.level,
        sending,
        endpoint: settings.endpoint.as_ref().map(redact),
        proxy: settings.proxy.as_ref().map(|p| p.to_string()),
        state_file: state_file.path().display().to_string(),
        state_error,
        clock: Clock {
            now,
            plausible,
            plausible_from,
        },
        windows,
        notice: crate::motd::text(settings),
    }
}

/// The human-readable form.
pub fn render(s: &Status) -> String {
    let mut out = String::new();
    let line = |out: &mut String, k: &str, v: &str| out.push_str(&format!("{k:<12} {v}\n"));
    line(&mut out, "level:", s.level.as_str());
    line(
        &mut out,
        "endpoint:",
        s.endpoint.as_deref().unwrap_or("none (nothing is sent)"),
    );
    line(
        &mut out,
        "proxy:",
        s.proxy
            .as_deref()
            .unwrap_or("none configured (HTTPS_PROXY/NO_PROXY of the service apply)"),
    );
    line(&mut out, "state file:", &s.state_file);
    if let Some(e) = &s.state_error {
        line(&mut out, "state error:", e);
    }
    if !s.clock.plausible {
        line(
            &mut out,
            "clock:",
            &format!(
                "reads {}, before this build's date {}: nothing is sent until the clock is set",
                s.clock.now.format("%Y-%m-%d %H:%M UTC"),
                s.clock.plausible_from.format("%Y-%m-%d")
            ),
        );
    }
    for w in &s.windows {
        let last = w
            .last_settled
            .map_or_else(|| "none yet".to_owned(), |p| p.to_string());
        let next = match (w.next_period, w.next_due) {
            (Some(p), Some(due)) => format!(
                "{p} from {} (+ up to {} s random delay)",
                due.format("%Y-%m-%d %H:%M UTC"),
                w.max_delay_secs.unwrap_or(0)
            ),
            _ if s.sending => "once the clock is set".to_owned(),
            _ => "never (nothing is sent)".to_owned(),
        };
        line(
            &mut out,
            &format!("{}:", w.window),
            &format!("last settled {last}; next {next}"),
        );
    }
    match &s.notice {
        Some(notice) => {
            out.push('\n');
            out.push_str(notice);
        }
        None => out.push_str("\nNothing is sent: no login notice is shown.\n"),
    }
    out
}

/// Loads the config and state under `root` and prints the status to stdout.
pub fn run(root: &Path, json: bool) -> Result<(), crate::Error> {
    let loaded = crate::config::load(root, &crate::known_collectors())?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let text = text(root, &loaded.settings, json);
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// The status text (`json`: pretty JSON) for `settings` and the state under `root`.
pub fn text(root: &Path, settings: &Settings, json: bool) -> String {
    let state_file = StateFile::locate(
        root,
        std::env::var(crate::state::STATE_DIRECTORY_ENV)
            .ok()
            .as_deref(),
    );
    let s = status(
        settings,
        &state_file,
        crate::clock::now(),
        crate::schedule::plausible_from(),
    );
    if json {
        let mut text = serde_json::to_string_pretty(&s).unwrap_or_default();
        text.push('\n');
        text
    } else {
        render(&s)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::config::Settings;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn from() -> DateTime<Utc> {
        at("2026-11-01T00:00:00Z")
    }

    fn settings_with_proxy(root: &Path) -> Settings {
        std::fs::create_dir_all(root.join("etc/headcount/config.d")).unwrap();
        std::fs::write(
            root.join("etc/headcount/config.d/50.toml"),
            "[reporting]\nendpoint = \"https://counter.example/report\"\n\
             proxy = \"http://user:hunter2@proxy.example:3128\"\n",
        )
        .unwrap();
        crate::config::load(root, &[]).unwrap().settings
    }

    /// A root with an endpoint and a proxy, and a state file that settled `periods`.
    fn settled(periods: &[(Window, &str)]) -> (tempfile::TempDir, Settings, StateFile) {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings_with_proxy(dir.path());
        let file = StateFile::locate(dir.path(), None);
        if !periods.is_empty() {
            let mut state = State::default();
            for (window, period) in periods {
                state.set(*window, period.parse().unwrap());
            }
            file.store(&state, &mut StdRng::seed_from_u64(1)).unwrap();
        }
        (dir, settings, file)
    }

    #[test]
    fn shows_last_settled_and_next_due_and_hides_proxy_credentials() {
        let (_dir, settings, file) = settled(&[(Window::Daily, "2026-11-23")]);
        let s = status(&settings, &file, at("2026-11-23T10:00:00Z"), from());
        assert!(s.sending);
        let daily = &s.windows[0];
        assert_eq!(
            daily.last_settled.map(|p| p.to_string()).as_deref(),
            Some("2026-11-23")
        );
        assert_eq!(daily.next_due, Some(at("2026-11-24T00:00:00Z")));
        let monthly = &s.windows[1];
        assert_eq!(monthly.last_settled, None);
        assert_eq!(monthly.next_due, Some(at("2026-11-23T10:00:00Z")));
        let text = render(&s);
        let json = serde_json::to_string(&s).unwrap();
        for out in [&text, &json] {
            assert!(!out.contains("hunter2") && !out.contains("user"), "{out}");
            assert!(out.contains("proxy.example:3128"), "{out}");
        }
        assert!(text.contains("last settled 2026-11-23"), "{text}");
        // The login notice's two lines, as the running service shows them.
        assert!(
            text.ends_with(&crate::motd::text(&settings).unwrap()),
            "{text}"
        );
        assert!(
            text.contains("reports anonymous counts at level minimal to counter.example."),
            "{text}"
        );
    }

    #[test]
    fn the_weekly_window_shows_when_configured() {
        let (_dir, mut settings, file) = settled(&[(Window::Weekly, "2026-W48")]);
        let now = at("2026-11-25T10:00:00Z");
        let shown = |s: &Status| s.windows.iter().map(|w| w.window).collect::<Vec<_>>();
        assert_eq!(
            shown(&status(&settings, &file, now, from())),
            [Window::Daily, Window::Monthly]
        );
        settings.windows = crate::windows::Windows::ALL;
        let s = status(&settings, &file, now, from());
        assert_eq!(shown(&s), Window::ALL);
        let weekly = &s.windows[1];
        assert_eq!(
            weekly.next_period.map(|p| p.to_string()).as_deref(),
            Some("2026-W49")
        );
        assert_eq!(weekly.next_due, Some(at("2026-11-30T00:00:00Z")));
        assert!(
            render(&s).contains(
                "weekly:      last settled 2026-W48; next 2026-W49 from 2026-11-30 00:00 UTC"
            ),
            "{}",
            render(&s)
        );
    }

    #[test]
    fn a_state_beyond_the_future_horizon_shows_what_the_schedule_does() {
        let (_dir, settings, file) = settled(&[
            // A clock that once jumped months ahead: the schedule resets the record to the
            // current month, so the next report is December's, not the month after the record.
            (Window::Monthly, "2027-03"),
            // Within the horizon, a record is honoured until the clock passes it.
            (Window::Daily, "2026-11-25"),
        ]);
        let s = status(&settings, &file, at("2026-11-23T10:00:00Z"), from());
        let next: Vec<String> = s
            .windows
            .iter()
            .map(|w| format!("{}", w.next_period.unwrap()))
            .collect();
        assert_eq!(next, ["2026-11-26", "2026-12"]);
        assert_eq!(s.windows[1].next_due, Some(at("2026-12-01T00:00:00Z")));
    }

    #[test]
    fn a_corrupt_state_is_reported_not_fatal() {
        let (_dir, settings, file) = settled(&[]);
        std::fs::create_dir_all(file.path().parent().unwrap()).unwrap();
        std::fs::write(file.path(), "{").unwrap();
        let s = status(&settings, &file, at("2026-11-23T10:00:00Z"), from());
        assert!(s.state_error.is_some());
        assert!(s.windows.iter().all(|w| w.last_settled.is_none()));
    }

    #[test]
    fn an_implausible_clock_shows_no_due_time() {
        let (_dir, settings, file) = settled(&[]);
        let s = status(&settings, &file, at("2020-01-01T00:00:00Z"), from());
        assert!(s.sending && !s.clock.plausible);
        assert!(
            s.windows
                .iter()
                .all(|w| w.next_due.is_none() && w.next_period.is_none())
        );
        let text = render(&s);
        assert!(
            text.contains(
                "clock:       reads 2020-01-01 00:00 UTC, before this build's date 2026-11-01: \
                 nothing is sent until the clock is set"
            ),
            "{text}"
        );
        assert!(text.contains("next once the clock is set"), "{text}");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["clock"]["plausible"], false);
        assert_eq!(json["clock"]["plausible_from"], "2026-11-01T00:00:00Z");
    }
}
