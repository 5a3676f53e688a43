//! `headcount preview` and `headcount schema`: what would be sent, and the contract it follows.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use headcount_collect::MetadataSource;

use crate::Error;
use crate::cli::PreviewArgs;
use crate::config;
use crate::metadata::{self, MetadataClient};

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
    // The metadata service is asked as the daemon would ask it, and never where the daemon
    // would not: at level off, without an endpoint, for another root than this host's.
    let not_asked = metadata::why_not_asked(root, settings, level);
    let client = not_asked
        .is_none()
        .then(|| Arc::new(MetadataClient::new()) as Arc<dyn MetadataSource>);
    let Some(collection) = headcount_collect::build_collection(
        root,
        level,
        &settings.exclude,
        &settings.rules,
        args.window,
        now,
        client,
    ) else {
        eprintln!("Level is off: nothing would be collected and nothing would be sent.");
        return Ok(());
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        out.write_all(&collection.report.to_body())?;
        out.write_all(b"\n")?;
    } else {
        out.write_all(headcount_collect::render_text(&collection).as_bytes())?;
    }
    out.flush()?;
    if let (Some(provider), Some(why)) = (collection.metadata_not_asked, not_asked) {
        eprintln!(
            "note: no file holds the instance type; the daemon would ask the {provider} metadata \
             service for it, but this preview did not: {why}."
        );
    }
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
