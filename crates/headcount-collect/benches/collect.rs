//! Collecting a report from a fixture root: `cargo bench -p headcount-collect --bench collect`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use headcount_collect::build_report;
use headcount_report::{Level, Window};

fn bench(c: &mut Criterion) {
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    for kind in ["metal-fcos-x86_64", "aws-fcos-x86_64"] {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures")
            .join(kind);
        for level in [Level::Minimal, Level::Full] {
            c.bench_function(&format!("collect {level} {kind}"), |b| {
                b.iter(|| {
                    let r = build_report(&root, level, &[], Window::Daily, now).unwrap();
                    std::hint::black_box(r.to_body())
                })
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
