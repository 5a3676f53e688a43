//! `publish`: writes exactly the released tables of a range of periods, ready to post as open
//! data, as CSV (with a header stating the privacy parameters) or JSON. It releases the closed
//! periods still owed first, as the running receiver would, and reads nothing but released
//! tables for its output.

use std::collections::BTreeMap;
use std::io::Write;
use std::str::FromStr;

use headcount_report::{Period, Window};
use serde::Serialize;

use crate::store::{Database, PublicReader, Release};
use crate::views::{FieldView, PrivacyRange, privacy_ranges};

/// The output format of `publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV: `window,period,field,value,count` after `#` lines stating the parameters.
    Csv,
    /// One JSON object with every period's table.
    Json,
    /// The weekly countme tuples as Fedora's `totals.csv` ([`crate::countme::totals`]).
    CountmeTotals,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "countme-totals" => Ok(Format::CountmeTotals),
            _ => Err(format!(
                "unknown format {s:?}: allowed values are \"csv\", \"json\", \"countme-totals\""
            )),
        }
    }
}

/// The CSV column names of `publish`.
pub const CSV_HEADER: &str = "window,period,field,value,count";
/// The `field` of the row that holds a period's number of reports.
pub const REPORTS_FIELD: &str = "reports";

/// What was written, and which periods of the range had no release.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Periods written.
    pub written: Vec<Period>,
    /// Periods of the range without a release (not closed yet, or before this receiver counted).
    pub missing: Vec<Period>,
}

#[derive(Serialize)]
struct PublishedPeriod<'a> {
    period: Period,
    reports: u64,
    fields: BTreeMap<&'a str, FieldView<'a>>,
}

#[derive(Serialize)]
struct Published<'a> {
    window: Window,
    from: Period,
    to: Period,
    privacy: Vec<PrivacyRange>,
    periods: Vec<PublishedPeriod<'a>>,
}

/// Writes the released tables of `window` from `from` to `to` (inclusive) to `out`.
pub async fn write(
    database: &Database,
    window: Window,
    from: Period,
    to: Period,
    format: Format,
    out: &mut impl Write,
) -> Result<Summary, crate::Error> {
    let releases = PublicReader::new(database.clone())
        .releases(window, from, to)
        .await?;
    let mut summary = Summary::default();
    let mut p = from;
    let mut i = 0;
    while p <= to {
        if releases.get(i).is_some_and(|r| r.period == p) {
            summary.written.push(p);
            i += 1;
        } else {
            summary.missing.push(p);
        }
        p = p.next();
    }
    let ranges = privacy_ranges(releases.iter().map(|r| (r.period, &r.params)));
    match format {
        Format::Json => write_json(window, from, to, ranges, &releases, out)?,
        Format::Csv => write_csv(window, from, to, &ranges, &releases, out)?,
        Format::CountmeTotals => {
            return Err(crate::Error::Output(std::io::Error::other(
                "countme totals are written by publish_countme",
            )));
        }
    }
    out.flush()?;
    Ok(summary)
}

fn write_json(
    window: Window,
    from: Period,
    to: Period,
    privacy: Vec<PrivacyRange>,
    releases: &[Release],
    out: &mut impl Write,
) -> Result<(), crate::Error> {
    let mut periods = Vec::with_capacity(releases.len());
    for r in releases {
        let view = crate::views::counts_view(r).ok_or_else(|| {
            crate::Error::Output(std::io::Error::other(format!(
                "the stored release of {} is not JSON",
                r.period
            )))
        })?;
        periods.push(PublishedPeriod {
            period: r.period,
            reports: r.reports,
            fields: view.fields,
        });
    }
    let body = Published {
        window,
        from,
        to,
        privacy,
        periods,
    };
    serde_json::to_writer(&mut *out, &body).map_err(std::io::Error::other)?;
    writeln!(out)?;
    Ok(())
}

fn write_csv(
    window: Window,
    from: Period,
    to: Period,
    ranges: &[PrivacyRange],
    releases: &[Release],
    out: &mut impl Write,
) -> Result<(), crate::Error> {
    writeln!(
        out,
        "# headcount released counts, {window} periods {from} to {to}: differentially private, \
         released once per period after it closed"
    )?;
    for r in ranges {
        let p = &r.privacy;
        writeln!(
            out,
            "# periods {} to {}: epsilon {} per period, delta {:e}, threshold {}, grace {} s \
             (noise scale {}, k {}, {} cells per report)",
            r.from,
            r.to,
            p.epsilon,
            p.delta,
            p.threshold,
            p.grace_secs,
            p.noise_scale,
            p.k,
            p.cells_per_report
        )?;
    }
    writeln!(
        out,
        "# field {REPORTS_FIELD} with an empty value: the period's reports; any other field with \
         an empty value: its other (values below the threshold together); every count is noisy"
    )?;
    let mut csv = csv::Writer::from_writer(&mut *out);
    csv.write_record(CSV_HEADER.split(','))
        .map_err(std::io::Error::other)?;
    for r in releases {
        let (w, p) = (window.to_string(), r.period.to_string());
        csv.write_record([&w, &p, REPORTS_FIELD, "", &r.reports.to_string()])
            .map_err(std::io::Error::other)?;
        for f in &r.fields {
            let values: BTreeMap<String, u64> =
                serde_json::from_str(&f.values).map_err(std::io::Error::other)?;
            for (value, count) in values {
                csv.write_record([&w, &p, &f.field, &value, &count.to_string()])
                    .map_err(std::io::Error::other)?;
            }
            csv.write_record([&w, &p, &f.field, "", &f.other.to_string()])
                .map_err(std::io::Error::other)?;
        }
    }
    csv.flush()?;
    Ok(())
}
