//! Counters on disk: SQLite (one machine) or PostgreSQL (several receivers, one database).
//!
//! Every write goes through one writer task that batches whatever reports arrived while the
//! previous transaction was committing into the next one (group commit): each request waits for
//! its batch's commit, so a 202 is only sent once its increments are durable, and a thousand
//! concurrent reports cost one fsync, not a thousand.

mod postgres;
mod sqlite;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use headcount_report::{Period, Window};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};

use crate::cardinality::{Ask, Bound, Existing};
use crate::fields::{Counters, Key};
use crate::metrics::{Folded, Metrics, Operation};

/// Retention requests queued for the writer.
const RETAIN_QUEUE: usize = 4;
/// Reads running at once, per reader (the views' and the release step's); each opens its own
/// connection (up to three descriptors for SQLite), which `limits::RESERVED_DESCRIPTORS` must
/// cover.
pub const MAX_CONCURRENT_READS: usize = 4;

/// Where the counters live, from `--database`.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// `sqlite:PATH`: an SQLite file, created if missing.
    Sqlite(PathBuf),
    /// `postgres://…` or `postgresql://…`: a PostgreSQL connection string.
    Postgres(String),
}

/// A `--database` value that is neither `sqlite:PATH` nor a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown database {0:?}: expected sqlite:PATH or postgres://USER@HOST:PORT/DB")]
pub struct ParseDatabaseError(pub String);

impl FromStr for Database {
    type Err = ParseDatabaseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Database::Postgres(s.to_owned()));
        }
        match s.strip_prefix("sqlite:") {
            Some(path) if !path.is_empty() => Ok(Database::Sqlite(PathBuf::from(path))),
            _ => Err(ParseDatabaseError(redact(s))),
        }
    }
}

/// The URL without its password, for messages. Query parameters can carry one too
/// (`?password=`), so the query is never shown.
fn redact(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{}?***", redact_userinfo(base)),
        None => redact_userinfo(url),
    }
}

fn redact_userinfo(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            Database::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why the counters cannot be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("SQLite database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: String,
        /// SQLite's words.
        source: rusqlite::Error,
    },
    /// PostgreSQL refused or the connection failed.
    #[error("PostgreSQL database {url}: {source}")]
    Postgres {
        /// The connection string without password.
        url: String,
        /// The client's words.
        source: tokio_postgres::Error,
    },
    /// The database does not promise durable commits; the receiver would acknowledge reports it
    /// could lose.
    #[error("database {0}")]
    NotDurable(String),
    /// A batch failed to commit; nothing of it was counted.
    #[error("storing counts failed: {0}")]
    Write(String),
    /// The writer has stopped (the receiver is shutting down).
    #[error("the counter writer has stopped")]
    Closed,
}

/// One stored counter, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Count {
    /// Field path, or cross-tabulation fields joined by `|`.
    pub field: String,
    /// Value text (a JSON array for a cross-tabulation).
    pub value: String,
    /// How many reports had it.
    pub count: i64,
}

/// The outcome of one group commit, shared by every request that joined it.
type Outcome = Result<(), String>;

/// The pending increments. hashbrown for its `Equivalent` lookups: a request finds the batch's
/// counter with the borrowed key and copies a value only for a counter the batch lacks. Hashed
/// with the standard library's keyed SipHash, as a `HashMap` would be: values come from clients.
type Batch = hashbrown::HashMap<Key, i64, std::hash::RandomState>;

/// Increments waiting for the next commit, and how their requests learn its outcome.
struct Pending {
    sums: Batch,
    /// Requests that added to `sums` since the last swap.
    requests: usize,
    done: watch::Sender<Option<Outcome>>,
}

impl Pending {
    fn new() -> Pending {
        Pending {
            sums: Batch::default(),
            requests: 0,
            done: watch::channel(None).0,
        }
    }
}

/// What the request handlers and the writer task share.
struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer when a request added increments.
    work: Notify,
    /// Commits, their latency, folded values and errors are counted here.
    metrics: Arc<Metrics>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes everything pending for one commit; requests from now on join the next one.
    fn take(&self) -> Pending {
        std::mem::replace(&mut *self.lock(), Pending::new())
    }
}

/// A batch taken for one commit: the summed increments sorted by key (the same lock order for
/// every writer, so two receivers sharing a PostgreSQL database never deadlock).
type Sums = Vec<(Key, i64)>;

fn sorted(sums: impl IntoIterator<Item = (Key, i64)>) -> Sums {
    let mut sums: Sums = sums.into_iter().collect();
    sums.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    sums
}

/// Retention: delete daily counters of periods before this one; answered with the rows deleted.
type Retain = (Period, oneshot::Sender<Result<u64, String>>);

/// Handle to the one writer. Cloned into every request; when the last handle is dropped the
/// writer commits what is pending and stops.
#[derive(Clone)]
pub struct Writer {
    shared: Arc<Shared>,
    retain: mpsc::Sender<Retain>,
}

/// Waits for the writer to drain and stop once every [`Writer`] handle is dropped.
pub struct WriterTask(tokio::task::JoinHandle<()>);

impl WriterTask {
    /// Returns when every pending increment was committed (or failed) and the writer stopped.
    pub async fn join(self) {
        let _ = self.0.await;
    }
}

impl Writer {
    /// Increments the counters and returns once the increment is durable.
    ///
    /// The increments are summed into the pending batch here, on the request's own task, so the
    /// single writer only swaps the batch out and commits it.
    pub async fn count(&self, keys: Vec<Key>) -> Result<(), StoreError> {
        let done = {
            let mut p = self.shared.lock();
            for k in keys {
                *p.sums.entry(k).or_insert(0) += 1;
            }
            p.requests += 1;
            p.done.subscribe()
        };
        self.committed(done).await
    }

    /// [`Writer::count`] of one report's counters, copying only the keys the batch lacks.
    pub async fn count_report(&self, counters: &Counters) -> Result<(), StoreError> {
        let done = {
            let mut p = self.shared.lock();
            for k in counters.iter() {
                match p.sums.get_mut(&k) {
                    Some(n) => *n += 1,
                    None => {
                        p.sums.insert(k.to_key(), 1);
                    }
                }
            }
            p.requests += 1;
            p.done.subscribe()
        };
        self.committed(done).await
    }

    /// Wakes the writer and waits for the outcome of the commit this request joined.
    async fn committed(
        &self,
        mut done: watch::Receiver<Option<Outcome>>,
    ) -> Result<(), StoreError> {
        self.shared.work.notify_one();
        let outcome = done
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Closed)?
            .clone();
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(StoreError::Write(e)),
            None => Err(StoreError::Closed),
        }
    }

    /// Deletes daily counters of periods before `oldest_kept`; returns how many rows went.
    pub async fn retain(&self, oldest_kept: Period) -> Result<u64, StoreError> {
        let (done, wait) = oneshot::channel();
        self.retain
            .send((oldest_kept, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        wait.await
            .map_err(|_| StoreError::Closed)?
            .map_err(StoreError::Write)
    }
}

/// One database's commit and retention, driven by [`run_writer`].
trait Backend: Send + 'static {
    /// Commits the sums in one transaction.
    fn commit(&mut self, sums: Sums) -> impl Future<Output = Outcome> + Send;
    /// Deletes old daily counters.
    fn retain(&mut self, oldest_kept: Period) -> impl Future<Output = Result<u64, String>> + Send;
    /// Answers the cardinality bound's questions, one answer per ask, in order.
    fn existing(
        &mut self,
        asks: Vec<Ask>,
    ) -> impl Future<Output = Result<Vec<Existing>, String>> + Send;
}

/// Commits `sums` with the values beyond the bound counted as `other`.
async fn commit_bounded(backend: &mut impl Backend, bound: &mut Bound, sums: Sums) -> Outcome {
    let asks = bound.asks(&sums);
    let answers = if asks.is_empty() {
        Vec::new()
    } else {
        backend.existing(asks.clone()).await?
    };
    let outcome = backend.commit(bound.apply(sums, asks, answers)).await;
    if outcome.is_err() {
        bound.forget();
    }
    outcome
}

/// One group commit of the `requests` that summed into `sums`, measured.
async fn commit_measured(
    backend: &mut impl Backend,
    bound: &mut Bound,
    metrics: &Metrics,
    requests: usize,
    sums: Sums,
) -> Outcome {
    let t0 = std::time::Instant::now();
    let outcome = commit_bounded(backend, bound, sums).await;
    metrics.commit(requests, t0.elapsed());
    match &outcome {
        Ok(()) => {
            for (field, n) in bound.take_folded() {
                metrics.folded.get_or_create(&Folded { field }).inc_by(n);
            }
        }
        Err(_) => metrics.database_error(Operation::Commit),
    }
    outcome
}

/// The writer loop: whenever requests added increments, take them all and commit them as one
/// transaction; while it commits, new requests gather for the next one (group commit).
async fn run_writer(
    mut backend: impl Backend,
    shared: Arc<Shared>,
    mut retain: mpsc::Receiver<Retain>,
    mut bound: Bound,
) {
    loop {
        tokio::select! {
            biased;
            () = shared.work.notified() => {}
            r = retain.recv() => match r {
                Some((oldest, done)) => {
                    let retained = backend.retain(oldest).await;
                    if retained.is_err() {
                        shared.metrics.database_error(Operation::Retention);
                    }
                    let _ = done.send(retained);
                    continue;
                }
                // Every Writer is gone, so no request is waiting: commit any leftovers and stop.
                None => {
                    let p = shared.take();
                    if p.requests > 0 {
                        let sums = sorted(p.sums);
                        let _ = commit_measured(&mut backend, &mut bound, &shared.metrics, p.requests, sums).await;
                    }
                    return;
                }
            },
        }
        let p = shared.take();
        if p.requests == 0 {
            continue;
        }
        let sums = sorted(p.sums);
        let outcome =
            commit_measured(&mut backend, &mut bound, &shared.metrics, p.requests, sums).await;
        if let Err(e) = &outcome {
            tracing::error!("storing counts failed, {} reports refused: {e}", p.requests);
        }
        p.done.send_replace(Some(outcome));
    }
}

/// Reads counters for `/v1/counts` and `export`.
#[derive(Clone)]
pub struct Reader {
    database: Database,
    /// Bounds the reads running at once (and so the descriptors they hold).
    reads: Arc<Semaphore>,
}

impl Reader {
    /// A reader of `database`; opens a connection per read (reads are rare, writes are not).
    pub fn new(database: Database) -> Reader {
        Reader {
            database,
            reads: Arc::new(Semaphore::new(MAX_CONCURRENT_READS)),
        }
    }

    /// Every counter of one period, sorted by field then value.
    pub async fn counts(&self, window: Window, period: Period) -> Result<Vec<Count>, StoreError> {
        let _read = self.reads.acquire().await.map_err(|_| StoreError::Closed)?;
        match &self.database {
            Database::Sqlite(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || sqlite::read(&path, window, period))
                    .await
                    .map_err(|e| StoreError::Write(e.to_string()))?
            }
            Database::Postgres(url) => postgres::read(url, window, period).await,
        }
    }
}

/// The parameters a period's release was made with, stored beside it and published with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReleaseParams {
    /// Per-period epsilon.
    pub epsilon: f64,
    /// Per-period delta.
    pub delta: f64,
    /// Value cells below this noisy count were folded into `other`.
    pub threshold: u64,
    /// Scale (sigma) of the discrete Gaussian noise on every count.
    pub noise_scale: f64,
    /// The configured k (a floor of the threshold).
    pub k: u64,
    /// The grace after which the period closed.
    pub grace_secs: u64,
    /// Cells one report could change.
    pub cells_per_report: u32,
}

/// One field of a stored release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedField {
    /// Field path, or cross-tabulation paths joined by `|`.
    pub field: String,
    /// Noisy count of the reports whose value is not shown.
    pub other: u64,
    /// The shown values as a JSON object (value -> noisy count), stored as written once.
    pub values: String,
}

/// A period's public table: computed once, stored, never recomputed.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    /// The window.
    pub window: Window,
    /// The period.
    pub period: Period,
    /// Noisy number of reports.
    pub reports: u64,
    /// How it was made.
    pub params: ReleaseParams,
    /// Every published field, sorted by field.
    pub fields: Vec<ReleasedField>,
}

/// One period of a series: the release's totals and one field's counts (`None` when that field
/// was not part of the release, such as a cross-tabulation configured later).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    /// The period.
    pub period: Period,
    /// Noisy number of reports.
    pub reports: u64,
    /// How it was made.
    pub params: ReleaseParams,
    /// `(other, values JSON)` of the field.
    pub field: Option<(u64, String)>,
}

/// The `meta` key of the release step's first look at `window`. Daily and monthly share the key
/// every database has had from the start; the weekly window, which came later, has its own, so a
/// receiver upgraded to it releases weekly periods from its upgrade on, not a past year of empty
/// weeks it never counted.
fn first_look_key(window: Window) -> &'static str {
    match window {
        Window::Daily | Window::Monthly => "first_release_look",
        Window::Weekly => "first_release_look_weekly",
    }
}

/// What the release step needs to find the periods it still owes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseState {
    /// The UTC day the release step first looked at this database for this window: every closed
    /// period from the one before it on is released, with or without reports (which periods
    /// exist must not depend on the data).
    pub first_look: chrono::NaiveDate,
    /// Periods that have counters from before that day (an import, an older receiver).
    pub counted: Vec<Period>,
    /// Periods already released.
    pub released: BTreeSet<Period>,
}

/// Stores `release` unless its period already has one; returns whether it was stored. The first
/// stored release of a period wins, also between receivers sharing a database.
pub async fn store_release(database: &Database, release: &Release) -> Result<bool, StoreError> {
    match database {
        Database::Sqlite(path) => {
            let (path, release) = (path.clone(), release.clone());
            blocking(move || sqlite::store_release(&path, &release)).await
        }
        Database::Postgres(url) => postgres::store_release(url, release).await,
    }
}

/// The release state of `window`, recording `today` as the first look if there was none.
pub async fn release_state(
    database: &Database,
    window: Window,
    today: chrono::NaiveDate,
) -> Result<ReleaseState, StoreError> {
    match database {
        Database::Sqlite(path) => {
            let path = path.clone();
            blocking(move || sqlite::release_state(&path, window, today)).await
        }
        Database::Postgres(url) => postgres::release_state(url, window, today).await,
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Write(e.to_string()))?
}

/// Reads released tables, and nothing else: the only store access the public views have.
#[derive(Clone)]
pub struct PublicReader {
    inner: PublicInner,
    /// Bounds the reads running at once (and so the descriptors they hold).
    reads: Arc<Semaphore>,
    /// Failed reads are counted here.
    metrics: Option<Arc<Metrics>>,
}

#[derive(Clone)]
enum PublicInner {
    Sqlite(PathBuf),
    Postgres(Arc<postgres::Pool>),
}

/// Runs `f` with a pooled PostgreSQL session, returned to the pool when `f` succeeded.
macro_rules! pooled {
    ($pool:expr, |$c:ident| $body:expr) => {{
        let $c = $pool.get().await?;
        let out = $body;
        if out.is_ok() {
            $pool.put($c);
        }
        out
    }};
}

impl PublicReader {
    /// A reader of the released tables of `database`.
    pub fn new(database: Database) -> PublicReader {
        let inner = match database {
            Database::Sqlite(path) => PublicInner::Sqlite(path),
            Database::Postgres(url) => PublicInner::Postgres(Arc::new(postgres::Pool::new(url))),
        };
        PublicReader {
            inner,
            reads: Arc::new(Semaphore::new(MAX_CONCURRENT_READS)),
            metrics: None,
        }
    }

    /// The same reader, counting its failed reads into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> PublicReader {
        self.metrics = Some(metrics);
        self
    }

    fn noted<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let (Err(_), Some(m)) = (&r, &self.metrics) {
            m.database_error(Operation::Read);
        }
        r
    }

    /// The release of one period, if it was released.
    pub async fn release(
        &self,
        window: Window,
        period: Period,
    ) -> Result<Option<Release>, StoreError> {
        let _read = self.reads.acquire().await.map_err(|_| StoreError::Closed)?;
        let read = async {
            match &self.inner {
                PublicInner::Sqlite(path) => {
                    let path = path.clone();
                    blocking(move || sqlite::release(&path, window, period)).await
                }
                PublicInner::Postgres(pool) => pooled!(pool, |c| {
                    postgres::release(&c, &pool.url, window, period).await
                }),
            }
        }
        .await;
        self.noted(read)
    }

    /// The latest released period of `window`.
    pub async fn latest(&self, window: Window) -> Result<Option<Period>, StoreError> {
        let _read = self.reads.acquire().await.map_err(|_| StoreError::Closed)?;
        let read = async {
            match &self.inner {
                PublicInner::Sqlite(path) => {
                    let path = path.clone();
                    blocking(move || sqlite::latest(&path, window)).await
                }
                PublicInner::Postgres(pool) => {
                    pooled!(pool, |c| postgres::latest(&c, &pool.url, window).await)
                }
            }
        }
        .await;
        self.noted(read)
    }

    /// Every released period from `from` to `to` (inclusive) with `field`'s counts, in order.
    pub async fn series(
        &self,
        window: Window,
        field: &str,
        from: Period,
        to: Period,
    ) -> Result<Vec<SeriesPoint>, StoreError> {
        let _read = self.reads.acquire().await.map_err(|_| StoreError::Closed)?;
        let read = async {
            match &self.inner {
                PublicInner::Sqlite(path) => {
                    let (path, field) = (path.clone(), field.to_owned());
                    blocking(move || sqlite::series(&path, window, &field, from, to)).await
                }
                PublicInner::Postgres(pool) => pooled!(pool, |c| {
                    postgres::series(&c, &pool.url, window, field, from, to).await
                }),
            }
        }
        .await;
        self.noted(read)
    }

    /// Every release from `from` to `to` (inclusive), in order.
    pub async fn releases(
        &self,
        window: Window,
        from: Period,
        to: Period,
    ) -> Result<Vec<Release>, StoreError> {
        let mut out = Vec::new();
        let mut p = from;
        while p <= to {
            if let Some(r) = self.release(window, p).await? {
                out.push(r);
            }
            p = p.next();
        }
        Ok(out)
    }
}

/// Raw counters read from an `export` file, summed, for [`import`].
pub type ImportRows = HashMap<Key, i64>;

/// Where an import writes: one transaction over the whole file.
pub struct Import {
    inner: ImportInner,
}

enum ImportInner {
    Sqlite(sqlite::Import),
    Postgres(postgres::Import),
}

impl Import {
    /// Opens (creating and migrating as `serve` does) and begins the import's transaction.
    pub async fn begin(database: &Database) -> Result<Import, StoreError> {
        let inner = match database {
            Database::Sqlite(path) => {
                let path = path.clone();
                ImportInner::Sqlite(blocking(move || sqlite::Import::begin(path)).await?)
            }
            Database::Postgres(url) => ImportInner::Postgres(postgres::Import::begin(url).await?),
        };
        Ok(Import { inner })
    }

    /// Deletes the counters of one period (`--replace`); returns how many went.
    pub async fn clear(&mut self, window: Window, period: Period) -> Result<u64, StoreError> {
        match &mut self.inner {
            ImportInner::Sqlite(i) => i.run(move |c| sqlite::clear(c, window, period)).await,
            ImportInner::Postgres(i) => i.clear(window, period).await,
        }
    }

    /// Adds the counters (and records their periods as counted).
    pub async fn add(&mut self, rows: ImportRows) -> Result<(), StoreError> {
        let sums = sorted(rows);
        match &mut self.inner {
            ImportInner::Sqlite(i) => i.run(move |c| sqlite::import_add(c, &sums)).await,
            ImportInner::Postgres(i) => i.add(&sums).await,
        }
    }

    /// Which of `periods` are already released.
    pub async fn released(&mut self, periods: Vec<Period>) -> Result<Vec<Period>, StoreError> {
        match &mut self.inner {
            ImportInner::Sqlite(i) => i.run(move |c| sqlite::released_among(c, &periods)).await,
            ImportInner::Postgres(i) => i.released_among(&periods).await,
        }
    }

    /// Commits everything; until then nothing of the import is visible.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            ImportInner::Sqlite(mut i) => i.run(sqlite::commit_import).await,
            ImportInner::Postgres(i) => i.commit().await,
        }
    }
}

/// What the store reports about its durability settings, as read back from the writer's
/// own connection (logged at start, asserted by tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability(pub String);

/// Opens the database, runs the migrations, checks durability and starts the writer, which
/// keeps at most `max_values` distinct values per field and period (`cardinality`).
pub async fn open(
    database: &Database,
    max_values: u32,
) -> Result<(Writer, WriterTask, Durability), StoreError> {
    open_measured(database, max_values, Arc::new(Metrics::new())).await
}

/// [`open`], counting the writer's commits and errors into `metrics`.
pub async fn open_measured(
    database: &Database,
    max_values: u32,
    metrics: Arc<Metrics>,
) -> Result<(Writer, WriterTask, Durability), StoreError> {
    let bound = Bound::new(max_values);
    let shared = Arc::new(Shared {
        pending: Mutex::new(Pending::new()),
        work: Notify::new(),
        metrics,
    });
    let (retain_tx, retain_rx) = mpsc::channel(RETAIN_QUEUE);
    let (task, durability) = match database {
        Database::Sqlite(path) => {
            let backend = sqlite::SqliteBackend::open(path.clone()).await?;
            let durability = backend.durability.clone();
            let task = tokio::spawn(run_writer(backend, shared.clone(), retain_rx, bound));
            (task, durability)
        }
        Database::Postgres(url) => {
            let client = postgres::open_writer(url).await?;
            let durability = postgres::durability(&client, url).await?;
            let backend = postgres::PostgresBackend::new(url.clone(), client);
            let task = tokio::spawn(run_writer(backend, shared.clone(), retain_rx, bound));
            (task, durability)
        }
    };
    let writer = Writer {
        shared,
        retain: retain_tx,
    };
    Ok((writer, WriterTask(task), durability))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_the_database_url() {
        for url in [
            "postgres://u:hunter2@db:5432/h",
            "postgres://u@db/h?password=hunter2",
            "postgresql://u@db/h?sslmode=disable&password=hunter2",
        ] {
            let db: Database = url.parse().unwrap();
            assert!(!db.to_string().contains("hunter2"), "{db}");
        }
    }

    #[test]
    fn parses_database_urls() {
        assert_eq!(
            "sqlite:/var/lib/r/counts.db".parse::<Database>(),
            Ok(Database::Sqlite("/var/lib/r/counts.db".into()))
        );
        assert_eq!(
            "sqlite:counts.db".parse::<Database>(),
            Ok(Database::Sqlite("counts.db".into()))
        );
        assert!(matches!(
            "postgresql://u@h/db".parse::<Database>(),
            Ok(Database::Postgres(_))
        ));
        for bad in ["sqlite:", "mysql://x", "counts.db", ""] {
            assert!(bad.parse::<Database>().is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_never_show() {
        let db: Database = "postgres://count:s3cret@db.example:5432/hc"
            .parse()
            .unwrap();
        assert_eq!(db.to_string(), "postgres://count:***@db.example:5432/hc");
        assert!(!format!("{db:?}").contains("s3cret"));
        let e = "postgrex://u:s3cret@h".parse::<Database>().unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    /// Many concurrent requests end up in few commits, and each learns its own commit's outcome.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_commits() {
        struct Slow(Arc<Mutex<Vec<Sums>>>);
        impl Backend for Slow {
            async fn commit(&mut self, sums: Sums) -> Outcome {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                self.0.lock().unwrap().push(sums);
                Ok(())
            }
            async fn retain(&mut self, _: Period) -> Result<u64, String> {
                Ok(0)
            }
            async fn existing(&mut self, asks: Vec<Ask>) -> Result<Vec<Existing>, String> {
                Ok(vec![Existing::default(); asks.len()])
            }
        }
        let commits = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::new()),
            work: Notify::new(),
            metrics: Arc::new(Metrics::new()),
        });
        let (retain, rx) = mpsc::channel(1);
        let task = tokio::spawn(run_writer(
            Slow(commits.clone()),
            shared.clone(),
            rx,
            Bound::new(crate::config::DEFAULT_MAX_VALUES),
        ));
        let writer = Writer { shared, retain };
        let key = Key {
            window: Window::Daily,
            period: "2026-11-23".parse().unwrap(),
            field: "level".into(),
            value: "minimal".into(),
        };
        let requests: Vec<_> = (0..200)
            .map(|_| {
                let (w, k) = (writer.clone(), key.clone());
                tokio::spawn(async move { w.count(vec![k]).await })
            })
            .collect();
        for r in requests {
            r.await.unwrap().unwrap();
        }
        drop(writer);
        task.await.unwrap();
        let commits = commits.lock().unwrap();
        let total: i64 = commits.iter().flatten().map(|(_, n)| n).sum();
        assert_eq!(total, 200);
        assert!(
            commits.len() < 50,
            "{} commits for 200 requests",
            commits.len()
        );
    }
}
