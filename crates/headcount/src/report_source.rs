//! Where the daemon gets the bytes it posts: the collectors, with the cloud metadata client of
//! the run.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use headcount_collect::MetadataSource;
use headcount_report::Window;

use crate::config::Settings;
use crate::metadata::{self, MetadataClient};

/// The real collectors (`headcount_collect`): the same bytes `headcount preview --json` prints,
/// without its final newline. They may ask the cloud metadata service they were built with, and
/// only while the settings say reports are sent.
#[derive(Debug, Default)]
pub struct Collectors {
    /// The metadata client of this run (one query at most, kept for the run).
    metadata: Option<Arc<MetadataClient>>,
}

impl Collectors {
    /// The collectors of a daemon run reading under `root`: with a metadata client only when
    /// `root` is this host's `/`.
    pub fn for_root(root: &Path) -> Collectors {
        Collectors {
            metadata: metadata::is_this_host(root).then(|| Arc::new(MetadataClient::new())),
        }
    }

    /// Collectors asking `client` (a loopback stand-in in tests) whatever the root.
    pub fn with_metadata(client: Arc<MetadataClient>) -> Collectors {
        Collectors {
            metadata: Some(client),
        }
    }

    /// The body for `window` at `now` (the period containing `now`), exactly as posted
    /// (`headcount preview --json` without its final newline); `None` when nothing is to be
    /// reported.
    pub fn body(
        &self,
        root: &Path,
        settings: &Settings,
        window: Window,
        now: DateTime<Utc>,
    ) -> Option<Vec<u8>> {
        // At level off or without an endpoint nothing is sent, so nothing is asked either.
        let metadata = self
            .metadata
            .clone()
            .filter(|_| settings.sends())
            .map(|m| m as Arc<dyn MetadataSource>);
        headcount_collect::build_collection(
            root,
            settings.level,
            &settings.exclude,
            &settings.rules,
            window,
            now,
            metadata,
        )
        .map(|c| c.report.to_body())
    }
}
