//! Broken, hostile and huge inputs give absent fields, never a panic or a hang.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use headcount_collect::{MAX_FILE_BYTES, build_report};
use headcount_report::{Level, PlatformId, Report, Window, validate};

/// A scratch copy of a full fixture root, to break one file of it.
fn base() -> Scratch {
    copy_of("aws-fcos-x86_64")
}

fn collect(root: &Path) -> Report {
    let r = build_report(root, Level::Full, &[], Window::Daily, now()).unwrap();
    // Whatever was read, the result is a valid report.
    assert_eq!(validate(&r.to_body()).unwrap(), r);
    r
}

fn huge() -> Vec<u8> {
    let mut v = b"ID=fedora\nVERSION_ID=43\n".to_vec();
    v.resize(4 * MAX_FILE_BYTES as usize, b'x');
    v
}

#[test]
fn truncated_os_release_keeps_what_is_whole() {
    let root = base();
    fs::remove_file(root.join("etc/os-release")).unwrap();
    fs::write(root.join("etc/os-release"), "ID=fedora\nVERSION_ID=\"4").unwrap();
    let os = collect(&root).os.unwrap();
    assert_eq!(os.id.unwrap().as_str(), "fedora");
    assert!(
        os.version_id.unwrap().is_other(),
        "a cut-off quoted value is not a version"
    );
}

#[test]
fn missing_etc_os_release_falls_back_to_usr_lib() {
    let root = base();
    fs::remove_file(root.join("etc/os-release")).unwrap();
    assert_eq!(collect(&root).os.unwrap().id.unwrap().as_str(), "fedora");
}

#[test]
fn garbage_cmdline_falls_back_to_hardware() {
    let root = base();
    let mut garbage: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    garbage.extend_from_slice(b" ignition.platform.id=\xff\xfe\x00aws ostree=\xff/../../.. ");
    fs::write(root.join("proc/cmdline"), garbage).unwrap();
    let r = collect(&root);
    // The kernel argument is garbage, so it names no known platform.
    assert_eq!(r.platform.unwrap().id, PlatformId::Unknown);
    assert!(r.packages.is_none());
    fs::write(root.join("proc/cmdline"), b"\xff\xfe\xfd").unwrap();
    assert_eq!(
        collect(&root).platform.unwrap().id,
        PlatformId::Aws,
        "DMI says Amazon EC2"
    );
}

#[test]
fn invalid_aleph_is_absent() {
    let root = base();
    let aleph = root.join("sysroot/.coreos-aleph-version.json");
    for bad in [
        &b"{\"build\": \"39.2023"[..],
        b"[]",
        b"{\"build\": 39}",
        b"\x00\x01\x02",
        b"",
    ] {
        fs::write(&aleph, bad).unwrap();
        assert!(collect(&root).original_os.is_none(), "{bad:?}");
    }
    // A version that is there but breaks the build shape is sent as other, never as written.
    fs::write(&aleph, b"{\"build\": \"39 with spaces\"}").unwrap();
    assert!(collect(&root).original_os.unwrap().build.is_other());
}

#[test]
fn huge_files_are_not_read_whole() {
    let root = base();
    let big = huge();
    fs::remove_file(root.join("etc/os-release")).unwrap();
    fs::write(root.join("etc/os-release"), &big).unwrap();
    fs::write(root.join("usr/lib/os-release"), &big).unwrap();
    fs::write(root.join("run/metadata/afterburn"), &big).unwrap();
    // The DMI product name is the type's next source on a Nitro instance.
    fs::write(root.join("sys/class/dmi/id/product_name"), &big).unwrap();
    fs::write(root.join("proc/meminfo"), &big).unwrap();
    fs::write(root.join("sysroot/.coreos-aleph-version.json"), &big).unwrap();
    // A cpuinfo larger than the cap still tells the vendor from its first CPU.
    let mut cpuinfo = fs::read(root.join("proc/cpuinfo")).unwrap();
    while cpuinfo.len() < 2 * MAX_FILE_BYTES as usize {
        cpuinfo.extend_from_within(..);
    }
    fs::write(root.join("proc/cpuinfo"), &cpuinfo).unwrap();
    fs::remove_file(root.join("sys/devices/system/cpu/online")).unwrap();
    let r = collect(&root);
    assert!(r.os.is_none() && r.original_os.is_none());
    assert!(r.platform.unwrap().instance_type.is_none());
    let hw = r.hardware.unwrap();
    assert!(hw.memory_gib.is_none());
    assert!(hw.cpu_vendor.is_some());
    assert!(hw.cpus.is_none(), "a truncated cpuinfo must not be counted");
}

#[test]
fn fifos_and_directories_in_place_of_files_do_not_block() {
    let root = base();
    fs::remove_file(root.join("etc/os-release")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(root.join("etc/os-release"))
        .status()
        .unwrap();
    assert!(status.success());
    fs::remove_file(root.join("proc/cmdline")).unwrap();
    fs::create_dir(root.join("proc/cmdline")).unwrap();
    let r = collect(&root);
    // /usr/lib/os-release is the fallback when /etc/os-release cannot be read.
    assert_eq!(r.os.unwrap().id.unwrap().as_str(), "fedora");
}

#[test]
fn an_empty_root_reports_only_what_it_must() {
    let root = scratch("empty");
    let r = collect(&root);
    assert_eq!(
        String::from_utf8(r.to_body()).unwrap(),
        r#"{"schema":1,"window":"daily","period":"2026-11-23","level":"full","platform":{"id":"unknown"},"age_bucket":4,"containers":{"podman":{"installed":false,"active":false},"docker":{"installed":false,"active":false},"crio":{"installed":false,"active":false},"containerd":{"installed":false,"active":false},"nspawn":{"installed":false,"active":false}}}"#
    );
}

#[test]
fn values_outside_the_contract_are_dropped() {
    let root = base();
    fs::remove_file(root.join("etc/os-release")).unwrap();
    fs::write(
        root.join("etc/os-release"),
        "ID=\"Fedora Linux\"\nVARIANT_ID=coreos\nOSTREE_VERSION='43.2026 built by alice@example.com'\n",
    )
    .unwrap();
    fs::write(
        root.join("run/metadata/afterburn"),
        "AFTERBURN_AWS_INSTANCE_TYPE=m5.large; rm -rf /\n",
    )
    .unwrap();
    fs::write(root.join("proc/sys/kernel/arch"), "sparc64\n").unwrap();
    let r = collect(&root);
    let os = r.os.unwrap();
    assert!(os.id.unwrap().is_other(), "a name outside the known list");
    assert!(os.build.is_none(), "the build of an unknown OS is left out");
    assert!(r.original_os.is_none(), "so is its original build");
    assert_eq!(os.variant_id.unwrap().as_str(), "coreos");
    assert!(r.platform.unwrap().instance_type.unwrap().is_other());
    assert!(r.arch.is_none());
}

#[test]
fn hostile_device_trees_sysinfo_and_cgroup_loops_give_a_report() {
    let root = copy_of("rpi4-fcos-aarch64");
    let dt = root.join("sys/firmware/devicetree/base");
    fs::write(dt.join("model"), [0xff, 0xfe, 0, 0, 0x80]).unwrap();
    fs::write(dt.join("compatible"), huge()).unwrap();
    fs::create_dir_all(dt.join("hypervisor")).unwrap();
    fs::write(dt.join("hypervisor/compatible"), b"\0\0\0").unwrap();
    fs::write(
        root.join("proc/sysinfo"),
        b"VM00 Control Program:\xff\xfe z/VM\n",
    )
    .unwrap();
    fs::write(root.join("proc/sys/kernel/osrelease"), "6.1.0.\u{0}.\n").unwrap();
    // A cgroup directory that links to itself and one that links out of the root.
    let slice = root.join("sys/fs/cgroup/system.slice");
    std::os::unix::fs::symlink(".", slice.join("loop.slice")).unwrap();
    std::os::unix::fs::symlink("/sys/fs/cgroup", slice.join("out.service")).unwrap();
    fs::write(root.join("proc/cmdline"), "root=UUID=0e1f2a3b rw\n").unwrap();
    let r = collect(&root);
    // An empty hypervisor node is a hypervisor all the same (proc/sysinfo is IBM Z's only).
    assert_eq!(r.platform.unwrap().id, PlatformId::Unknown);
    assert!(r.containers.unwrap().podman.unwrap().running.is_some());
}
