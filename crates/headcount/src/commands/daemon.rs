//! `headcount daemon`: the thin async loop around the schedule.
//!
//! Load config (exit 78 when invalid) -> at level off or without endpoint: say so, READY=1,
//! exit 0 -> load state -> READY=1 -> loop { ask the schedule; send, or sleep on the wall-clock
//! timer until the next due time, a clock change or a signal }. One thread (tokio
//! `current_thread`), one timerfd, no interval unless systemd asks for a watchdog.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use headcount_report::{Level, Period, Window};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{debug, error, info, warn};

use crate::Error;
use crate::clock;
use crate::config::{self, Settings, redact};
use crate::logging::{MESSAGE_ID_NOTHING_SENT, MESSAGE_ID_REFUSED, MESSAGE_ID_SENT};
use crate::motd::{Notice, RUNTIME_DIRECTORY_ENV};
use crate::notify;
use crate::report_source::Collectors;
use crate::schedule::{self, Action, Outcome, Recorded, Schedule, Timing};
use crate::send::{self, Verdict};
use crate::state::{STATE_DIRECTORY_ENV, State, StateFile};
use crate::timer::{Wake, WallTimer};

/// Where an operator reads what each collected field means.
pub const COLLECTED_DATA_DOC: &str = "https://github.com/headcount-project/headcount/blob/main/docs/usage/collected-data.md (or `headcount preview`)";
/// Where an operator reads why nothing is sent and how to change it.
pub const OPERATIONS_DOC: &str =
    "https://github.com/headcount-project/headcount/blob/main/docs/usage/operations.md";
/// How long an idle blocking thread (DNS lookups) lingers after a send.
pub const BLOCKING_THREAD_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the daemon until SIGTERM/SIGINT (or until it decides there is nothing to do).
pub fn run(root: &Path, source: &Collectors) -> Result<(), Error> {
    let loaded = config::load(root, &crate::known_collectors())?;
    for w in &loaded.warnings {
        warn!("{w}");
    }
    let settings = loaded.settings;
    if announce(&settings) == Announce::NothingToDo {
        notify::ready("nothing will be sent (level off or no endpoint)");
        return Ok(());
    }
    let state_file = StateFile::locate(root, std::env::var(STATE_DIRECTORY_ENV).ok().as_deref());
    for stale in state_file.remove_stale_temporaries() {
        debug!("removed the stale temporary state file {}", stale.display());
    }
    let state = match state_file.load() {
        Ok(s) => s,
        Err(e) => {
            warn!(
                "the state file {} is {e}; starting from an empty state, which replaces it when the next report is settled",
                state_file.path().display()
            );
            State::default()
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        // The resolver runs getaddrinfo on a blocking thread; let it go soon after a send
        // instead of tokio's default 10 s, so the idle daemon is one thread.
        .thread_keep_alive(BLOCKING_THREAD_KEEP_ALIVE)
        .build()
        .map_err(Error::Setup)?;
    let notice = Notice::locate(std::env::var(RUNTIME_DIRECTORY_ENV).ok().as_deref());
    notice.update(&settings);
    let daemon = Daemon {
        root: root.to_path_buf(),
        notice,
        settings,
        state,
        state_file,
        schedule: Schedule::new(schedule::plausible_from()),
        rng: StdRng::from_os_rng(),
        source,
    };
    runtime.block_on(daemon.serve()).map_err(Error::Setup)
}

#[derive(Debug, PartialEq, Eq)]
enum Announce {
    Sending,
    NothingToDo,
}

/// The one start (or reload) line: the level and where the fields are documented, or that
/// nothing will be sent and where to read why.
fn announce(settings: &Settings) -> Announce {
    match (&settings.endpoint, settings.level) {
        (_, Level::Off) => {
            info!(
                message_id = MESSAGE_ID_NOTHING_SENT,
                headcount_level = settings.level.as_str(),
                "level is off: nothing will be collected or sent, no state is written; see {OPERATIONS_DOC}"
            );
            Announce::NothingToDo
        }
        (None, level) => {
            info!(
                message_id = MESSAGE_ID_NOTHING_SENT,
                headcount_level = level.as_str(),
                "no endpoint is configured: nothing will be collected or sent, no state is written; see {OPERATIONS_DOC}"
            );
            Announce::NothingToDo
        }
        (Some(endpoint), level) => {
            let via = settings
                .proxy
                .as_ref()
                .map(|p| format!(" via proxy {p}"))
                .unwrap_or_default();
            info!(
                headcount_level = level.as_str(),
                "headcount {} reporting at level {level} to {}{via}; the collected fields are documented at {COLLECTED_DATA_DOC}",
                env!("CARGO_PKG_VERSION"),
                redact(endpoint),
            );
            Announce::Sending
        }
    }
}

struct Daemon<'a> {
    root: PathBuf,
    /// The login notice, kept in step with the settings.
    notice: Notice,
    settings: Settings,
    state: State,
    state_file: StateFile,
    schedule: Schedule,
    rng: StdRng,
    source: &'a Collectors,
}

/// What is left to do after a reload.
#[derive(Debug, PartialEq, Eq)]
enum Reload {
    /// Keep reporting, with the new settings (or the old ones, when the new are invalid).
    KeepGoing,
    /// The new settings send nothing: stop.
    ReportingOff,
}

/// Why the loop ends.
enum Stop {
    /// SIGTERM or SIGINT.
    Terminated,
    /// A reload turned reporting off.
    ReportingOff,
}

/// The signals the loop answers, and the watchdog ping.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    watchdog: Option<tokio::time::Interval>,
}

/// Waits for the next watchdog ping, or forever without a watchdog.
async fn watchdog_tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Daemon<'_> {
    /// The loop; fails only when the timer or the signal handlers fail.
    async fn serve(mut self) -> std::io::Result<()> {
        let mut signals = Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            watchdog: notify::watchdog_interval().map(tokio::time::interval),
        };
        let mut timer = WallTimer::new()?;
        // READY=1 goes out with the first status line, and again with the first one after a
        // reload (which ends it), so systemd always holds the whole line.
        let mut ready_due = true;
        let mut last_status = String::new();
        let mut clock_warned = false;
        loop {
            let now = clock::now();
            self.check_clock(now, &mut clock_warned);
            self.reconcile(now);
            let timing = Timing::from(&self.settings);
            let action = self
                .schedule
                .decide(&self.state, now, &timing, &mut self.rng);
            let line = status_line(&self.settings, &self.state, &self.schedule, action, now);
            if ready_due {
                notify::ready(&line);
                ready_due = false;
            } else if line != last_status {
                notify::status(&line);
            }
            last_status = line;
            let stop = match action {
                Action::Send { window, period } => {
                    self.send(window, period, &mut signals).await.err()
                }
                Action::Sleep { until } => {
                    debug!("sleeping until {until}");
                    tokio::select! {
                        wake = timer.sleep_until(until) => {
                            if wake? == Wake::ClockChanged {
                                debug!("the wall clock was set; recomputing the schedule");
                            }
                            None
                        }
                        _ = signals.term.recv() => Some(Stop::Terminated),
                        _ = signals.int.recv() => Some(Stop::Terminated),
                        _ = signals.hup.recv() => {
                            ready_due = true;
                            (self.reload() == Reload::ReportingOff).then_some(Stop::ReportingOff)
                        }
                        _ = watchdog_tick(&mut signals.watchdog) => {
                            notify::watchdog();
                            None
                        }
                    }
                }
            };
            match stop {
                Some(Stop::Terminated) => return self.stop(),
                Some(Stop::ReportingOff) => {
                    notify::stopping();
                    return Ok(());
                }
                None => {}
            }
        }
    }

    fn stop(&self) -> std::io::Result<()> {
        notify::stopping();
        self.notice.clear();
        info!("stopping");
        Ok(())
    }

    /// Logs once that the clock is implausible (nothing is sent until it is set), and once that
    /// it is plausible again.
    fn check_clock(&self, now: DateTime<Utc>, warned: &mut bool) {
        let from = self.schedule.plausible_from();
        match (self.schedule.plausible(now), *warned) {
            (false, false) => {
                warn!(
                    "the clock reads {}, before this build's date {}: nothing is sent until the clock is set (NTP, or a battery-backed clock)",
                    now.format("%Y-%m-%d %H:%M:%S UTC"),
                    from.format("%Y-%m-%d"),
                );
                *warned = true;
            }
            (true, true) => {
                info!(
                    "the clock is set ({}): reporting resumes",
                    now.format("%Y-%m-%d %H:%M:%S UTC")
                );
                *warned = false;
            }
            _ => {}
        }
    }

    /// Applies the future-state rule (see [`schedule::reconcile_future`]), only against a
    /// plausible clock: a clock before the build date would make every real state look
    /// "future" and have it reset to periods years ago.
    fn reconcile(&mut self, now: DateTime<Utc>) {
        if !self.schedule.plausible(now) {
            return;
        }
        if let Some(fixed) = schedule::reconcile_future(&self.state, now) {
            warn!(
                "the state file records periods far in the future ({}); the clock must have jumped: treating the current periods as settled and reporting again from the next ones",
                self.state.to_json().trim_end()
            );
            self.state = fixed;
            self.persist();
        }
    }

    fn persist(&mut self) {
        if let Err(e) = self.state_file.store(&self.state, &mut self.rng) {
            error!(
                "cannot write the state file {}: {e}; a restart may send this period again",
                self.state_file.path().display()
            );
        }
    }

    /// SIGHUP: re-read the config. An invalid one is logged and the old one kept. The loop then
    /// sends READY=1 with the new status line.
    fn reload(&mut self) -> Reload {
        notify::reloading();
        match config::load(&self.root, &crate::known_collectors()) {
            Err(e) => {
                error!("the new configuration is invalid, keeping the old one: {e}");
            }
            Ok(loaded) => {
                for w in &loaded.warnings {
                    warn!("{w}");
                }
                if announce(&loaded.settings) == Announce::NothingToDo {
                    self.notice.clear();
                    notify::ready("nothing will be sent (level off or no endpoint)");
                    return Reload::ReportingOff;
                }
                info!("configuration reloaded");
                self.settings = loaded.settings;
                self.notice.update(&self.settings);
            }
        }
        Reload::KeepGoing
    }

    /// Collects, posts, logs and records one report. A signal to stop, or a reload that turns
    /// reporting off, abandons the request and leaves the state untouched.
    async fn send(
        &mut self,
        window: Window,
        period: Period,
        signals: &mut Signals,
    ) -> Result<(), Stop> {
        let now = clock::now();
        if !period.contains(now) {
            // The clock crossed a period boundary (or was set) since the decision: the body
            // would name another period than the one recorded. Decide again.
            debug!("{period} is no longer the current {window} period; recomputing");
            return Ok(());
        }
        let Some(body) = self.source.body(&self.root, &self.settings, window, now) else {
            let outcome = Outcome::Failed {
                reason: "no report could be built".to_owned(),
                retry_after: None,
            };
            if self.record(window, period, &outcome).warn {
                warn!("no {window} report could be built for {period}; trying again later");
            }
            return Ok(());
        };
        let text = String::from_utf8_lossy(&body).into_owned();
        // The request keeps the settings it started with; a reload meanwhile may replace
        // `self.settings`.
        let settings = self.settings.clone();
        let answer = self.post(&settings, body, window, period, signals).await?;
        let outcome = log_answer(&settings, &answer, window, period, &text);
        release_memory();
        let recorded = self.record(window, period, &outcome);
        if recorded.settle {
            self.state.set(window, period);
            self.persist();
        } else if recorded.warn {
            warn!(
                headcount_window = window.as_str(),
                headcount_period = %period,
                "could not send the {window} report for {period}: {}; retrying until the period ends (further failures are logged at debug level)",
                answer.detail
            );
        } else {
            debug!(
                "{window} report for {period} failed again: {}",
                answer.detail
            );
        }
        Ok(())
    }

    /// Posts `body` and waits for the answer, serving signals and the watchdog meanwhile.
    async fn post(
        &mut self,
        settings: &Settings,
        body: Vec<u8>,
        window: Window,
        period: Period,
        signals: &mut Signals,
    ) -> Result<send::Answer, Stop> {
        let root = self.root.clone();
        let fut = send::send(&root, settings, body);
        tokio::pin!(fut);
        loop {
            tokio::select! {
                a = &mut fut => return Ok(a),
                _ = signals.term.recv() => return Err(Stop::Terminated),
                _ = signals.int.recv() => return Err(Stop::Terminated),
                // A reload is applied at once, not after the answer: when it turns reporting
                // off (`headcount level off` waits for this), the request in flight is dropped
                // unanswered, so it never counts as sent. Otherwise it goes on.
                _ = signals.hup.recv() => {
                    if self.reload() == Reload::ReportingOff {
                        info!("abandoned the {window} report for {period} in flight: reporting was turned off");
                        return Err(Stop::ReportingOff);
                    }
                    // READY=1 ends the reload now, with the whole status line, as the loop
                    // does after a reload while sleeping.
                    let action = Action::Send { window, period };
                    notify::ready(&status_line(&self.settings, &self.state, &self.schedule, action, clock::now()));
                }
                _ = watchdog_tick(&mut signals.watchdog) => notify::watchdog(),
            }
        }
    }

    /// Tells the schedule how sending `period` of `window` ended.
    fn record(&mut self, window: Window, period: Period, outcome: &Outcome) -> Recorded {
        self.schedule
            .record(window, period, outcome, clock::now(), &mut self.rng)
    }
}

/// Logs the receiver's answer (the report itself at info when accepted) and says what it means
/// for the schedule.
fn log_answer(
    settings: &Settings,
    answer: &send::Answer,
    window: Window,
    period: Period,
    text: &str,
) -> Outcome {
    let level = settings.level;
    // Where the report really went: the endpoint, or where a same-origin redirect led.
    let url = answer
        .url
        .as_ref()
        .or(settings.endpoint.as_ref())
        .map(redact)
        .unwrap_or_default();
    // The journal fields every answer to a report carries: its message id, then the window,
    // period and level of the report; more fields and the message follow.
    macro_rules! log_answer_event {
        ($log:ident, $id:expr, $($rest:tt)+) => {
            $log!(
                message_id = $id,
                headcount_window = window.as_str(),
                headcount_period = %period,
                headcount_level = level.as_str(),
                $($rest)+
            )
        };
    }
    match answer.verdict {
        Verdict::Accepted => {
            log_answer_event!(
                info,
                MESSAGE_ID_SENT,
                headcount_report = text,
                "sent {window} report for {period} ({level}) to {url}"
            );
            Outcome::Accepted
        }
        Verdict::Refused => {
            log_answer_event!(
                warn,
                MESSAGE_ID_REFUSED,
                "the receiver at {url} refused the {window} report for {period} ({}); not retrying it this period",
                answer.detail
            );
            Outcome::Refused
        }
        Verdict::Retry => Outcome::Failed {
            reason: answer.detail.clone(),
            retry_after: answer.retry_after,
        },
    }
}

/// Hands freed heap pages back to the kernel after a send. Building a TLS client parses the
/// system's trust store (hundreds of KiB); glibc would keep those pages for the hours the daemon
/// then sleeps.
fn release_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes no pointers; it only walks the allocator's own free lists.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The `STATUS=` line: level, last settled periods, next due time (or that the clock is not
/// plausible yet), last failure.
pub fn status_line(
    settings: &Settings,
    state: &State,
    schedule: &Schedule,
    next: Action,
    now: DateTime<Utc>,
) -> String {
    let mut parts = vec![format!("level {}", settings.level)];
    let settled: Vec<String> = settings
        .windows
        .iter()
        .map(|w| match state.get(w) {
            Some(p) => format!("{w} {p}"),
            None => format!("{w} none yet"),
        })
        .collect();
    parts.push(format!("last settled: {}", settled.join(", ")));
    match next {
        _ if !schedule.plausible(now) => parts.push(format!(
            "waiting for the clock: it reads {}, before this build's date {}",
            now.format("%Y-%m-%d %H:%M UTC"),
            schedule.plausible_from().format("%Y-%m-%d")
        )),
        Action::Send { window, period } => parts.push(format!("sending {window} {period}")),
        Action::Sleep { until } => parts.push(format!(
            "next due {}",
            until.format("%Y-%m-%d %H:%M:%S UTC")
        )),
    }
    for (window, failure) in schedule.last_failures() {
        parts.push(format!("last {window} failure: {failure}"));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_says_level_settled_periods_next_due_and_failures() {
        let settings = Settings::default();
        let mut state = State::default();
        state.set(Window::Daily, "2026-11-23".parse().unwrap());
        let mut schedule = Schedule::new(schedule::plausible_from());
        let mut rng = StdRng::seed_from_u64(1);
        let now = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        schedule.record(
            Window::Monthly,
            "2026-11".parse().unwrap(),
            &Outcome::Failed {
                reason: "could not connect".into(),
                retry_after: None,
            },
            now,
            &mut rng,
        );
        let until = DateTime::parse_from_rfc3339("2026-11-24T03:12:09Z")
            .unwrap()
            .with_timezone(&Utc);
        let line = status_line(&settings, &state, &schedule, Action::Sleep { until }, now);
        assert_eq!(
            line,
            "level minimal; last settled: daily 2026-11-23, monthly none yet; \
             next due 2026-11-24 03:12:09 UTC; last monthly failure: could not connect"
        );
    }

    #[test]
    fn status_line_says_when_it_waits_for_the_clock_instead_of_a_due_time() {
        let settings = Settings::default();
        let from = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut schedule = Schedule::new(from);
        let now = DateTime::parse_from_rfc3339("2020-01-01T00:00:10Z")
            .unwrap()
            .with_timezone(&Utc);
        let timing = Timing {
            windows: crate::windows::Windows::DEFAULT,
            max_startup_delay: std::time::Duration::ZERO,
            max_rollover_delay: std::time::Duration::ZERO,
        };
        let state = State::default();
        let action = schedule.decide(&state, now, &timing, &mut StdRng::seed_from_u64(1));
        let line = status_line(&settings, &state, &schedule, action, now);
        assert_eq!(
            line,
            "level minimal; last settled: daily none yet, monthly none yet; \
             waiting for the clock: it reads 2020-01-01 00:00 UTC, before this build's date 2026-11-01"
        );
    }

    #[test]
    fn announce_tells_whether_anything_is_sent() {
        let mut s = Settings::default();
        assert_eq!(announce(&s), Announce::NothingToDo, "no endpoint");
        s.endpoint = Some("https://counter.example/report".parse().unwrap());
        assert_eq!(announce(&s), Announce::Sending);
        s.level = Level::Off;
        assert_eq!(announce(&s), Announce::NothingToDo);
    }
}
