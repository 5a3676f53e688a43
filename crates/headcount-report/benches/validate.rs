//! What a receiver spends checking one report: `cargo bench -p headcount-report --bench validate`.
//!
//! `validate` on golden bodies of real machines (parsing, every closed set, and the open-field
//! rules), as wall-clock time and as the thread's own CPU time, which the machine's load does not
//! inflate.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

/// Nanoseconds this thread has run on a CPU (CLOCK_THREAD_CPUTIME_ID).
fn cpu_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap();
    u64::try_from(t.tv_sec()).unwrap() * 1_000_000_000 + u64::try_from(t.tv_nsec()).unwrap()
}

fn bench(c: &mut Criterion) {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/preview");
    for name in [
        "aws-fcos-x86_64.minimal.json",
        "metal-fcos-x86_64.full.json",
    ] {
        let body = std::fs::read(golden.join(name)).unwrap();
        let body = body.trim_ascii_end().to_vec();
        let once = || std::hint::black_box(headcount_report::validate(&body).unwrap());
        c.bench_function(&format!("validate {name} wall"), |b| b.iter(once));
        c.bench_function(&format!("validate {name} cpu"), |b| {
            b.iter_custom(|iters| {
                let start = cpu_ns();
                for _ in 0..iters {
                    once();
                }
                Duration::from_nanos(cpu_ns() - start)
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
