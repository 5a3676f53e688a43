//! SQLite: WAL mode with `synchronous=FULL`, so a commit is on disk (the WAL is fsynced) before
//! a report is acknowledged. NORMAL would be faster and would lose the last commits on power
//! loss, which is exactly the acknowledged-but-lost case this receiver must not have.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use headcount_report::{Period, Window};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use chrono::NaiveDate;

use super::{
    Count, Durability, PARAMS, Release, ReleaseParams, ReleaseState, ReleasedField, SeriesPoint,
    StoreError, Sums, first_look_key,
};

use crate::cardinality::{Ask, Existing, OTHER};

/// Schema migrations, applied in order; `PRAGMA user_version` counts the applied ones.
static MIGRATIONS: LazyLock<Vec<String>> =
    LazyLock::new(|| super::migrations("INTEGER", "REAL", " WITHOUT ROWID"));

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
    // IMMEDIATE: the write lock is taken (waiting up to the busy timeout) before the version is
    // read. A deferred transaction that reads and then writes fails at once, without waiting,
    // when another connection wrote in between, and the release step opens this connection
    // beside the writer's, once per window.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(&e)?;
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
    async fn commit(&mut self, sums: super::Sums) -> super::CommitResult {
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
    let (conn, e) = open_read(path)?;
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

/// Read-only: reading must never create a database or take the writer's lock. With the
/// connection, what turns its errors into ones that name the file.
fn open_read(
    path: &Path,
) -> Result<(Connection, impl Fn(rusqlite::Error) -> StoreError + '_), StoreError> {
    let e = err(path);
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(&e)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(&e)?;
    Ok((conn, e))
}

fn parse_period(window: Window, s: &str) -> rusqlite::Result<Period> {
    Period::parse_for(window, s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Reads [`PARAMS`] starting at column `i`.
fn params_at(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<ReleaseParams> {
    Ok(ReleaseParams {
        epsilon: r.get(i)?,
        delta: r.get(i + 1)?,
        threshold: unsigned(r.get(i + 2)?),
        noise_scale: r.get(i + 3)?,
        k: unsigned(r.get(i + 4)?),
        grace_secs: unsigned(r.get(i + 5)?),
        cells_per_report: u32::try_from(r.get::<_, i64>(i + 6)?).unwrap_or(u32::MAX),
    })
}

pub(super) fn store_release(path: &Path, release: &Release) -> Result<bool, StoreError> {
    let e = err(path);
    let mut conn = open_writer(path)?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(&e)?;
    let (window, period) = (release.window.as_str(), release.period.to_string());
    let p = &release.params;
    let inserted = tx
        .execute(
            &super::insert_release('?'),
            params![
                window,
                period,
                signed(release.reports),
                p.epsilon,
                p.delta,
                signed(p.threshold),
                p.noise_scale,
                signed(p.k),
                signed(p.grace_secs),
                i64::from(p.cells_per_report)
            ],
        )
        .map_err(&e)?;
    if inserted == 0 {
        return Ok(false);
    }
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO released_fields (time_window, field, period, other, vals)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(&e)?;
        for f in &release.fields {
            stmt.execute(params![window, f.field, period, signed(f.other), f.values])
                .map_err(&e)?;
        }
    }
    tx.commit().map_err(&e)?;
    Ok(true)
}

pub(super) fn release_state(
    path: &Path,
    window: Window,
    today: NaiveDate,
) -> Result<ReleaseState, StoreError> {
    let e = err(path);
    let conn = open_writer(path)?;
    let key = first_look_key(window);
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![key, today.format("%Y-%m-%d").to_string()],
    )
    .map_err(&e)?;
    let first: String = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .map_err(&e)?;
    let first_look = NaiveDate::parse_from_str(&first, "%Y-%m-%d").unwrap_or(today);
    let periods = |sql: &str| -> Result<Vec<Period>, StoreError> {
        let mut stmt = conn.prepare(sql).map_err(&e)?;
        let rows = stmt
            .query_map([window.as_str()], |r| {
                parse_period(window, &r.get::<_, String>(0)?)
            })
            .map_err(&e)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(&e)
    };
    Ok(ReleaseState {
        first_look,
        counted: periods("SELECT period FROM counted_periods WHERE time_window = ?1")?,
        released: periods("SELECT period FROM releases WHERE time_window = ?1")?
            .into_iter()
            .collect(),
    })
}

pub(super) fn release(
    path: &Path,
    window: Window,
    period: Period,
) -> Result<Option<Release>, StoreError> {
    let (conn, e) = open_read(path)?;
    let p = period.to_string();
    let head = conn
        .query_row(
            &format!(
                "SELECT reports, {PARAMS} FROM releases WHERE time_window = ?1 AND period = ?2"
            ),
            params![window.as_str(), p],
            |r| Ok((unsigned(r.get(0)?), params_at(r, 1)?)),
        )
        .optional()
        .map_err(&e)?;
    let Some((reports, params)) = head else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare(
            "SELECT field, other, vals FROM released_fields
             WHERE time_window = ?1 AND period = ?2 ORDER BY field",
        )
        .map_err(&e)?;
    let fields = stmt
        .query_map(params![window.as_str(), p], |r| {
            Ok(ReleasedField {
                field: r.get(0)?,
                other: unsigned(r.get(1)?),
                values: r.get(2)?,
            })
        })
        .map_err(&e)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(&e)?;
    Ok(Some(Release {
        window,
        period,
        reports,
        params,
        fields,
    }))
}

pub(super) fn latest(path: &Path, window: Window) -> Result<Option<Period>, StoreError> {
    let (conn, e) = open_read(path)?;
    // Periods of one window are fixed-width text, so text order is time order.
    conn.query_row(
        "SELECT max(period) FROM releases WHERE time_window = ?1",
        [window.as_str()],
        |r| r.get::<_, Option<String>>(0),
    )
    .map_err(&e)?
    .map(|p| parse_period(window, &p))
    .transpose()
    .map_err(&e)
}

pub(super) fn series(
    path: &Path,
    window: Window,
    field: &str,
    from: Period,
    to: Period,
) -> Result<Vec<SeriesPoint>, StoreError> {
    let (conn, e) = open_read(path)?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT r.period, r.reports, f.other, f.vals, {} FROM releases r
             LEFT JOIN released_fields f
               ON f.time_window = r.time_window AND f.field = ?2 AND f.period = r.period
             WHERE r.time_window = ?1 AND r.period >= ?3 AND r.period <= ?4
             ORDER BY r.period",
            PARAMS
                .split(", ")
                .map(|c| format!("r.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .map_err(&e)?;
    let rows = stmt
        .query_map(
            params![window.as_str(), field, from.to_string(), to.to_string()],
            |r| {
                let other: Option<i64> = r.get(2)?;
                let values: Option<String> = r.get(3)?;
                Ok(SeriesPoint {
                    period: parse_period(window, &r.get::<_, String>(0)?)?,
                    reports: unsigned(r.get(1)?),
                    field: other.zip(values).map(|(o, v)| (unsigned(o), v)),
                    params: params_at(r, 4)?,
                })
            },
        )
        .map_err(&e)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(&e)
}

/// An import's connection, inside its open transaction.
pub(super) struct Import {
    conn: Option<Connection>,
    path: PathBuf,
}

impl Import {
    pub(super) fn begin(path: PathBuf) -> Result<Import, StoreError> {
        let conn = open_writer(&path)?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(err(&path))?;
        Ok(Import {
            conn: Some(conn),
            path,
        })
    }

    /// Runs `f` on the blocking pool with the connection.
    pub(super) async fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.take().ok_or(StoreError::Closed)?;
        let (conn, r) = tokio::task::spawn_blocking(move || {
            let r = f(&conn);
            (conn, r)
        })
        .await
        .map_err(|e| StoreError::Write(e.to_string()))?;
        self.conn = Some(conn);
        r.map_err(err(&self.path))
    }
}

pub(super) fn clear(conn: &Connection, window: Window, period: Period) -> rusqlite::Result<u64> {
    let n = conn.execute(
        "DELETE FROM counts WHERE time_window = ?1 AND period = ?2",
        params![window.as_str(), period.to_string()],
    )?;
    Ok(n as u64)
}

pub(super) fn import_add(conn: &Connection, sums: &Sums) -> rusqlite::Result<()> {
    let mut upsert = conn.prepare_cached(UPSERT)?;
    let mut counted = conn.prepare_cached(
        "INSERT INTO counted_periods (time_window, period) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?;
    let mut last = None;
    for (k, n) in sums {
        let period = k.period.to_string();
        upsert.execute(params![k.window.as_str(), period, k.field, k.value, n])?;
        if last != Some((k.window, k.period)) {
            counted.execute(params![k.window.as_str(), period])?;
            last = Some((k.window, k.period));
        }
    }
    Ok(())
}

pub(super) fn released_among(
    conn: &Connection,
    periods: &[Period],
) -> rusqlite::Result<Vec<Period>> {
    let mut stmt =
        conn.prepare_cached("SELECT 1 FROM releases WHERE time_window = ?1 AND period = ?2")?;
    let mut out = Vec::new();
    for p in periods {
        if stmt.exists(params![p.window().as_str(), p.to_string()])? {
            out.push(*p);
        }
    }
    Ok(out)
}

pub(super) fn commit_import(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("COMMIT")
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

    /// Opening a writer connection while another connection writes waits for it: the release
    /// step opens one per window beside the writer's. A deferred transaction read the version,
    /// then failed at once (SQLITE_BUSY_SNAPSHOT) when the other committed before its own write.
    #[test]
    fn opening_a_writer_beside_a_committing_one_waits_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let mut other = open_writer(&path).unwrap();
        let tx = other
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        tx.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')", [])
            .unwrap();
        let opening = {
            let path = path.clone();
            std::thread::spawn(move || open_writer(&path).map(|_| ()))
        };
        std::thread::sleep(Duration::from_millis(300));
        tx.commit().unwrap();
        opening.join().unwrap().unwrap();
    }
}
