//! The field table rendered for people: the readable preview and docs/usage/collected-data.md.

use std::fmt::Write;

use headcount_report::rules::{self, Identifier, KNOWN_OS_IDS, KNOWN_VARIANT_IDS, KNOWN_VENDORS};
use headcount_report::{Level, PlatformId};

use crate::{COLLECTORS, Collection, ENVELOPE, Field};

/// Every field with the name of its collector (empty for the envelope) and its level.
fn table() -> impl Iterator<Item = (&'static str, Level, &'static Field)> {
    ENVELOPE.iter().map(|f| ("", Level::Minimal, f)).chain(
        COLLECTORS
            .iter()
            .flat_map(|c| c.fields.iter().map(move |f| (c.name, c.level, f))),
    )
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
        let names: Vec<String> = c.fields.iter().map(|f| format!("`{}`", f.name)).collect();
        let _ = writeln!(out, "| `{}` | {} | {} |", c.name, c.level, names.join(", "));
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
            f.kind.to_string().replace('|', "\\|"),
            bucketing.replace('|', "\\|"),
            f.description.replace('|', "\\|"),
        );
    }
    out.push_str(&open_field_rules());
    out
}

/// The rules of the open fields, from the contract that both the daemon and a receiver apply.
fn open_field_rules() -> String {
    let code = |s: &str| format!("`{}`", s.replace('|', "\\|"));
    let list = |items: &[&str]| {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::from(
        "\n## Rules of the open fields\n\n\
         Open fields hold strings whose values cannot all be listed. Each has a rule, so that a \
         report carries facts many machines share and never a site's own label: a value that \
         breaks its field's rule is sent as `other`, never as written, and some values are only \
         sent beside others. A receiver applies the same rules (they live in the wire contract) \
         and counts a value that breaks one as `other` instead of refusing the report. \
         `headcount schema` states every rule below as JSON Schema. Why: \
         [privacy](privacy.md#open-fields-facts-never-labels).\n\n",
    );
    let _ = write!(
        out,
        "### `os.id`, `os.variant_id`\n\n\
         A known os-release name, else `other`. The known IDs: {}. The known variants: {}. \
         `os.id` takes a known ID, `os.variant_id` a name of either list. Each known ID also has the os-release `NAME` \
         its versions write, which reports never carry: a receiver puts it in \
         [countme totals](countme.md#how-each-column-is-filled). A distribution adds its own (a derivative's \
         `ID` or `VARIANT_ID`) in its vendor fragment with `[collecting] known_os_names`, and \
         its receiver with `[counts] known_os_names`; names that are not os-release names or \
         look like an identifier are refused there.\n\n",
        list(&KNOWN_OS_IDS.iter().map(|o| o.id).collect::<Vec<_>>()),
        list(KNOWN_VARIANT_IDS)
    );
    let _ = write!(
        out,
        "### `os.version_id`\n\n\
         Sent only beside a known `os.id`; one to three numbers as distributions write \
         `VERSION_ID` (`43`, `9.4`, `24.04`, `4799.0.0`), else `other`: {}\n\n",
        code(&rules::version_regex())
    );
    let _ = write!(
        out,
        "### `os.build`, `original_os.build`\n\n\
         Sent only beside a known `os.id`; a build version as the known distributions' image \
         builders write it, else `other`: Fedora CoreOS `43.20261102.3.0`, Fedora's atomic \
         desktops, IoT and bootc images `41.20241027.0`, nightly composes `32.20200424.n.0`, \
         developer builds `43.20251110.dev.0`, Red Hat Enterprise Linux CoreOS \
         `416.94.202505211447-0`, RHEL and CentOS Stream CoreOS `9.6.20250617-0`, CentOS Stream \
         bootc `stream9.20240807.0`. Dates and times must be real ones: {}\n\n",
        code(&rules::build_regex())
    );
    out.push_str(
        "### `platform.instance_type`\n\n\
         The names the platform's provider documents, else `other`: an OpenStack flavor, a \
         KubeVirt instance type or a CloudStack offering named by the cloud's own operator is \
         `other`. On GCP the metadata server's `projects/<number>/machineTypes/` prefix is taken \
         off first (on GCP only). On platforms not listed no instance type is sent.\n\n\
         | Platform | Names sent as they are |\n|---|---|\n",
    );
    for p in PlatformId::ALL {
        if let Some(re) = rules::instance_type_regex(p) {
            let _ = writeln!(out, "| `{p}` | {} |", code(&re));
        }
    }
    let _ = write!(
        out,
        "\n### `hardware.system_vendor`\n\n\
         One of these short names, else `other`: {}.\n\n",
        list(KNOWN_VENDORS)
    );
    out.push_str(
        "### Everywhere\n\n\
         Whatever its field's rule, no open value may hold:\n\n",
    );
    for id in Identifier::ALL {
        let _ = writeln!(out, "- {}", id.explain());
    }
    out.push_str(
        "\nA build's date and time stamp (`YYYYMMDDhhmm`, a real one) is the only run of 12 \
         digits allowed, and only in a build. The JSON Schema forbids each of these with a \
         `not` pattern.\n",
    );
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
        let sorted = |mut names: Vec<String>| {
            names.sort();
            names
        };
        assert_eq!(
            sorted(table().map(|(_, _, f)| f.name.to_owned()).collect()),
            sorted(leaves(&schema, &schema, "")),
        );
    }

    /// The dotted paths of the leaf properties of `node`, following `$ref`s from `root`.
    fn leaves(root: &serde_json::Value, node: &serde_json::Value, prefix: &str) -> Vec<String> {
        let node = match node.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => root.pointer(r.trim_start_matches('#')).unwrap(),
            None => node,
        };
        let Some(props) = node.get("properties").and_then(|p| p.as_object()) else {
            return vec![prefix.to_owned()];
        };
        props
            .iter()
            .flat_map(|(k, v)| {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(root, v, &name)
            })
            .collect()
    }
}
