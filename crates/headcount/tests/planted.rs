//! The real daemon, preview and schema on a machine whose files carry identifiers where a custom
//! derived image or a private cloud writes them (os-release, the aleph file, afterburn's
//! attributes, DMI, the kernel command line): none reaches a posted report, the preview, or a
//! line of the daemon's log (at info as shipped, and at debug too).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Receiver, Root};

/// Identifying values, each planted in one or more files the collectors read.
const PLANTED: &[&str] = &[
    "acme-host42",
    "node42.acme.internal",
    "198.51.100.23",
    "de:ad:be:ef:00:42",
    "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "5d0c8f3e-2b1a-4c9d-8e7f-6a5b4c3d2e1f",
    "i-0fed987cba6543210",
    "acme-gpu-flavor",
];

fn plant(root: &Root, rel: &str, text: &str) {
    let _ = std::fs::remove_file(root.path().join(rel));
    root.write(rel, text);
}

/// An OpenStack VM of a private cloud (the RHCOS fixture) with identifiers in every file read.
fn planted_root(config: &str) -> Root {
    let root = Root::new(config);
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/rhcos-openstack-x86_64/.");
    let status = Command::new("cp")
        .arg("-a")
        .arg(&fixture)
        .arg(root.path())
        .status()
        .unwrap();
    assert!(status.success());
    plant(
        &root,
        "usr/lib/os-release",
        "NAME=\"ACME OS\"\nID=acme-host42\nVARIANT_ID=node42.acme.internal\n\
         VERSION_ID=198.51.100.23\nOSTREE_VERSION='0a1b2c3d4e5f60718293a4b5c6d7e8f9'\n",
    );
    plant(
        &root,
        "sysroot/.coreos-aleph-version.json",
        r#"{"build": "5d0c8f3e-2b1a-4c9d-8e7f-6a5b4c3d2e1f", "ref": "node42.acme.internal"}"#,
    );
    plant(
        &root,
        "run/metadata/afterburn",
        "AFTERBURN_OPENSTACK_HOSTNAME=node42.acme.internal\n\
         AFTERBURN_OPENSTACK_INSTANCE_ID=i-0fed987cba6543210\n\
         AFTERBURN_OPENSTACK_IPV4_LOCAL=198.51.100.23\n\
         AFTERBURN_OPENSTACK_INSTANCE_TYPE=acme-gpu-flavor\n",
    );
    plant(&root, "sys/class/dmi/id/chassis_asset_tag", "acme-host42\n");
    plant(
        &root,
        "sys/class/dmi/id/product_serial",
        "i-0fed987cba6543210\n",
    );
    let cmdline = std::fs::read_to_string(root.path().join("proc/cmdline")).unwrap();
    plant(
        &root,
        "proc/cmdline",
        &format!(
            "{} hostname=acme-host42 ip=198.51.100.23::198.51.100.1:255.255.255.0:node42.acme.internal:eth0:none ifname=eth0:de:ad:be:ef:00:42\n",
            cmdline.trim()
        ),
    );
    root
}

fn assert_clean(what: &str, text: &str) {
    let lower = text.to_lowercase();
    for p in PLANTED {
        assert!(!lower.contains(p), "{what} carries {p:?}:\n{text}");
    }
}

#[test]
fn no_planted_value_reaches_a_report_or_the_log() {
    for level in ["info", "debug"] {
        let rx = Receiver::plain();
        let root = planted_root(&Root::config(&rx.url("http", "127.0.0.1"), ""));
        let level_env = std::ffi::OsString::from(level);
        let mut d = root.daemon_with(&[("HEADCOUNT_LOG", &level_env)]);
        let got = rx.wait_for(2, Duration::from_secs(20));
        let log = d.wait_log("sent monthly report", 1, Duration::from_secs(10));
        assert_eq!(got.len(), 2, "{log}");
        for r in &got {
            let body = std::str::from_utf8(&r.body).unwrap();
            assert_clean("a posted report", body);
            // The open fields said something, and said it as other.
            let json = r.json();
            assert_eq!(
                json["os"],
                serde_json::json!({"id":"other","variant_id":"other"})
            );
            assert_eq!(json["platform"]["instance_type"], "other");
            assert!(json.get("original_os").is_none(), "{body}");
        }
        assert!(log.contains("INFO"), "{log}");
        assert_clean(&format!("the log at {level}"), &log);
        d.terminate();
    }
}

#[test]
fn no_planted_value_reaches_the_preview() {
    let root = planted_root("[collecting]\nlevel = \"full\"\n");
    for args in [&["preview"][..], &["preview", "--json"]] {
        let out = root.command(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_clean("the preview", &String::from_utf8_lossy(&out.stdout));
        assert_clean(
            "the preview's messages",
            &String::from_utf8_lossy(&out.stderr),
        );
    }
}
