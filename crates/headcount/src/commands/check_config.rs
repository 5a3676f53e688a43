//! `headcount check-config`: the effective settings and the file that set each value.

use std::io::Write;
use std::path::Path;

use crate::Error;
use crate::config::{self, Loaded, Settings};

/// Loads the configuration under `root`, prints it to stdout and the warnings to stderr.
pub fn run(root: &Path) -> Result<(), Error> {
    let loaded = config::load(root, &crate::known_collectors())?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    out.write_all(render(&loaded).as_bytes())?;
    Ok(())
}

/// The effective configuration as commented TOML, each value followed by its origin.
pub fn render(loaded: &Loaded) -> String {
    let s: &Settings = &loaded.settings;
    let mut out = String::new();
    match loaded.fragments.len() {
        0 => out.push_str("# No configuration fragment found: built-in defaults apply.\n"),
        n => {
            out.push_str(&format!("# Applied {n} fragment(s), later ones winning:\n"));
            for f in &loaded.fragments {
                let mask = if loaded.masks.contains(f) {
                    "  (empty: only masks the same name in lower directories)"
                } else {
                    ""
                };
                out.push_str(&format!("#   {}{mask}\n", f.display()));
            }
        }
    }
    let beyond_fragments = loaded
        .level_sources
        .iter()
        .any(|l| !matches!(l.origin, config::Origin::File { .. }));
    if loaded.level_sources.len() > 1 || beyond_fragments {
        out.push_str(
            "# Sources of the level, in precedence order (an \"off\" from any of them wins; \
             then the kernel command line; then the later fragment):\n",
        );
        for l in &loaded.level_sources {
            out.push_str(&format!("#   {}: {}\n", l.origin, l.level));
        }
    }
    let mut section = "";
    for row in config::rows(s) {
        if row.section != section {
            section = row.section;
            out.push_str(&format!("\n[{section}]\n"));
        }
        let origin = loaded.origin(row.section, row.key);
        match row.value {
            Some(v) => out.push_str(&format!("{} = {v}  # {origin}\n", row.key)),
            None => out.push_str(&format!(
                "# {}: not set ({origin}): {}\n",
                row.key, row.unset
            )),
        }
    }

    out.push('\n');
    match (s.why_silent(), &s.endpoint) {
        (Some(why), _) => out.push_str(&format!("# Nothing will be sent: {why}.\n")),
        (None, Some(endpoint)) => out.push_str(&format!(
            "# One report per {} period at level {} will be sent to {endpoint}.\n",
            s.windows, s.level
        )),
        (None, None) => {}
    }
    out
}
