//! What the internet sends a receiver: slow clients trickling a byte a second, bodies shorter
//! than their Content-Length, connections left open, and more of them than the receiver has
//! descriptors. The real binary over real TCP; timeouts shortened in its config so the tests
//! take seconds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, Client, Receiver, export, period, report, total};

const JSON: Option<&str> = Some("application/json");
/// The config of these tests: a request must arrive within 2 s, idle connections close after 1.
const SHORT_TIMEOUTS: &str =
    "[counts]\nk = 1\n[connections]\nrequest_timeout_secs = 2\nidle_timeout_secs = 1\n";
/// The open-file limit of the descriptor test; the receiver keeps 64 of them, so 64 connections.
const NOFILE: u64 = 128;
/// Slow clients at once, more than the receiver can hold.
const SLOW_CLIENTS: usize = 200;
/// How long the slow clients keep at it.
const ATTACK: Duration = Duration::from_secs(8);
/// Generous bound for "closed by the receiver": the timeouts are 1 and 2 s.
const CLOSED_WITHIN: Duration = Duration::from_secs(8);

/// A request head that promises a body of `len` bytes.
fn head(len: usize) -> String {
    format!(
        "POST /v1/report HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
}

/// Waits until the receiver closes `s` (EOF or reset); returns how long that took.
fn wait_closed(s: &mut TcpStream, within: Duration) -> Duration {
    let t0 = Instant::now();
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return t0.elapsed(),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("still open after {:?}", t0.elapsed())
            }
            Err(_) => return t0.elapsed(),
        }
    }
}

/// One slow client. Kinds: 0 sends nothing; 1 trickles its head a byte a second; 2 sends its head
/// and trickles the body; 3 sends the head and 10 of the 300 body bytes it promised, then stops.
struct Slow {
    stream: TcpStream,
    kind: usize,
    bytes: Vec<u8>,
    sent: usize,
    closed: bool,
}

impl Slow {
    fn open(addr: SocketAddr, kind: usize) -> Option<Slow> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
        let bytes = format!("{}{}", head(300), " ".repeat(300)).into_bytes();
        let sent = match kind {
            2 => bytes.len() - 300,
            3 => bytes.len() - 290,
            _ => 0,
        };
        stream.write_all(&bytes[..sent]).ok()?;
        stream.set_nonblocking(true).ok()?;
        Some(Slow {
            stream,
            kind,
            bytes,
            sent,
            closed: false,
        })
    }

    /// One tick: notice a close by the receiver, else send the next byte.
    fn tick(&mut self) {
        let mut buf = [0u8; 512];
        match self.stream.read(&mut buf) {
            Ok(0) => self.closed = true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => self.closed = true,
        }
        if !self.closed && matches!(self.kind, 1 | 2) && self.sent < self.bytes.len() {
            match self.stream.write(&self.bytes[self.sent..=self.sent]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => self.closed = true,
            }
        }
    }
}

/// 200 slow clients against a receiver with 128 descriptors: the slow ones are cut, every honest
/// post is answered 202 meanwhile (and counted), and so is a read of the counts.
fn honest_posts_are_answered_while_slow_clients_are_cut(b: &Backend) {
    let config = b.config(SHORT_TIMEOUTS);
    let r = Receiver::start_with_files(&b.url, Some(&config), NOFILE);
    assert!(
        r.log_text()
            .contains("at most 64 connections (open-file limit 128)"),
        "{}",
        r.log_text()
    );
    let addr = r.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut first: Vec<Slow> = (0..SLOW_CLIENTS)
                .filter_map(|i| Slow::open(addr, i % 4))
                .collect();
            assert_eq!(first.len(), SLOW_CLIENTS, "could not open the slow clients");
            let mut first_closed_after = vec![None; SLOW_CLIENTS];
            // Replacements keep 200 slow clients at the receiver for the whole attack.
            let mut more: Vec<Slow> = Vec::new();
            let mut opened = SLOW_CLIENTS;
            while !stop.load(Ordering::Relaxed) {
                for (i, s) in first.iter_mut().enumerate() {
                    if !s.closed {
                        s.tick();
                        if s.closed {
                            first_closed_after[i] = Some(t0.elapsed());
                        }
                    }
                }
                more.iter_mut().for_each(Slow::tick);
                more.retain(|s| !s.closed);
                let open = first.iter().filter(|s| !s.closed).count() + more.len();
                for _ in open..SLOW_CLIENTS {
                    if let Some(s) = Slow::open(addr, opened % 4) {
                        more.push(s);
                        opened += 1;
                    }
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            (first_closed_after, opened)
        })
    };
    // Honest clients: a new connection per report, as the daemon does, for the whole attack.
    std::thread::sleep(Duration::from_millis(500));
    let body = report("daily", "43", "x86_64");
    let t0 = Instant::now();
    let mut latencies = Vec::new();
    let mut read_counts = false;
    while t0.elapsed() < ATTACK {
        let sent = Instant::now();
        let mut c = Client::try_connect(addr).expect("connect");
        let resp = c
            .try_post(JSON, &body)
            .unwrap_or_else(|e| panic!("honest post after {:?}: {e}", sent.elapsed()));
        assert_eq!(resp.status, 202, "{}", String::from_utf8_lossy(&resp.body));
        latencies.push(sent.elapsed());
        if !read_counts && t0.elapsed() > ATTACK / 2 {
            // Answered, not starved: the latest release, or none yet (the first release of
            // this new database waits for yesterday to close).
            let counts = r.get("/v1/counts?window=daily");
            let answered = counts.status == 200
                || (counts.status == 404 && counts.json()["error"] == "not_released");
            assert!(answered, "{}", String::from_utf8_lossy(&counts.body));
            read_counts = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let (first_closed_after, opened) = attacker.join().unwrap();
    latencies.sort();
    eprintln!(
        "{} honest posts during the attack, latency median {:?}, max {:?}; {opened} slow \
         connections opened; first 200 closed after {:?}",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
        first_closed_after.iter().max()
    );
    // Every one of the first 200 slow clients was cut, none was left hanging.
    for (i, closed) in first_closed_after.iter().enumerate() {
        assert!(
            closed.is_some(),
            "slow client {i} (kind {}) still open",
            i % 4
        );
    }
    assert!(opened > SLOW_CLIENTS, "no slow client was cut and replaced");
    // Each 202 was counted once; nothing of the slow clients was.
    assert_eq!(
        total(&export(&b.url, "daily", &period("daily")), "level"),
        latencies.len() as i64
    );
    let log = r.log_text();
    assert!(
        log.contains("64 connections open, the most allowed"),
        "{log}"
    );
    assert!(!log.contains("Too many open files"), "{log}");
    // And afterwards the receiver serves as before.
    assert_eq!(r.post(JSON, &body).status, 202);
}

/// A client that stops sending is disconnected: before its head is complete, in the middle of
/// a body shorter than its Content-Length, and between requests; a keep-alive client that keeps
/// posting in time is not.
#[test]
fn stalled_and_idle_connections_are_closed() {
    let b = Backend::sqlite();
    let config = b.config(SHORT_TIMEOUTS);
    let r = Receiver::start(&b.url, Some(&config));
    let addr = r.addr;
    let stalled = [
        ("a connection that sends nothing", String::new()),
        (
            "half a head",
            "POST /v1/report HTTP/1.1\r\nHost: x\r\n".to_owned(),
        ),
        (
            "a body shorter than its Content-Length",
            format!("{}{{\"schema\":1,", head(100)),
        ),
    ];
    let threads: Vec<_> = stalled
        .into_iter()
        .map(|(what, bytes)| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(bytes.as_bytes()).unwrap();
                let after = wait_closed(&mut s, CLOSED_WITHIN);
                eprintln!("{what}: closed after {after:?}");
            })
        })
        .collect();
    // A head trickled a byte every 300 ms would take 30 s: it is cut at the request timeout.
    let trickle = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let t0 = Instant::now();
        for byte in head(10).bytes() {
            if s.write_all(&[byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
            if t0.elapsed() > CLOSED_WITHIN {
                panic!("a trickled head was still read after {:?}", t0.elapsed());
            }
        }
        wait_closed(&mut s, CLOSED_WITHIN);
        eprintln!("a trickled head: closed after {:?}", t0.elapsed());
    });
    // Keep-alive: posts 0.5 s apart share one connection, which closes once idle.
    let mut c = Client::connect(addr);
    for _ in 0..3 {
        assert_eq!(c.post(JSON, &report("daily", "43", "x86_64")).status, 202);
        std::thread::sleep(Duration::from_millis(500));
    }
    let closed = c.try_post(JSON, b"").is_err();
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.write_all(&[head(2).as_bytes(), b"{}"].concat())
        .unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 400");
    let after = wait_closed(&mut idle, CLOSED_WITHIN);
    eprintln!("an idle keep-alive connection: closed after {after:?} (idle timeout 1 s)");
    assert!(
        !closed,
        "a keep-alive connection used within the idle timeout was closed"
    );
    for t in threads {
        t.join().unwrap();
    }
    trickle.join().unwrap();
    // Nothing of the stalled requests was counted.
    assert_eq!(
        total(&export(&b.url, "daily", &period("daily")), "level"),
        3
    );
}

common::suite!(honest_posts_are_answered_while_slow_clients_are_cut);
