//! Where log lines go: the journal when stderr is the journal, else stderr.
//!
//! systemd documents the test: `JOURNAL_STREAM` holds `DEVICE:INODE` of the stream it
//! connected to stderr; only when stderr still is that stream do we speak the journal's native
//! protocol (keeping priorities and structured fields). A command run from a shell prints to
//! the terminal instead.

use std::os::fd::AsFd;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `MESSAGE_ID` of "report sent" (systemd/headcount.catalog explains it).
pub const MESSAGE_ID_SENT: &str = "522108f49c1b482b93573325becbff69";
/// `MESSAGE_ID` of "report refused by the receiver".
pub const MESSAGE_ID_REFUSED: &str = "c0fd52c481f04bc39191156fd4619542";
/// `MESSAGE_ID` of "level off or no endpoint: nothing will be sent".
pub const MESSAGE_ID_NOTHING_SENT: &str = "9c5ad3d4be134ae9b489b82e347efc76";
/// Every fixed `MESSAGE_ID`, for the catalog test.
pub const MESSAGE_IDS: [&str; 3] = [MESSAGE_ID_SENT, MESSAGE_ID_REFUSED, MESSAGE_ID_NOTHING_SENT];

/// `SYSLOG_IDENTIFIER` in the journal.
pub const SYSLOG_IDENTIFIER: &str = "headcount";
/// Set to `debug` (or `warn`, `error`, `trace`) to change how much is logged; default `info`.
pub const LOG_LEVEL_ENV: &str = "HEADCOUNT_LOG";

/// Whether `JOURNAL_STREAM` (`"dev:ino"`) names the file stderr is.
pub fn stderr_is_journal(journal_stream: Option<&str>) -> bool {
    let Some((dev, ino)) = journal_stream.and_then(|v| v.split_once(':')) else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr().as_fd()) {
        Ok(st) => st.st_dev == dev && st.st_ino == ino,
        Err(_) => false,
    }
}

fn level() -> LevelFilter {
    std::env::var(LOG_LEVEL_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(LevelFilter::INFO)
}

/// Installs the global subscriber. Call once, first thing.
pub fn init() {
    let filter = level();
    let journal = stderr_is_journal(std::env::var("JOURNAL_STREAM").ok().as_deref());
    if journal && let Ok(layer) = tracing_journald::layer() {
        let layer = layer
            .with_field_prefix(None)
            .with_syslog_identifier(SYSLOG_IDENTIFIER.to_owned());
        let _ = tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .try_init();
        return;
    }
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .without_time();
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .try_init();
}

use tracing_subscriber::Layer as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_must_match_stderr() {
        assert!(!stderr_is_journal(None));
        assert!(!stderr_is_journal(Some("garbage")));
        assert!(!stderr_is_journal(Some("1:2")));
        let st = nix::sys::stat::fstat(std::io::stderr().as_fd()).unwrap();
        let own = format!("{}:{}", st.st_dev, st.st_ino);
        assert!(stderr_is_journal(Some(&own)));
    }

    #[test]
    fn message_ids_are_128_bit_hex_and_in_the_catalog() {
        for id in MESSAGE_IDS {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
        let catalog = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../systemd/headcount.catalog"
        );
        let text = std::fs::read_to_string(catalog).expect("systemd/headcount.catalog");
        for id in MESSAGE_IDS {
            assert!(
                text.contains(&format!("-- {id}\n")),
                "{catalog} has no entry for MESSAGE_ID {id}"
            );
        }
    }
}
