//! Where the daemon gets the bytes it posts: the collectors, behind a small trait so that the
//! schedule and the sender can be tested without them.

use std::path::Path;

use chrono::{DateTime, Utc};
use headcount_report::{Period, Window};

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

/// STAND-IN until the collectors land: the envelope of a report without facts.
pub struct Collectors;

impl ReportSource for Collectors {
    fn body(
        &self,
        _root: &Path,
        settings: &Settings,
        window: Window,
        now: DateTime<Utc>,
    ) -> Option<Vec<u8>> {
        let period = Period::containing(window, now);
        Some(
            format!(
                "{{\"schema\":1,\"window\":\"{window}\",\"period\":\"{period}\",\"level\":\"{}\"}}",
                settings.level
            )
            .into_bytes(),
        )
    }
}
