//! Collecting a report from a fixture root: `cargo bench -p headcount-collect --bench collect`.
//!
//! Each case is measured twice: wall-clock time (criterion's default, inflated when other
//! processes compete for the CPU) and the thread's own CPU time (user + kernel, from
//! /proc/thread-self/schedstat), which does not depend on the machine's load.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use headcount_collect::build_report;
use headcount_report::{Level, Window};

/// Nanoseconds this thread has run on a CPU (CLOCK_THREAD_CPUTIME_ID).
fn cpu_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap();
    u64::try_from(t.tv_sec()).unwrap() * 1_000_000_000 + u64::try_from(t.tv_nsec()).unwrap()
}

/// The CPU time this thread spends running `once` `iters` times.
fn cpu_time(iters: u64, once: impl Fn()) -> Duration {
    let start = cpu_ns();
    (0..iters).for_each(|_| once());
    Duration::from_nanos(cpu_ns() - start)
}

fn bench(c: &mut Criterion) {
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    for kind in ["metal-fcos-x86_64", "aws-fcos-x86_64"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(kind);
        for level in [Level::Minimal, Level::Full] {
            let once = || {
                let r = build_report(&root, level, &[], Window::Daily, now).unwrap();
                std::hint::black_box(r.to_body());
            };
            c.bench_function(&format!("collect {level} {kind} wall"), |b| b.iter(once));
            c.bench_function(&format!("collect {level} {kind} cpu"), |b| {
                b.iter_custom(|iters| cpu_time(iters, once))
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
