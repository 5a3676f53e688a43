//! Identifiers planted where a custom derived image or a private cloud writes them: os-release,
//! the aleph file, afterburn's attributes, DMI and the kernel command line. None may reach the
//! report or the preview; each open field says `other` (or nothing) instead, and a receiver
//! applying the contract's rules counts exactly what was sent.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use headcount_collect::{build_collection, render_text};
use headcount_report::{Level, PlatformId, Report, Rules, Window, validate};

/// A scratch copy of a fixture root, installed when the fixture says.
fn installed_copy(kind: &str) -> Scratch {
    let root = copy_of(kind);
    set_installed(&root, meta(kind).installed);
    root
}

/// Writes `text` at `rel`, replacing a link (os-release links to usr/lib) with a file.
fn plant(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    let _ = fs::remove_file(&p);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

/// Collects at level full and checks that no planted value reached the body or the preview,
/// and that a receiver reads the body back as the same report.
fn collect_clean(root: &Path, planted: &[&str]) -> Report {
    let collection = build_collection(
        root,
        Level::Full,
        &[],
        &Rules::default(),
        Window::Daily,
        now(),
        None,
    )
    .unwrap();
    let report = collection.report.clone();
    let body = report.to_body();
    assert_eq!(
        validate(&body).unwrap(),
        report,
        "the receiver counts it as sent"
    );
    let body = String::from_utf8(body).unwrap().to_lowercase();
    let text = render_text(&collection).to_lowercase();
    for p in planted {
        let p = p.to_lowercase();
        assert!(!body.contains(&p), "report carries {p:?}: {body}");
        assert!(!text.contains(&p), "preview carries {p:?}");
    }
    report
}

/// The os fields as `id variant_id version_id build`, `-` where absent.
fn os_line(r: &Report) -> String {
    let os = r.os.as_ref().unwrap();
    let shown = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    [
        os.id.as_ref().map(ToString::to_string),
        os.variant_id.as_ref().map(ToString::to_string),
        os.version_id.as_ref().map(ToString::to_string),
        os.build.as_ref().map(ToString::to_string),
    ]
    .map(shown)
    .join(" ")
}

fn instance_type(r: &Report) -> Option<String> {
    r.platform
        .as_ref()
        .and_then(|p| p.instance_type.as_ref())
        .map(|t| t.to_string())
}

const OTHER: Option<&str> = Some("other");

#[test]
fn os_release_of_a_derived_image() {
    // A derivative that names itself after the site, its host and its build pipeline.
    let root = installed_copy("aws-fcos-x86_64");
    let planted = [
        "acme-host42",
        "web1.example.com",
        "10.20.30.40",
        "4f3c9a1e0b2d4c8e9f7a6b5c4d3e2f11",
    ];
    plant(
        &root,
        "usr/lib/os-release",
        "NAME=\"ACME\"\nID=acme-host42\nVARIANT_ID=web1.example.com\nVERSION_ID=10.20.30.40\n\
         OSTREE_VERSION='4f3c9a1e0b2d4c8e9f7a6b5c4d3e2f11'\n",
    );
    let r = collect_clean(&root, &planted);
    // An unknown OS: no version, no build, no original build.
    assert_eq!(os_line(&r), "other other - -");
    assert!(r.original_os.is_none());

    // Fedora's own ID, with identifiers in its version and build.
    let root = installed_copy("aws-fcos-x86_64");
    let planted = [
        "4f3c9a1e0b2d4c8e9f7a6b5c4d3e2f11",
        "52:54:00:12:34:56",
        "build-host-7.corp",
        "192.168.4.2",
    ];
    plant(
        &root,
        "usr/lib/os-release",
        "ID=fedora\nVARIANT_ID=coreos\nVERSION_ID=4f3c9a1e0b2d4c8e9f7a6b5c4d3e2f11\n\
         OSTREE_VERSION='43.20261102.3.0-52:54:00:12:34:56'\nBUILD_ID=build-host-7.corp\n\
         IMAGE_VERSION=192.168.4.2\n",
    );
    let r = collect_clean(&root, &planted);
    assert_eq!(os_line(&r), "fedora coreos other other");

    // A build that embeds a host name after a real-looking version; an address as VERSION_ID.
    let root = installed_copy("aws-fcos-x86_64");
    let planted = ["node07", "172.16.9.1"];
    plant(
        &root,
        "usr/lib/os-release",
        "ID=rhcos\nVARIANT_ID=coreos\nVERSION_ID=\"172.16.9.1\"\n\
         OSTREE_VERSION=\"416.94.202505211447-0.node07\"\n",
    );
    let r = collect_clean(&root, &planted);
    assert_eq!(os_line(&r), "rhcos coreos other other");
}

#[test]
fn aleph_files_with_identifiers() {
    for (name, file, content, planted) in [
        (
            "uuid",
            "sysroot/.coreos-aleph-version.json",
            r#"{"build": "e6c4d1a2-3b5f-4c7d-9e8f-0a1b2c3d4e5f", "ref": ""}"#,
            "e6c4d1a2-3b5f-4c7d-9e8f-0a1b2c3d4e5f",
        ),
        (
            "host",
            "sysroot/.coreos-aleph-version.json",
            r#"{"version": "fcos-node-07.lab.example.com"}"#,
            "fcos-node-07",
        ),
        (
            "hash",
            "sysroot/.coreos-aleph-version.json",
            r#"{"build": "43.20261102.3.0+deadbeefcafe1234"}"#,
            "deadbeefcafe1234",
        ),
        (
            "site-label",
            "sysroot/.coreos-aleph-version.json",
            r#"{"build": "acme-golden-image-2024.1"}"#,
            "acme-golden",
        ),
    ] {
        let root = installed_copy("aws-fcos-x86_64");
        plant(&root, file, content);
        let r = collect_clean(&root, &[planted]);
        assert!(r.original_os.unwrap().build.is_other(), "{name}");
    }
    // bootc's aleph: a local build's own version label.
    let root = installed_copy("qemu-fcos-x86_64");
    for f in [".coreos-aleph-version.json", ".aleph-version.json"] {
        fs::remove_file(root.join("sysroot").join(f)).unwrap();
    }
    plant(
        &root,
        "sysroot/.bootc-aleph.json",
        r#"{"digest":"sha256:0","kernel":"6.17.7","labels":{},"selinux":"enforcing","target-image":"registry.acme.internal/os:prod","timestamp":null,"version":"prod-10.1.2.3"}"#,
    );
    let r = collect_clean(&root, &["prod-10", "registry.acme"]);
    assert!(r.original_os.unwrap().build.is_other());
}

/// (platform id on the command line, afterburn key, planted value, what is reported)
const AFTERBURN: &[(&str, &str, &str, Option<&str>)] = &[
    // An instance ID where the type should be.
    ("aws", "AWS_INSTANCE_TYPE", "i-0abc123def4567890", OTHER),
    // A private cloud's operator-named flavors.
    (
        "openstack",
        "OPENSTACK_INSTANCE_TYPE",
        "compute-node-17.dc1",
        OTHER,
    ),
    (
        "openstack",
        "OPENSTACK_INSTANCE_TYPE",
        "acme-gpu-flavor",
        OTHER,
    ),
    (
        "cloudstack",
        "CLOUDSTACK_SERVICE_OFFERING",
        "web-tier-acme",
        OTHER,
    ),
    ("kubevirt", "KUBEVIRT_INSTANCE_TYPE", "acme-large-vm", OTHER),
    // GCP's path with a project that is a name, not a number: nothing is taken off.
    (
        "gcp",
        "GCP_MACHINE_TYPE",
        "projects/acme-prod-1234/machineTypes/n2-standard-4",
        OTHER,
    ),
    (
        "gcp",
        "GCP_MACHINE_TYPE",
        "projects/408213637716/machineTypes/acme-build-box",
        OTHER,
    ),
    ("azure", "AZURE_VMSIZE", "Standard_D2s_v5-acmehost42", OTHER),
    (
        "scaleway",
        "SCALEWAY_INSTANCE_TYPE",
        "scw-acme-prod-1",
        OTHER,
    ),
    (
        "oraclecloud",
        "ORACLECLOUD_INSTANCE_SHAPE",
        "ocid1.instance.oc1.iad.anuwc",
        OTHER,
    ),
    (
        "aliyun",
        "ALIYUN_INSTANCE_TYPE",
        "i-bp67acfmxazb4p****",
        OTHER,
    ),
    ("akamai", "AKAMAI_INSTANCE_TYPE", "10.0.0.7", OTHER),
    (
        "exoscale",
        "EXOSCALE_SERVICE_OFFERING",
        "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
        OTHER,
    ),
    ("packet", "PACKET_PLAN", "c3.small.x86.acme.net", OTHER),
];

#[test]
fn afterburn_attributes_with_identifiers() {
    for (platform, key, value, want) in AFTERBURN {
        let root = installed_copy("kubevirt-fcos-x86_64");
        plant(
            &root,
            "proc/cmdline",
            &format!("ignition.platform.id={platform}\n"),
        );
        plant(
            &root,
            "run/metadata/afterburn",
            &format!(
                "AFTERBURN_{key}={value}\nAFTERBURN_{}_HOSTNAME=acme-host42\n",
                platform.to_uppercase()
            ),
        );
        let r = collect_clean(&root, &[value, "acme-host42"]);
        assert_eq!(r.platform.as_ref().unwrap().id.as_str(), *platform);
        assert_eq!(instance_type(&r).as_deref(), *want, "{platform} {value}");
    }
}

#[test]
fn dmi_and_command_line_with_identifiers() {
    // A white-box server whose DMI strings are the site's asset labels.
    let root = installed_copy("metal-fcos-x86_64");
    let dmi = "sys/class/dmi/id";
    let planted = [
        "acme-rack-17",
        "web1.example.com",
        "asset-0042",
        "00:25:90:aa:bb:cc",
    ];
    for (f, v) in [
        ("sys_vendor", "ACME-RACK-17"),
        ("product_name", "web1.example.com"),
        ("board_vendor", "ACME-RACK-17"),
        ("chassis_asset_tag", "asset-0042"),
        ("product_version", "00:25:90:aa:bb:cc"),
        ("bios_vendor", "asset-0042"),
    ] {
        plant(&root, &format!("{dmi}/{f}"), &format!("{v}\n"));
    }
    let r = collect_clean(&root, &planted);
    assert_eq!(r.platform.as_ref().unwrap().id, PlatformId::Metal);
    assert!(r.hardware.unwrap().system_vendor.unwrap().is_other());

    // A command line naming a platform that is the site's own, with its addresses.
    let root = installed_copy("aws-fcos-x86_64");
    let planted = ["acme-host42", "10.1.2.3", "web1.example.com"];
    plant(
        &root,
        "proc/cmdline",
        "ignition.platform.id=acme-host42 ip=10.1.2.3::10.1.2.1:255.255.255.0:web1.example.com:eth0:none\n",
    );
    let r = collect_clean(&root, &planted);
    // A platform outside the set is unknown, and an unknown platform has no instance type.
    assert_eq!(r.platform.as_ref().unwrap().id, PlatformId::Unknown);
    assert_eq!(instance_type(&r), None);
}

/// Every fixture root with identifiers planted in every file read at once: the report says
/// nothing of them, and a receiver counts exactly what was sent.
#[test]
fn every_root_with_every_file_planted() {
    let planted = [
        "acme-host42",
        "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "198.51.100.23",
        "de:ad:be:ef:00:42",
        "node42.acme.internal",
    ];
    for (kind, _) in fixtures() {
        let root = installed_copy(&kind);
        plant(
            &root,
            "usr/lib/os-release",
            "ID=acme-host42\nVARIANT_ID=node42.acme.internal\nVERSION_ID=198.51.100.23\n\
             OSTREE_VERSION=0a1b2c3d4e5f60718293a4b5c6d7e8f9\n",
        );
        for aleph in [
            ".coreos-aleph-version.json",
            ".aleph-version.json",
            ".bootc-aleph.json",
        ] {
            plant(
                &root,
                &format!("sysroot/{aleph}"),
                r#"{"build":"de:ad:be:ef:00:42","version":"node42.acme.internal"}"#,
            );
        }
        let afterburn: String = [
            "AWS_INSTANCE_TYPE",
            "AZURE_VMSIZE",
            "GCP_MACHINE_TYPE",
            "OPENSTACK_INSTANCE_TYPE",
            "KUBEVIRT_INSTANCE_TYPE",
            "ORACLECLOUD_INSTANCE_SHAPE",
            "CLOUDSTACK_SERVICE_OFFERING",
        ]
        .iter()
        .map(|k| format!("AFTERBURN_{k}=node42.acme.internal\n"))
        .collect();
        plant(&root, "run/metadata/afterburn", &afterburn);
        if root.join("sys/class/dmi/id").is_dir() {
            plant(&root, "sys/class/dmi/id/sys_vendor", "acme-host42\n");
            plant(
                &root,
                "sys/class/dmi/id/product_name",
                "node42.acme.internal\n",
            );
        }
        let cmdline = fs::read_to_string(root.join("proc/cmdline")).unwrap_or_default();
        plant(
            &root,
            "proc/cmdline",
            &format!("{} hostname=acme-host42 ip=198.51.100.23\n", cmdline.trim()),
        );
        let r = collect_clean(&root, &planted);
        let os = r.os.as_ref().unwrap();
        assert!(os.id.as_ref().unwrap().is_other(), "{kind}");
        assert!(os.version_id.is_none() && os.build.is_none() && r.original_os.is_none());
        if let Some(t) = instance_type(&r) {
            assert_eq!(t, "other", "{kind}");
        }
    }
}
