//! The /proc and /sys files the full level reads (CPU, memory, firmware, disks, DMI, network
//! interfaces and routes, cgroups), on a bare-metal Fedora CoreOS tree: any of them holding any
//! bytes. Every collector runs; the report is one the receiver accepts unchanged.
//!
//! Input: (file, content) pairs: a byte (an index into FILES) and a record; the files not named
//! keep the fixture's content.
#![no_main]

use headcount_fuzz::{Input, collect_and_check};
use headcount_report::Level;
use libfuzzer_sys::fuzz_target;

const FILES: &[&str] = &[
    "proc/cpuinfo",
    "proc/meminfo",
    "proc/sys/kernel/arch",
    "sys/devices/system/cpu/online",
    "sys/devices/system/cpu/possible",
    "proc/net/route",
    "proc/net/ipv6_route",
    "proc/net/if_inet6",
    "sys/class/net/eno1/uevent",
    "sys/class/net/eno1/type",
    "sys/class/net/bond0/uevent",
    "sys/class/net/bond0/type",
    "sys/class/net/podman0/uevent",
    "sys/class/net/veth0/type",
    "sys/block/sda/size",
    "sys/block/sda/removable",
    "sys/block/sda/queue/rotational",
    "sys/block/sda/device/model",
    "sys/block/sda/device/vendor",
    "sys/block/nvme0n1/size",
    "sys/block/nvme0n1/device/model",
    "sys/block/zram0/size",
    "sys/class/dmi/id/sys_vendor",
    "sys/class/dmi/id/product_name",
    "sys/class/dmi/id/bios_vendor",
    "sys/class/dmi/id/bios_version",
    "sys/class/dmi/id/chassis_asset_tag",
    "sys/hypervisor/type",
    "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c",
    "sys/fs/cgroup/cgroup.controllers",
];

fuzz_target!(|data: &[u8]| {
    let root = headcount_fuzz::root("proc-sys", Some("metal-fcos-x86_64"), FILES);
    let mut input = Input::new(data);
    while !input.is_empty() {
        let which = usize::from(input.byte()) % FILES.len();
        root.write(FILES[which], input.record().unwrap_or_default());
    }
    let all: Vec<&str> = headcount_collect::collector_names().collect();
    collect_and_check(root.path(), Level::Full, &all);
});
