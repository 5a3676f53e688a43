//! SQLite: WAL mode with `synchronous=FULL`, so a commit is on disk (the WAL is fsynced) before
//! a report is acknowledged. NORMAL would be faster and would lose the last commits on power
//! loss, which is exactly the acknowledged-but-lost case this receiver must not have.

use std::path::{Path, PathBuf};
use std::time::Duration;

use headcount_report::{Period, Window};
use rusqlite::{Connection, OpenFlags, params};

use super::{Count, Durability, StoreError};
use crate::cardinality::{Ask, Existing, OTHER};

/// Schema migrations, applied in order; `PRAGMA user_version` counts the applied ones.
const MIGRATIONS: &[&str] = &["CREATE TABLE counts (
    time_window TEXT NOT NULL,
    period TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (time_window, period, field, value)
) WITHOUT ROWID"];

/// How long a reader or a second process waits for a lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `PRAGMA synchronous` value of FULL.
const SYNCHRONOUS_FULL: i64 = 2;

const UPSERT: &str = "INSERT INTO counts (time_window, period, field, value, count)
    VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT (time_window, period, field, value) DO UPDATE SET count = count + excluded.count";

fn err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sqlite {
        path: path.display().to_string(),
        source,
    }
}

/// Opens (creating if missing) the writer's connection, durable, with migrations applied.
pub(super) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let e = err(path);
    let mut conn = Connection::open(path).map_err(&e)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(&e)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(&e)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotDurable(format!(
            "{}: cannot switch to WAL mode (journal_mode is {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(&e)?;
    let tx = conn.transaction().map_err(&e)?;
    let applied: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(&e)?;
    let applied = usize::try_from(applied).unwrap_or(usize::MAX);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Write(format!(
            "{}: schema version {applied} is newer than this receiver knows ({})",
            path.display(),
            MIGRATIONS.len()
        )));
    }
    for m in &MIGRATIONS[applied..] {
        tx.execute_batch(m).map_err(&e)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len() as i64)
        .map_err(&e)?;
    tx.commit().map_err(&e)?;
    Ok(conn)
}

/// Reads the durability settings back from `conn` and refuses anything less than WAL + FULL.
pub(super) fn durability(conn: &Connection, path: &Path) -> Result<Durability, StoreError> {
    let e = err(path);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .map_err(&e)?;
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(&e)?;
    if sync != SYNCHRONOUS_FULL || !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotDurable(format!(
            "{}: journal_mode={mode} synchronous={sync}, need wal and 2 (FULL)",
            path.display()
        )));
    }
    Ok(Durability(format!(
        "sqlite journal_mode={mode} synchronous=full"
    )))
}

/// The writer's side of SQLite: one connection, used on a blocking thread for each commit.
pub(super) struct SqliteBackend {
    /// Taken while a commit runs on the blocking pool.
    conn: Option<Connection>,
    path: PathBuf,
    /// The settings read back at open.
    pub(super) durability: Durability,
}

impl SqliteBackend {
    pub(super) async fn open(path: PathBuf) -> Result<SqliteBackend, StoreError> {
        tokio::task::spawn_blocking(move || {
            let conn = open_writer(&path)?;
            let durability = durability(&conn, &path)?;
            Ok(SqliteBackend {
                conn: Some(conn),
                path,
                durability,
            })
        })
        .await
        .map_err(|e| StoreError::Write(e.to_string()))?
    }

    /// Runs `f` with the connection on the blocking pool (fsync must not stall async workers).
    async fn with_conn<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, String> {
        let reopen = |path: &Path| open_writer(path).map_err(|e| e.to_string());
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => reopen(&self.path)?,
        };
        let joined = tokio::task::spawn_blocking(move || {
            let r = f(&mut conn);
            (conn, r)
        })
        .await;
        match joined {
            Ok((conn, r)) => {
                self.conn = Some(conn);
                r.map_err(|e| format!("{}: {e}", self.path.display()))
            }
            // The blocking task panicked: the connection is gone, the next call reopens it.
            Err(e) => Err(e.to_string()),
        }
    }
}

impl super::Backend for SqliteBackend {
    async fn commit(&mut self, sums: super::Sums) -> super::Outcome {
        self.with_conn(move |c| commit(c, &sums)).await
    }

    async fn retain(&mut self, oldest_kept: Period) -> Result<u64, String> {
        self.with_conn(move |c| retain(c, oldest_kept)).await
    }

    async fn existing(&mut self, asks: Vec<Ask>) -> Result<Vec<Existing>, String> {
        self.with_conn(move |c| existing(c, &asks)).await
    }
}

fn existing(conn: &Connection, asks: &[Ask]) -> Result<Vec<Existing>, rusqlite::Error> {
    let mut distinct = conn.prepare_cached(
        "SELECT count(*) FROM counts
         WHERE time_window = ?1 AND period = ?2 AND field = ?3 AND value <> ?4",
    )?;
    let mut has = conn.prepare_cached(
        "SELECT 1 FROM counts WHERE time_window = ?1 AND period = ?2 AND field = ?3 AND value = ?4",
    )?;
    let mut answers = Vec::with_capacity(asks.len());
    for a in asks {
        let (window, period) = (a.window.as_str(), a.period.to_string());
        let n: i64 = distinct.query_row(params![window, period, a.field, OTHER], |r| r.get(0))?;
        let mut present = Vec::new();
        for v in &a.values {
            if has.exists(params![window, period, a.field, v])? {
                present.push(v.clone());
            }
        }
        answers.push(Existing {
            distinct: u64::try_from(n).unwrap_or(0),
            present,
        });
    }
    Ok(answers)
}

fn commit(conn: &mut Connection, sums: &super::Sums) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut stmt = tx.prepare_cached(UPSERT)?;
        for (k, n) in sums {
            stmt.execute(params![
                k.window.as_str(),
                k.period.to_string(),
                k.field,
                k.value,
                n
            ])?;
        }
    }
    tx.commit()
}

fn retain(conn: &Connection, oldest: Period) -> Result<u64, rusqlite::Error> {
    // Daily periods are YYYY-MM-DD, so text order is time order.
    let n = conn.execute(
        "DELETE FROM counts WHERE time_window = ?1 AND period < ?2",
        params![Window::Daily.as_str(), oldest.to_string()],
    )?;
    Ok(n as u64)
}

pub(super) fn read(path: &Path, window: Window, period: Period) -> Result<Vec<Count>, StoreError> {
    let e = err(path);
    // Read-only: reading must never create a database or take the writer's lock.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&e)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(&e)?;
    let mut stmt = conn
        .prepare(
            "SELECT field, value, count FROM counts WHERE time_window = ?1 AND period = ?2
             ORDER BY field, value",
        )
        .map_err(&e)?;
    let rows = stmt
        .query_map(params![window.as_str(), period.to_string()], |r| {
            Ok(Count {
                field: r.get(0)?,
                value: r.get(1)?,
                count: r.get(2)?,
            })
        })
        .map_err(&e)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(&e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_connection_is_durable_and_migrated_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let conn = open_writer(&path).unwrap();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, SYNCHRONOUS_FULL);
        assert_eq!(
            durability(&conn, &path).unwrap().0,
            "sqlite journal_mode=wal synchronous=full"
        );
        drop(conn);
        // A second start finds the schema in place and does not run the migration again.
        let conn = open_writer(&path).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        // A weaker setting is refused, not silently accepted.
        conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
        assert!(matches!(
            durability(&conn, &path),
            Err(StoreError::NotDurable(_))
        ));
    }
}
