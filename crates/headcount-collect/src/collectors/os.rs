//! The running OS, from os-release.

use headcount_report::Report;

use crate::{Context, Field, Kind, parse_env};

pub(crate) const FIELDS: &[Field] = &[
    Field {
        name: "os.id",
        kind: Kind::Text("string (a known os-release name, or other)"),
        bucketing: "a name outside the known list is sent as other",
        description: "Operating system identifier: os-release ID, for example fedora.",
    },
    Field {
        name: "os.variant_id",
        kind: Kind::Text("string (a known os-release name, or other)"),
        bucketing: "a name outside the known list is sent as other",
        description: "Operating system variant: os-release VARIANT_ID, for example coreos.",
    },
    Field {
        name: "os.version_id",
        kind: Kind::Text("string (version shape, or other)"),
        bucketing: "only beside a known os.id; a value of another shape is sent as other",
        description: "Operating system version: os-release VERSION_ID, for example 43.",
    },
    Field {
        name: "os.build",
        kind: Kind::Text("string (build shape, or other)"),
        bucketing: "only beside a known os.id; a value of another shape is sent as other",
        description: "Operating system build: os-release OSTREE_VERSION, for example 43.20261102.3.0.",
    },
];

/// Where os-release lives, in order of preference (the os-release specification's order).
const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

/// Reads os-release (`/etc/os-release`, else `/usr/lib/os-release`).
pub(crate) fn collect(ctx: &Context, report: &mut Report) {
    let Some(text) = OS_RELEASE.iter().find_map(|p| ctx.root.read(p)) else {
        return;
    };
    let (mut id, mut variant_id, mut version_id, mut build) = (None, None, None, None);
    for (key, value) in parse_env(&text) {
        match key {
            "ID" => id = Some(value),
            "VARIANT_ID" => variant_id = Some(value),
            "VERSION_ID" => version_id = Some(value),
            "OSTREE_VERSION" => build = Some(value),
            _ => {}
        }
    }
    let os = ctx.rules().os(
        id.as_deref(),
        variant_id.as_deref(),
        version_id.as_deref(),
        build.as_deref(),
    );
    for (key, read, sent) in [
        ("ID", id.is_some(), os.id.as_ref().map(|v| v.is_other())),
        (
            "VARIANT_ID",
            variant_id.is_some(),
            os.variant_id.as_ref().map(|v| v.is_other()),
        ),
        (
            "VERSION_ID",
            version_id.is_some(),
            os.version_id.as_ref().map(|v| v.is_other()),
        ),
        (
            "OSTREE_VERSION",
            build.is_some(),
            os.build.as_ref().map(|v| v.is_other()),
        ),
    ] {
        // The key only, never the value: it may be exactly what must not leave the machine.
        match (read, sent) {
            (true, Some(true)) => {
                tracing::debug!(key, "os-release value breaks its rule, sent as other");
            }
            (true, None) => {
                tracing::debug!(key, "os-release value of an unknown OS, left out");
            }
            _ => {}
        }
    }
    if !os.is_empty() {
        report.os = Some(os);
    }
}
