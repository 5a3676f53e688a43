//! Container runtimes in use, found from their programs, their sockets' presence under /run and
//! their containers' cgroups; no socket is ever opened.

use headcount_report::{Containers, CountBucket, Level, Report, Runtime};

use crate::{Collector, Context, Field, Root};

/// Looks for podman, docker, CRI-O, containerd and systemd-nspawn.
pub struct ContainersCollector;

macro_rules! runtime_fields {
    ($($rt:literal, $label:literal;)+) => {
        &[$(
            Field {
                name: concat!("containers.", $rt, ".installed"),
                kind: "boolean",
                bucketing: "",
                description: concat!("Whether ", $label, " is installed (its program is in usr/bin, usr/sbin or usr/local/bin)."),
            },
            Field {
                name: concat!("containers.", $rt, ".active"),
                kind: "boolean",
                bucketing: "",
                description: concat!("Whether ", $label, " is active: its socket or state is present under run, or one of its containers runs."),
            },
            Field {
                name: concat!("containers.", $rt, ".running"),
                kind: "string (bucket label)",
                bucketing: "count: 0, 1, 2-4, 5-8, ... 65-128, 129+",
                description: concat!("Running ", $label, " containers, counted from their cgroups under sys/fs/cgroup (cgroup v2 only)."),
            },
        )+]
    };
}

const FIELDS: &[Field] = runtime_fields! {
    "podman", "Podman";
    "docker", "Docker";
    "crio", "CRI-O";
    "containerd", "containerd";
    "nspawn", "systemd-nspawn";
};

/// Where programs are installed.
const BIN_DIRS: [&str; 3] = ["usr/bin", "usr/sbin", "usr/local/bin"];

/// How deep container scopes are looked for below a slice (kubepods nest pods in QoS slices).
const MAX_CGROUP_DEPTH: usize = 4;

/// One runtime: its programs, its files under /run, and how its container cgroups are named.
struct Spec {
    programs: &'static [&'static str],
    run_paths: &'static [&'static str],
    /// Slices to search, relative to the cgroup root.
    slices: &'static [&'static str],
    /// A container's cgroup name starts with this...
    prefix: &'static str,
    /// ...ends with this...
    suffix: &'static str,
    /// ...and does not start with this (the runtime's helper processes).
    not_prefix: Option<&'static str>,
}

const PODMAN: Spec = Spec {
    programs: &["podman"],
    run_paths: &["run/podman/podman.sock"],
    slices: &["machine.slice", "user.slice"],
    prefix: "libpod-",
    suffix: ".scope",
    not_prefix: Some("libpod-conmon-"),
};
const DOCKER: Spec = Spec {
    programs: &["dockerd", "docker"],
    run_paths: &["run/docker.sock", "run/docker.pid"],
    slices: &["system.slice"],
    prefix: "docker-",
    suffix: ".scope",
    not_prefix: None,
};
const CRIO: Spec = Spec {
    programs: &["crio"],
    run_paths: &["run/crio/crio.sock"],
    slices: &["kubepods.slice"],
    prefix: "crio-",
    suffix: ".scope",
    not_prefix: Some("crio-conmon-"),
};
const CONTAINERD: Spec = Spec {
    programs: &["containerd"],
    run_paths: &["run/containerd/containerd.sock"],
    slices: &["kubepods.slice", "system.slice"],
    prefix: "cri-containerd-",
    suffix: ".scope",
    not_prefix: None,
};
const NSPAWN: Spec = Spec {
    programs: &["systemd-nspawn"],
    run_paths: &[],
    slices: &["machine.slice"],
    prefix: "systemd-nspawn@",
    suffix: ".service",
    not_prefix: None,
};

const CGROUP_ROOT: &str = "sys/fs/cgroup";

impl Collector for ContainersCollector {
    fn name(&self) -> &'static str {
        "containers"
    }

    fn level(&self) -> Level {
        Level::Full
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn collect(&self, ctx: &Context, report: &mut Report) {
        let root = &ctx.root;
        // Counting needs the unified (v2) hierarchy; under v1 the count is unknown.
        let cgroup2 = root.exists(&format!("{CGROUP_ROOT}/cgroup.controllers"));
        let rt = |spec: &Spec| runtime(root, spec, cgroup2);
        report.containers = Some(Containers {
            podman: Some(rt(&PODMAN)),
            docker: Some(rt(&DOCKER)),
            crio: Some(rt(&CRIO)),
            containerd: Some(rt(&CONTAINERD)),
            nspawn: Some(rt(&NSPAWN)),
        });
    }
}

fn runtime(root: &Root, spec: &Spec, cgroup2: bool) -> Runtime {
    let installed = spec
        .programs
        .iter()
        .any(|p| BIN_DIRS.iter().any(|d| root.exists(&format!("{d}/{p}"))));
    let running = cgroup2.then(|| {
        spec.slices
            .iter()
            .map(|s| count_scopes(root, &format!("{CGROUP_ROOT}/{s}"), spec, MAX_CGROUP_DEPTH))
            .sum::<u64>()
    });
    let active = spec.run_paths.iter().any(|p| root.exists(p)) || running.is_some_and(|n| n > 0);
    Runtime {
        installed,
        active,
        running: running.map(CountBucket::of),
    }
}

fn count_scopes(root: &Root, dir: &str, spec: &Spec, depth: usize) -> u64 {
    let mut n = 0;
    for name in root.read_dir(dir) {
        let is_container = name.starts_with(spec.prefix)
            && name.ends_with(spec.suffix)
            && !spec.not_prefix.is_some_and(|p| name.starts_with(p));
        if is_container {
            n += 1;
        } else if depth > 1 && (name.ends_with(".slice") || name.ends_with(".service")) {
            n += count_scopes(root, &format!("{dir}/{name}"), spec, depth - 1);
        }
    }
    n
}
