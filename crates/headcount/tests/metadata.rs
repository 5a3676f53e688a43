//! The cloud metadata client against a loopback stand-in of each provider's service (the one
//! mock this project allows: a cloud metadata service cannot run here), injected by constructor.
//! The stand-in speaks raw HTTP over TCP, so it can also answer slowly, endlessly, with
//! garbage, with redirects, and with identifiers in place of a type.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headcount::config::Settings;
use headcount::metadata::{
    AWS_INSTANCE_TYPE_PATH, AWS_TOKEN_HEADER, AWS_TOKEN_PATH, AWS_TOKEN_TTL_HEADER,
    AZURE_VMSIZE_PATH, Failure, GCP_MACHINE_TYPE_PATH, MAX_ANSWER_BYTES, MetadataClient,
};
use headcount::report_source::Collectors;
use headcount_collect::{MetadataProvider, MetadataSource};
use headcount_report::Window;

/// A token of the shape AWS hands out (base64).
const TOKEN: &str = "AQAEAFx3Lm9xaWdzZXJ2aWNlLXRva2VuLWZvci10ZXN0cw==";

/// One request the stand-in got.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the stand-in answers.
#[derive(Debug, Clone)]
enum Mode {
    /// As the provider's service does: checks the headers it requires, answers `answer`.
    Provider(MetadataProvider, Vec<u8>),
    /// Waits this long before answering as the provider would.
    Slow(MetadataProvider, Duration),
    /// Sends the head at once, then the body one byte every 300 ms.
    Drip,
    /// A 200 announcing and sending this many bytes.
    Huge(usize),
    /// A chunked 200 that never ends.
    Endless,
    /// Bytes that are no HTTP at all.
    NotHttp,
    /// This status with this `Location`.
    Redirect(u16, String),
    /// This status and nothing else.
    Status(u16),
    /// As the provider, except that the AWS token is this.
    AwsToken(Vec<u8>),
    /// GCE's answer without its `Metadata-Flavor: Google` header.
    GcpWithoutFlavor,
}

struct StandIn {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
}

impl StandIn {
    fn start(mode: Mode) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (s, c) = (seen.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let (s, mode) = (s.clone(), mode.clone());
                std::thread::spawn(move || serve(stream, &mode, &s));
            }
        });
        StandIn {
            port,
            seen,
            connections,
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn client(&self) -> MetadataClient {
        MetadataClient::with_base(&self.base())
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads one request head (and a body it announces), records it, answers per `mode`.
fn serve(stream: TcpStream, mode: &Mode, seen: &Mutex<Vec<Seen>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((n, v)) = h.trim_end().split_once(':') {
            headers.push((n.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let req = Seen {
        method,
        target,
        headers,
    };
    if let Some(n) = req.header("content-length").and_then(|v| v.parse().ok()) {
        let mut body = vec![0u8; n];
        let _ = reader.read_exact(&mut body);
    }
    seen.lock().unwrap().push(req.clone());
    let mut out = stream;
    let response = match mode {
        Mode::Provider(p, answer) => provider(*p, &req, answer, TOKEN.as_bytes()),
        Mode::Slow(p, wait) => {
            std::thread::sleep(*wait);
            provider(*p, &req, b"m5.large", TOKEN.as_bytes())
        }
        Mode::AwsToken(token) => provider(MetadataProvider::Aws, &req, b"m5.large", token),
        Mode::GcpWithoutFlavor => {
            let mut r = provider(
                MetadataProvider::Gcp,
                &req,
                b"projects/1/machineTypes/e2-medium",
                b"",
            );
            let text = String::from_utf8(r.clone()).unwrap();
            r = text.replace("Metadata-Flavor: Google\r\n", "").into_bytes();
            r
        }
        Mode::Drip => {
            let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n");
            for b in b"m5.large" {
                std::thread::sleep(Duration::from_millis(300));
                if out.write_all(&[*b]).is_err() {
                    return;
                }
            }
            return;
        }
        Mode::Huge(n) => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
            let _ = out.write_all(head.as_bytes());
            let chunk = vec![b'a'; 64 * 1024];
            let mut left = *n;
            while left > 0 {
                let k = left.min(chunk.len());
                if out.write_all(&chunk[..k]).is_err() {
                    return;
                }
                left -= k;
            }
            return;
        }
        Mode::Endless => {
            let _ = out.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            loop {
                if out.write_all(b"10\r\nm5.large.m5.larg\r\n").is_err() {
                    return;
                }
            }
        }
        Mode::NotHttp => b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02".to_vec(),
        Mode::Redirect(status, location) => {
            format!("HTTP/1.1 {status} Moved\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
                .into_bytes()
        }
        Mode::Status(status) => {
            format!("HTTP/1.1 {status} No\r\nContent-Length: 0\r\n\r\n").into_bytes()
        }
    };
    let _ = out.write_all(&response);
}

fn http(status: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// What each provider's service answers, with the checks it makes on the request (AWS IMDSv2:
/// a PUT for a token with its TTL, then the token on every GET; Azure: `Metadata: true`; GCE:
/// `Metadata-Flavor: Google`, echoed in the answer).
fn provider(p: MetadataProvider, req: &Seen, answer: &[u8], token: &[u8]) -> Vec<u8> {
    if matches!(p, MetadataProvider::Aws) && req.method == "PUT" && req.target == AWS_TOKEN_PATH {
        return match req.header(AWS_TOKEN_TTL_HEADER) {
            Some(_) => http("200 OK", "", token),
            None => http("400 Bad Request", "", b""),
        };
    }
    // The header each service requires, its answer without it, its path and its own headers.
    let (header, value, refused, path, extra) = match p {
        MetadataProvider::Aws => (
            AWS_TOKEN_HEADER,
            TOKEN,
            "401 Unauthorized",
            AWS_INSTANCE_TYPE_PATH,
            "",
        ),
        MetadataProvider::Azure => ("metadata", "true", "400 Bad Request", AZURE_VMSIZE_PATH, ""),
        MetadataProvider::Gcp => (
            "metadata-flavor",
            "Google",
            "403 Forbidden",
            GCP_MACHINE_TYPE_PATH,
            "Metadata-Flavor: Google\r\n",
        ),
    };
    if req.header(header) != Some(value) {
        http(refused, extra, b"")
    } else if req.method == "GET" && req.target == path {
        http("200 OK", extra, answer)
    } else {
        http("404 Not Found", extra, b"")
    }
}

/// The outcome of the one query of `client`, after asking `provider`.
fn ask(client: &MetadataClient, provider: MetadataProvider) -> Result<String, Failure> {
    let answer = client.instance_type(provider);
    let (asked, outcome) = client.outcome().unwrap();
    assert_eq!(asked, provider);
    assert_eq!(answer.as_deref(), outcome.ok());
    outcome.map(str::to_owned).map_err(Clone::clone)
}

// ---- each provider's exchange, exactly ----

#[test]
fn aws_gets_an_imdsv2_token_then_the_instance_type_and_nothing_else() {
    let s = StandIn::start(Mode::Provider(MetadataProvider::Aws, b"t3.micro".to_vec()));
    assert_eq!(ask(&s.client(), MetadataProvider::Aws).unwrap(), "t3.micro");
    let seen = s.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("PUT", "/latest/api/token")
    );
    assert_eq!(
        seen[0].header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("60")
    );
    assert_eq!(seen[0].header("x-aws-ec2-metadata-token"), None);
    assert_eq!(
        (seen[1].method.as_str(), seen[1].target.as_str()),
        ("GET", "/latest/meta-data/instance-type")
    );
    assert_eq!(seen[1].header("x-aws-ec2-metadata-token"), Some(TOKEN));
    plain(&seen);
}

/// Azure and GCP: one GET of the service's path, with the header it requires; the answer is
/// returned as it came (the collector keeps the type alone).
#[test]
fn azure_and_gcp_ask_for_the_type_with_their_header() {
    for (p, answer, target, header) in [
        (
            MetadataProvider::Azure,
            "Standard_D2s_v5",
            "/metadata/instance/compute/vmSize?api-version=2017-08-01&format=text",
            ("metadata", "true"),
        ),
        (
            MetadataProvider::Gcp,
            "projects/408213637716/machineTypes/n2d-standard-4",
            "/computeMetadata/v1/instance/machine-type",
            ("metadata-flavor", "Google"),
        ),
    ] {
        let s = StandIn::start(Mode::Provider(p, answer.as_bytes().to_vec()));
        assert_eq!(ask(&s.client(), p).unwrap(), answer);
        let seen = s.seen();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(
            (seen[0].method.as_str(), seen[0].target.as_str()),
            ("GET", target)
        );
        assert_eq!(seen[0].header(header.0), Some(header.1));
        plain(&seen);
    }
}

/// Nothing in the requests but what the service needs: no cookie, no forwarding header, the
/// program's own user agent.
fn plain(seen: &[Seen]) {
    for r in seen {
        assert_eq!(
            r.header("user-agent"),
            Some(concat!("headcount/", env!("CARGO_PKG_VERSION")))
        );
        for h in [
            "cookie",
            "x-forwarded-for",
            "forwarded",
            "proxy-authorization",
        ] {
            assert_eq!(r.header(h), None, "{h}");
        }
    }
}

#[test]
fn a_run_asks_once_whatever_the_answer_was() {
    let s = StandIn::start(Mode::Provider(
        MetadataProvider::Azure,
        b"Standard_B2s".to_vec(),
    ));
    let client = s.client();
    for _ in 0..3 {
        assert_eq!(
            client.instance_type(MetadataProvider::Azure).as_deref(),
            Some("Standard_B2s")
        );
    }
    assert_eq!(client.instance_type(MetadataProvider::Gcp), None);
    assert_eq!(s.seen().len(), 1);
    // A failed query is not repeated either.
    let s = StandIn::start(Mode::Status(503));
    let client = s.client();
    assert_eq!(client.instance_type(MetadataProvider::Gcp), None);
    assert_eq!(client.instance_type(MetadataProvider::Gcp), None);
    assert_eq!(s.connections.load(Ordering::SeqCst), 1);
}

// ---- hostile answers ----

#[test]
fn a_slow_service_is_given_up_on() {
    // In parallel: each waits out the client's whole timeout.
    let mut waits: Vec<_> = MetadataProvider::ALL
        .into_iter()
        .map(|p| {
            std::thread::spawn(move || {
                let s = StandIn::start(Mode::Slow(p, Duration::from_secs(6)));
                (p, ask(&s.client(), p))
            })
        })
        .collect();
    waits.push(std::thread::spawn(|| {
        let s = StandIn::start(Mode::Drip);
        let p = MetadataProvider::Azure;
        (p, ask(&s.client(), p))
    }));
    for w in waits {
        let (p, outcome) = w.join().unwrap();
        assert_eq!(outcome, Err(Failure::TimedOut), "{p}");
    }
}

#[test]
fn a_huge_or_endless_answer_is_not_read() {
    for mode in [
        Mode::Huge(16 * 1024 * 1024),
        Mode::Huge(MAX_ANSWER_BYTES + 1),
        Mode::Endless,
    ] {
        let s = StandIn::start(mode);
        assert_eq!(
            ask(&s.client(), MetadataProvider::Azure),
            Err(Failure::TooLarge)
        );
    }
}

#[test]
fn garbage_is_no_answer() {
    for (mode, p, failure) in [
        (Mode::NotHttp, MetadataProvider::Azure, Failure::Request),
        (
            Mode::Provider(MetadataProvider::Azure, b"\xff\xfe Standard".to_vec()),
            MetadataProvider::Azure,
            Failure::NotText,
        ),
        (
            Mode::GcpWithoutFlavor,
            MetadataProvider::Gcp,
            Failure::NotGoogle,
        ),
    ] {
        let s = StandIn::start(mode);
        assert_eq!(ask(&s.client(), p), Err(failure));
    }
    for status in [400, 401, 403, 404, 500, 503] {
        let s = StandIn::start(Mode::Status(status));
        assert_eq!(
            ask(&s.client(), MetadataProvider::Gcp),
            Err(Failure::Status(status))
        );
    }
    // Nothing listens.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let client = MetadataClient::with_base(&format!("http://127.0.0.1:{dead}"));
    assert_eq!(ask(&client, MetadataProvider::Aws), Err(Failure::Connect));
}

#[test]
fn an_aws_token_that_cannot_be_sent_back_ends_the_query() {
    for token in [&b"abc\r\nX-Injected: 1"[..], b"tok\x00en", b"\xff\xfe"] {
        let s = StandIn::start(Mode::AwsToken(token.to_vec()));
        assert_eq!(
            ask(&s.client(), MetadataProvider::Aws),
            Err(Failure::NotText),
            "{token:?}"
        );
        assert_eq!(s.seen().len(), 1, "only the token was asked for");
    }
    let s = StandIn::start(Mode::Status(403));
    assert_eq!(
        ask(&s.client(), MetadataProvider::Aws),
        Err(Failure::Status(403))
    );
    assert_eq!(
        s.seen().len(),
        1,
        "no IMDSv1 fallback: the token was refused"
    );
}

#[test]
fn redirects_are_never_followed() {
    let target = StandIn::start(Mode::Provider(
        MetadataProvider::Azure,
        b"Standard_B2s".to_vec(),
    ));
    for status in [301, 302, 303, 307, 308] {
        let location = format!("{}{AZURE_VMSIZE_PATH}", target.base());
        let s = StandIn::start(Mode::Redirect(status, location));
        assert_eq!(
            ask(&s.client(), MetadataProvider::Azure),
            Err(Failure::Redirect(status))
        );
    }
    assert_eq!(target.connections.load(Ordering::SeqCst), 0);
}

// ---- through the collectors: what reaches the report ----

fn fixture(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(kind)
}

/// A copy of a fixture root as Fedora CoreOS ships it (afterburn's service not enabled).
fn stock(kind: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", fixture(kind).display()))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(dir.path().join("run/metadata/afterburn")).unwrap();
    if kind.starts_with("aws") {
        // A Xen-based instance: no type in DMI.
        std::fs::write(dir.path().join("sys/class/dmi/id/sys_vendor"), "Xen\n").unwrap();
        std::fs::write(
            dir.path().join("sys/class/dmi/id/product_name"),
            "HVM domU\n",
        )
        .unwrap();
    }
    dir
}

fn settings(endpoint: Option<&str>) -> Settings {
    Settings {
        endpoint: endpoint.map(|e| e.parse().unwrap()),
        ..Settings::default()
    }
}

fn body(root: &Path, settings: &Settings, client: Arc<MetadataClient>) -> serde_json::Value {
    let now = chrono::Utc::now();
    let bytes = Collectors::with_metadata(client)
        .body(root, settings, Window::Daily, now)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn stock_machines_report_the_type_their_provider_gives() {
    let endpoint = Some("https://counter.example/report");
    for (kind, p, answer, reported) in [
        (
            "aws-fcos-x86_64",
            MetadataProvider::Aws,
            "t2.micro",
            "t2.micro",
        ),
        (
            "azure-fcos-x86_64",
            MetadataProvider::Azure,
            "Standard_B2s",
            "Standard_B2s",
        ),
        (
            "gcp-fcos-x86_64",
            MetadataProvider::Gcp,
            "projects/408213637716/machineTypes/e2-medium",
            "e2-medium",
        ),
    ] {
        let root = stock(kind);
        let s = StandIn::start(Mode::Provider(p, answer.as_bytes().to_vec()));
        let client = Arc::new(s.client());
        let settings = settings(endpoint);
        for window in 0..2 {
            let j = body(root.path(), &settings, client.clone());
            assert_eq!(j["platform"]["instance_type"], reported, "{kind} {window}");
        }
        // Two reports of the run, one query.
        let queries = s.seen().iter().filter(|r| r.method == "GET").count();
        assert_eq!(queries, 1, "{kind}");
        assert!(
            !serde_json::to_string(&body(root.path(), &settings, client))
                .unwrap()
                .contains("408213637716")
        );
    }
}

#[test]
fn without_an_endpoint_or_at_level_off_nothing_is_asked() {
    let root = stock("gcp-fcos-x86_64");
    let s = StandIn::start(Mode::Provider(
        MetadataProvider::Gcp,
        b"projects/1/machineTypes/e2-medium".to_vec(),
    ));
    let client = Arc::new(s.client());
    let j = body(root.path(), &settings(None), client.clone());
    assert!(j["platform"].get("instance_type").is_none());
    let mut off = settings(Some("https://counter.example/report"));
    off.level = headcount_report::Level::Off;
    let none = Collectors::with_metadata(client).body(
        root.path(),
        &off,
        Window::Daily,
        chrono::Utc::now(),
    );
    assert!(none.is_none());
    assert_eq!(s.connections.load(Ordering::SeqCst), 0);
    // And the collectors of a daemon run on a fixture root have no client at all.
    let files_only = Collectors::for_root(root.path());
    let j: serde_json::Value = serde_json::from_slice(
        &files_only
            .body(
                root.path(),
                &settings(Some("https://counter.example/report")),
                Window::Daily,
                chrono::Utc::now(),
            )
            .unwrap(),
    )
    .unwrap();
    assert!(j["platform"].get("instance_type").is_none());
}

#[test]
fn identifiers_in_an_answer_never_reach_the_report() {
    let endpoint = Some("https://counter.example/report");
    for (kind, p, planted) in [
        (
            "aws-fcos-x86_64",
            MetadataProvider::Aws,
            "i-0abc123def4567890",
        ),
        ("aws-fcos-x86_64", MetadataProvider::Aws, "172.31.5.17"),
        (
            "aws-fcos-x86_64",
            MetadataProvider::Aws,
            "ip-172-31-5-17.ec2.internal",
        ),
        ("azure-fcos-x86_64", MetadataProvider::Azure, "10.0.0.4"),
        ("azure-fcos-x86_64", MetadataProvider::Azure, "fcos-vm-1"),
        (
            "gcp-fcos-x86_64",
            MetadataProvider::Gcp,
            "projects/408213637716/machineTypes/fcos-worker-2.c.my-project-1234.internal",
        ),
        ("gcp-fcos-x86_64", MetadataProvider::Gcp, "10.128.0.5"),
    ] {
        let root = stock(kind);
        let s = StandIn::start(Mode::Provider(p, planted.as_bytes().to_vec()));
        let j = body(root.path(), &settings(endpoint), Arc::new(s.client()));
        assert_eq!(j["platform"]["instance_type"], "other", "{planted}");
        let text = j.to_string();
        for part in planted.split('/') {
            assert!(!text.contains(part), "{part} in {text}");
        }
    }
}
