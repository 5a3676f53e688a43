//! Packages layered on an rpm-ostree system, from the booted deployment's origin file.

use std::path::{Component, Path, PathBuf};

use headcount_report::{CountBucket, Packages, Report};

use crate::{Context, Field, Kind, Root};

pub(crate) const FIELDS: &[Field] = &[Field {
    name: "packages.layered",
    kind: Kind::Text("string (bucket label)"),
    bucketing: "count: 0, 1, 2-4, 5-8, ... 65-128, 129+",
    description: "Packages layered on the booted rpm-ostree deployment (requested, requested-local and requested-local-fileoverride entries of its origin file, found from the ostree= kernel argument); absent on systems without ostree.",
}];

/// The origin keys that list layered packages.
const LAYERED_KEYS: [&str; 3] = [
    "requested",
    "requested-local",
    "requested-local-fileoverride",
];

/// Reads the booted deployment's `.origin` file.
pub(crate) fn collect(ctx: &Context, report: &mut Report) {
    let Some(origin) = booted_origin(&ctx.root) else {
        return;
    };
    let Some(text) = ctx.root.read(&origin) else {
        return;
    };
    report.packages = Some(Packages {
        layered: CountBucket::of(count_layered(&text)),
    });
}

/// The booted deployment's origin file, relative to the root: the `ostree=` kernel argument
/// names a boot link (`/ostree/boot.1/<os>/<bootcsum>/0`) under the physical root that points
/// at `deploy/<os>/deploy/<csum>.<serial>`; the origin file sits beside that directory.
fn booted_origin(root: &Root) -> Option<String> {
    let cmdline = root.read("proc/cmdline")?;
    let boot_link = cmdline
        .split_ascii_whitespace()
        .find_map(|a| a.strip_prefix("ostree="))?;
    let link = format!("sysroot/{}", boot_link.trim_start_matches('/'));
    let target = root.read_link(&link)?;
    let parent = Path::new(&link).parent()?;
    let deployment = normalize(&parent.join(target))?;
    let deployment = deployment.to_str()?.trim_end_matches('/');
    Some(format!("{deployment}.origin"))
}

/// Lexically resolves `..` in a relative path; `None` if it climbs above the start.
fn normalize(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            // An absolute link target is relative to the physical root.
            Component::RootDir => out = PathBuf::from("sysroot"),
            Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Counts the entries of the `[packages]` keys that list layered packages.
fn count_layered(origin: &str) -> u64 {
    let mut in_packages = false;
    let mut n = 0;
    for line in origin.lines().map(str::trim) {
        if line.starts_with('[') {
            in_packages = line == "[packages]";
            continue;
        }
        if !in_packages {
            continue;
        }
        if let Some((k, v)) = line.split_once('=')
            && LAYERED_KEYS.contains(&k.trim())
        {
            n += v.split(';').filter(|p| !p.trim().is_empty()).count() as u64;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_layered_entries() {
        let origin = "[origin]\ncontainer-image-reference=ostree-remote-image:fedora:docker://quay.io/fedora/fedora-coreos:stable\n\n[packages]\nrequested=htop;vim-enhanced;\nrequested-local=abc123:foo-1.0-1.x86_64;\n\n[rpmostree]\nrequested=ignored;\n";
        assert_eq!(count_layered(origin), 3);
        assert_eq!(
            count_layered("[origin]\nrefspec=fedora:fedora/x86_64/coreos/stable\n"),
            0
        );
    }

    #[test]
    fn link_targets_resolve_lexically() {
        assert_eq!(
            normalize(Path::new(
                "sysroot/ostree/boot.1/fedora-coreos/abc/../../../deploy/x.0"
            )),
            Some(PathBuf::from("sysroot/ostree/deploy/x.0"))
        );
        assert_eq!(normalize(Path::new("../..")), None);
    }
}
