//! The field table rendered for people: the readable preview and docs/usage/collected-data.md.

use std::fmt::Write;

use headcount_report::Level;

use crate::{COLLECTORS, Collection, ENVELOPE, Field};

/// Every field with the name of its collector (empty for the envelope) and its level.
fn table() -> impl Iterator<Item = (&'static str, Level, &'static Field)> {
    ENVELOPE.iter().map(|f| ("", Level::Minimal, f)).chain(
        COLLECTORS
            .iter()
            .flat_map(|c| c.fields().iter().map(move |f| (c.name(), c.level(), f))),
    )
}

/// The dotted names of every field, envelope first, in report order.
pub fn field_names() -> impl Iterator<Item = &'static str> {
    table().map(|(_, _, f)| f.name)
}

fn lookup<'a>(json: &'a serde_json::Value, dotted: &str) -> Option<&'a serde_json::Value> {
    dotted.split('.').try_fold(json, |v, key| v.get(key))
}

/// The report in readable form: every field present, followed by its description, and for a
/// value with more than one possible source, the one it came from.
pub fn render_text(collection: &Collection) -> String {
    let report = &collection.report;
    let json = serde_json::to_value(report).unwrap_or_default();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "This is what headcount would send for the {} period {} at level {}.",
        report.window, report.period, report.level
    );
    let _ = writeln!(
        out,
        "Fields not shown could not be read, are excluded, or are not collected at this level."
    );
    for (_, _, field) in table() {
        let Some(value) = lookup(&json, field.name) else {
            continue;
        };
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let _ = write!(
            out,
            "\n{}: {}\n    {}\n",
            field.name, value, field.description
        );
        if !field.bucketing.is_empty() {
            let _ = writeln!(out, "    Coarsened: {}.", field.bucketing);
        }
        if field.name == "platform.instance_type"
            && let Some(source) = collection.instance_type_source
        {
            let _ = writeln!(out, "    Read from: {source}.");
        }
    }
    out
}

/// The page docs/usage/collected-data.md, generated from the field table.
pub fn collected_data_markdown() -> String {
    let mut out = String::from(
        "# Collected data\n\n\
         <!-- Generated from the field table in crates/headcount-collect; do not edit.\n     \
         Regenerate with: UPDATE_GOLDEN=1 cargo test -p headcount-collect --test docs -->\n\n\
         Every field a report can carry, generated from the code that fills it. A field that \
         cannot be read is left out of the report, never sent empty or `null`. \
         `headcount preview` shows the report of your machine with these descriptions; \
         `headcount schema` prints the JSON Schema that receivers validate against. \
         Why each field exists and what is never collected: [privacy](privacy.md).\n\n\
         ## Levels\n\n\
         - `off`: nothing is collected or sent.\n\
         - `minimal` (the default): the envelope and the minimal fields below.\n\
         - `full` (opt-in): minimal plus the full fields.\n\n\
         ## Collectors\n\n\
         Each collector can be left out with `[collecting] exclude = [\"name\", ...]`.\n\n\
         | Collector | Level | Fields |\n|---|---|---|\n",
    );
    for c in COLLECTORS {
        let names: Vec<String> = c.fields().iter().map(|f| format!("`{}`", f.name)).collect();
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            c.name(),
            c.level(),
            names.join(", ")
        );
    }
    out.push_str(
        "\n## Fields\n\n| Field | Level | Collector | Type | Coarsening | Description |\n\
         |---|---|---|---|---|---|\n",
    );
    for (collector, level, f) in table() {
        let collector = if collector.is_empty() {
            "(always)".to_owned()
        } else {
            format!("`{collector}`")
        };
        let bucketing = if f.bucketing.is_empty() {
            "as read"
        } else {
            f.bucketing
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            f.name,
            level,
            collector,
            f.kind.replace('|', "\\|"),
            bucketing.replace('|', "\\|"),
            f.description.replace('|', "\\|"),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every leaf property of the schema is a documented field, and every documented field is
    /// a leaf property: the table and the wire contract cannot drift apart.
    #[test]
    fn table_matches_the_schema() {
        let schema = headcount_report::schema();
        let mut leaves = Vec::new();
        collect_leaves(&schema, &schema, "", &mut leaves);
        leaves.sort();
        let mut names: Vec<String> = field_names().map(str::to_owned).collect();
        names.sort();
        assert_eq!(names, leaves);
    }

    fn collect_leaves(
        root: &serde_json::Value,
        node: &serde_json::Value,
        prefix: &str,
        out: &mut Vec<String>,
    ) {
        let node = match node.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => root.pointer(r.trim_start_matches('#')).unwrap(),
            None => node,
        };
        match node.get("properties").and_then(|p| p.as_object()) {
            Some(props) => {
                for (k, v) in props {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    collect_leaves(root, v, &name, out);
                }
            }
            None => out.push(prefix.to_owned()),
        }
    }
}
