//! The OS the machine was installed with, from the aleph file the installer left.

use headcount_report::Report;

use crate::{Context, Field, Kind};

pub(crate) const FIELDS: &[Field] = &[Field {
    name: "original_os.build",
    kind: Kind::Text("string (build shape, or other)"),
    bucketing: "only beside a known os.id; a value of another shape is sent as other",
    description: "Build of the image first installed on this machine, from the aleph file its installer left on the physical root, tried in this order: sysroot/.coreos-aleph-version.json key build (images coreos-assembler built until 2024) or version (later images, where the file links to one of the next two); sysroot/.aleph-version.json key version (osbuild's ostree.aleph stage); sysroot/.bootc-aleph.json key version (bootc install).",
}];

/// The aleph files and the keys holding the version, in order: the CoreOS file wins (on images
/// built since 2024 it is a link to one of the other two).
const ALEPHS: [(&str, &[&str]); 3] = [
    ("sysroot/.coreos-aleph-version.json", &["version", "build"]),
    ("sysroot/.aleph-version.json", &["version"]),
    ("sysroot/.bootc-aleph.json", &["version"]),
];

/// Reads the CoreOS aleph file, else osbuild's, else bootc's.
pub(crate) fn collect(ctx: &Context, report: &mut Report) {
    let Some(raw) = ALEPHS
        .iter()
        .find_map(|(path, keys)| read_aleph(ctx, path, keys))
    else {
        return;
    };
    // The build of an unnamed OS could be a site's own numbering: it goes only beside a
    // known os.id (so not at all when the os collector is left out).
    report.original_os = ctx.rules().original_os(report.os.as_ref(), &raw);
    match &report.original_os {
        None => tracing::debug!("aleph version of an unknown OS, left out"),
        Some(o) if o.build.is_other() => {
            tracing::debug!("aleph version breaks its rule, sent as other");
        }
        Some(_) => {}
    }
}

/// The version an aleph file holds, as written.
fn read_aleph(ctx: &Context, path: &str, keys: &[&str]) -> Option<String> {
    let text = ctx.root.read(path)?;
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            tracing::debug!(path, error = %e, "aleph file is not JSON");
            return None;
        }
    };
    keys.iter()
        .find_map(|k| json.get(k)?.as_str())
        .map(str::to_owned)
}
