//! `import`: adds the counters of `export`'s CSV to a database (creating and migrating it as
//! `serve` does). Counters are sums, so this merges regional receivers, restores a backup,
//! moves SQLite to PostgreSQL and loads a year of data for tests. Importing the same file twice
//! adds it twice; `--replace` first deletes the counters of every period the file has, which
//! makes a re-import idempotent. The whole file is one transaction: all of it or nothing.
//!
//! `import` also takes what `publish --format json` writes: those released tables are stored as
//! they are, for the periods that have no release yet, so a moved database does not release its
//! past periods a second time with new noise.
//!
//! The file is input like any other: every row is checked against the report contract (a value
//! is accepted only if a report could have produced exactly that counter), lines are bounded,
//! and counts must be positive.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};

use headcount_report::{Period, PlatformId, Rules, Window};
use serde_json::Value;

use crate::fields::{self, CROSSTAB_SEPARATOR, Key};
use crate::store::{Database, Import, ImportRows, StoreError};

/// Longest line accepted: a counter line is a few hundred bytes at most.
pub const MAX_LINE_BYTES: usize = 4096;
/// Largest count of one counter accepted: a trillion reports.
pub const MAX_COUNT: i64 = 1_000_000_000_000;
/// Counters summed in memory before they are written (within the one transaction).
const CHUNK: usize = 100_000;
/// Largest `publish --format json` file read: years of daily tables of a large fleet.
pub const MAX_RELEASED_BYTES: u64 = 1 << 30;

/// Why an import was refused; nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A line that is not a counter `export` could have written.
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The file could not be read or is not CSV.
    #[error("reading the import: {0}")]
    Read(String),
    /// The database refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Counter lines read.
    pub rows: u64,
    /// Periods the file has counters for.
    pub periods: BTreeSet<Period>,
    /// Counters deleted by `--replace`.
    pub replaced: u64,
    /// Periods of the file that were already released: their public tables do not change.
    pub already_released: Vec<Period>,
    /// Released tables stored (from `publish --format json`).
    pub releases_stored: Vec<Period>,
}

/// Fails a read once a line grows beyond [`MAX_LINE_BYTES`].
struct LineBound<R> {
    inner: R,
    since_newline: usize,
}

impl<R: Read> Read for LineBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for b in &buf[..n] {
            self.since_newline = if *b == b'\n' {
                0
            } else {
                self.since_newline + 1
            };
            if self.since_newline > MAX_LINE_BYTES {
                return Err(std::io::Error::other(format!(
                    "a line is longer than {MAX_LINE_BYTES} bytes"
                )));
            }
        }
        Ok(n)
    }
}

/// Reads `export` CSV from `input` (several exports concatenated are fine: repeated header
/// lines are skipped) and adds it to `database` in one transaction.
pub async fn import(
    database: &Database,
    input: impl Read,
    replace: bool,
) -> Result<Summary, ImportError> {
    let mut input = BufReader::new(input);
    let first = loop {
        let buf = input
            .fill_buf()
            .map_err(|e| ImportError::Read(e.to_string()))?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => break Some(buf[i]),
            None if buf.is_empty() => break None,
            None => {
                let n = buf.len();
                input.consume(n);
            }
        }
    };
    if first == Some(b'{') {
        if replace {
            return Err(ImportError::Read(
                "--replace does not apply to released tables: a release is never replaced".into(),
            ));
        }
        return import_released(database, input).await;
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(LineBound {
            inner: input,
            since_newline: 0,
        });
    let mut store = Import::begin(database).await?;
    let mut summary = Summary::default();
    let mut checked = Checked::default();
    let mut chunk: ImportRows = HashMap::new();
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(ImportError::Read(e.to_string())),
        }
        let line = record.position().map_or(0, |p| p.line());
        let fields: Vec<&str> = record.iter().collect();
        if fields.join(",") == crate::CSV_HEADER {
            first = false;
            continue;
        }
        if first {
            return Err(ImportError::Line {
                line,
                message: format!("expected the header {:?}", crate::CSV_HEADER),
            });
        }
        let (key, count) = checked
            .row(&fields)
            .map_err(|message| ImportError::Line { line, message })?;
        summary.rows += 1;
        if summary.periods.insert(key.period) && replace {
            summary.replaced += store.clear(key.window, key.period).await?;
        }
        let sum = chunk.entry(key).or_insert(0);
        *sum = sum.saturating_add(count);
        if chunk.len() >= CHUNK {
            store.add(std::mem::take(&mut chunk)).await?;
        }
    }
    if first {
        return Err(ImportError::Read(format!(
            "the input is empty; expected the header {:?}",
            crate::CSV_HEADER
        )));
    }
    store.add(chunk).await?;
    summary.already_released = store
        .released(summary.periods.iter().copied().collect())
        .await?;
    store.commit().await?;
    Ok(summary)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Published {
    window: Window,
    #[allow(dead_code)]
    from: Period,
    #[allow(dead_code)]
    to: Period,
    privacy: Vec<PublishedPrivacy>,
    periods: Vec<PublishedPeriod>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishedPrivacy {
    from: Period,
    to: Period,
    epsilon: f64,
    delta: f64,
    threshold: u64,
    noise_scale: f64,
    k: u64,
    grace_secs: u64,
    cells_per_report: u32,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishedPeriod {
    period: Period,
    reports: u64,
    fields: std::collections::BTreeMap<String, crate::dp::FieldTable>,
}

/// Stores the released tables of a `publish --format json` file, each only if its period has no
/// release yet (the first stored release stays).
async fn import_released(database: &Database, input: impl Read) -> Result<Summary, ImportError> {
    let mut bounded = input.take(MAX_RELEASED_BYTES + 1);
    let mut text = String::new();
    bounded
        .read_to_string(&mut text)
        .map_err(|e| ImportError::Read(e.to_string()))?;
    if text.len() as u64 > MAX_RELEASED_BYTES {
        return Err(ImportError::Read(format!(
            "released tables over {MAX_RELEASED_BYTES} bytes"
        )));
    }
    let published: Published = serde_json::from_str(&text).map_err(|e| ImportError::Line {
        line: e.line() as u64,
        message: format!("not what publish --format json writes: {e}"),
    })?;
    let mut releases = Vec::with_capacity(published.periods.len());
    for p in published.periods {
        let bad = |message: String| ImportError::Read(format!("period {}: {message}", p.period));
        if p.period.window() != published.window {
            return Err(bad(format!("not a {} period", published.window)));
        }
        let params = published
            .privacy
            .iter()
            .find(|r| r.from <= p.period && p.period <= r.to && r.from.window() == published.window)
            .ok_or_else(|| bad("no privacy parameters cover it".into()))?;
        if !(params.epsilon > 0.0 && params.delta > 0.0 && params.noise_scale > 0.0) {
            return Err(bad("its privacy parameters are not a budget".into()));
        }
        let mut fields = Vec::with_capacity(p.fields.len());
        for (field, table) in p.fields {
            if !crate::views::is_publishable_field(&field) {
                return Err(bad(format!(
                    "{field:?} is not a report field or cross-tabulation"
                )));
            }
            fields.push(crate::store::ReleasedField {
                field,
                other: table.other,
                values: serde_json::to_string(&table.values).map_err(|e| bad(e.to_string()))?,
            });
        }
        releases.push(crate::store::Release {
            window: published.window,
            period: p.period,
            reports: p.reports,
            params: crate::store::ReleaseParams {
                epsilon: params.epsilon,
                delta: params.delta,
                threshold: params.threshold,
                noise_scale: params.noise_scale,
                k: params.k,
                grace_secs: params.grace_secs,
                cells_per_report: params.cells_per_report,
            },
            fields,
        });
    }
    // Migrated as serve does, before the first release is stored.
    let (writer, task, _) = crate::store::open(database, crate::config::DEFAULT_MAX_VALUES).await?;
    drop(writer);
    task.join().await;
    let mut summary = Summary::default();
    for r in releases {
        summary.periods.insert(r.period);
        if crate::store::store_release(database, &r).await? {
            summary.releases_stored.push(r.period);
        } else {
            summary.already_released.push(r.period);
        }
    }
    Ok(summary)
}

/// Checks rows, remembering the (field, value) pairs already found valid.
#[derive(Default)]
struct Checked {
    valid: HashSet<(String, String)>,
}

impl Checked {
    fn row(&mut self, cols: &[&str]) -> Result<(Key, i64), String> {
        let [window, period, field, value, count] = cols else {
            return Err(format!(
                "has {} columns, expected 5 ({})",
                cols.len(),
                crate::CSV_HEADER
            ));
        };
        let window: Window = window.parse().map_err(|e| format!("window: {e}"))?;
        let period = Period::parse_for(window, period).map_err(|e| format!("period: {e}"))?;
        let count: i64 = count
            .parse()
            .ok()
            .filter(|n| (1..=MAX_COUNT).contains(n))
            .ok_or_else(|| {
                format!("count: {count:?} is not a whole number from 1 to {MAX_COUNT}")
            })?;
        if crate::countme::is_builtin(field) && window != Window::Weekly {
            return Err(format!(
                "field {field:?} is the countme tuple, which only weekly periods have"
            ));
        }
        let pair = ((*field).to_owned(), (*value).to_owned());
        if !self.valid.contains(&pair) {
            check_counter(field, value)?;
            self.valid.insert(pair);
        }
        Ok((
            Key {
                window,
                period,
                field: Cow::Owned((*field).to_owned()),
                value: (*value).to_owned(),
            },
            count,
        ))
    }
}

/// Accepts a (field, value) counter only if a valid report could have produced it exactly.
fn check_counter(field: &str, value: &str) -> Result<(), String> {
    if value == crate::cardinality::OTHER
        && (fields::is_known_field(field) || crate::views::is_publishable_field(field))
    {
        // What the receiver counts beyond its bound on distinct values, for any field.
        return Ok(());
    }
    if field.contains(CROSSTAB_SEPARATOR) {
        if !crate::views::is_publishable_field(field) {
            return Err(format!(
                "field {field:?} is not a cross-tabulation of 2 to {} report fields, nor the \
                 countme tuple",
                crate::config::MAX_CROSSTAB_FIELDS
            ));
        }
        let parts: Vec<&str> = field.split(CROSSTAB_SEPARATOR).collect();
        let values: Vec<Option<String>> = serde_json::from_str(value)
            .map_err(|_| format!("{field}: value {value:?} is not a JSON array of values"))?;
        if values.len() != parts.len() {
            return Err(format!(
                "{field}: value {value:?} has {} values, expected {}",
                values.len(),
                parts.len()
            ));
        }
        for (f, v) in parts.iter().zip(&values) {
            if let Some(v) = v {
                check_value(f, v)?;
            }
        }
        // The exact text the receiver writes: no spaces, strings and nulls.
        let canonical = Value::Array(
            values
                .into_iter()
                .map(|v| v.map_or(Value::Null, Value::String))
                .collect(),
        )
        .to_string();
        if canonical != value {
            return Err(format!(
                "{field}: value {value:?} should be written {canonical:?}"
            ));
        }
        Ok(())
    } else {
        check_value(field, value)
    }
}

/// A report with every field filled in (from the contract's schema), then `field` set to `value`
/// (as a string, or as a JSON number or boolean), validates and counts exactly `value` for
/// `field`. An instance type is tried on every platform, and an os-release name as one a
/// vendor may have added to the known names (the export may come from a receiver that knows
/// it): what the open-field rules let through on some receiver.
fn check_value(field: &str, value: &str) -> Result<(), String> {
    if !fields::is_known_field(field) {
        return Err(format!("field {field:?} is not a report field"));
    }
    let rules = match field {
        "os.id" | "os.variant_id" => Rules::with_os_names(&[value]).unwrap_or_default(),
        _ => Rules::default(),
    };
    let platforms: Vec<Option<PlatformId>> = if field == "platform.instance_type" {
        PlatformId::ALL.iter().copied().map(Some).collect()
    } else {
        vec![None]
    };
    let literal = serde_json::from_str::<Value>(value)
        .ok()
        .filter(|v| v.is_number() || v.is_boolean());
    for leaf in [Some(Value::String(value.to_owned())), literal]
        .into_iter()
        .flatten()
    {
        for platform in &platforms {
            let mut report = template().clone();
            if let Some(p) = platform {
                report["platform"]["id"] = Value::String(p.as_str().to_owned());
            }
            let Some(slot) = report.pointer_mut(&format!("/{}", field.replace('.', "/"))) else {
                continue;
            };
            *slot = leaf.clone();
            let Ok(bytes) = serde_json::to_vec(&report) else {
                continue;
            };
            if let Ok(r) = headcount_report::validate_with(&bytes, &rules)
                && fields::leaves(&r)
                    .iter()
                    .any(|(f, v)| f == field && v == value)
            {
                return Ok(());
            }
        }
    }
    Err(format!(
        "{field}: value {value:?} is not a value a report can have"
    ))
}

/// A valid report with every field present, built from the contract's JSON Schema.
fn template() -> &'static Value {
    static TEMPLATE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let schema = headcount_report::schema();
        let mut report = sample(&schema, &schema, 0);
        if let Some(o) = report.as_object_mut() {
            o.insert("schema".into(), headcount_report::SCHEMA_VERSION.into());
            o.insert("window".into(), "daily".into());
            o.insert("period".into(), "2026-01-01".into());
            o.insert("level".into(), "full".into());
        }
        report
    })
}

/// Deepest nesting followed (the report is a few levels deep).
const MAX_SAMPLE_DEPTH: usize = 8;

/// A value the schema `s` accepts: every property, the first of a set, the smallest number,
/// and `1` for an open string (every open pattern accepts a leading digit).
fn sample(root: &Value, s: &Value, depth: usize) -> Value {
    if depth > MAX_SAMPLE_DEPTH {
        return Value::Null;
    }
    let s = match s.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .unwrap_or(s),
        None => s,
    };
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        return Value::Object(
            props
                .iter()
                .map(|(k, v)| (k.clone(), sample(root, v, depth + 1)))
                .collect(),
        );
    }
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return first.clone();
    }
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = s.get(key).and_then(Value::as_array).and_then(|a| a.first()) {
            return sample(root, first, depth + 1);
        }
    }
    match s.get("type").and_then(Value::as_str) {
        Some("boolean") => Value::Bool(true),
        Some("integer" | "number") => s.get("minimum").cloned().unwrap_or(Value::from(1)),
        _ => Value::String("1".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_a_report_could_make_are_accepted_others_not() {
        for (f, v) in [
            ("arch", "x86_64"),
            ("level", "minimal"),
            ("age_bucket", "4"),
            ("os.version_id", "43"),
            ("network.ipv6", "true"),
            ("hardware.disks.nvme", "1"),
            ("os.version_id|arch", r#"["43","x86_64"]"#),
            ("arch|hardware.cpus", r#"["x86_64",null]"#),
            ("os.version_id|arch", "other"),
            ("os.build", "other"),
            ("os.build", "416.94.202505211447-0"),
            ("platform.instance_type", "m5.large"),
            ("platform.instance_type", "VM.Standard.A1.Flex"),
            ("platform.instance_type", "u1.medium"),
            (
                "platform.id|platform.instance_type",
                r#"["aws","m5.large"]"#,
            ),
            ("os.id", "acme"),
            ("hardware.system_vendor", "Dell"),
        ] {
            assert_eq!(check_counter(f, v), Ok(()), "{f} {v}");
        }
        for (f, v) in [
            ("arch", "sparc"),
            ("hostname", "web1"),
            ("age_bucket", "04"),
            ("age_bucket", "9"),
            ("os.version_id", "43 beta"),
            ("os.version_id|arch", r#"["43", "x86_64"]"#),
            ("os.version_id|arch", r#"["43"]"#),
            ("os.version_id|hostname", r#"["43","x"]"#),
            ("os", "x"),
            // Values the open-field rules never let through on any receiver.
            ("platform.instance_type", "i-0abc123def4567890"),
            ("platform.instance_type", "acme-gpu-flavor"),
            ("os.id", "web1.example.com"),
            ("os.id", "Fedora Linux"),
            ("os.build", "43.2026 built by alice"),
            ("os.version_id", "10.0.0.1"),
            ("hardware.system_vendor", "ACME-RACK-17"),
        ] {
            assert!(check_counter(f, v).is_err(), "{f} {v}");
        }
    }

    #[test]
    fn the_template_is_a_valid_full_report_with_every_field() {
        let r = headcount_report::validate(&serde_json::to_vec(template()).unwrap()).unwrap();
        let leaves: BTreeSet<String> = fields::leaves(&r)
            .into_iter()
            .map(|(f, _)| f.into())
            .collect();
        assert_eq!(leaves, fields::known_fields());
    }

    #[test]
    fn rows_need_five_columns_a_valid_period_and_a_positive_count() {
        let mut c = Checked::default();
        assert!(
            c.row(&["daily", "2026-11-23", "arch", "x86_64", "3"])
                .is_ok()
        );
        let tuple = r#"["fedora","43","coreos","x86_64","4"]"#;
        for ok in [
            &["weekly", "2026-W48", "arch", "x86_64", "3"][..],
            &["weekly", "2026-W48", crate::countme::FIELD, tuple, "3"],
            &[
                "weekly",
                "2026-W48",
                crate::countme::FIELD,
                r#"["fedora","43",null,"x86_64","4"]"#,
                "1",
            ],
            &["weekly", "2026-W48", crate::countme::FIELD, "other", "2"],
        ] {
            assert!(c.row(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            &["daily", "2026-11", "arch", "x86_64", "3"][..],
            &["weekly", "2026-11-23", "arch", "x86_64", "3"],
            &["daily", "2026-11-23", crate::countme::FIELD, tuple, "3"],
            &[
                "weekly",
                "2026-W48",
                crate::countme::FIELD,
                r#"["fedora","43","coreos","x86_64","5"]"#,
                "3",
            ],
            &[
                "weekly",
                "2026-W48",
                crate::countme::FIELD,
                r#"["fedora","43","coreos","x86_64"]"#,
                "3",
            ],
            &["daily", "2026-11-23", "arch", "x86_64", "0"],
            &["daily", "2026-11-23", "arch", "x86_64", "-3"],
            &["daily", "2026-11-23", "arch", "x86_64", "1000000000001"],
            &["daily", "2026-11-23", "arch", "x86_64"],
        ] {
            assert!(c.row(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn long_lines_are_refused() {
        let mut r = LineBound {
            inner: std::io::Cursor::new(vec![b'a'; MAX_LINE_BYTES + 1]),
            since_newline: 0,
        };
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).is_err());
    }
}
