//! os-release (`etc/os-release`, else `usr/lib/os-release`): any bytes there. What the OS
//! collector makes of them is a report the receiver accepts unchanged.
//!
//! Input: flags (bit 0: write etc/os-release, bit 1: usr/lib/os-release), then the content.
#![no_main]

use headcount_fuzz::{Input, collect_and_check};
use headcount_report::Level;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let root = headcount_fuzz::root(
        "os-release",
        None,
        &["etc/os-release", "usr/lib/os-release"],
    );
    let mut input = Input::new(data);
    let flags = input.byte();
    let content = input.rest();
    if flags & 1 != 0 {
        root.write("etc/os-release", content);
    }
    if flags & 2 != 0 {
        root.write("usr/lib/os-release", content);
    }
    // The generic env-file reader on its own: every key it yields is a shell-like name.
    for (key, _) in headcount_collect::parse_env(&String::from_utf8_lossy(content)) {
        assert!(!key.is_empty() && key.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'));
    }
    collect_and_check(root.path(), Level::Minimal, &["os"]);
});
