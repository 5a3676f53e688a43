//! PostgreSQL: several receivers behind a load balancer share one database. Each batch is one
//! upsert that adds to the counters (`count = counts.count + EXCLUDED.count`), committed with
//! `synchronous_commit = on` so it is flushed to the server's WAL before a report is
//! acknowledged.

use std::time::Duration;

use headcount_report::{Period, Window};
use tokio_postgres::{Client, NoTls};

use super::{Count, Durability, StoreError, redact};
use crate::cardinality::{Ask, Existing, OTHER};

/// Schema migrations, applied in order; `headcount_schema` records how many ran.
const MIGRATIONS: &[&str] = &["CREATE TABLE counts (
    time_window TEXT NOT NULL,
    period TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (time_window, period, field, value)
)"];

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
