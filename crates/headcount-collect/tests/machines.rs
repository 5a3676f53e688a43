//! Machines that real fleets run and that the collectors once got wrong: each test names the
//! kind of machine, reads its fixture root (or a copy changed in one place) and checks the facts
//! a report must carry. Where each fact's format comes from: tests/fixtures/SOURCES.md.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use headcount_collect::{
    Collection, InstanceTypeSource, MetadataProvider, MetadataSource, build_collection,
    build_report,
};
use headcount_report::{Arch, Firmware, Level, PlatformId, Report, Window};

fn collect(root: &Path) -> Report {
    build_report(root, Level::Full, &[], Window::Daily, now()).unwrap()
}

fn fixture(kind: &str) -> PathBuf {
    fixtures_dir().join(kind)
}

fn platform(r: &Report) -> PlatformId {
    r.platform.as_ref().unwrap().id
}

fn instance_type(r: &Report) -> Option<String> {
    r.platform
        .as_ref()
        .and_then(|p| p.instance_type.as_ref())
        .map(|t| t.as_str().to_owned())
}

fn system_vendor(r: &Report) -> Option<String> {
    r.hardware
        .as_ref()
        .and_then(|h| h.system_vendor.as_ref())
        .map(|v| v.as_str().to_owned())
}

fn set_cmdline(root: &Path, cmdline: &str) {
    fs::write(root.join("proc/cmdline"), format!("{cmdline}\n")).unwrap();
}

// ---- architecture on kernels without proc/sys/kernel/arch ----

#[test]
fn rhel_kernels_without_kernel_arch_report_the_osrelease_arch_and_firmware() {
    let root = fixture("rhcos-openstack-x86_64");
    assert!(!root.join("proc/sys/kernel/arch").exists());
    let r = collect(&root);
    assert_eq!(r.arch, Some(Arch::X86_64));
    let hw = r.hardware.unwrap();
    assert_eq!(hw.firmware, Some(Firmware::Bios), "SeaBIOS, SMBIOS tables");
    assert_eq!(hw.secure_boot, Some(false));
    assert_eq!(r.os.unwrap().id.unwrap().as_str(), "rhcos");
}

#[test]
fn older_ubuntu_kernels_report_the_cpuinfo_arch() {
    let root = fixture("cloudstack-ubuntu-x86_64");
    assert!(!root.join("proc/sys/kernel/arch").exists());
    let r = collect(&root);
    assert_eq!(
        r.arch,
        Some(Arch::X86_64),
        "5.15.0-105-generic has no suffix"
    );
    assert_eq!(r.hardware.unwrap().firmware, Some(Firmware::Bios));
}

#[test]
fn arm64_kernels_without_kernel_arch_report_aarch64_from_cpuinfo() {
    let root = copy_of("oraclecloud-fcos-aarch64");
    fs::remove_file(root.join("proc/sys/kernel/arch")).unwrap();
    fs::write(
        root.join("proc/sys/kernel/osrelease"),
        "5.15.0-1045-oracle\n",
    )
    .unwrap();
    assert_eq!(collect(&root).arch, Some(Arch::Aarch64));
}

// ---- the aleph file each installer writes ----

#[test]
fn aleph_files_are_read_whoever_wrote_them() {
    // coreos-assembler's links to osbuild's and bootc's files, and each file alone.
    let root = copy_of("qemu-fcos-x86_64");
    let original = |root: &Path| {
        collect(root)
            .original_os
            .map(|o| o.build.as_str().to_owned())
    };
    assert_eq!(original(&root).as_deref(), Some("44.20261115.1.0"));
    fs::remove_file(root.join("sysroot/.coreos-aleph-version.json")).unwrap();
    fs::remove_file(root.join("sysroot/.aleph-version.json")).unwrap();
    assert_eq!(original(&root).as_deref(), Some("44.20261115.1.0"));
    let root = copy_of("kubevirt-fcos-x86_64");
    fs::remove_file(root.join("sysroot/.coreos-aleph-version.json")).unwrap();
    assert_eq!(original(&root).as_deref(), Some("42.20250901.3.0"));
    assert_eq!(
        original(&fixture("rhcos-openstack-x86_64")).as_deref(),
        Some("414.92.202310210434-0")
    );
}

// ---- the machine type of every afterburn provider, and only the detected one's ----

#[test]
fn kubevirt_instance_type_is_read() {
    let r = collect(&fixture("kubevirt-fcos-x86_64"));
    assert_eq!(platform(&r), PlatformId::Kubevirt);
    assert_eq!(instance_type(&r).as_deref(), Some("u1.medium"));
}

#[test]
fn oracle_cloud_shape_is_read() {
    let r = collect(&fixture("oraclecloud-fcos-aarch64"));
    assert_eq!(platform(&r), PlatformId::Oraclecloud);
    assert_eq!(instance_type(&r).as_deref(), Some("VM.Standard.A1.Flex"));
}

#[test]
fn scaleway_instance_type_is_read() {
    let root = copy_of("kubevirt-fcos-x86_64");
    set_cmdline(&root, "ignition.platform.id=scaleway");
    fs::write(
        root.join("run/metadata/afterburn"),
        "AFTERBURN_SCALEWAY_HOSTNAME=scw-node\nAFTERBURN_SCALEWAY_INSTANCE_TYPE=PLAY2-NANO\n",
    )
    .unwrap();
    assert_eq!(
        instance_type(&collect(&root)).as_deref(),
        Some("PLAY2-NANO")
    );
}

#[test]
fn a_type_key_of_another_platform_is_never_read() {
    let root = copy_of("kubevirt-fcos-x86_64");
    // Nothing names the platform: no kernel argument, no DMI.
    set_cmdline(&root, "root=UUID=1e2d3c4b-5a69-4788-97a6-b5c4d3e2f1a0 rw");
    fs::remove_dir_all(root.join("sys/class/dmi")).unwrap();
    let afterburn = root.join("run/metadata/afterburn");
    let mut text = fs::read_to_string(&afterburn).unwrap();
    text.push_str("AFTERBURN_AWS_INSTANCE_TYPE=m5.large\n");
    fs::write(&afterburn, text).unwrap();
    let r = collect(&root);
    assert_eq!(platform(&r), PlatformId::Unknown);
    assert_eq!(instance_type(&r), None, "a type key on an unknown platform");
}

// ---- the instance type on stock machines, where afterburn's file is absent ----

/// A metadata service that answers from memory and counts what it is asked (the collectors
/// never open a socket; the daemon's real client is tested against loopback stand-ins).
#[derive(Default)]
struct Answering {
    answer: Option<String>,
    asked: Mutex<Vec<MetadataProvider>>,
    calls: AtomicUsize,
}

impl Answering {
    fn with(answer: &str) -> Arc<Answering> {
        Arc::new(Answering {
            answer: Some(answer.to_owned()),
            ..Answering::default()
        })
    }

    fn asked(&self) -> Vec<MetadataProvider> {
        self.asked.lock().unwrap().clone()
    }
}

impl MetadataSource for Answering {
    fn instance_type(&self, provider: MetadataProvider) -> Option<String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.asked.lock().unwrap().push(provider);
        self.answer.clone()
    }
}

fn collect_asking(root: &Path, level: Level, source: &Arc<Answering>) -> Collection {
    let source: Arc<dyn MetadataSource> = source.clone();
    build_collection(
        root,
        level,
        &[],
        &headcount_report::Rules::default(),
        Window::Daily,
        now(),
        Some(source),
    )
    .unwrap()
}

fn type_of(c: &Collection) -> Option<String> {
    instance_type(&c.report)
}

/// A copy of `kind` as Fedora CoreOS ships it: no afterburn attributes file.
fn stock(kind: &str) -> Scratch {
    let root = copy_of(kind);
    fs::remove_file(root.join("run/metadata/afterburn")).unwrap();
    root
}

/// An AWS instance on the Xen hypervisor (t2, m4, c4, ...): DMI vendor `Xen`, product
/// `HVM domU`, a BIOS version naming Amazon; no type in DMI.
fn xen_aws() -> Scratch {
    let root = stock("aws-fcos-x86_64");
    let dmi = root.join("sys/class/dmi/id");
    for (file, value) in [
        ("sys_vendor", "Xen"),
        ("product_name", "HVM domU"),
        ("bios_vendor", "Xen"),
        ("bios_version", "4.11.amazon"),
        ("board_vendor", "Xen"),
        ("chassis_vendor", "Xen"),
    ] {
        fs::write(dmi.join(file), format!("{value}\n")).unwrap();
    }
    for file in ["chassis_asset_tag", "board_asset_tag"] {
        fs::remove_file(dmi.join(file)).unwrap();
    }
    root
}

#[test]
fn a_stock_aws_nitro_instance_reports_the_dmi_product_name_without_asking() {
    let root = stock("aws-fcos-x86_64");
    let service = Answering::with("c5.xlarge");
    let c = collect_asking(&root, Level::Minimal, &service);
    assert_eq!(type_of(&c).as_deref(), Some("m5.large"));
    assert_eq!(c.instance_type_source, Some(InstanceTypeSource::Dmi));
    assert!(service.asked().is_empty(), "DMI had it: no query");
    // A product name that is no instance type is not reported, and the service is asked.
    fs::write(root.join("sys/class/dmi/id/product_name"), "Amazon EC2\n").unwrap();
    let c = collect_asking(&root, Level::Minimal, &service);
    assert_eq!(type_of(&c).as_deref(), Some("c5.xlarge"));
    assert_eq!(
        c.instance_type_source,
        Some(InstanceTypeSource::MetadataService(MetadataProvider::Aws))
    );
}

#[test]
fn afterburn_s_value_wins_and_the_service_is_not_asked() {
    for kind in ["aws-fcos-x86_64", "azure-fcos-x86_64", "gcp-fcos-x86_64"] {
        let service = Answering::with("m6i.large");
        let c = collect_asking(&fixture(kind), Level::Minimal, &service);
        assert!(type_of(&c).is_some(), "{kind}");
        assert_eq!(c.instance_type_source, Some(InstanceTypeSource::Afterburn));
        assert!(service.asked().is_empty(), "{kind}");
    }
}

#[test]
fn stock_aws_xen_azure_and_gcp_machines_ask_their_own_provider_once_per_report() {
    let cases = [
        (xen_aws(), MetadataProvider::Aws, "t2.micro", "t2.micro"),
        (
            stock("azure-fcos-x86_64"),
            MetadataProvider::Azure,
            "Standard_B2s",
            "Standard_B2s",
        ),
        (
            stock("gcp-fcos-x86_64"),
            MetadataProvider::Gcp,
            "projects/408213637716/machineTypes/e2-medium",
            "e2-medium",
        ),
    ];
    for (root, provider, answer, reported) in cases {
        for level in [Level::Minimal, Level::Full] {
            let service = Answering::with(answer);
            let c = collect_asking(&root, level, &service);
            assert_eq!(type_of(&c).as_deref(), Some(reported), "{provider} {level}");
            assert_eq!(
                c.instance_type_source,
                Some(InstanceTypeSource::MetadataService(provider))
            );
            assert_eq!(service.asked(), vec![provider], "{level}");
            assert_eq!(c.metadata_not_asked, None);
        }
        // Files only: nothing is asked, and the collection says which service would have been.
        let c = build_collection(
            &root,
            Level::Minimal,
            &[],
            &headcount_report::Rules::default(),
            Window::Daily,
            now(),
            None,
        )
        .unwrap();
        assert_eq!(type_of(&c), None);
        assert_eq!(c.metadata_not_asked, Some(provider));
        assert_eq!(c.instance_type_source, None);
    }
}

#[test]
fn the_service_is_never_asked_at_level_off_when_excluded_or_on_an_unnamed_platform() {
    let root = stock("gcp-fcos-x86_64");
    let service = Answering::with("projects/1/machineTypes/e2-medium");
    let dyn_source = || -> Option<Arc<dyn MetadataSource>> { Some(service.clone()) };
    assert!(
        build_collection(
            &root,
            Level::Off,
            &[],
            &headcount_report::Rules::default(),
            Window::Daily,
            now(),
            dyn_source()
        )
        .is_none()
    );
    for exclude in ["instance-type", "platform"] {
        let c = build_collection(
            &root,
            Level::Full,
            &[exclude.to_owned()],
            &headcount_report::Rules::default(),
            Window::Daily,
            now(),
            dyn_source(),
        )
        .unwrap();
        assert_eq!(type_of(&c), None, "{exclude}");
    }
    // Nothing names the platform: no kernel argument, no DMI.
    set_cmdline(&root, "root=UUID=1e2d3c4b-5a69-4788-97a6-b5c4d3e2f1a0 rw");
    fs::remove_dir_all(root.join("sys/class/dmi")).unwrap();
    let c = collect_asking(&root, Level::Full, &service);
    assert_eq!(platform(&c.report), PlatformId::Unknown);
    // A platform with no metadata service to ask.
    set_cmdline(&root, "ignition.platform.id=openstack");
    let c = collect_asking(&root, Level::Full, &service);
    assert_eq!(platform(&c.report), PlatformId::Openstack);
    assert_eq!(type_of(&c), None);
    assert_eq!(service.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn dmi_alone_may_name_the_provider_and_a_plain_hyper_v_machine_is_never_asked() {
    // No platform on the kernel command line, or metal from a live ISO: DMI decides, and
    // Google's or Azure's firmware positively names the provider.
    for (kind, cmdline, provider, answer, reported) in [
        (
            "gcp-fcos-x86_64",
            "root=UUID=9a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d rw",
            MetadataProvider::Gcp,
            "projects/1/machineTypes/e2-medium",
            "e2-medium",
        ),
        (
            "azure-fcos-x86_64",
            "ignition.platform.id=metal rw",
            MetadataProvider::Azure,
            "Standard_B2s",
            "Standard_B2s",
        ),
    ] {
        let root = stock(kind);
        set_cmdline(&root, cmdline);
        let service = Answering::with(answer);
        let c = collect_asking(&root, Level::Minimal, &service);
        assert_eq!(type_of(&c).as_deref(), Some(reported), "{kind}");
        assert_eq!(service.asked(), vec![provider], "{kind}");
    }
    // Hyper-V outside Azure: Microsoft's firmware without Azure's chassis asset tag names
    // Hyper-V, a platform with no metadata service, so nothing is asked.
    let root = stock("azure-fcos-x86_64");
    set_cmdline(&root, "ignition.platform.id=metal rw");
    fs::remove_file(root.join("sys/class/dmi/id/chassis_asset_tag")).unwrap();
    let service = Answering::with("Standard_B2s");
    let c = collect_asking(&root, Level::Full, &service);
    assert_eq!(platform(&c.report), PlatformId::Hyperv);
    assert_eq!(type_of(&c), None);
    assert!(service.asked().is_empty());
}

#[test]
fn a_service_answer_carrying_an_identifier_is_other() {
    let cases = [
        (xen_aws(), "i-0abc123def4567890"),
        (xen_aws(), "172.31.5.17"),
        (xen_aws(), "ip-172-31-5-17.ec2.internal"),
        (stock("azure-fcos-x86_64"), "10.0.0.4"),
        (
            stock("azure-fcos-x86_64"),
            "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
        ),
        (stock("azure-fcos-x86_64"), "fcos-vm-1"),
        (stock("gcp-fcos-x86_64"), "fcos-worker-2"),
        (
            stock("gcp-fcos-x86_64"),
            "projects/408213637716/machineTypes/fcos-worker-2.c.my-project-1234.internal",
        ),
        (stock("gcp-fcos-x86_64"), "10.128.0.5"),
    ];
    for (root, planted) in cases {
        let c = collect_asking(&root, Level::Full, &Answering::with(planted));
        assert_eq!(type_of(&c).as_deref(), Some("other"), "{planted}");
        let body = String::from_utf8(c.report.to_body()).unwrap();
        assert!(!body.contains(planted), "{body}");
        let text = headcount_collect::render_text(&c);
        assert!(!text.contains(planted), "{text}");
    }
}

// ---- platform detection ----

#[test]
fn a_metal_install_inside_hyper_v_reports_hyperv_and_no_system_vendor() {
    let r = collect(&fixture("hyperv-metal-id-fcos-x86_64"));
    assert_eq!(platform(&r), PlatformId::Hyperv);
    assert_eq!(
        system_vendor(&r),
        None,
        "Microsoft is the hypervisor's name"
    );
}

#[test]
fn a_metal_install_in_an_unnamed_vm_is_not_metal() {
    let root = copy_of("hyperv-metal-id-fcos-x86_64");
    for f in [
        "sys_vendor",
        "product_name",
        "product_version",
        "bios_vendor",
    ] {
        fs::write(root.join("sys/class/dmi/id").join(f), "Example Systems\n").unwrap();
    }
    let r = collect(&root);
    assert_eq!(platform(&r), PlatformId::Unknown, "the CPU says hypervisor");
    assert_eq!(system_vendor(&r), None);
}

#[test]
fn cloudstack_guests_are_cloudstack_not_kvm() {
    let r = collect(&fixture("cloudstack-ubuntu-x86_64"));
    assert_eq!(platform(&r), PlatformId::Cloudstack);
    assert_eq!(system_vendor(&r), None);
}

#[test]
fn the_last_ignition_platform_id_wins() {
    let root = copy_of("aws-fcos-x86_64");
    let cmdline = fs::read_to_string(root.join("proc/cmdline")).unwrap();
    set_cmdline(
        &root,
        &format!("{} ignition.platform.id=gcp", cmdline.trim()),
    );
    assert_eq!(platform(&collect(&root)), PlatformId::Gcp);
}

#[test]
fn flatcar_oem_id_names_the_platform() {
    let root = copy_of("qemu-fcos-x86_64");
    for (arg, want) in [
        ("flatcar.oem.id=digitalocean", PlatformId::Digitalocean),
        ("flatcar.oem.id=ec2", PlatformId::Aws),
        ("coreos.oem.id=gce", PlatformId::Gcp),
        ("flatcar.oem.id=pxe", PlatformId::Metal),
    ] {
        set_cmdline(
            &root,
            &format!("BOOT_IMAGE=/flatcar/vmlinuz-a {arg} root=LABEL=ROOT"),
        );
        // pxe on a QEMU machine is a VM whatever the argument says.
        let want = if want == PlatformId::Metal {
            PlatformId::Qemu
        } else {
            want
        };
        assert_eq!(platform(&collect(&root)), want, "{arg}");
    }
}

#[test]
fn every_ignition_platform_id_is_a_label() {
    let root = copy_of("metal-fcos-x86_64");
    for id in ["brightbox", "file", "nvidiabluefield", "akamai", "hyperv"] {
        set_cmdline(&root, &format!("ignition.platform.id={id}"));
        assert_eq!(platform(&collect(&root)).as_str(), id);
    }
}

#[test]
fn a_raspberry_pi_under_u_boot_is_metal() {
    let r = collect(&fixture("rpi4-fcos-aarch64"));
    assert_eq!(platform(&r), PlatformId::Metal);
    assert_eq!(system_vendor(&r).as_deref(), Some("Raspberry Pi"));

    // Older U-Boot writes only "Unknown"; the device tree still names the board.
    let root = copy_of("rpi4-fcos-aarch64");
    set_cmdline(&root, "BOOT_IMAGE=(hd0,gpt2)/vmlinuz root=UUID=0e1f2a3b rw");
    let dmi = root.join("sys/class/dmi/id");
    fs::write(dmi.join("sys_vendor"), "Unknown\n").unwrap();
    fs::write(dmi.join("product_name"), "Unknown Product\n").unwrap();
    assert_eq!(platform(&collect(&root)), PlatformId::Metal);
    // Without the device tree, an unknown DMI vendor on aarch64 proves nothing.
    fs::remove_dir_all(root.join("sys/firmware/devicetree")).unwrap();
    assert_eq!(platform(&collect(&root)), PlatformId::Unknown);
}

#[test]
fn an_arm_guest_with_an_unknown_dmi_vendor_is_not_metal() {
    let root = copy_of("oraclecloud-fcos-aarch64");
    set_cmdline(&root, "BOOT_IMAGE=(hd0,gpt2)/vmlinuz root=UUID=6a7b8c9d rw");
    let dmi = root.join("sys/class/dmi/id");
    fs::write(dmi.join("sys_vendor"), "Example Cloud\n").unwrap();
    fs::write(dmi.join("product_name"), "Standard VM\n").unwrap();
    fs::write(dmi.join("chassis_asset_tag"), "\n").unwrap();
    let r = collect(&root);
    assert_eq!(platform(&r), PlatformId::Unknown);
    assert_eq!(system_vendor(&r), None);
}

#[test]
fn ibm_z_sysinfo_tells_z_vm_kvm_and_lpar_apart() {
    // proc/sysinfo as systemd's detect_vm_zvm reads it: a guest lists its control program.
    let root = scratch("s390x");
    fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("proc/sys/kernel/arch"), "s390x\n").unwrap();
    fs::write(root.join("proc/cpuinfo"), "vendor_id       : IBM/S390\n").unwrap();
    set_cmdline(&root, "ignition.platform.id=metal rd.znet=qeth,0.0.bdf0");
    let base =
        "Manufacturer:         IBM\nType:                 3931\nLPAR Name:            LP01\n";
    for (vm, want) in [
        ("", PlatformId::Metal),
        ("VM00 Control Program: z/VM    7.3.0\n", PlatformId::Zvm),
        ("VM00 Control Program: KVM/Linux\n", PlatformId::Qemu),
    ] {
        fs::write(root.join("proc/sysinfo"), format!("{base}{vm}")).unwrap();
        assert_eq!(platform(&collect(&root)), want, "{vm}");
    }
}

// ---- containers started by Quadlet ----

#[test]
fn quadlet_containers_are_counted() {
    let r = collect(&fixture("quadlet-fcos-x86_64"));
    let podman = r.containers.unwrap().podman.unwrap();
    assert!(podman.active, "no socket, but three containers run");
    assert_eq!(podman.running.unwrap().as_str(), "2-4");
}

// ---- cloud block volumes ----

#[test]
fn oracle_block_volumes_are_virtual_disks() {
    let disks = collect(&fixture("oraclecloud-fcos-aarch64"))
        .hardware
        .unwrap()
        .disks
        .unwrap();
    assert_eq!(disks.r#virtual.as_str(), "2-4");
    assert_eq!(disks.hdd.as_str(), "0");
    assert_eq!(disks.ssd.as_str(), "0");
}

// ---- what later collectors build on ----

#[test]
fn the_detection_says_what_decided_the_platform() {
    use headcount_collect::{HardwareVerdict, PlatformSource, Root, detect_platform};
    let d = detect_platform(&Root::new(&fixture("hyperv-metal-id-fcos-x86_64")));
    assert_eq!(d.id, PlatformId::Hyperv);
    assert_eq!(d.source, PlatformSource::Hardware);
    assert_eq!(d.hardware, Some(HardwareVerdict::Named(PlatformId::Hyperv)));
    // A kernel argument naming a cloud is taken as it is: the hardware is not read.
    let d = detect_platform(&Root::new(&fixture("aws-fcos-x86_64")));
    assert_eq!(d.id, PlatformId::Aws);
    assert_eq!(
        d.source,
        PlatformSource::KernelArgument("ignition.platform.id")
    );
    assert_eq!(d.hardware, None);
    let d = detect_platform(&Root::new(&fixture("rpi4-fcos-aarch64")));
    assert_eq!(
        (d.id, d.hardware),
        (PlatformId::Metal, Some(HardwareVerdict::Metal))
    );
}
