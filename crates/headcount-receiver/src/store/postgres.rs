//! PostgreSQL: several receivers behind a load balancer share one database. Each batch is one
//! upsert that adds to the counters (`count = counts.count + EXCLUDED.count`), committed with
//! `synchronous_commit = on` so it is flushed to the server's WAL before a report is
//! acknowledged.

use std::time::Duration;

use headcount_report::{Period, Window};
use tokio_postgres::{Client, NoTls};

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::{
    Count, Durability, Release, ReleaseParams, ReleaseState, ReleasedField, SeriesPoint,
    StoreError, Sums, redact,
};

use crate::cardinality::{Ask, Existing, OTHER};

use super::first_look_key;

const PARAMS: &str = "epsilon, delta, threshold, noise_scale, k, grace_secs, cells_per_report";

/// Schema migrations, applied in order; `headcount_schema` records how many ran.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE counts (
    time_window TEXT NOT NULL,
    period TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (time_window, period, field, value)
)",
    // Released tables: written once per period, read by every public view.
    "CREATE TABLE releases (
    time_window TEXT NOT NULL,
    period TEXT NOT NULL,
    reports BIGINT NOT NULL,
    epsilon DOUBLE PRECISION NOT NULL,
    delta DOUBLE PRECISION NOT NULL,
    threshold BIGINT NOT NULL,
    noise_scale DOUBLE PRECISION NOT NULL,
    k BIGINT NOT NULL,
    grace_secs BIGINT NOT NULL,
    cells_per_report BIGINT NOT NULL,
    PRIMARY KEY (time_window, period)
);
CREATE TABLE released_fields (
    time_window TEXT NOT NULL,
    field TEXT NOT NULL,
    period TEXT NOT NULL,
    other BIGINT NOT NULL,
    vals TEXT NOT NULL,
    PRIMARY KEY (time_window, field, period)
);
CREATE INDEX released_fields_by_period ON released_fields (time_window, period);
CREATE TABLE counted_periods (
    time_window TEXT NOT NULL,
    period TEXT NOT NULL,
    PRIMARY KEY (time_window, period)
);
INSERT INTO counted_periods SELECT DISTINCT time_window, period FROM counts;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

/// Any fixed number: receivers starting at once take this advisory lock to migrate one at a time.
const MIGRATION_LOCK: i64 = 0x6865_6164_636f_756e;

/// Wait before reconnecting after the connection to the server broke.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// One statement per batch: the summed increments as arrays, unnested into rows.
const UPSERT: &str = "INSERT INTO counts (time_window, period, field, value, count)
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[])
    ON CONFLICT (time_window, period, field, value)
    DO UPDATE SET count = counts.count + EXCLUDED.count";

fn err(url: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
    move |source| StoreError::Postgres {
        url: redact(url),
        source,
    }
}

async fn connect(url: &str) -> Result<Client, StoreError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(err(url))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!("PostgreSQL connection closed: {e}");
        }
    });
    // Whatever the server's default, this session's commits wait for the WAL flush.
    client
        .batch_execute("SET synchronous_commit = on")
        .await
        .map_err(err(url))?;
    Ok(client)
}

pub(super) async fn open_writer(url: &str) -> Result<Client, StoreError> {
    let mut client = connect(url).await?;
    let e = err(url);
    let tx = client.transaction().await.map_err(&e)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(&e)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS headcount_schema (version INTEGER NOT NULL)")
        .await
        .map_err(&e)?;
    let applied: i32 = tx
        .query_opt("SELECT version FROM headcount_schema", &[])
        .await
        .map_err(&e)?
        .map_or(0, |r| r.get(0));
    let applied = usize::try_from(applied).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(StoreError::Write(format!(
            "{}: schema version {applied} is newer than this receiver knows ({})",
            redact(url),
            MIGRATIONS.len()
        )));
    }
    for m in &MIGRATIONS[applied..] {
        tx.batch_execute(m).await.map_err(&e)?;
    }
    let version = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    tx.execute("DELETE FROM headcount_schema", &[])
        .await
        .map_err(&e)?;
    tx.execute(
        "INSERT INTO headcount_schema (version) VALUES ($1)",
        &[&version],
    )
    .await
    .map_err(&e)?;
    tx.commit().await.map_err(&e)?;
    Ok(client)
}

/// Reads `synchronous_commit` back from the writer's session and refuses anything weaker.
pub(super) async fn durability(client: &Client, url: &str) -> Result<Durability, StoreError> {
    let row = client
        .query_one("SHOW synchronous_commit", &[])
        .await
        .map_err(err(url))?;
    let value: String = row.get(0);
    let fsync: String = client
        .query_one("SHOW fsync", &[])
        .await
        .map_err(err(url))?
        .get(0);
    // "remote_write"/"remote_apply" also flush locally first; "local" is "on" without standbys.
    let durable = matches!(
        value.as_str(),
        "on" | "remote_write" | "remote_apply" | "local"
    );
    if !durable || fsync != "on" {
        return Err(StoreError::NotDurable(format!(
            "{}: synchronous_commit={value} fsync={fsync}, need synchronous_commit=on and fsync=on",
            redact(url)
        )));
    }
    Ok(Durability(format!(
        "postgresql synchronous_commit={value} fsync={fsync}"
    )))
}

/// The writer's side of PostgreSQL: one session, reconnected when it breaks.
pub(super) struct PostgresBackend {
    url: String,
    client: Option<Client>,
}

impl PostgresBackend {
    pub(super) fn new(url: String, client: Client) -> PostgresBackend {
        PostgresBackend {
            url,
            client: Some(client),
        }
    }

    async fn client(&mut self) -> Result<&Client, String> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            match connect(&self.url).await {
                Ok(c) => self.client = Some(c),
                Err(e) => {
                    tracing::error!("{e}");
                    // Do not hammer a server that is down: requests wait a little, then get 503.
                    tokio::time::sleep(RECONNECT_DELAY).await;
                    return Err(e.to_string());
                }
            }
        }
        self.client
            .as_ref()
            .ok_or_else(|| "no connection to PostgreSQL".to_owned())
    }
}

impl super::Backend for PostgresBackend {
    async fn commit(&mut self, sums: super::Sums) -> super::Outcome {
        let c = self.client().await?;
        commit(c, &sums).await.map(drop).map_err(|e| e.to_string())
    }

    async fn retain(&mut self, oldest_kept: Period) -> Result<u64, String> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM counts WHERE time_window = $1 AND period < $2",
            &[&Window::Daily.as_str(), &oldest_kept.to_string()],
        )
        .await
        .map_err(|e| e.to_string())
    }

    async fn existing(&mut self, asks: Vec<Ask>) -> Result<Vec<Existing>, String> {
        let c = self.client().await?;
        let mut answers = Vec::with_capacity(asks.len());
        for a in &asks {
            let row = c
                .query_one(
                    EXISTING,
                    &[
                        &a.window.as_str(),
                        &a.period.to_string(),
                        &a.field,
                        &OTHER,
                        &a.values,
                    ],
                )
                .await
                .map_err(|e| e.to_string())?;
            let distinct: i64 = row.get(0);
            answers.push(Existing {
                distinct: u64::try_from(distinct).unwrap_or(0),
                present: row.get(1),
            });
        }
        Ok(answers)
    }
}

/// For the cardinality bound: how many distinct values a field has in a period (`other` not
/// included), and which of the given values are among them.
const EXISTING: &str = "SELECT count(*) FILTER (WHERE value <> $4),
        coalesce(array_agg(value) FILTER (WHERE value = ANY($5)), '{}')
    FROM counts WHERE time_window = $1 AND period = $2 AND field = $3";

async fn commit(client: &Client, sums: &super::Sums) -> Result<u64, tokio_postgres::Error> {
    let mut windows = Vec::with_capacity(sums.len());
    let mut periods = Vec::with_capacity(sums.len());
    let mut fields = Vec::with_capacity(sums.len());
    let mut values = Vec::with_capacity(sums.len());
    let mut counts = Vec::with_capacity(sums.len());
    for (k, n) in sums {
        windows.push(k.window.as_str());
        periods.push(k.period.to_string());
        fields.push(&*k.field);
        values.push(k.value.as_str());
        counts.push(*n);
    }
    // One statement outside an explicit transaction is its own transaction: all or nothing.
    client
        .execute(UPSERT, &[&windows, &periods, &fields, &values, &counts])
        .await
}

pub(super) async fn read(
    url: &str,
    window: Window,
    period: Period,
) -> Result<Vec<Count>, StoreError> {
    let client = connect(url).await?;
    let rows = client
        .query(
            "SELECT field, value, count FROM counts WHERE time_window = $1 AND period = $2
             ORDER BY field, value",
            &[&window.as_str(), &period.to_string()],
        )
        .await
        .map_err(err(url))?;
    Ok(rows
        .iter()
        .map(|r| Count {
            field: r.get(0),
            value: r.get(1),
            count: r.get(2),
        })
        .collect())
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn bad_period(url: &str, p: &str) -> StoreError {
    StoreError::Write(format!("{}: stored period {p:?} is not valid", redact(url)))
}

/// Reads [`PARAMS`] starting at column `i`.
fn params_at(r: &tokio_postgres::Row, i: usize) -> ReleaseParams {
    ReleaseParams {
        epsilon: r.get(i),
        delta: r.get(i + 1),
        threshold: unsigned(r.get(i + 2)),
        noise_scale: r.get(i + 3),
        k: unsigned(r.get(i + 4)),
        grace_secs: unsigned(r.get(i + 5)),
        cells_per_report: u32::try_from(r.get::<_, i64>(i + 6)).unwrap_or(u32::MAX),
    }
}

pub(super) async fn store_release(url: &str, release: &Release) -> Result<bool, StoreError> {
    let e = err(url);
    let mut client = open_writer(url).await?;
    let tx = client.transaction().await.map_err(&e)?;
    let p = &release.params;
    let window = release.window.as_str();
    let period = release.period.to_string();
    let inserted = tx
        .execute(
            &format!(
                "INSERT INTO releases (time_window, period, reports, {PARAMS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING"
            ),
            &[
                &window,
                &period,
                &signed(release.reports),
                &p.epsilon,
                &p.delta,
                &signed(p.threshold),
                &p.noise_scale,
                &signed(p.k),
                &signed(p.grace_secs),
                &i64::from(p.cells_per_report),
            ],
        )
        .await
        .map_err(&e)?;
    if inserted == 0 {
        return Ok(false);
    }
    let fields: Vec<&str> = release.fields.iter().map(|f| f.field.as_str()).collect();
    let others: Vec<i64> = release.fields.iter().map(|f| signed(f.other)).collect();
    let values: Vec<&str> = release.fields.iter().map(|f| f.values.as_str()).collect();
    tx.execute(
        "INSERT INTO released_fields (time_window, field, period, other, vals)
         SELECT $1, f, $2, o, v FROM UNNEST($3::text[], $4::int8[], $5::text[]) AS t(f, o, v)",
        &[&window, &period, &fields, &others, &values],
    )
    .await
    .map_err(&e)?;
    tx.commit().await.map_err(&e)?;
    Ok(true)
}

pub(super) async fn release_state(
    url: &str,
    window: Window,
    today: NaiveDate,
) -> Result<ReleaseState, StoreError> {
    let e = err(url);
    let client = open_writer(url).await?;
    let key = first_look_key(window);
    client
        .execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&key, &today.format("%Y-%m-%d").to_string()],
        )
        .await
        .map_err(&e)?;
    let first: String = client
        .query_one("SELECT value FROM meta WHERE key = $1", &[&key])
        .await
        .map_err(&e)?
        .get(0);
    let first_look = NaiveDate::parse_from_str(&first, "%Y-%m-%d").unwrap_or(today);
    let periods = async |sql: &str| -> Result<Vec<Period>, StoreError> {
        let rows = client.query(sql, &[&window.as_str()]).await.map_err(&e)?;
        rows.iter()
            .map(|r| {
                let p: String = r.get(0);
                Period::parse_for(window, &p).map_err(|_| bad_period(url, &p))
            })
            .collect()
    };
    let counted = periods("SELECT period FROM counted_periods WHERE time_window = $1").await?;
    let released: BTreeSet<Period> = periods("SELECT period FROM releases WHERE time_window = $1")
        .await?
        .into_iter()
        .collect();
    Ok(ReleaseState {
        first_look,
        counted,
        released,
    })
}

pub(super) async fn release(
    client: &Client,
    url: &str,
    window: Window,
    period: Period,
) -> Result<Option<Release>, StoreError> {
    let e = err(url);
    let p = period.to_string();
    let Some(head) = client
        .query_opt(
            &format!(
                "SELECT reports, {PARAMS} FROM releases WHERE time_window = $1 AND period = $2"
            ),
            &[&window.as_str(), &p],
        )
        .await
        .map_err(&e)?
    else {
        return Ok(None);
    };
    let rows = client
        .query(
            "SELECT field, other, vals FROM released_fields
             WHERE time_window = $1 AND period = $2 ORDER BY field COLLATE \"C\"",
            &[&window.as_str(), &p],
        )
        .await
        .map_err(&e)?;
    Ok(Some(Release {
        window,
        period,
        reports: unsigned(head.get(0)),
        params: params_at(&head, 1),
        fields: rows
            .iter()
            .map(|r| ReleasedField {
                field: r.get(0),
                other: unsigned(r.get(1)),
                values: r.get(2),
            })
            .collect(),
    }))
}

pub(super) async fn latest(
    client: &Client,
    url: &str,
    window: Window,
) -> Result<Option<Period>, StoreError> {
    let p: Option<String> = client
        .query_one(
            "SELECT max(period COLLATE \"C\") FROM releases WHERE time_window = $1",
            &[&window.as_str()],
        )
        .await
        .map_err(err(url))?
        .get(0);
    p.map(|p| Period::parse_for(window, &p).map_err(|_| bad_period(url, &p)))
        .transpose()
}

pub(super) async fn series(
    client: &Client,
    url: &str,
    window: Window,
    field: &str,
    from: Period,
    to: Period,
) -> Result<Vec<SeriesPoint>, StoreError> {
    let columns = PARAMS
        .split(", ")
        .map(|c| format!("r.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = client
        .query(
            &format!(
                "SELECT r.period, r.reports, f.other, f.vals, {columns} FROM releases r
                 LEFT JOIN released_fields f
                   ON f.time_window = r.time_window AND f.field = $2 AND f.period = r.period
                 WHERE r.time_window = $1 AND r.period >= $3 AND r.period <= $4
                 ORDER BY r.period COLLATE \"C\""
            ),
            &[&window.as_str(), &field, &from.to_string(), &to.to_string()],
        )
        .await
        .map_err(err(url))?;
    rows.iter()
        .map(|r| {
            let p: String = r.get(0);
            let other: Option<i64> = r.get(2);
            let values: Option<String> = r.get(3);
            Ok(SeriesPoint {
                period: Period::parse_for(window, &p).map_err(|_| bad_period(url, &p))?,
                reports: unsigned(r.get(1)),
                field: other.zip(values).map(|(o, v)| (unsigned(o), v)),
                params: params_at(r, 4),
            })
        })
        .collect()
}

/// Idle sessions kept for the public views: a view needs no new connection per request.
const IDLE_READERS: usize = 4;

/// The public views' sessions, reused.
pub(super) struct Pool {
    pub(super) url: String,
    idle: std::sync::Mutex<Vec<Client>>,
}

impl Pool {
    pub(super) fn new(url: String) -> Pool {
        Pool {
            url,
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// An idle open session, or a new one.
    pub(super) async fn get(&self) -> Result<Client, StoreError> {
        loop {
            let c = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match c {
                Some(c) if !c.is_closed() => return Ok(c),
                Some(_) => continue,
                None => return connect(&self.url).await,
            }
        }
    }

    /// Returns a session after a successful use.
    pub(super) fn put(&self, c: Client) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_READERS && !c.is_closed() {
            idle.push(c);
        }
    }
}

/// An import's session, inside its open transaction.
pub(super) struct Import {
    client: Client,
    url: String,
}

impl Import {
    pub(super) async fn begin(url: &str) -> Result<Import, StoreError> {
        let client = open_writer(url).await?;
        client.batch_execute("BEGIN").await.map_err(err(url))?;
        Ok(Import {
            client,
            url: url.to_owned(),
        })
    }

    pub(super) async fn clear(
        &mut self,
        window: Window,
        period: Period,
    ) -> Result<u64, StoreError> {
        self.client
            .execute(
                "DELETE FROM counts WHERE time_window = $1 AND period = $2",
                &[&window.as_str(), &period.to_string()],
            )
            .await
            .map_err(err(&self.url))
    }

    pub(super) async fn add(&mut self, sums: &Sums) -> Result<(), StoreError> {
        let e = err(&self.url);
        commit(&self.client, sums).await.map_err(&e)?;
        let mut windows = Vec::new();
        let mut periods = Vec::new();
        for (k, _) in sums {
            let p = k.period.to_string();
            if periods.last() != Some(&p) || windows.last() != Some(&k.window.as_str()) {
                windows.push(k.window.as_str());
                periods.push(p);
            }
        }
        self.client
            .execute(
                "INSERT INTO counted_periods (time_window, period)
                 SELECT DISTINCT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
                &[&windows, &periods],
            )
            .await
            .map_err(&e)?;
        Ok(())
    }

    pub(super) async fn released_among(
        &mut self,
        periods: &[Period],
    ) -> Result<Vec<Period>, StoreError> {
        let mut out = Vec::new();
        for p in periods {
            let found = self
                .client
                .query_opt(
                    "SELECT 1 FROM releases WHERE time_window = $1 AND period = $2",
                    &[&p.window().as_str(), &p.to_string()],
                )
                .await
                .map_err(err(&self.url))?;
            if found.is_some() {
                out.push(*p);
            }
        }
        Ok(out)
    }

    pub(super) async fn commit(self) -> Result<(), StoreError> {
        self.client
            .batch_execute("COMMIT")
            .await
            .map_err(err(&self.url))
    }
}
