//! The aleph files the installer left (`sysroot/.coreos-aleph-version.json`, else
//! `sysroot/.bootc-aleph.json`): any bytes in either.
//!
//! Input: flags (bit 0: write the CoreOS file, bit 1: the bootc one), then the content.
#![no_main]

use headcount_fuzz::{Input, collect_and_check};
use headcount_report::Level;
use libfuzzer_sys::fuzz_target;

const COREOS: &str = "sysroot/.coreos-aleph-version.json";
const BOOTC: &str = "sysroot/.bootc-aleph.json";

fuzz_target!(|data: &[u8]| {
    let root = headcount_fuzz::root("aleph", None, &[COREOS, BOOTC]);
    let mut input = Input::new(data);
    let flags = input.byte();
    let content = input.rest();
    if flags & 1 != 0 {
        root.write(COREOS, content);
    }
    if flags & 2 != 0 {
        root.write(BOOTC, content);
    }
    collect_and_check(root.path(), Level::Minimal, &["original-os"]);
});
