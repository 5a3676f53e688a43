//! The public view of the counters: k-anonymity applied, so that a value (or a combination of
//! values in a cross-tabulation) seen fewer than k times is only visible inside "other".

use std::collections::BTreeMap;

use headcount_report::{Period, Window};
use serde::Serialize;

use crate::fields::CROSSTAB_SEPARATOR;
use crate::store::Count;

/// Every report has a level, so the level counters sum to the number of reports.
const TOTAL_FIELD: &str = "level";

/// The body of `GET /v1/counts`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CountsView {
    /// The window asked for.
    pub window: Window,
    /// The period asked for.
    pub period: Period,
    /// The k applied: values with fewer reports are folded into `other`.
    pub k: u64,
    /// Reports counted in this period.
    pub reports: i64,
    /// Per field path: the values seen at least k times, and the rest summed.
    pub fields: BTreeMap<String, FieldCounts>,
    /// Per configured cross-tabulation: the combinations seen at least k times, and the rest.
    pub crosstabs: Vec<CrosstabCounts>,
}

/// The counts of one field.
#[derive(Debug, Serialize, PartialEq, Eq, Default)]
pub struct FieldCounts {
    /// Value -> reports, for values seen at least k times.
    pub values: BTreeMap<String, i64>,
    /// Reports whose value was seen fewer than k times.
    pub other: i64,
}

/// The counts of one cross-tabulation.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CrosstabCounts {
    /// The field paths combined.
    pub fields: Vec<String>,
    /// Combinations seen at least k times, most frequent first.
    pub rows: Vec<CrosstabRow>,
    /// Reports whose combination was seen fewer than k times.
    pub other: i64,
}

/// One combination of values (`null` where a report lacked the field).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct CrosstabRow {
    /// The values, in the order of the cross-tabulation's fields.
    pub values: Vec<Option<String>>,
    /// Reports with exactly these values.
    pub count: i64,
}

/// Builds the k-anonymous view of one period's counters.
pub fn view(window: Window, period: Period, k: u64, counts: Vec<Count>) -> CountsView {
    let k = i64::try_from(k).unwrap_or(i64::MAX);
    let mut fields: BTreeMap<String, FieldCounts> = BTreeMap::new();
    let mut tabs: BTreeMap<String, CrosstabCounts> = BTreeMap::new();
    for c in counts {
        if c.field.contains(CROSSTAB_SEPARATOR) {
            let tab = tabs
                .entry(c.field.clone())
                .or_insert_with(|| CrosstabCounts {
                    fields: c
                        .field
                        .split(CROSSTAB_SEPARATOR)
                        .map(str::to_owned)
                        .collect(),
                    rows: Vec::new(),
                    other: 0,
                });
            match serde_json::from_str::<Vec<Option<String>>>(&c.value) {
                Ok(values) if c.count >= k => tab.rows.push(CrosstabRow {
                    values,
                    count: c.count,
                }),
                _ => tab.other += c.count,
            }
        } else {
            let f = fields.entry(c.field).or_default();
            if c.count >= k {
                f.values.insert(c.value, c.count);
            } else {
                f.other += c.count;
            }
        }
    }
    let reports = fields
        .get(TOTAL_FIELD)
        .map_or(0, |f| f.values.values().sum::<i64>() + f.other);
    let mut crosstabs: Vec<CrosstabCounts> = tabs.into_values().collect();
    for t in &mut crosstabs {
        t.rows
            .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.values.cmp(&b.values)));
    }
    CountsView {
        window,
        period,
        k: u64::try_from(k).unwrap_or(0),
        reports,
        fields,
        crosstabs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(field: &str, value: &str, count: i64) -> Count {
        Count {
            field: field.into(),
            value: value.into(),
            count,
        }
    }

    #[test]
    fn rare_values_and_combinations_fold_into_other() {
        let v = view(
            Window::Daily,
            "2026-11-23".parse().unwrap(),
            10,
            vec![
                c("level", "minimal", 25),
                c("level", "full", 3),
                c("arch", "x86_64", 19),
                c("arch", "aarch64", 9),
                c("os.version_id|arch", r#"["43","x86_64"]"#, 10),
                c("os.version_id|arch", r#"["42","x86_64"]"#, 9),
                c("os.version_id|arch", r#"["43",null]"#, 11),
            ],
        );
        assert_eq!(v.reports, 28);
        assert_eq!(v.fields["level"].values.len(), 1);
        assert_eq!(v.fields["level"].other, 3);
        assert_eq!(v.fields["arch"].values["x86_64"], 19);
        assert_eq!(v.fields["arch"].other, 9);
        let t = &v.crosstabs[0];
        assert_eq!(t.fields, ["os.version_id", "arch"]);
        assert_eq!(t.other, 9);
        assert_eq!(t.rows[0].values, [Some("43".into()), None]);
        assert_eq!(t.rows[1].count, 10);
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["period"], "2026-11-23");
        assert_eq!(json["fields"]["arch"]["other"], 9);
        assert!(!json.to_string().contains("aarch64"));
        assert!(!json.to_string().contains("\"42\""));
    }

    #[test]
    fn k_of_one_shows_everything() {
        let v = view(
            Window::Monthly,
            "2026-11".parse().unwrap(),
            1,
            vec![c("level", "minimal", 1)],
        );
        assert_eq!(v.fields["level"].values["minimal"], 1);
        assert_eq!(v.fields["level"].other, 0);
    }
}
