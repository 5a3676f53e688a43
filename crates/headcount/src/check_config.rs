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
    let line = |out: &mut String, section: &str, key: &str, value: Option<String>, unset: &str| {
        let origin = loaded.origin(section, key);
        match value {
            Some(v) => out.push_str(&format!("{key} = {v}  # {origin}\n")),
            None => out.push_str(&format!("# {key}: not set ({origin}): {unset}\n")),
        }
    };
    let quote = |v: &str| toml::Value::String(v.to_owned()).to_string();

    out.push_str("\n[collecting]\n");
    line(
        &mut out,
        "collecting",
        "level",
        Some(quote(s.level.as_str())),
        "",
    );
    let exclude: Vec<String> = s.exclude.iter().map(|e| quote(e)).collect();
    line(
        &mut out,
        "collecting",
        "exclude",
        Some(format!("[{}]", exclude.join(", "))),
        "",
    );
    let names: Vec<String> = s.rules.extra_os_names().iter().map(|n| quote(n)).collect();
    line(
        &mut out,
        "collecting",
        "known_os_names",
        Some(format!("[{}]", names.join(", "))),
        "",
    );

    out.push_str("\n[reporting]\n");
    line(
        &mut out,
        "reporting",
        "endpoint",
        s.endpoint.as_ref().map(|u| quote(u.as_str())),
        "nothing will be sent",
    );
    line(
        &mut out,
        "reporting",
        "proxy",
        s.proxy.as_ref().map(|p| quote(&p.to_string())),
        "the proxy environment variables apply",
    );
    line(
        &mut out,
        "reporting",
        "ca_file",
        s.ca_file.as_ref().map(|p| quote(&p.display().to_string())),
        "the system trust roots only",
    );
    line(
        &mut out,
        "reporting",
        "timeout_secs",
        Some(s.timeout.as_secs().to_string()),
        "",
    );
    line(
        &mut out,
        "reporting",
        "max_startup_delay_secs",
        Some(s.max_startup_delay.as_secs().to_string()),
        "",
    );
    line(
        &mut out,
        "reporting",
        "max_rollover_delay_secs",
        Some(s.max_rollover_delay.as_secs().to_string()),
        "",
    );
    line(
        &mut out,
        "reporting",
        "allow_plain_http",
        Some(s.allow_plain_http.to_string()),
        "",
    );
    let windows: Vec<String> = s.windows.iter().map(|w| quote(w.as_str())).collect();
    line(
        &mut out,
        "reporting",
        "windows",
        Some(format!("[{}]", windows.join(", "))),
        "",
    );

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
