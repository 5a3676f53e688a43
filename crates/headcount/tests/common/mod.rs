//! Real parts for the daemon's end-to-end tests: a receiver on loopback (plain or TLS, counting
//! the bytes on the wire), a root directory with a config fragment, the real binary, tinyproxy.
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Whether the tests run as root (some then drop to nobody to see what a user sees).
pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// Asserts that `text` contains `needle`, showing the text when it does not.
#[track_caller]
pub fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} is not in:\n{text}");
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The keys with a numeric default, and the default the code holds: what the docs must state.
pub const NUMERIC_DEFAULTS: [(&str, u64); 3] = [
    ("timeout_secs", headcount::config::DEFAULT_TIMEOUT_SECS),
    (
        "max_startup_delay_secs",
        headcount::config::DEFAULT_MAX_STARTUP_DELAY_SECS,
    ),
    (
        "max_rollover_delay_secs",
        headcount::config::DEFAULT_MAX_ROLLOVER_DELAY_SECS,
    ),
];

/// The windows of the reports received, sorted.
pub fn windows(received: &[Received]) -> Vec<String> {
    let mut w: Vec<String> = received
        .iter()
        .map(|r| r.json()["window"].as_str().unwrap().to_owned())
        .collect();
    w.sort();
    w
}

/// Waits up to 5 s for a server to listen on the loopback `port`; `why` says what did not start.
pub fn wait_listening(port: u16, why: impl Fn() -> String) {
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(5), "{}", why());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A unified diff of a golden file and what the code made of it, for an assertion message.
pub fn diff(golden: &str, made: &str) -> String {
    similar::TextDiff::from_lines(golden, made)
        .unified_diff()
        .context_radius(2)
        .header("golden", "made")
        .to_string()
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Bytes of one finished connection, as seen by the receiver: (from client, to client).
pub type Wire = (u64, u64);

/// An answer the receiver gives: a status and extra headers (`Location`, `Retry-After`, ...).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
        }
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply {
            status,
            headers: vec![("location".to_owned(), location.to_owned())],
        }
    }

    /// The same reply with a `Retry-After` header.
    pub fn retry_after(mut self, value: &str) -> Reply {
        self.headers
            .push(("retry-after".to_owned(), value.to_owned()));
        self
    }
}

/// Runs on every request, before it is answered.
pub type Hook = Box<dyn Fn(&Received) + Send + Sync>;

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    /// Answers, in order; when empty, the route of the request's path, else `default_status`.
    answers: Mutex<VecDeque<Reply>>,
    /// Fixed answers by request path.
    routes: Mutex<Vec<(String, Reply)>>,
    default_status: Mutex<u16>,
    hook: Mutex<Option<Hook>>,
    /// Never answer (a receiver that hangs).
    hang: Mutex<bool>,
    connections: AtomicU64,
    wire: Mutex<Vec<Wire>>,
}

/// A receiver on 127.0.0.1 in its own thread and runtime.
pub struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _thread: std::thread::JoinHandle<()>,
}

/// TLS material for a receiver.
pub struct Tls {
    pub config: Arc<rustls::ServerConfig>,
}

impl Receiver {
    pub fn plain() -> Receiver {
        Receiver::start(None)
    }

    pub fn tls(tls: Tls) -> Receiver {
        Receiver::start(Some(tls))
    }

    fn start(tls: Option<Tls>) -> Receiver {
        let shared = Arc::new(Shared::default());
        *shared.default_status.lock().unwrap() = 200;
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.config));
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    s.connections.fetch_add(1, Ordering::SeqCst);
                    let s = s.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let counted = Counting::new(tcp);
                        let (inn, out) = (counted.inn.clone(), counted.out.clone());
                        match acceptor {
                            Some(a) => {
                                if let Ok(stream) = a.accept(counted).await {
                                    serve(stream, s.clone()).await;
                                }
                            }
                            None => serve(counted, s.clone()).await,
                        }
                        s.wire
                            .lock()
                            .unwrap()
                            .push((inn.load(Ordering::SeqCst), out.load(Ordering::SeqCst)));
                    });
                }
            });
        });
        Receiver {
            addr,
            shared,
            _thread: thread,
        }
    }

    pub fn answer(&self, statuses: &[u16]) {
        self.replies(statuses.iter().map(|s| Reply::status(*s)));
    }

    /// Answers the next requests with `replies`, in order.
    pub fn replies(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.answers.lock().unwrap().extend(replies);
    }

    /// Answers every request for `path` with `reply` (once the ordered answers are used up).
    pub fn route(&self, path: &str, reply: Reply) {
        self.shared
            .routes
            .lock()
            .unwrap()
            .push((path.to_owned(), reply));
    }

    /// Runs `hook` on every request before it is answered.
    pub fn on_request(&self, hook: impl Fn(&Received) + Send + Sync + 'static) {
        *self.shared.hook.lock().unwrap() = Some(Box::new(hook));
    }

    pub fn default_status(&self, status: u16) {
        *self.shared.default_status.lock().unwrap() = status;
    }

    pub fn hang(&self) {
        *self.shared.hang.lock().unwrap() = true;
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    pub fn wire(&self) -> Vec<Wire> {
        self.shared.wire.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (or panics after `timeout`).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let t = Instant::now();
        loop {
            let r = self.received();
            if r.len() >= n {
                return r;
            }
            assert!(
                t.elapsed() < timeout,
                "waited {timeout:?} for {n} requests, got {}: {r:?}",
                r.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self, scheme: &str, host: &str) -> String {
        format!("{scheme}://{host}:{}/report", self.addr.port())
    }
}

async fn serve<S>(stream: S, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        async move {
            let method = req.method().to_string();
            let path = req.uri().path().to_owned();
            let headers = req
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            let body = req.into_body().collect().await?.to_bytes().to_vec();
            if *shared.hang.lock().unwrap() {
                std::future::pending::<()>().await;
            }
            let received = Received {
                method,
                path,
                headers,
                body,
            };
            if let Some(hook) = shared.hook.lock().unwrap().as_ref() {
                hook(&received);
            }
            let route = shared
                .routes
                .lock()
                .unwrap()
                .iter()
                .find(|(p, _)| *p == received.path)
                .map(|(_, r)| r.clone());
            shared.received.lock().unwrap().push(received);
            let reply = shared
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .or(route)
                .unwrap_or_else(|| Reply::status(*shared.default_status.lock().unwrap()));
            let mut resp = Response::builder()
                .status(reply.status)
                .header("set-cookie", "tracking=1");
            for (name, value) in &reply.headers {
                resp = resp.header(name.as_str(), value.as_str());
            }
            let resp = resp.body(Full::new(Bytes::new())).unwrap();
            Ok::<_, hyper::Error>(resp)
        }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// A stream that counts the bytes through it.
struct Counting {
    inner: TcpStream,
    inn: Arc<AtomicU64>,
    out: Arc<AtomicU64>,
}

impl Counting {
    fn new(inner: TcpStream) -> Counting {
        Counting {
            inner,
            inn: Arc::default(),
            out: Arc::default(),
        }
    }
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.inn.fetch_add(n as u64, Ordering::SeqCst);
        r
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.out.fetch_add(*n as u64, Ordering::SeqCst);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A test CA and server certificates it signs.
pub struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A server config for `localhost` and 127.0.0.1, signed by this CA.
    pub fn server(&self) -> Tls {
        let params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        Tls {
            config: Arc::new(config),
        }
    }
}

/// A root directory with a config fragment, and the daemon's state directory in it.
pub struct Root {
    pub dir: tempfile::TempDir,
}

impl Root {
    /// An empty root: every scratch directory of these tests is a `tempfile::TempDir`.
    pub fn empty() -> Root {
        Root {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn new(config: &str) -> Root {
        let root = Root::empty();
        root.write("etc/headcount/config.d/50-test.toml", config);
        root
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    pub fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.path().join(rel)).ok()
    }

    /// Runs a command to its end under a tightened umask (what it writes must not depend on it).
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command_umask_077(args).output().unwrap()
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn state(&self) -> Option<String> {
        std::fs::read_to_string(self.state_dir().join("state.json")).ok()
    }

    /// Waits until the state file reads `expected` (it is written right after the answer).
    pub fn wait_state(&self, expected: &str) -> String {
        let t = Instant::now();
        loop {
            let s = self.state().unwrap_or_default();
            if s == expected || t.elapsed() > Duration::from_secs(5) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A config for `endpoint` with the delays at 0, plus `extra` lines under [reporting].
    pub fn config(endpoint: &str, extra: &str) -> String {
        format!(
            "[collecting]\nlevel = \"minimal\"\n\n[reporting]\nendpoint = \"{endpoint}\"\n\
             max_startup_delay_secs = 0\nmax_rollover_delay_secs = 0\ntimeout_secs = 5\n{extra}"
        )
    }

    pub fn command(&self, args: &[&str]) -> Command {
        self.with_env(Command::new(env!("CARGO_BIN_EXE_headcount")), args)
    }

    /// [`Root::command`] under the umask of systemd's `UMask=0077`, or of a root shell that
    /// tightened it.
    pub fn command_umask_077(&self, args: &[&str]) -> Command {
        let mut c = Command::new("sh");
        c.args([
            "-c",
            "umask 077; exec \"$@\"",
            "sh",
            env!("CARGO_BIN_EXE_headcount"),
        ]);
        self.with_env(c, args)
    }

    /// The root, the arguments, and an environment of this root only (no proxy, no systemd).
    fn with_env(&self, mut c: Command, args: &[&str]) -> Command {
        c.arg("--root").arg(self.path()).args(args);
        c.env("STATE_DIRECTORY", self.state_dir());
        for v in [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "NO_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "JOURNAL_STREAM",
        ] {
            c.env_remove(v);
        }
        c.env("HEADCOUNT_LOG", "debug");
        c
    }

    /// Starts `headcount daemon`, its stderr going to a file in the root.
    pub fn daemon(&self) -> Daemon {
        self.daemon_with(&[])
    }

    /// Starts `headcount daemon` with extra environment variables.
    pub fn daemon_with(&self, env: &[(&str, &std::ffi::OsStr)]) -> Daemon {
        let mut command = self.command(&["daemon"]);
        command.envs(env.iter().copied());
        self.spawn(command)
    }

    /// Starts a daemon `command`, its stderr going to a file in the root.
    pub fn spawn(&self, mut command: Command) -> Daemon {
        let log = self.dir.path().join(format!(
            "daemon-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon { child, log }
    }
}

/// A running `headcount daemon`.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn signal(&self, sig: i32) {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then the exit status and how long the exit took.
    pub fn terminate(&mut self) -> (ExitStatus, Duration) {
        let t = Instant::now();
        self.signal(15);
        let status = self.wait(Duration::from_secs(5));
        (status, t.elapsed())
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if t.elapsed() > timeout {
                let _ = self.child.kill();
                panic!(
                    "daemon did not exit within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the log contains `needle` `n` times.
    pub fn wait_log(&self, needle: &str, n: usize, timeout: Duration) -> String {
        let t = Instant::now();
        loop {
            let log = self.log();
            if log.matches(needle).count() >= n {
                return log;
            }
            assert!(
                t.elapsed() < timeout,
                "waited {timeout:?} for {n}x {needle:?} in the log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Daemon {
    /// The process's peak resident set size so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

/// A `NOTIFY_SOCKET` for the daemon: every datagram it sent, in order.
pub struct Notify {
    pub path: PathBuf,
    sock: std::os::unix::net::UnixDatagram,
    seen: Vec<String>,
}

impl Notify {
    /// Binds a socket in the root.
    pub fn new(root: &Root) -> Notify {
        let path = root.path().join("notify.sock");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        sock.set_nonblocking(true).unwrap();
        Notify {
            path,
            sock,
            seen: Vec::new(),
        }
    }

    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.sock.recv(&mut buf) {
            self.seen
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }

    /// Waits (10 s at most) for a datagram matching `pred` and returns it; the datagrams
    /// before it are dropped, later ones stay for the next wait.
    pub fn wait(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        self.wait_for(what, Duration::from_secs(10), pred)
    }

    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let t = Instant::now();
        loop {
            self.drain();
            if let Some(i) = self.seen.iter().position(|m| pred(m)) {
                return self.seen.drain(..=i).next_back().unwrap();
            }
            assert!(
                t.elapsed() < timeout,
                "no {what} on NOTIFY_SOCKET; got {:?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every datagram not consumed by a wait yet.
    pub fn pending(&mut self) -> Vec<String> {
        self.drain();
        self.seen.clone()
    }
}

/// libfaketime's preload library (Debian package `faketime`): with `FAKETIME=@<date>` in the
/// environment, the process's wall clock starts at that date.
pub fn libfaketime() -> PathBuf {
    std::fs::read_dir("/usr/lib")
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "libfaketime is not installed: run tests/run as root (it installs the Debian \
                 packages in tests/apt-packages), or apt-get install faketime"
            )
        })
}

/// Creates a FIFO at `path`.
pub fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on.
pub fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A tinyproxy on loopback allowing CONNECT to `connect_port`, with basic auth.
pub struct Tinyproxy {
    pub port: u16,
    pub log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

pub const PROXY_USER: &str = "counter";
pub const PROXY_PASSWORD: &str = "s3cr3t-pr0xy-pw";

impl Tinyproxy {
    pub fn start(connect_port: u16) -> Tinyproxy {
        let bin = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or_else(|| {
                panic!(
                    "tinyproxy is not installed: run tests/run as root (it installs the Debian \
                     packages in tests/apt-packages), or apt-get install tinyproxy"
                )
            });
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("tinyproxy.log");
        std::fs::write(&log, "").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o666)).unwrap();
        let port = dead_port();
        let conf = dir.path().join("tinyproxy.conf");
        let user = if is_root() {
            "User nobody\nGroup nogroup\n"
        } else {
            ""
        };
        std::fs::write(
            &conf,
            format!(
                "{user}Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\n\
                 MaxClients 20\nAllow 127.0.0.1\nConnectPort {connect_port}\n\
                 BasicAuth {PROXY_USER} {PROXY_PASSWORD}\n",
                log.display()
            ),
        )
        .unwrap();
        let child = Command::new(bin)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_listening(port, || {
            format!(
                "tinyproxy did not start; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        Tinyproxy {
            port,
            log,
            child,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!(
            "http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{}",
            self.port
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
