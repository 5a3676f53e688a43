//! Collectors: each reads a few files under a root directory and fills its part of a
//! [`Report`]. A collector never fails the report: what it cannot read stays absent.
//!
//! Every collector declares its name (what `[collecting] exclude` accepts), its level and the
//! fields it fills, with their type, bucketing and description, next to the code that fills
//! them; the readable preview and docs/usage/collected-data.md are rendered from that table.
#![deny(missing_docs)]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};
use headcount_report::{Level, Period, Report, ReportLevel, Rules, Window};

mod collectors;
mod render;
mod root;

pub use collectors::age::age_bucket;
pub use collectors::instance_type::{InstanceTypeSource, MetadataProvider, MetadataSource};
pub use collectors::platform::{Detection, HardwareVerdict, PlatformSource, detect_platform};
pub use render::{collected_data_markdown, render_text};
pub use root::{MAX_FILE_BYTES, Root, parse_env};

/// One field of the report, described for people.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Dotted path in the JSON body, for example `os.version_id`.
    pub name: &'static str,
    /// JSON type and allowed values, for example `string (enum)` or `boolean`.
    pub kind: Kind,
    /// How the value is coarsened (empty when it is reported as read).
    pub bucketing: &'static str,
    /// What the field says and where it comes from.
    pub description: &'static str,
}

/// The JSON type of a field and the values it allows.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Said in words, for example `boolean` or `string (bucket label)`.
    Text(&'static str),
    /// A string, one label of a closed set: the set's own list, so the two cannot drift.
    OneOf(fn() -> Vec<&'static str>),
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Text(text) => f.write_str(text),
            Kind::OneOf(labels) => write!(f, "string ({})", labels().join(", ")),
        }
    }
}

/// The [`Kind`] of a field holding one label of the closed set `$set` (a type with `ALL` and
/// `as_str`).
macro_rules! one_of {
    ($set:ty) => {
        $crate::Kind::OneOf(|| <$set>::ALL.iter().map(|v| v.as_str()).collect())
    };
}
pub(crate) use one_of;

/// What a collector may look at: the root to read under, the instant of collection, the
/// open-field rules values are held to, and the metadata service the caller lets it ask (none:
/// files only).
#[derive(Clone)]
pub struct Context {
    /// Where the machine's files are read.
    pub root: Root,
    /// The instant of collection (only the age bucket uses it).
    pub now: DateTime<Utc>,
    /// The platform, detected once for every collector that needs it.
    platform: OnceLock<Detection>,
    /// The rules of the open fields (the built-in ones plus a vendor's os-release names).
    rules: Rules,
    /// The cloud metadata service, when the caller allows asking it.
    metadata: Option<Arc<dyn MetadataSource>>,
    /// Where the instance type came from, once set.
    instance_type_source: OnceLock<InstanceTypeSource>,
    /// The metadata service that would have been asked, had the caller allowed it.
    metadata_not_asked: OnceLock<MetadataProvider>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("root", &self.root)
            .field("now", &self.now)
            .field("platform", &self.platform)
            .field("metadata", &self.metadata.is_some())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The rules open values are held to: a value breaking its rule is `other` or left out.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The detected platform and what decided it, whether or not the platform collector runs
    /// (the hardware collector reports a system vendor on bare metal only).
    pub fn platform(&self) -> &Detection {
        self.platform.get_or_init(|| detect_platform(&self.root))
    }

    /// The metadata service the caller allows asking, if any.
    pub fn metadata(&self) -> Option<&dyn MetadataSource> {
        self.metadata.as_deref()
    }

    fn note_instance_type_source(&self, source: InstanceTypeSource) {
        let _ = self.instance_type_source.set(source);
    }

    fn note_metadata_not_asked(&self, provider: MetadataProvider) {
        let _ = self.metadata_not_asked.set(provider);
    }
}

/// A collected report and where its values that have more than one source came from.
#[derive(Debug, Clone)]
pub struct Collection {
    /// The report, exactly as it would be posted.
    pub report: Report,
    /// Where `platform.instance_type` came from, when the report has one.
    pub instance_type_source: Option<InstanceTypeSource>,
    /// The metadata service that would have been asked for the instance type, had the caller
    /// allowed it (no file held the type and the machine names this provider).
    pub metadata_not_asked: Option<MetadataProvider>,
}

/// One topic of facts: the name `[collecting] exclude` accepts, the lowest level it runs at, the
/// fields it fills in report order, and how it fills them (leaving absent what it cannot read).
#[derive(Debug)]
pub struct Collector {
    /// The name `[collecting] exclude` accepts.
    pub name: &'static str,
    /// The lowest level it runs at.
    pub level: Level,
    /// The fields it fills, in report order.
    pub fields: &'static [Field],
    /// Fills its fields of the report; leaves them absent when they cannot be read.
    pub collect: fn(&Context, &mut Report),
}

/// The table of collectors, one row each: name, level, module (which holds `FIELDS` and
/// `collect`).
macro_rules! collectors {
    ($($name:literal, $level:ident, $module:ident;)+) => {
        &[$(Collector {
            name: $name,
            level: Level::$level,
            fields: collectors::$module::FIELDS,
            collect: collectors::$module::collect,
        },)+]
    };
}

/// Every collector, in report order. A collector listed later may build on an earlier one
/// (the instance type is only set once a platform is).
pub static COLLECTORS: &[Collector] = collectors! {
    "os", Minimal, os;
    "original-os", Minimal, original_os;
    "platform", Minimal, platform;
    "instance-type", Minimal, instance_type;
    "arch", Minimal, arch;
    "age", Minimal, age;
    "hardware", Full, hardware;
    "containers", Full, containers;
    "network", Full, network;
    "packages", Full, packages;
};

/// The fields every report carries, whatever the collectors found.
pub static ENVELOPE: &[Field] = &[
    Field {
        name: "schema",
        kind: Kind::Text("integer (1)"),
        bucketing: "",
        description: "Report format version.",
    },
    Field {
        name: "window",
        kind: one_of!(Window),
        bucketing: "",
        description: "The reporting window this report counts in.",
    },
    Field {
        name: "period",
        kind: Kind::Text("string (YYYY-MM-DD, YYYY-Www or YYYY-MM)"),
        bucketing: "the UTC day, countme week (an ISO week, from Monday 00:00 UTC) or month, never a finer time",
        description: "The period of the window this report counts in.",
    },
    Field {
        name: "level",
        kind: one_of!(ReportLevel),
        bucketing: "",
        description: "The collection level the machine is configured for.",
    },
];

/// The names `[collecting] exclude` accepts, in report order.
pub fn collector_names() -> impl Iterator<Item = &'static str> {
    COLLECTORS.iter().map(|c| c.name)
}

/// Each collector's name and the lowest level it runs at, in report order.
pub fn collector_levels() -> impl Iterator<Item = (&'static str, Level)> {
    COLLECTORS.iter().map(|c| (c.name, c.level))
}

/// Collects a report of `level` for the `window` period containing `now`, reading under `root`,
/// skipping the collectors named in `exclude` and holding open values to `rules`; where no file
/// holds the instance type, `metadata` (when given) is asked for it. `None` at level off:
/// nothing is collected and nothing is asked.
pub fn build_collection(
    root: &Path,
    level: Level,
    exclude: &[String],
    rules: &Rules,
    window: Window,
    now: DateTime<Utc>,
    metadata: Option<Arc<dyn MetadataSource>>,
) -> Option<Collection> {
    let mut report = Report::new(level, Period::containing(window, now))?;
    let ctx = Context {
        root: Root::new(root),
        now,
        platform: OnceLock::new(),
        rules: rules.clone(),
        metadata,
        instance_type_source: OnceLock::new(),
        metadata_not_asked: OnceLock::new(),
    };
    for collector in COLLECTORS {
        if collector.level > level || exclude.iter().any(|e| e == collector.name) {
            continue;
        }
        (collector.collect)(&ctx, &mut report);
    }
    Some(Collection {
        report,
        // Noted only when the collector set a type.
        instance_type_source: ctx.instance_type_source.get().copied(),
        metadata_not_asked: ctx.metadata_not_asked.get().copied(),
    })
}

/// The report of the machine under `root`, from files only and with the built-in rules: what
/// [`build_collection`] makes without a metadata service. `None` at level off.
pub fn build_report(
    root: &Path,
    level: Level,
    exclude: &[String],
    window: Window,
    now: DateTime<Utc>,
) -> Option<Report> {
    build_collection(root, level, exclude, &Rules::default(), window, now, None).map(|c| c.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_config_friendly() {
        let names: Vec<&str> = collector_names().collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for n in names {
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{n}"
            );
        }
    }

    #[test]
    fn off_collects_nothing() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert!(
            build_report(
                Path::new("/nonexistent"),
                Level::Off,
                &[],
                Window::Daily,
                now
            )
            .is_none()
        );
        let r = build_report(
            Path::new("/nonexistent"),
            Level::Full,
            &[],
            Window::Monthly,
            now,
        )
        .unwrap();
        assert_eq!(r.period.to_string(), "2026-11");
    }
}
