//! CPU architecture as the kernel reports it.

use headcount_report::{Arch, Level, Report};

use crate::{Collector, Context, Field};

/// Reads `proc/sys/kernel/arch` (what `uname -m` prints).
pub struct ArchCollector;

const FIELDS: &[Field] = &[Field {
    name: "arch",
    kind: "string (x86_64, aarch64, ppc64le, s390x, riscv64, loongarch64, armv7l, i686)",
    bucketing: "",
    description: "CPU architecture as the kernel names it (proc/sys/kernel/arch).",
}];

impl Collector for ArchCollector {
    fn name(&self) -> &'static str {
        "arch"
    }

    fn level(&self) -> Level {
        Level::Minimal
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn collect(&self, ctx: &Context, report: &mut Report) {
        let Some(value) = ctx.root.read_value("proc/sys/kernel/arch") else {
            return;
        };
        match value.parse::<Arch>() {
            Ok(arch) => report.arch = Some(arch),
            Err(e) => tracing::debug!(error = %e, "architecture not in the report's set"),
        }
    }
}
