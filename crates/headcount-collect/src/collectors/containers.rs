//! Container runtimes in use, found from their programs, their sockets' presence under /run and
//! their containers' cgroups; no socket is ever opened.

use headcount_report::{Containers, CountBucket, Report, Runtime};

use crate::{Context, Field, Kind, Root};

macro_rules! runtime_fields {
    ($($rt:literal, $label:literal, $cgroups:literal;)+) => {
        &[$(
            Field {
                name: concat!("containers.", $rt, ".installed"),
                kind: Kind::Text("boolean"),
                bucketing: "",
                description: concat!("Whether ", $label, " is installed (its program is in usr/bin, usr/sbin or usr/local/bin)."),
            },
            Field {
                name: concat!("containers.", $rt, ".active"),
                kind: Kind::Text("boolean"),
                bucketing: "",
                description: concat!("Whether ", $label, " is active: its socket or state is present under run, or one of its containers runs."),
            },
            Field {
                name: concat!("containers.", $rt, ".running"),
                kind: Kind::Text("string (bucket label)"),
                bucketing: "count: 0, 1, 2-4, 5-8, ... 65-128, 129+",
                description: concat!("Running ", $label, " containers, counted from their cgroups in the slices and services under sys/fs/cgroup (cgroup v2 only): ", $cgroups, "."),
            },
        )+]
    };
}

pub(crate) const FIELDS: &[Field] = runtime_fields! {
    "podman", "Podman", "libpod-<id>.scope (conmon's libpod-conmon-<id>.scope left out), and libpod-payload-<id> inside a service, which is how Quadlet runs containers (--cgroups=split), for root in system.slice and rootless in user@<uid>.service/app.slice";
    "docker", "Docker", "docker-<id>.scope";
    "crio", "CRI-O", "crio-<id>.scope (crio-conmon-<id>.scope left out), for example under kubepods.slice";
    "containerd", "containerd", "cri-containerd-<id>.scope";
    "nspawn", "systemd-nspawn", "systemd-nspawn@<name>.service in machine.slice";
};

/// Where programs are installed.
const BIN_DIRS: [&str; 3] = ["usr/bin", "usr/sbin", "usr/local/bin"];

/// How deep container cgroups are looked for below the cgroup root: a rootless Quadlet
/// container sits at user.slice/user-N.slice/user@N.service/app.slice/<unit>.service/
/// libpod-payload-<id>.
const MAX_CGROUP_DEPTH: usize = 6;

/// The most cgroup directories looked into in one collection.
const MAX_CGROUP_DIRS: usize = 4096;

/// One runtime: its programs, its files under /run, and how its container cgroups are named.
struct Spec {
    programs: &'static [&'static str],
    run_paths: &'static [&'static str],
    /// Whether a cgroup directory of this name is one of the runtime's containers.
    is_container: fn(&str) -> bool,
}

fn scope_of(name: &str, prefix: &str, not_prefix: Option<&str>) -> bool {
    name.starts_with(prefix)
        && name.ends_with(".scope")
        && !not_prefix.is_some_and(|p| name.starts_with(p))
}

const PODMAN: Spec = Spec {
    programs: &["podman"],
    run_paths: &["run/podman/podman.sock"],
    is_container: |n| {
        scope_of(n, "libpod-", Some("libpod-conmon-")) || n.starts_with("libpod-payload-")
    },
};
const DOCKER: Spec = Spec {
    programs: &["dockerd", "docker"],
    run_paths: &["run/docker.sock", "run/docker.pid"],
    is_container: |n| scope_of(n, "docker-", None),
};
const CRIO: Spec = Spec {
    programs: &["crio"],
    run_paths: &["run/crio/crio.sock"],
    is_container: |n| scope_of(n, "crio-", Some("crio-conmon-")),
};
const CONTAINERD: Spec = Spec {
    programs: &["containerd"],
    run_paths: &["run/containerd/containerd.sock"],
    is_container: |n| scope_of(n, "cri-containerd-", None),
};
const NSPAWN: Spec = Spec {
    programs: &["systemd-nspawn"],
    run_paths: &[],
    is_container: |n| n.starts_with("systemd-nspawn@") && n.ends_with(".service"),
};

/// Every runtime, in report order.
const RUNTIMES: [&Spec; 5] = [&PODMAN, &DOCKER, &CRIO, &CONTAINERD, &NSPAWN];

const CGROUP_ROOT: &str = "sys/fs/cgroup";

/// Looks for podman, docker, CRI-O, containerd and systemd-nspawn.
pub(crate) fn collect(ctx: &Context, report: &mut Report) {
    let root = &ctx.root;
    // Counting needs the unified (v2) hierarchy; under v1 the count is unknown.
    let running = root
        .exists(&format!("{CGROUP_ROOT}/cgroup.controllers"))
        .then(|| count_containers(root));
    let rt = |i: usize| runtime(root, RUNTIMES[i], running.map(|r| r[i]));
    report.containers = Some(Containers {
        podman: Some(rt(0)),
        docker: Some(rt(1)),
        crio: Some(rt(2)),
        containerd: Some(rt(3)),
        nspawn: Some(rt(4)),
    });
}

fn runtime(root: &Root, spec: &Spec, running: Option<u64>) -> Runtime {
    let installed = spec
        .programs
        .iter()
        .any(|p| BIN_DIRS.iter().any(|d| root.exists(&format!("{d}/{p}"))));
    let active = spec.run_paths.iter().any(|p| root.exists(p)) || running.is_some_and(|n| n > 0);
    Runtime {
        installed,
        active,
        running: running.map(CountBucket::of),
    }
}

/// Running containers of each runtime (in [`RUNTIMES`] order), from one walk of the slices and
/// services under the cgroup root. A container's own cgroup is not looked into: what runs
/// inside it is the container's business.
fn count_containers(root: &Root) -> [u64; RUNTIMES.len()] {
    let mut counts = [0u64; RUNTIMES.len()];
    let mut todo = vec![(CGROUP_ROOT.to_owned(), 0usize)];
    let mut visited = 0;
    while let Some((dir, depth)) = todo.pop() {
        visited += 1;
        if visited > MAX_CGROUP_DIRS {
            tracing::debug!("cgroup tree too large, counted in part");
            break;
        }
        for name in root.read_dir(&dir) {
            if let Some(i) = RUNTIMES.iter().position(|s| (s.is_container)(&name)) {
                counts[i] += 1;
            } else if depth + 1 < MAX_CGROUP_DEPTH
                && (name.ends_with(".slice") || name.ends_with(".service"))
            {
                todo.push((format!("{dir}/{name}"), depth + 1));
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_cgroups_are_told_apart() {
        let podman = PODMAN.is_container;
        assert!(podman("libpod-0123abcd.scope"));
        assert!(podman("libpod-payload-0123abcd"));
        assert!(!podman("libpod-conmon-0123abcd.scope"));
        assert!(!podman("runtime"));
        assert!((CRIO.is_container)("crio-0123.scope"));
        assert!(!(CRIO.is_container)("crio-conmon-0123.scope"));
        assert!((NSPAWN.is_container)("systemd-nspawn@devbox.service"));
        assert!(!(DOCKER.is_container)("docker.service"));
    }
}
