//! Where the daemon gets the bytes it posts: the collectors, behind a small trait so that the
//! schedule and the sender can be tested without them.

use std::path::Path;

use chrono::{DateTime, Utc};
use headcount_report::Window;

use crate::config::Settings;

/// Builds the exact request body of a report.
pub trait ReportSource {
    /// The body for `window` at `now` (the period containing `now`), exactly as posted
    /// (`headcount preview --json` without its final newline); `None` when nothing is to be
    /// reported.
    fn body(
        &self,
        root: &Path,
        settings: &Settings,
        window: Window,
        now: DateTime<Utc>,
    ) -> Option<Vec<u8>>;
}

/// The real collectors (`headcount_collect`): the same bytes `headcount preview --json` prints,
/// without its final newline.
pub struct Collectors;

impl ReportSource for Collectors {
    fn body(
        &self,
        root: &Path,
        settings: &Settings,
        window: Window,
        now: DateTime<Utc>,
    ) -> Option<Vec<u8>> {
        headcount_collect::build_report_with(
            root,
            settings.level,
            &settings.exclude,
            &settings.rules,
            window,
            now,
        )
        .map(|r| r.to_body())
    }
}
