//! Accepting and serving connections so that slow or stuck clients cannot hold the receiver:
//!
//! - a request's head and body must arrive within `request_timeout` of its first byte (of the
//!   connection's opening for the first request, TLS handshake included), and a connection with
//!   no request in progress is closed after `idle_timeout`; while the receiver itself works on a
//!   request (waiting for its commit) no deadline runs;
//! - at most `max` connections are open: at the cap, the connection that has been waiting on its
//!   client the longest is closed for the new one, so honest clients, whose requests take
//!   milliseconds, keep being answered while slow ones are cut;
//! - every request head is read by [`Framing`] first, which refuses ambiguous ones (both
//!   `Transfer-Encoding` and `Content-Length`, absurd lengths) with a problem body.
//!
//! Peer addresses are dropped at `accept`: nothing past it can keep or log them.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::framing::{Framing, Refusal};
use crate::http::problem_bytes;
use crate::metrics::{Cut, Metrics};

/// Pause after a failed accept (for example the system-wide file table is full): retrying at
/// once would spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// At most one warning per this interval when connections are closed at the cap.
const CAP_WARNING_INTERVAL: Duration = Duration::from_secs(60);
/// After the stop, how long requests being answered may take to finish.
const STOP_WAIT: Duration = Duration::from_secs(10);

/// The limits connections are served under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A request's head and body must arrive within this time.
    pub request_timeout: Duration,
    /// A connection without a request in progress is closed after this time.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max: usize,
}

/// What one connection is waiting for, which decides its deadline.
#[derive(Debug)]
struct Timing {
    /// A request is being read (or the connection was opened) since then.
    reading_since: Option<Instant>,
    /// The routes are working on a request: no deadline while the receiver itself is busy.
    serving: bool,
    /// Nothing was in progress since then.
    idle_since: Instant,
    /// Closed at the cap for a newer connection, or at the stop.
    evicted: bool,
}

impl Timing {
    /// Since when the connection has been waiting on its client; `None` while the receiver
    /// works on its request.
    fn waiting_since(&self) -> Option<Instant> {
        match (self.reading_since, self.serving) {
            (Some(t), _) => Some(t),
            (None, true) => None,
            (None, false) => Some(self.idle_since),
        }
    }
}

/// One open connection, shared by its task, its reads, its requests and the accept loop.
///
/// Its reads and requests change the timing inside the connection task's own poll of hyper, and
/// the [`Watchdog`] is polled right after in the same task, so they need no wake-up; only an
/// eviction comes from another task.
#[derive(Debug)]
struct Conn {
    timing: Mutex<Timing>,
    /// Wakes the connection's watchdog when the accept loop evicted it.
    evict: Notify,
}

impl Conn {
    fn new(now: Instant) -> Conn {
        Conn {
            timing: Mutex::new(Timing {
                reading_since: Some(now),
                serving: false,
                idle_since: now,
                evicted: false,
            }),
            evict: Notify::new(),
        }
    }

    fn timing(&self) -> MutexGuard<'_, Timing> {
        // The timing is always consistent; a panic elsewhere does not make it wrong.
        self.timing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The framing says whether a request is being read now.
    fn set_reading(&self, reading: bool) {
        let mut t = self.timing();
        match (t.reading_since, reading) {
            (None, true) => t.reading_since = Some(Instant::now()),
            (Some(_), false) => {
                t.reading_since = None;
                t.idle_since = Instant::now();
            }
            _ => {}
        }
    }

    fn set_serving(&self, serving: bool) {
        let mut t = self.timing();
        t.serving = serving;
        if !serving {
            t.idle_since = Instant::now();
        }
    }

    /// When the connection must be closed if nothing changes (`None`: not while the receiver
    /// works on its request), or `Err` once it was evicted.
    fn deadline(&self, limits: Limits) -> Result<Option<Instant>, ()> {
        let t = self.timing();
        if t.evicted {
            return Err(());
        }
        Ok(match (t.reading_since, t.serving) {
            (Some(since), _) => Some(since + limits.request_timeout),
            (None, true) => None,
            (None, false) => Some(t.idle_since + limits.idle_timeout),
        })
    }
}

/// Completes once its connection must be closed: the deadline passed or it was evicted. Poll it
/// after the connection's hyper future in the same task (`biased` select), so that it sees the
/// timing that poll left.
struct Watchdog<'a> {
    conn: &'a Conn,
    limits: Limits,
    /// The timer, armed at `armed`. Armed lazily: a deadline that moved later is only re-armed
    /// once the earlier one fires, so most requests cost no timer change.
    sleep: Pin<Box<tokio::time::Sleep>>,
    armed: Option<Instant>,
    evicted: Pin<Box<tokio::sync::futures::Notified<'a>>>,
}

impl<'a> Watchdog<'a> {
    fn new(conn: &'a Conn, limits: Limits) -> Watchdog<'a> {
        Watchdog {
            conn,
            limits,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
            evicted: Box::pin(conn.evict.notified()),
        }
    }
}

impl Future for Watchdog<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.evicted.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        loop {
            let Ok(deadline) = this.conn.deadline(this.limits) else {
                return Poll::Ready(());
            };
            let Some(deadline) = deadline else {
                this.armed = None;
                return Poll::Pending;
            };
            match this.armed {
                Some(armed) if armed <= deadline => {
                    ready!(this.sleep.as_mut().poll(cx));
                    if armed == deadline {
                        return Poll::Ready(());
                    }
                    // An earlier deadline that has since moved: arm the real one.
                    this.armed = None;
                }
                _ => {
                    this.sleep.as_mut().reset(deadline);
                    this.armed = Some(deadline);
                }
            }
        }
    }
}

/// The open connections, for closing the longest-waiting one at the cap.
#[derive(Default)]
struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    next: AtomicU64,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(self: &Arc<Self>, conn: Arc<Conn>, metrics: Option<Arc<Metrics>>) -> Registered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, conn);
        if let Some(m) = &metrics {
            m.connections_open.inc();
        }
        Registered {
            registry: self.clone(),
            id,
            metrics,
        }
    }

    /// Evicts the connection that has waited on its client the longest; false when every
    /// connection is being served (the receiver is busy, not its clients).
    fn evict_longest_waiting(&self) -> bool {
        let conns = self.lock();
        let oldest = conns
            .values()
            .filter_map(|c| {
                let t = c.timing();
                (!t.evicted).then_some(())?;
                t.waiting_since().map(|since| (since, c))
            })
            .min_by_key(|(since, _)| *since);
        match oldest {
            Some((_, conn)) => {
                evict(conn);
                true
            }
            None => false,
        }
    }

    /// At the stop: every connection waiting on its client (idle, or still sending its request)
    /// goes now; those being answered finish.
    fn evict_all_waiting(&self) {
        for conn in self.lock().values() {
            if conn.timing().waiting_since().is_some() {
                evict(conn);
            }
        }
    }
}

fn evict(conn: &Conn) {
    conn.timing().evicted = true;
    conn.evict.notify_one();
}

/// Removes a connection from the registry when its task ends, however it ends.
struct Registered {
    registry: Arc<Registry>,
    id: u64,
    metrics: Option<Arc<Metrics>>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
        if let Some(m) = &self.metrics {
            m.connections_open.dec();
        }
    }
}

/// Marks a request as being served until its response is ready (or the request is dropped).
struct Serving(Arc<Conn>);

impl Serving {
    fn start(conn: &Arc<Conn>) -> Serving {
        conn.set_serving(true);
        Serving(conn.clone())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.set_serving(false);
    }
}

/// Serves `app` on `listener` (HTTPS when `tls` is given) until `shutdown` completes; then
/// stops accepting, closes the connections waiting on their clients, lets the requests being
/// answered finish, and returns when every connection closed (at most 10 s). With `metrics`,
/// open connections, cut ones and requests refused before routing are counted there.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    limits: Limits,
    metrics: Option<Arc<Metrics>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let tls = tls.map(TlsAcceptor::from);
    let permits = Arc::new(Semaphore::new(limits.max));
    let registry = Arc::new(Registry::default());
    let (stop, stopped) = watch::channel(false);
    let mut cap_warning = CapWarning::default();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(_) => {
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                // At the cap: the new connection holds one of the reserved descriptors until
                // another closes. The longest-waiting one goes; if every connection is being
                // served, wait for one to finish.
                let evicted = registry.evict_longest_waiting();
                cap_warning.note(limits.max, evicted);
                if let (true, Some(m)) = (evicted, &metrics) {
                    m.connections_cut
                        .get_or_create(&Cut { reason: "at_cap" })
                        .inc();
                }
                tokio::select! {
                    () = &mut shutdown => break,
                    permit = permits.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                }
            }
        };
        let conn = Arc::new(Conn::new(Instant::now()));
        let registered = registry.add(conn.clone(), metrics.clone());
        tokio::spawn(connection(
            stream,
            tls.clone(),
            app.clone(),
            conn,
            limits,
            stopped.clone(),
            (permit, registered),
        ));
    }
    drop(listener);
    registry.evict_all_waiting();
    // The rest close after their response (hyper's graceful shutdown).
    let _ = stop.send(true);
    // Every connection holds a permit until it closes.
    let all = u32::try_from(limits.max).unwrap_or(u32::MAX);
    if tokio::time::timeout(STOP_WAIT, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("requests still being answered {STOP_WAIT:?} after the stop; closing them");
    }
}

/// One warning a minute while connections are closed at the cap.
#[derive(Default)]
struct CapWarning {
    last: Option<Instant>,
    evicted: u64,
}

impl CapWarning {
    fn note(&mut self, max: usize, evicted: bool) {
        self.evicted += u64::from(evicted);
        let now = Instant::now();
        if self
            .last
            .is_none_or(|last| now.duration_since(last) >= CAP_WARNING_INTERVAL)
        {
            tracing::warn!(
                "{max} connections open, the most allowed: closed {} waiting on their clients \
                 to take new ones (connections.max, LimitNOFILE=)",
                self.evicted
            );
            self.last = Some(now);
            self.evicted = 0;
        }
    }
}

async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    app: Router,
    conn: Arc<Conn>,
    limits: Limits,
    stopped: watch::Receiver<bool>,
    held: (OwnedSemaphorePermit, Registered),
) {
    let metrics = held.1.metrics.clone();
    // Small request/response exchanges: never wait for Nagle.
    let _ = stream.set_nodelay(true);
    let mut watchdog = Watchdog::new(&conn, limits);
    let cut = match tls {
        None => serve_http(stream, app, &conn, &mut watchdog, stopped, metrics.clone()).await,
        Some(acceptor) => {
            // The handshake counts as reading the first request.
            let handshaken = tokio::select! {
                r = acceptor.accept(stream) => r,
                () = &mut watchdog => Err(io::ErrorKind::TimedOut.into()),
            };
            match handshaken {
                Ok(stream) => {
                    serve_http(stream, app, &conn, &mut watchdog, stopped, metrics.clone()).await
                }
                Err(e) => e.kind() == io::ErrorKind::TimedOut,
            }
        }
    };
    // A connection cut while its client was still sending (not an idle one, not at the cap or
    // the stop, which are counted where they happen or not at all).
    let t = conn.timing();
    if let (true, false, Some(_), Some(m)) = (cut, t.evicted, t.reading_since, &metrics) {
        m.connections_cut
            .get_or_create(&Cut {
                reason: "read_deadline",
            })
            .inc();
    }
}

/// Serves requests until the connection ends; true when the watchdog closed it.
async fn serve_http<IO>(
    io: IO,
    app: Router,
    conn: &Arc<Conn>,
    watchdog: &mut Watchdog<'_>,
    mut stopped: watch::Receiver<bool>,
    metrics: Option<Arc<Metrics>>,
) -> bool
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(Watched {
        io,
        framing: Framing::default(),
        conn: conn.clone(),
        refusal: None,
        metrics,
    });
    let service = {
        let conn = conn.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let serving = Serving::start(&conn);
            let mut app = app.clone();
            async move {
                let response = app.call(req.map(Body::new)).await;
                drop(serving);
                response
            }
        })
    };
    let http = http1::Builder::new()
        // The watchdog keeps time for heads, bodies and idle connections alike.
        .header_read_timeout(None)
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(http);
    let mut stopping = false;
    loop {
        if !stopping && *stopped.borrow_and_update() {
            stopping = true;
            // Closes an idle connection now, a busy one after its response.
            http.as_mut().graceful_shutdown();
        }
        tokio::select! {
            // hyper first: the watchdog must see the timing its poll left.
            biased;
            _ = http.as_mut() => return false,
            // Dropping the connection closes it.
            () = &mut *watchdog => return true,
            changed = stopped.changed(), if !stopping => {
                if changed.is_err() {
                    stopping = true;
                    http.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// A connection's byte stream with every byte read passed through [`Framing`] first.
struct Watched<IO> {
    io: IO,
    framing: Framing,
    conn: Arc<Conn>,
    /// A refused request's answer, and how much of it is written.
    refusal: Option<(Vec<u8>, usize)>,
    /// Where a refusal is counted.
    metrics: Option<Arc<Metrics>>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Watched<IO> {
    /// Writes the refusal, then fails the read so hyper drops the connection.
    fn poll_refuse(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some((answer, written)) = &mut self.refusal {
            while *written < answer.len() {
                match ready!(Pin::new(&mut self.io).poll_write(cx, &answer[*written..])) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => *written += n,
                }
            }
            let _ = ready!(Pin::new(&mut self.io).poll_flush(cx));
        }
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "request refused before routing",
        )))
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            return this.poll_refuse(cx);
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        let read = &buf.filled()[before..];
        if read.is_empty() {
            return Poll::Ready(Ok(()));
        }
        match this.framing.feed(read) {
            Ok(()) => {
                this.conn.set_reading(this.framing.reading());
                Poll::Ready(Ok(()))
            }
            Err(Refusal {
                status,
                error,
                message,
            }) => {
                // hyper never sees the refused head.
                buf.set_filled(before);
                if let Some(m) = &this.metrics {
                    m.refuse(status, error);
                }
                this.refusal = Some((problem_bytes(status, error, &message), 0));
                this.poll_refuse(cx)
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            // Nothing of hyper's after the refusal: the client reads one answer, then EOF.
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Pin::new(&mut this.io).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
