//! Test harness: the real `headcount-receiver` binary, a real PostgreSQL server started in a
//! temporary directory, and a tiny HTTP/1.1 client (keep-alive) that shows raw status lines.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_headcount-receiver");

/// How long the receiver or PostgreSQL may take to come up.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the counters live for one test: an SQLite file, or a PostgreSQL server of its own.
pub struct Backend {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub postgres: Option<Postgres>,
}

impl Backend {
    pub fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("counts.db").display());
        Backend {
            dir,
            url,
            postgres: None,
        }
    }

    pub fn postgres() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let pg = Postgres::start();
        Backend {
            dir,
            url: pg.url.clone(),
            postgres: Some(pg),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    pub fn config(&self, text: &str) -> PathBuf {
        let p = self.dir.path().join("receiver.toml");
        std::fs::write(&p, text).unwrap();
        p
    }
}

/// A running receiver process; killed (SIGKILL) when dropped.
pub struct Receiver {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

/// The address of `metrics on http://ADDR/metrics` in a receiver's log.
fn metrics_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split("metrics on http://").nth(1)?;
    rest.trim().strip_suffix("/metrics")?.parse().ok()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Receiver {
    pub fn start(db: &str, config: Option<&Path>) -> Receiver {
        Self::try_start(db, config).unwrap_or_else(|log| panic!("receiver did not start:\n{log}"))
    }

    /// Starts the binary; on failure returns what it logged.
    pub fn try_start(db: &str, config: Option<&Path>) -> Result<Receiver, String> {
        Self::try_start_with_files(db, config, None)
    }

    /// Starts the binary under an open-file limit of `nofile` (soft and hard), as
    /// `LimitNOFILE=` would.
    pub fn start_with_files(db: &str, config: Option<&Path>, nofile: u64) -> Receiver {
        Self::try_start_with_files(db, config, Some(nofile))
            .unwrap_or_else(|log| panic!("receiver did not start:\n{log}"))
    }

    fn try_start_with_files(
        db: &str,
        config: Option<&Path>,
        nofile: Option<u64>,
    ) -> Result<Receiver, String> {
        let listen = format!("127.0.0.1:{}", free_port());
        // prlimit sets the limit and execs the receiver: same process, same PID.
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        cmd.args(["serve", "--listen", &listen, "--database", db])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let addr = line.split("listening on http").nth(1).map(|rest| {
                        let addr = rest.trim_start_matches('s').trim_start_matches("://");
                        addr.trim().parse::<SocketAddr>().unwrap()
                    });
                    // Logged before the start is announced, so the caller sees the whole line.
                    log.lock().unwrap().push(line);
                    if let Some(addr) = addr {
                        let _ = tx.send(addr);
                    }
                }
            });
        }
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => Ok(Receiver { child, addr, log }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                Err(log.lock().unwrap().join("\n"))
            }
        }
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Where the receiver serves `/metrics`, from its log (a `[metrics] listen` is configured).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.log
            .lock()
            .unwrap()
            .iter()
            .find_map(|l| metrics_addr(l))
            .unwrap_or_else(|| panic!("no metrics listener in:\n{}", self.log_text()))
    }

    /// `GET /metrics` on the metrics listener, parsed into (series with labels, value).
    pub fn metrics(&self) -> Vec<(String, f64)> {
        let r = Client::connect(self.metrics_addr()).request("GET", "/metrics", &[], b"");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        String::from_utf8(r.body)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').unwrap();
                (series.to_owned(), value.parse().unwrap())
            })
            .collect()
    }

    /// One series' value from [`Receiver::metrics`], 0 when absent (a labelled series appears
    /// at its first increment).
    pub fn metric(&self, series: &str) -> f64 {
        self.metrics()
            .into_iter()
            .find(|(s, _)| s == series)
            .map_or(0.0, |(_, v)| v)
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    pub fn post(&self, content_type: Option<&str>, body: &[u8]) -> Response {
        Client::connect(self.addr).post(content_type, body)
    }

    pub fn get(&self, path_and_query: &str) -> Response {
        Client::connect(self.addr).request("GET", path_and_query, &[], b"")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Self::try_connect(addr).unwrap()
    }

    pub fn try_connect(addr: SocketAddr) -> std::io::Result<Client> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Client {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    pub fn post(&mut self, content_type: Option<&str>, body: &[u8]) -> Response {
        self.try_post(content_type, body).unwrap()
    }

    pub fn try_post(
        &mut self,
        content_type: Option<&str>,
        body: &[u8],
    ) -> std::io::Result<Response> {
        let headers: Vec<(&str, &str)> = content_type
            .map(|c| vec![("Content-Type", c)])
            .unwrap_or_default();
        self.try_request("POST", "/v1/report", &headers, body)
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_request(method, path, headers, body).unwrap()
    }

    pub fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<Response> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
        {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        let mut msg = req.into_bytes();
        msg.extend_from_slice(body);
        self.writer.write_all(&msg)?;
        self.read_response()
    }

    /// Sends raw bytes (for chunked bodies) and reads one response.
    pub fn raw(&mut self, bytes: &[u8]) -> std::io::Result<Response> {
        self.writer.write_all(bytes)?;
        self.read_response()
    }

    fn read_response(&mut self) -> std::io::Result<Response> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "closed",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// Today's UTC period of a window, as the receiver computes it.
pub fn period(window: &str) -> String {
    let now = chrono::Utc::now();
    match window {
        "daily" => now.format("%Y-%m-%d").to_string(),
        "weekly" => now.format("%G-W%V").to_string(),
        _ => now.format("%Y-%m").to_string(),
    }
}

/// A valid minimal report for the current period, varied by `arch` and `version`.
pub fn report(window: &str, version: &str, arch: &str) -> Vec<u8> {
    format!(
        r#"{{"schema":1,"window":"{window}","period":"{}","level":"minimal","os":{{"id":"fedora","variant_id":"coreos","version_id":"{version}","build":"{version}.20261102.3.0"}},"original_os":{{"build":"39.20231101.3.0"}},"platform":{{"id":"aws","instance_type":"m5.large"}},"arch":"{arch}","age_bucket":4}}"#,
        period(window)
    )
    .into_bytes()
}

/// Runs `export` and returns (field, value) -> count.
pub fn export(db: &str, window: &str, period: &str) -> Vec<(String, String, i64)> {
    let out = Command::new(BIN)
        .args([
            "export",
            "--database",
            db,
            "--window",
            window,
            "--period",
            period,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "export failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("window,period,field,value,count"));
    lines
        .map(|l| {
            let (rest, count) = l.rsplit_once(',').unwrap();
            let mut parts = rest.splitn(4, ',');
            assert_eq!(parts.next(), Some(window));
            assert_eq!(parts.next(), Some(period));
            let field = parts.next().unwrap().to_owned();
            let value = parts.next().unwrap().to_owned();
            (field, value, count.parse().unwrap())
        })
        .collect()
}

/// Sum of the counters of one field (the `level` counters sum to the reports counted).
pub fn total(rows: &[(String, String, i64)], field: &str) -> i64 {
    rows.iter()
        .filter(|(f, _, _)| f == field)
        .map(|(_, _, n)| n)
        .sum()
}

fn euid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn postgres_bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("postgres").exists() && p.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: \
             these tests need a real PostgreSQL server. Run tests/run as root: it installs the \
             Debian package `postgresql` (listed in tests/apt-packages)"
        )
    })
}

/// A PostgreSQL server of its own on a loopback port, data in a temporary directory, run as an
/// unprivileged user (the `postgres` system user when the tests run as root: PostgreSQL refuses
/// root). Stopped when dropped, also when the test fails.
pub struct Postgres {
    child: Child,
    dir: tempfile::TempDir,
    pub url: String,
    pub port: u16,
}

impl Postgres {
    fn command(bin: &Path, program: &str, as_postgres: bool) -> Command {
        if as_postgres {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--reset-env",
            ])
            .arg(bin.join(program));
            c
        } else {
            Command::new(bin.join(program))
        }
    }

    pub fn start() -> Postgres {
        let bin = postgres_bin_dir();
        let as_postgres = euid_is_root();
        let dir = tempfile::Builder::new()
            .prefix("headcount-pg-")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown of the PostgreSQL temp dir");
        }
        let out = Self::command(&bin, "initdb", as_postgres)
            .args([
                "-A",
                "trust",
                "-U",
                "headcount",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let log = dir.path().join("postgres.log");
        let child = Self::command(&bin, "postgres", as_postgres)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let pg = Postgres {
            child,
            dir,
            url: format!("postgres://headcount@127.0.0.1:{port}/postgres"),
            port,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .unwrap()
                .success();
            if ready {
                return pg;
            }
            assert!(Instant::now() < deadline, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Postgres {
    /// What the server logged (errors such as `deadlock detected` go there).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// Stops the server (fast shutdown); its data stays until the drop.
    pub fn stop(&mut self) {
        // Already reaped: never signal a PID that may belong to another process by now.
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SIGINT is PostgreSQL's fast shutdown: sessions ended, data flushed.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
