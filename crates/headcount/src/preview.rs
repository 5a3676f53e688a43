//! `headcount preview` and `headcount schema`: what would be sent, and the contract it follows.

use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};

use crate::Error;
use crate::cli::PreviewArgs;
use crate::config;

/// Collects the report of the current period under `root` and prints it: readable by default,
/// the exact body with `--json`. Never sends and never writes state.
pub fn run(root: &Path, args: &PreviewArgs, now: DateTime<Utc>) -> Result<(), Error> {
    // The configuration decides the level and the exclusions; an invalid one fails as in
    // check-config, so a preview never shows what a broken daemon would not send.
    let loaded = config::load(root, &crate::known_collectors())?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let settings = &loaded.settings;
    let level = args.level.unwrap_or(settings.level);
    let Some(report) = headcount_collect::build_report_with(
        root,
        level,
        &settings.exclude,
        &settings.rules,
        args.window,
        now,
    ) else {
        eprintln!("Level is off: nothing would be collected and nothing would be sent.");
        return Ok(());
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        out.write_all(&report.to_body())?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(headcount_collect::render_text(&report).as_bytes())?;
    }
    out.flush()?;
    if !settings.windows.contains(args.window) {
        eprintln!(
            "note: the {} window is not configured ([reporting] windows reports {}): the daemon \
             sends no such report.",
            args.window, settings.windows
        );
    }
    if args.level.is_some_and(|l| l != settings.level) {
        eprintln!(
            "note: previewed at level {level}; the configured level is {}.",
            settings.level
        );
    }
    Ok(())
}

/// Prints the JSON Schema of the report this machine sends: the contract's, with the
/// os-release names the configuration under `root` adds to the known ones.
pub fn schema(root: &Path) -> Result<(), Error> {
    let loaded = config::load(root, &crate::known_collectors())?;
    let schema = headcount_report::schema_with(&loaded.settings.rules);
    let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")?;
    Ok(())
}
