//! The wire contract between the headcount daemon and a receiver.
//!
//! Both sides depend on this crate so that what one sends, the other accepts: [`Report`] and the
//! fact types it nests, [`Report::to_body`] (the exact bytes posted), [`validate`] (what a
//! receiver accepts), [`Rules`] (what an open field may carry: the same rules for the daemon
//! that sends and the receiver that counts) and [`schema`] (the JSON Schema that documents
//! all of it).
#![deny(missing_docs)]

mod labels;
mod level;
mod pattern;
mod report;
pub mod rules;
mod text;
mod validate;
mod window;

pub use labels::{
    AgeBucket, Arch, CountBucket, CpuBucket, CpuVendor, DiskSizeBucket, Firmware, MemoryBucket,
    PlatformId, ReportLevel, UnknownLabel,
};
pub use level::{Level, ParseLevelError};
pub use report::{
    Containers, Disks, Hardware, Interfaces, MAX_REPORT_BYTES, Network, OriginalOs, Os, Packages,
    Platform, Report, Runtime, SCHEMA_VERSION,
};
pub use rules::{BadOsName, Identifier, OTHER, Rules};
pub use text::{InstanceType, OsBuild, OsName, OsVersionId, VendorName};
pub use validate::{ValidationError, schema, schema_with, validate, validate_with};
pub use window::{ParsePeriodError, ParseWindowError, Period, Window};
