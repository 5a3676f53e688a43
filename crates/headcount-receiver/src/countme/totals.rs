//! Weekly totals in the format of Fedora's published countme data: mirrors-countme's
//! `totals.csv` (`mirrors_countme/totals.py`, `CSVCountItem`), written by Python's `csv` module.
//!
//! ```text
//! week_start,week_end,hits,os_name,os_version,os_variant,os_arch,sys_age,repo_tag,repo_arch
//! 2026-11-23,2026-11-29,1,Fedora Linux,43,coreos,x86_64,4,headcount,x86_64
//! ```
//!
//! One row per week and tuple: `week_start` and `week_end` are the week's Monday and Sunday,
//! `hits` the machines counted, `sys_age` the age bucket, `repo_tag` always [`REPO_TAG`] and
//! `repo_arch` the base architecture (Fedora's rows count one request per repository a machine
//! fetched; these count machines). Lines end with CRLF and a field is quoted only when it holds a
//! comma, a quote or a line break, as Python's `csv.writer` does. Rows are sorted by week, then
//! by the other columns.

use std::collections::BTreeMap;
use std::io::Write;
use std::str::FromStr;

use headcount_report::{AgeBucket, Arch, Period, Window};

use super::names::{ArchNames, Names, basearch};
use crate::fields::CROSSTAB_SEPARATOR;
use crate::store::{Database, PublicReader, Reader, ReleaseParams};

/// The column names, as mirrors-countme writes them.
pub const HEADER: [&str; 10] = [
    "week_start",
    "week_end",
    "hits",
    "os_name",
    "os_version",
    "os_variant",
    "os_arch",
    "sys_age",
    "repo_tag",
    "repo_arch",
];

/// The `repo_tag` of every row: these rows count machines, not requests to a repository.
pub const REPO_TAG: &str = "headcount";

/// The `os_variant` of a report without `os.variant_id`: what DNF's User-Agent says then
/// (dnf5 `libdnf5/conf/config_main.cpp`, `get_user_agent`).
pub const NO_VARIANT: &str = "generic";

/// How the receiver spells what reports do not carry: the os_name table and the os_arch names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spelling {
    /// os_name from os.id and os.version_id.
    pub names: Names,
    /// os_arch from arch.
    pub arches: ArchNames,
}

/// One row of the totals, without its hits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    /// The countme week.
    pub week: Period,
    /// os-release NAME, derived.
    pub os_name: String,
    /// os-release VERSION_ID.
    pub os_version: String,
    /// os-release VARIANT_ID, or [`NO_VARIANT`].
    pub os_variant: String,
    /// The architecture as `os_arch` spells it.
    pub os_arch: String,
    /// The age bucket, 1 to 4.
    pub sys_age: u8,
    /// The base architecture.
    pub repo_arch: &'static str,
}

/// What a week's tuples turned into: rows with their hits, and what could not be a row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Rows and their hits; tuples that spell the same row are summed.
    pub rows: BTreeMap<Row, u64>,
    /// Per week, the reports that are in no row.
    pub left_out: BTreeMap<Period, LeftOut>,
}

/// Reports of a week that are in no row, and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// Reports without an OS ID, a version, an architecture or an age: DNF's User-Agent would
    /// not have matched mirrors-countme's pattern either.
    pub incomplete: u64,
    /// Combinations not counted on their own: beyond `max_values` in the exact counters, below
    /// the threshold (noisy) in a release.
    pub other: u64,
}

impl Totals {
    /// Adds `hits` of the tuple `values` (id, version, variant, arch, age; `None` when the report
    /// lacked the field) in `week`.
    fn add(&mut self, spelling: &Spelling, week: Period, values: &[Option<&str>], hits: u64) {
        match spelling.row(week, values) {
            Some(row) => *self.rows.entry(row).or_insert(0) += hits,
            None => self.left_out.entry(week).or_default().incomplete += hits,
        }
    }

    fn add_other(&mut self, week: Period, hits: u64) {
        if hits > 0 {
            self.left_out.entry(week).or_default().other += hits;
        }
    }

    /// Writes the header and every row.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut csv = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(&mut *out);
        csv.write_record(HEADER).map_err(std::io::Error::other)?;
        for (row, hits) in &self.rows {
            csv.write_record([
                row.week.first_day().to_string().as_str(),
                row.week.last_day().to_string().as_str(),
                hits.to_string().as_str(),
                row.os_name.as_str(),
                row.os_version.as_str(),
                row.os_variant.as_str(),
                row.os_arch.as_str(),
                row.sys_age.to_string().as_str(),
                REPO_TAG,
                row.repo_arch,
            ])
            .map_err(std::io::Error::other)?;
        }
        csv.flush()?;
        drop(csv);
        out.flush()
    }
}

impl Spelling {
    /// The row of a tuple, `None` when the tuple lacks what every countme row has (or holds a
    /// value no report can have).
    pub fn row(&self, week: Period, values: &[Option<&str>]) -> Option<Row> {
        let [id, version, variant, arch, age] = values else {
            return None;
        };
        let (id, version) = ((*id)?, (*version)?);
        let arch = Arch::from_str((*arch)?).ok()?;
        let age = AgeBucket::new(u8::from_str((*age)?).ok()?)?;
        Some(Row {
            week,
            os_name: self.names.os_name(id, version),
            os_version: version.to_owned(),
            os_variant: variant.unwrap_or(NO_VARIANT).to_owned(),
            os_arch: self.arches.os_arch(arch),
            sys_age: age.get(),
            repo_arch: basearch(arch),
        })
    }
}

/// The weeks from `from` to `to`, both included.
fn weeks(from: Period, to: Period) -> impl Iterator<Item = Period> {
    std::iter::successors(Some(from), move |w| Some(w.next()).filter(|n| *n <= to))
        .filter(move |w| *w <= to)
}

/// The exact totals of the weeks from `from` to `to`, from the raw counters (the operator's
/// view, `export --format countme-totals`): open weeks included, every tuple with its count.
pub async fn exact(
    database: &Database,
    from: Period,
    to: Period,
    spelling: &Spelling,
) -> Result<Totals, crate::Error> {
    let reader = Reader::new(database.clone());
    let mut totals = Totals::default();
    for week in weeks(from, to) {
        for count in reader.counts(Window::Weekly, week).await? {
            if count.field != super::FIELD {
                continue;
            }
            let hits = u64::try_from(count.count).unwrap_or(0);
            match serde_json::from_str::<Vec<Option<String>>>(&count.value) {
                Ok(values) => {
                    let values: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
                    totals.add(spelling, week, &values, hits);
                }
                // The value `other`: combinations beyond the bound on distinct values.
                Err(_) => totals.add_other(week, hits),
            }
        }
    }
    Ok(totals)
}

/// The released totals of the weeks from `from` to `to` (`publish --format countme-totals`):
/// only weeks that closed and were released, each row the noisy count of a combination at
/// least the release's threshold (never below `k`) of machines share; the rest is that week's
/// `other`.
pub async fn released(
    database: &Database,
    from: Period,
    to: Period,
    spelling: &Spelling,
) -> Result<Released, crate::Error> {
    let releases = PublicReader::new(database.clone())
        .releases(Window::Weekly, from, to)
        .await?;
    let mut out = Released::default();
    for week in weeks(from, to) {
        let Some(r) = releases.iter().find(|r| r.period == week) else {
            out.missing.push(week);
            continue;
        };
        out.params.push((week, r.params));
        // Released before the weekly window counted the tuple: nothing to show, say so.
        let Some(field) = r.fields.iter().find(|f| f.field == super::FIELD) else {
            out.without_tuple.push(week);
            continue;
        };
        let values: BTreeMap<String, u64> = serde_json::from_str(&field.values)
            .map_err(|e| std::io::Error::other(format!("the release of {week}: {e}")))?;
        for (value, hits) in values {
            let parts: Vec<Option<&str>> = value
                .split(CROSSTAB_SEPARATOR)
                .map(|v| Some(v).filter(|v| !v.is_empty()))
                .collect();
            out.totals.add(spelling, week, &parts, hits);
        }
        out.totals.add_other(week, field.other);
    }
    Ok(out)
}

/// What [`released`] found.
#[derive(Debug, Default)]
pub struct Released {
    /// The rows.
    pub totals: Totals,
    /// Weeks of the range without a release (not closed yet, or before the receiver counted).
    pub missing: Vec<Period>,
    /// Released weeks whose release has no countme tuple (released by an older receiver).
    pub without_tuple: Vec<Period>,
    /// The parameters of each released week.
    pub params: Vec<(Period, ReleaseParams)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn week(s: &str) -> Period {
        s.parse().unwrap()
    }

    #[test]
    fn rows_spell_fedora_as_mirrors_countme_writes_it() {
        let s = Spelling::default();
        let mut t = Totals::default();
        let w = week("2026-W48");
        t.add(
            &s,
            w,
            &[
                Some("fedora"),
                Some("43"),
                Some("coreos"),
                Some("x86_64"),
                Some("4"),
            ],
            7,
        );
        // No VARIANT_ID: DNF says generic; the same row from two tuples is summed.
        t.add(
            &s,
            w,
            &[Some("fedora"), Some("34"), None, Some("armv7l"), Some("1")],
            2,
        );
        t.add(
            &s,
            w,
            &[
                Some("fedora"),
                Some("34"),
                Some("generic"),
                Some("armv7l"),
                Some("1"),
            ],
            1,
        );
        t.add(
            &s,
            w,
            &[
                Some("fedora"),
                None,
                Some("coreos"),
                Some("x86_64"),
                Some("4"),
            ],
            5,
        );
        t.add_other(w, 3);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "week_start,week_end,hits,os_name,os_version,os_variant,os_arch,sys_age,repo_tag,repo_arch\r\n\
             2026-11-23,2026-11-29,3,Fedora,34,generic,armhfp,1,headcount,armhfp\r\n\
             2026-11-23,2026-11-29,7,Fedora Linux,43,coreos,x86_64,4,headcount,x86_64\r\n"
        );
        assert_eq!(
            t.left_out[&w],
            LeftOut {
                incomplete: 5,
                other: 3
            }
        );
    }

    #[test]
    fn a_name_with_a_comma_is_quoted_as_python_does() {
        let names = Names::with(&[super::super::names::NameRule {
            id: "acme".into(),
            from_version: None,
            name: "ACME, \"Enterprise\"".into(),
        }]);
        let s = Spelling {
            names,
            ..Spelling::default()
        };
        let mut t = Totals::default();
        t.add(
            &s,
            week("2027-W01"),
            &[
                Some("acme"),
                Some("1"),
                Some("server"),
                Some("aarch64"),
                Some("2"),
            ],
            1,
        );
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with("2027-01-04,2027-01-10,1,\"ACME, \"\"Enterprise\"\"\",1,server,aarch64,2,headcount,aarch64\r\n"),
            "{text}"
        );
    }

    #[test]
    fn tuples_no_report_can_have_are_left_out() {
        let s = Spelling::default();
        let w = week("2026-W48");
        for bad in [
            vec![
                Some("fedora"),
                Some("43"),
                Some("coreos"),
                Some("sparc"),
                Some("4"),
            ],
            vec![
                Some("fedora"),
                Some("43"),
                Some("coreos"),
                Some("x86_64"),
                Some("5"),
            ],
            vec![Some("fedora"), Some("43"), Some("coreos"), Some("x86_64")],
            vec![None, Some("43"), Some("coreos"), Some("x86_64"), Some("4")],
        ] {
            assert_eq!(s.row(w, &bad), None, "{bad:?}");
        }
    }

    #[test]
    fn weeks_cover_the_range() {
        let all: Vec<String> = weeks(week("2026-W52"), week("2027-W02"))
            .map(|w| w.to_string())
            .collect();
        assert_eq!(all, ["2026-W52", "2026-W53", "2027-W01", "2027-W02"]);
        assert_eq!(weeks(week("2026-W02"), week("2026-W01")).count(), 0);
    }
}
