//! The kernel command line (`proc/cmdline`): the platform id Ignition put there, the `ostree=`
//! boot link the layered-package count follows. Any bytes, on a Fedora CoreOS tree.
#![no_main]

use headcount_fuzz::collect_and_check;
use headcount_report::Level;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let root = headcount_fuzz::root("cmdline", Some("aws-fcos-x86_64"), &[]);
    root.write("proc/cmdline", data);
    collect_and_check(
        root.path(),
        Level::Full,
        &["platform", "instance-type", "packages"],
    );
});
