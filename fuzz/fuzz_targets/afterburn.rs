//! Afterburn's attributes (`run/metadata/afterburn`), read for the instance type on each platform
//! that has one: any bytes, under any platform id.
//!
//! Input: the platform (a byte, an index into the list below), then the file's content.
#![no_main]

use std::sync::OnceLock;

use headcount_fuzz::{Input, Scratch, collect_and_check};
use headcount_report::Level;
use libfuzzer_sys::fuzz_target;

const PLATFORMS: &[&str] = &[
    "aws",
    "azure",
    "azurestack",
    "gcp",
    "aliyun",
    "openstack",
    "akamai",
    "cloudstack",
    "exoscale",
    "packet",
    "metal",
    "qemu",
    "ibmcloud",
    "nonsense",
];

fuzz_target!(|data: &[u8]| {
    static ROOT: OnceLock<Scratch> = OnceLock::new();
    let root = ROOT.get_or_init(|| Scratch::new("afterburn", None));
    let mut input = Input::new(data);
    let platform = PLATFORMS[usize::from(input.byte()) % PLATFORMS.len()];
    root.write(
        "proc/cmdline",
        format!("ignition.platform.id={platform}\n").as_bytes(),
    );
    root.write("run/metadata/afterburn", input.rest());
    collect_and_check(root.path(), Level::Minimal, &["platform", "instance-type"]);
});
