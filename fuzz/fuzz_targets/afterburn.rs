//! Afterburn's attributes (`run/metadata/afterburn`), read for the instance type on each platform
//! that has one: any bytes, under any platform id.
//!
//! Input: the platform (a byte, an index into the list below), then the file's content.
#![no_main]

use headcount_fuzz::{Input, collect_and_check};
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
    let root = headcount_fuzz::root("afterburn", None, &[]);
    let mut input = Input::new(data);
    let platform = PLATFORMS[usize::from(input.byte()) % PLATFORMS.len()];
    root.write(
        "proc/cmdline",
        format!("ignition.platform.id={platform}\n").as_bytes(),
    );
    root.write("run/metadata/afterburn", input.rest());
    collect_and_check(root.path(), Level::Minimal, &["platform", "instance-type"]);
});
