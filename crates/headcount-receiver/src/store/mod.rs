//! Counters on disk: SQLite (one machine) or PostgreSQL (several receivers, one database).
//!
//! Every write goes through one writer task that batches whatever reports arrived while the
//! previous transaction was committing into the next one (group commit): each request waits for
//! its batch's commit, so a 202 is only sent once its increments are durable, and a thousand
//! concurrent reports cost one fsync, not a thousand.

mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use headcount_report::{Period, Window};
use tokio::sync::{mpsc, oneshot};

use crate::fields::Key;

/// Most requests folded into one transaction: bounds the time one commit takes.
const MAX_BATCH_REQUESTS: usize = 8192;
/// Requests queued for the writer before new ones wait for room (backpressure).
const WRITER_QUEUE: usize = 65536;

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

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
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

enum Command {
    Count(Vec<Key>, oneshot::Sender<Result<(), String>>),
    /// Delete daily counters of periods before this one.
    Retain(Period, oneshot::Sender<Result<u64, String>>),
}

/// Handle to the one writer task. Cloned into every request.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Command>,
}

/// Waits for the writer to drain and stop once every [`Writer`] handle is dropped.
pub struct WriterTask(WriterJoin);

enum WriterJoin {
    Thread(std::thread::JoinHandle<()>),
    Task(tokio::task::JoinHandle<()>),
}

impl WriterTask {
    /// Returns when every queued batch was committed (or failed) and the writer stopped.
    pub async fn join(self) {
        match self.0 {
            WriterJoin::Thread(t) => {
                let _ = tokio::task::spawn_blocking(move || t.join()).await;
            }
            WriterJoin::Task(t) => {
                let _ = t.await;
            }
        }
    }
}

impl Writer {
    /// Increments the counters and returns once the increment is durable.
    pub async fn count(&self, keys: Vec<Key>) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Count(keys, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        wait.await
            .map_err(|_| StoreError::Closed)?
            .map_err(StoreError::Write)
    }

    /// Deletes daily counters of periods before `oldest_kept`; returns how many rows went.
    pub async fn retain(&self, oldest_kept: Period) -> Result<u64, StoreError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Command::Retain(oldest_kept, done))
            .await
            .map_err(|_| StoreError::Closed)?;
        wait.await
            .map_err(|_| StoreError::Closed)?
            .map_err(StoreError::Write)
    }
}

/// Reads counters for `/v1/counts` and `export`.
#[derive(Clone)]
pub struct Reader {
    database: Database,
}

impl Reader {
    /// A reader of `database`; opens a connection per read (reads are rare, writes are not).
    pub fn new(database: Database) -> Reader {
        Reader { database }
    }

    /// Every counter of one period, sorted by field then value.
    pub async fn counts(&self, window: Window, period: Period) -> Result<Vec<Count>, StoreError> {
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

/// What the store reports about its durability settings, as read back from the writer's
/// own connection (logged at start, asserted by tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability(pub String);

/// Opens the database, runs the migrations, checks durability and starts the writer.
pub async fn open(database: &Database) -> Result<(Writer, WriterTask, Durability), StoreError> {
    let (tx, rx) = mpsc::channel(WRITER_QUEUE);
    let (join, durability) = match database {
        Database::Sqlite(path) => {
            let conn = sqlite::open_writer(path)?;
            let durability = sqlite::durability(&conn, path)?;
            let thread = std::thread::Builder::new()
                .name("counter-writer".into())
                .spawn(move || sqlite::run_writer(conn, rx))
                .map_err(|e| StoreError::Write(format!("cannot start the writer thread: {e}")))?;
            (WriterJoin::Thread(thread), durability)
        }
        Database::Postgres(url) => {
            let client = postgres::open_writer(url).await?;
            let durability = postgres::durability(&client, url).await?;
            let task = tokio::spawn(postgres::run_writer(url.clone(), client, rx));
            (WriterJoin::Task(task), durability)
        }
    };
    Ok((Writer { tx }, WriterTask(join), durability))
}

/// The next batch: the first command plus whatever else is already queued.
fn drain(first: Command, rx: &mut mpsc::Receiver<Command>) -> Vec<Command> {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH_REQUESTS {
        match rx.try_recv() {
            Ok(c) => batch.push(c),
            Err(_) => break,
        }
    }
    batch
}

/// Increments summed per counter, sorted by key (the same lock order for every writer, so two
/// receivers sharing a PostgreSQL database never deadlock).
type Sums = Vec<(Key, i64)>;

/// Splits a batch into the summed increments with their waiters, and the retention requests.
#[allow(clippy::type_complexity)]
fn split(
    batch: Vec<Command>,
) -> (
    Sums,
    Vec<oneshot::Sender<Result<(), String>>>,
    Vec<(Period, oneshot::Sender<Result<u64, String>>)>,
) {
    // Hashing while summing, sorting only the distinct counters: far fewer comparisons.
    let mut sums: HashMap<Key, i64> = HashMap::new();
    let mut waiters = Vec::with_capacity(batch.len());
    let mut retains = Vec::new();
    for c in batch {
        match c {
            Command::Count(keys, done) => {
                for k in keys {
                    *sums.entry(k).or_insert(0) += 1;
                }
                waiters.push(done);
            }
            Command::Retain(p, done) => retains.push((p, done)),
        }
    }
    let mut sums: Sums = sums.into_iter().collect();
    sums.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    (sums, waiters, retains)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
