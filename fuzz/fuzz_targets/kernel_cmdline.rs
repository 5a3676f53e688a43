//! The kernel command line (`proc/cmdline`): the platform id Ignition put there, the `ostree=`
//! boot link the layered-package count follows. Any bytes, on a Fedora CoreOS tree.
#![no_main]

use std::sync::OnceLock;

use headcount_fuzz::{Scratch, collect_and_check};
use headcount_report::Level;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static ROOT: OnceLock<Scratch> = OnceLock::new();
    let root = ROOT.get_or_init(|| Scratch::new("cmdline", Some("aws-fcos-x86_64")));
    root.write("proc/cmdline", data);
    collect_and_check(
        root.path(),
        Level::Full,
        &["platform", "instance-type", "packages"],
    );
});
