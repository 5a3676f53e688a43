//! What one accepted report adds to the counters: one counter per field, plus the configured
//! cross-tabulations. Field names are dotted paths into the report (`os.version_id`), derived
//! from the report itself, so a new fact in the contract is counted without a change here.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::OnceLock;

use headcount_report::{Period, Report, Window};
use serde_json::Value;

use crate::leaf_serializer::Leaves;

/// Report keys that place the report in time; they key the counters instead of being counted.
const NOT_COUNTED: [&str; 3] = ["schema", "window", "period"];

/// Separates the field paths of a cross-tabulation in its counter's field name
/// (`os.version_id|platform.id|arch`); field paths never contain it.
pub const CROSSTAB_SEPARATOR: char = '|';

/// One counter: incremented once per report that has this value for this field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// The report's window.
    pub window: Window,
    /// The report's period.
    pub period: Period,
    /// A field path, or the field paths of a cross-tabulation joined by [`CROSSTAB_SEPARATOR`].
    /// Borrowed from the contract's field list for known fields: no allocation per report.
    pub field: Cow<'static, str>,
    /// The value as text; for a cross-tabulation a JSON array of the values (`null` for absent).
    pub value: String,
}

/// The leaves of a report as (field path, value text), sorted by path, without
/// schema/window/period. An array counts each element under the array's path.
pub fn leaves(report: &Report) -> Vec<(Cow<'static, str>, String)> {
    let mut out = Vec::with_capacity(EXPECTED_LEAVES);
    let fast = Leaves::walk(report, &mut |path: &str, value: &str| {
        if !NOT_COUNTED.contains(&path) {
            out.push((intern_str(path), value.to_owned()));
        }
    });
    if fast.is_err() {
        out = slow_leaves(report);
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Leaves of a full report, for the first allocation.
const EXPECTED_LEAVES: usize = 40;
/// Bytes of the value texts of a full report, for the first allocation.
const EXPECTED_TEXT: usize = 256;

/// A counter's key borrowed from [`Counters`]: hashed and compared exactly as the [`Key`] it
/// stands for, so the writer can find a counter of its batch without building a `Key`.
#[derive(Debug, Clone, Copy, Hash)]
pub struct KeyRef<'a> {
    /// The report's window.
    pub window: Window,
    /// The report's period.
    pub period: Period,
    /// The field path (or cross-tabulation).
    pub field: &'a Cow<'static, str>,
    /// The value text.
    pub value: &'a str,
}

impl KeyRef<'_> {
    /// The owned key.
    pub fn to_key(&self) -> Key {
        Key {
            window: self.window,
            period: self.period,
            field: self.field.clone(),
            value: self.value.to_owned(),
        }
    }
}

impl hashbrown::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.window == key.window
            && self.period == key.period
            && *self.field == key.field
            && self.value == key.value
    }
}

/// Every counter one report increments: the field names, and the value texts in one buffer, so
/// a report costs two allocations here instead of one per counter (the writer copies a value only
/// for a counter its batch does not have yet).
#[derive(Debug)]
pub struct Counters {
    window: Window,
    period: Period,
    text: String,
    /// Field and its value's place in `text`: the leaves first, then the cross-tabulations.
    keys: Vec<(Cow<'static, str>, Range<usize>)>,
    leaves: usize,
}

impl Counters {
    /// The counters of `report` with the configured cross-tabulations.
    pub fn of(report: &Report, crosstabs: &[Vec<String>]) -> Counters {
        let mut text = String::with_capacity(EXPECTED_TEXT);
        let mut keys = Vec::with_capacity(EXPECTED_LEAVES + crosstabs.len());
        let fast = Leaves::walk(report, &mut |path: &str, value: &str| {
            if !NOT_COUNTED.contains(&path) {
                let start = text.len();
                text.push_str(value);
                keys.push((intern_str(path), start..text.len()));
            }
        });
        if fast.is_err() {
            text.clear();
            keys.clear();
            for (field, value) in slow_leaves(report) {
                let start = text.len();
                text.push_str(&value);
                keys.push((field, start..text.len()));
            }
        }
        let leaves = keys.len();
        // A combination's value: the JSON array of its fields' values (`null` where absent).
        let combination = |tab: &mut dyn Iterator<Item = &str>,
                           keys: &[(Cow<'static, str>, Range<usize>)],
                           text: &str| {
            let values: Vec<Value> = tab
                .map(|f| {
                    keys[..leaves]
                        .iter()
                        .find(|(p, _)| p == f)
                        .map_or(Value::Null, |(_, r)| {
                            Value::String(text[r.clone()].to_owned())
                        })
                })
                .collect();
            Value::Array(values).to_string()
        };
        for tab in crosstabs {
            let value = combination(&mut tab.iter().map(String::as_str), &keys, &text);
            let start = text.len();
            text.push_str(&value);
            keys.push((Cow::Owned(crosstab_field(tab)), start..text.len()));
        }
        for (field, tab) in crate::countme::builtin_crosstabs(report.window) {
            let value = combination(&mut tab.iter().copied(), &keys, &text);
            let start = text.len();
            text.push_str(&value);
            keys.push((Cow::Borrowed(*field), start..text.len()));
        }
        Counters {
            window: report.window,
            period: report.period,
            text,
            keys,
            leaves,
        }
    }

    /// Every counter, leaves first, then the configured and the built-in cross-tabulations.
    pub fn iter(&self) -> impl Iterator<Item = KeyRef<'_>> {
        self.keys.iter().map(|(field, r)| KeyRef {
            window: self.window,
            period: self.period,
            field,
            value: &self.text[r.clone()],
        })
    }
}

/// The general walk over a `serde_json::Value`, for shapes the fast serializer does not handle.
fn slow_leaves(report: &Report) -> Vec<(Cow<'static, str>, String)> {
    let mut out = Vec::new();
    if let Ok(Value::Object(map)) = serde_json::to_value(report) {
        for (k, v) in map {
            if !NOT_COUNTED.contains(&k.as_str()) {
                flatten(&k, &v, &mut out);
            }
        }
    }
    out.into_iter().map(|(f, v)| (intern(f), v)).collect()
}

fn flatten(path: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, c) in map {
                flatten(&format!("{path}.{k}"), c, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|c| flatten(path, c, out)),
        Value::String(s) => out.push((path.to_owned(), s.clone())),
        Value::Number(n) => out.push((path.to_owned(), n.to_string())),
        Value::Bool(b) => out.push((path.to_owned(), b.to_string())),
        Value::Null => {}
    }
}

/// Every counter one report increments, owned: one per configured cross-tabulation and per
/// built-in cross-tabulation of its window (the countme tuple of a weekly report), then one per
/// field, sorted by path.
pub fn keys(report: &Report, crosstabs: &[Vec<String>]) -> Vec<Key> {
    let c = Counters::of(report, crosstabs);
    let mut leaves: Vec<Key> = c.iter().take(c.leaves).map(|k| k.to_key()).collect();
    leaves.sort_unstable_by(|a, b| a.field.cmp(&b.field));
    let mut out: Vec<Key> = c.iter().skip(c.leaves).map(|k| k.to_key()).collect();
    out.extend(leaves);
    out
}

/// The counter field name of a cross-tabulation.
pub fn crosstab_field(fields: &[String]) -> String {
    fields.join(&CROSSTAB_SEPARATOR.to_string())
}

/// Whether `field` is one of the contract's field paths (computed once per process).
pub fn is_known_field(field: &str) -> bool {
    static_fields().contains(field)
}

/// The contract's field paths, computed once and kept for the life of the process.
///
/// A hash set: every leaf of every accepted report is looked up here, and a tree lookup's string
/// comparisons were 4 % of the receiver's CPU.
fn static_fields() -> &'static std::collections::HashSet<&'static str> {
    static FIELDS: OnceLock<std::collections::HashSet<&'static str>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        known_fields()
            .into_iter()
            .map(|f| &*Box::leak(f.into_boxed_str()))
            .collect()
    })
}

fn intern_str(field: &str) -> Cow<'static, str> {
    match static_fields().get(field) {
        Some(f) => Cow::Borrowed(f),
        None => Cow::Owned(field.to_owned()),
    }
}

fn intern(field: String) -> Cow<'static, str> {
    match static_fields().get(field.as_str()) {
        Some(f) => Cow::Borrowed(f),
        None => Cow::Owned(field),
    }
}

/// Every field path a report can have, from the contract's JSON Schema.
pub fn known_fields() -> BTreeSet<String> {
    let schema = headcount_report::schema();
    let mut out = BTreeSet::new();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            if !NOT_COUNTED.contains(&k.as_str()) {
                schema_leaves(&schema, k, v, &mut out, 0);
            }
        }
    }
    out
}

/// Deepest nesting followed; the report is a few levels deep, this only stops a cyclic schema.
const MAX_SCHEMA_DEPTH: usize = 8;

fn schema_leaves(root: &Value, path: &str, v: &Value, out: &mut BTreeSet<String>, depth: usize) {
    if depth > MAX_SCHEMA_DEPTH {
        return;
    }
    let v = resolve(root, v);
    if let Some(props) = v.get("properties").and_then(Value::as_object) {
        for (k, c) in props {
            schema_leaves(root, &format!("{path}.{k}"), c, out, depth + 1);
        }
    } else if let Some(items) = v.get("items") {
        schema_leaves(root, path, items, out, depth + 1);
    } else {
        out.insert(path.to_owned());
    }
}

fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => r
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer))
            .unwrap_or(v),
        None => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"schema":1,"window":"daily","period":"2026-11-23","level":"minimal","os":{"id":"fedora","variant_id":"coreos","version_id":"43","build":"43.20261102.3.0"},"original_os":{"build":"39.20231101.3.0"},"platform":{"id":"aws","instance_type":"m5.large"},"arch":"x86_64","age_bucket":4}"#;

    #[test]
    fn counts_every_leaf_but_the_time() {
        let r = headcount_report::validate(MINIMAL.as_bytes()).unwrap();
        let l = leaves(&r);
        let fields: Vec<&str> = l.iter().map(|(f, _)| &**f).collect();
        assert_eq!(
            fields,
            [
                "age_bucket",
                "arch",
                "level",
                "original_os.build",
                "os.build",
                "os.id",
                "os.variant_id",
                "os.version_id",
                "platform.id",
                "platform.instance_type",
            ]
        );
        assert!(l.contains(&("age_bucket".into(), "4".into())));
        assert!(l.contains(&("os.version_id".into(), "43".into())));
    }

    /// The writer finds a batch's counter by a `KeyRef`: same hash, same equality as the `Key`.
    #[test]
    fn borrowed_keys_hash_and_compare_as_owned_ones() {
        use std::hash::BuildHasher;
        let r = headcount_report::validate(FULL.as_bytes()).unwrap();
        let tabs = vec![vec!["os.version_id".to_owned(), "arch".to_owned()]];
        let c = Counters::of(&r, &tabs);
        let state = std::hash::RandomState::new();
        let mut n = 0;
        for k in c.iter() {
            let owned = k.to_key();
            assert_eq!(state.hash_one(k), state.hash_one(&owned), "{owned:?}");
            assert!(hashbrown::Equivalent::equivalent(&k, &owned));
            n += 1;
        }
        assert_eq!(n, keys(&r, &tabs).len());
        let other = Key {
            value: "aarch64".into(),
            ..c.iter().find(|k| *k.field == "arch").unwrap().to_key()
        };
        let arch = c.iter().find(|k| *k.field == "arch").unwrap();
        assert!(!hashbrown::Equivalent::equivalent(&arch, &other));
    }

    #[test]
    fn crosstabs_use_null_for_absent() {
        let r = headcount_report::validate(MINIMAL.as_bytes()).unwrap();
        let tabs = vec![
            vec!["os.version_id".to_owned(), "arch".to_owned()],
            vec!["arch".to_owned(), "hardware.cpus".to_owned()],
        ];
        let k = keys(&r, &tabs);
        assert_eq!(k.len(), 12);
        assert_eq!(k[0].field, "os.version_id|arch");
        assert_eq!(k[0].value, r#"["43","x86_64"]"#);
        assert_eq!(k[1].value, r#"["x86_64",null]"#);
        assert!(k.iter().all(|k| k.period.to_string() == "2026-11-23"));
        assert!(k[2..].iter().all(|k| matches!(k.field, Cow::Borrowed(_))));
    }

    #[test]
    fn a_weekly_report_also_counts_the_countme_tuple() {
        let weekly = MINIMAL.replacen(
            r#""window":"daily","period":"2026-11-23""#,
            r#""window":"weekly","period":"2026-W48""#,
            1,
        );
        let r = headcount_report::validate(weekly.as_bytes()).unwrap();
        let k = keys(&r, &[]);
        let tuple: Vec<&Key> = k
            .iter()
            .filter(|k| k.field == crate::countme::FIELD)
            .collect();
        assert_eq!(tuple.len(), 1);
        assert_eq!(tuple[0].value, r#"["fedora","43","coreos","x86_64","4"]"#);
        assert_eq!(k.len(), leaves(&r).len() + 1);
        // Daily and monthly reports do not have it.
        let r = headcount_report::validate(MINIMAL.as_bytes()).unwrap();
        assert!(
            keys(&r, &[])
                .iter()
                .all(|k| k.field != crate::countme::FIELD)
        );
        // A report without a variant: null in the tuple.
        let bare = weekly.replacen(r#""variant_id":"coreos","#, "", 1);
        let r = headcount_report::validate(bare.as_bytes()).unwrap();
        let k = keys(&r, &[]);
        let t = k.iter().find(|k| k.field == crate::countme::FIELD).unwrap();
        assert_eq!(t.value, r#"["fedora","43",null,"x86_64","4"]"#);
    }

    #[test]
    fn fast_and_general_walks_agree() {
        for body in [MINIMAL, FULL] {
            let r = headcount_report::validate(body.as_bytes()).unwrap();
            let mut slow = slow_leaves(&r);
            slow.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(leaves(&r), slow);
        }
        let r = headcount_report::validate(FULL.as_bytes()).unwrap();
        let l = leaves(&r);
        assert!(
            l.contains(&("hardware.disks.nvme".into(), "1".into())),
            "{l:?}"
        );
        assert!(l.contains(&("network.ipv6".into(), "true".into())), "{l:?}");
        assert!(l.iter().all(|(f, _)| matches!(f, Cow::Borrowed(_))));
    }

    const FULL: &str = r#"{"schema":1,"window":"daily","period":"2026-11-23","level":"full","os":{"id":"fedora","variant_id":"coreos","version_id":"43","build":"43.20261102.3.0"},"original_os":{"build":"39.20231101.3.0"},"platform":{"id":"aws","instance_type":"m5.large"},"arch":"x86_64","age_bucket":4,"hardware":{"cpu_vendor":"intel","cpus":"2","memory_gib":"4-8","firmware":"uefi","secure_boot":false,"disks":{"nvme":"1","ssd":"0","hdd":"0","virtual":"0","total_gib":"64-128"}},"network":{"interfaces":{"ethernet":"1","wifi":"0","bond":"0","bridge":"1","vlan":"0","team":"0","vxlan":"0","wireguard":"0","tun":"0","other":"0"},"ipv4":true,"ipv6":true,"default_route":true},"packages":{"layered":"0"}}"#;

    #[test]
    fn known_fields_come_from_the_schema() {
        let known = known_fields();
        for f in [
            "level",
            "os.version_id",
            "platform.id",
            "platform.instance_type",
            "arch",
            "age_bucket",
            "hardware.disks.nvme",
        ] {
            assert!(known.contains(f), "{f} not in {known:?}");
        }
        assert!(!known.contains("period") && !known.contains("os"));
        // Every leaf of a real report is a known field.
        let r = headcount_report::validate(MINIMAL.as_bytes()).unwrap();
        for (f, _) in leaves(&r) {
            assert!(known.contains(&*f), "{f}");
        }
    }
}
