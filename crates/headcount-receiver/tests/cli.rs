//! The command line: config errors (exit 78, file and key named) and native TLS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;

use common::{BIN, Backend, Receiver, report, run};

fn serve_with_config(b: &Backend, text: &str) -> (i32, String) {
    let config = b.config(text).display().to_string();
    let (code, _, err) = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &b.url,
            "--config",
            &config,
        ],
        b"",
    );
    (code, err)
}

#[test]
fn invalid_config_exits_78_naming_file_and_key() {
    let b = Backend::sqlite();
    let file = b.dir.path().join("receiver.toml").display().to_string();

    let (code, err) = serve_with_config(&b, "[counts]\nk = 10\nkay = 3\n");
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains(&file) && err.contains("kay") && err.contains("line 3"),
        "{err}"
    );

    let (code, err) = serve_with_config(
        &b,
        "[counts]\nk = 0\ncrosstabs = [[\"arch\", \"hostname\"]]\ngrace_secs = 100000\n[privacy]\nepsilon = -1\n[tls]\ncertificate = \"/nonexistent.pem\"\n",
    );
    assert_eq!(code, 78, "{err}");
    for needle in [
        "counts.k:",
        "counts.crosstabs[0]: unknown field \"hostname\"",
        "counts.grace_secs: 100000",
        "privacy.epsilon: -1 is out of range",
        "tls.key: missing",
    ] {
        assert!(
            err.lines().any(|l| l.contains(&file) && l.contains(needle)),
            "{needle}: {err}"
        );
    }

    let (code, err) = serve_with_config(
        &b,
        "[tls]\ncertificate = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
    );
    assert_eq!(code, 78, "{err}");
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    // Nothing was created for a config that never got to start.
    assert!(!b.dir.path().join("counts.db").exists());
}

#[test]
fn bad_database_url_is_a_usage_error() {
    let (code, _, err) = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            "mysql://u:pw@h/db",
        ],
        b"",
    );
    assert_eq!(code, 2);
    assert!(err.contains("sqlite:PATH") && !err.contains("pw@"), "{err}");
}

/// Each exit status the binary has is reached by the case the usage page gives for it, and the
/// page's table lists exactly these.
#[test]
fn every_exit_status_is_documented_and_reached() {
    let b = Backend::sqlite();
    let missing = b.dir.path().join("missing.csv").display().to_string();
    let garbage = b.dir.path().join("garbage.csv");
    std::fs::write(&garbage, "not,what,export,writes\n").unwrap();
    let garbage = garbage.display().to_string();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let empty = b.dir.path().join("empty.csv");
    std::fs::write(&empty, "window,period,field,value,count\n").unwrap();
    let empty = empty.display().to_string();
    let cases: [(&[&str], i32); 6] = [
        (&["import", "--database", &b.url, &empty], 0),
        (&["import", "--database", &b.url, &missing], 1),
        (&["export", "--database", &b.url, "--window", "daily"], 2),
        (&["import", "--database", &b.url, &garbage], 65),
        (&["serve", "--listen", &taken, "--database", &b.url], 69),
        // Export reads the config for its countme spellings.
        (
            &[
                "export",
                "--database",
                &b.url,
                "--format",
                "countme-totals",
                "--from",
                "2026-W01",
                "--to",
                "2026-W01",
                "--config",
                "/nonexistent/receiver.toml",
            ],
            78,
        ),
    ];
    for (args, expected) in cases {
        let (code, _, err) = run(args, b"");
        assert_eq!(code, expected, "{args:?}: {err}");
        if code != 0 {
            assert!(
                err.lines().any(|l| l.starts_with("error: ")),
                "{args:?}: {err}"
            );
        }
    }

    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/usage/receiver.md"),
    )
    .unwrap();
    let documented: Vec<i32> = page
        .lines()
        .skip_while(|l| !l.starts_with("Exit status"))
        .skip_while(|l| !l.starts_with("| Status"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.split('|')
                .nth(1)
                .unwrap()
                .trim()
                .trim_matches('*')
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(documented, cases.map(|(_, code)| code));
}

fn openssl(args: &[&str], dir: &std::path::Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl (Debian package openssl, in tests/apt-packages): {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate for 127.0.0.1 signed by it, made with the openssl command.
/// Returns (CA certificate, server certificate, server key).
fn certificate(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-subj",
        "/CN=headcount test CA",
        "-days",
        "2",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&ca, dir);
    let mut csr = vec!["req", "-new"];
    csr.extend(ec);
    csr.extend([
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    openssl(&csr, dir);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "cert.pem",
        ],
        dir,
    );
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

#[test]
fn native_tls_serves_reports() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};

    let b = Backend::sqlite();
    let (ca, cert, key) = certificate(b.dir.path());
    let config = b.config(&format!(
        "[tls]\ncertificate = \"{}\"\nkey = \"{}\"\n[connections]\nrequest_timeout_secs = 2\n",
        cert.display(),
        key.display()
    ));
    let r = Receiver::start(&b.url, Some(&config));
    // A client that never starts its handshake is cut at the request timeout.
    let mut silent = TcpStream::connect(r.addr).unwrap();
    silent
        .set_read_timeout(Some(std::time::Duration::from_secs(8)))
        .unwrap();
    let t0 = std::time::Instant::now();
    assert_eq!(silent.read(&mut [0u8; 64]).unwrap_or(0), 0);
    assert!(t0.elapsed() < std::time::Duration::from_secs(8));
    assert!(
        r.log_text().contains("listening on https://"),
        "{}",
        r.log_text()
    );

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&ca).unwrap())
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let conn = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(r.addr).unwrap());
    let body = report("daily", "43", "x86_64");
    let mut req = format!(
        "POST /v1/report HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    tls.write_all(&req).unwrap();
    let mut resp = Vec::new();
    let _ = tls.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp);
    assert!(resp.starts_with("HTTP/1.1 202"), "{resp}");

    // Plain HTTP on the TLS port gets nothing counted.
    let mut plain = common::Client::connect(r.addr);
    assert!(plain.try_post(Some("application/json"), &body).is_err());
    let rows = common::export(&b.url, "daily", &common::period("daily"));
    assert_eq!(common::total(&rows, "level"), 1);
}

/// READY=1, then SIGTERM at once, as systemd may send it: the stop is graceful every time (the
/// signal handlers are in place before READY=1, not installed a moment after).
#[test]
fn tells_systemd_ready_and_stopping() {
    for round in 0..10 {
        ready_then_stopping(round);
    }
}

fn ready_then_stopping(round: usize) {
    use std::os::unix::net::UnixDatagram;

    let b = Backend::sqlite();
    let socket_path = b.dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &b.url])
        .env("NOTIFY_SOCKET", &socket_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).unwrap();
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap().trim(), "READY=1");
    // READY comes after the database is open and migrated.
    assert!(b.dir.path().join("counts.db").exists());
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "round {round}: {status:?}");
    let n = socket.recv(&mut buf).unwrap();
    assert_eq!(std::str::from_utf8(&buf[..n]).unwrap().trim(), "STOPPING=1");
}

/// The shipped unit keeps its hardening: `systemd-analyze security` exposure at most 1.2.
#[test]
fn unit_is_hardened() {
    let unit = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../systemd/headcount-receiver.service"
    );
    let out = Command::new("systemd-analyze")
        .args([
            "security",
            "--offline=true",
            "--threshold=12",
            "--no-pager",
            unit,
        ])
        .output()
        .unwrap_or_else(|e| panic!("systemd-analyze (Debian package systemd) is needed: {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exposure above 1.2:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Overall exposure level"), "{text}");
    let unit_text = std::fs::read_to_string(unit).unwrap();
    for line in [
        "Type=notify",
        "DynamicUser=yes",
        "StateDirectory=headcount-receiver",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=\n",
        "SystemCallFilter=@system-service",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "RestartPreventExitStatus=78",
    ] {
        assert!(unit_text.contains(line), "{line:?} missing from the unit");
    }
}
