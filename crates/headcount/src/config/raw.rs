//! Stage one: a fragment's text parsed into serde structs, every key optional.
//!
//! Keys are deserialized one at a time so that one fragment with three mistakes gets three
//! errors, each with its line and column, instead of serde's first one.

use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::Diagnostic;
use super::fragments::Fragment;
use super::keys::{self, RawFragment, SECTIONS};

/// A parsed fragment plus the 1-based line of every key it set, as `(section, key) -> line`.
#[derive(Debug, Default)]
pub struct Parsed {
    pub raw: RawFragment,
    pub lines: Vec<((&'static str, &'static str), usize)>,
}

impl Parsed {
    /// The line a key was set on in this fragment.
    pub fn line_of(&self, section: &str, key: &str) -> Option<usize> {
        self.lines
            .iter()
            .find(|((s, k), _)| *s == section && *k == key)
            .map(|(_, line)| *line)
    }
}

/// Parses one fragment, collecting every error instead of stopping at the first.
pub fn parse(fragment: &Fragment) -> (Parsed, Vec<Diagnostic>) {
    let text = fragment.text.as_str();
    let mut parsed = Parsed::default();
    let mut errors = Vec::new();
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let pos = e.span().map(|s| line_col(text, s.start));
            let message = format!("TOML syntax error: {}", e.message().trim());
            errors.push(Diagnostic::at(&fragment.path, pos, None, message));
            return (parsed, errors);
        }
    };
    for (section, value) in doc.get_ref().iter() {
        let section_name: &str = section.get_ref();
        let pos = Some(line_col(text, section.span().start));
        let Some((section_name, keys)) = SECTIONS.iter().find(|(s, _)| *s == section_name) else {
            let all: Vec<&str> = SECTIONS.iter().map(|(s, _)| *s).collect();
            let mut message = format!(
                "unknown section [{section_name}]; known sections: {}",
                quoted_list(&all, "[", "]")
            );
            if let Some(near) = nearest(section_name, &all) {
                message.push_str(&format!("; did you mean [{near}]?"));
            }
            errors.push(Diagnostic::at(&fragment.path, pos, None, message));
            continue;
        };
        let DeValue::Table(table) = value.get_ref() else {
            errors.push(Diagnostic::at(
                &fragment.path,
                pos,
                Some(section_name),
                format!(
                    "[{section_name}] must be a table, found {}",
                    value.get_ref().type_str()
                ),
            ));
            continue;
        };
        for (key, value) in table.iter() {
            let key_name: &str = key.get_ref();
            let pos = line_col(text, key.span().start);
            let Some(known) = keys.iter().find(|k| **k == key_name) else {
                errors.push(Diagnostic::at(
                    &fragment.path,
                    Some(pos),
                    Some(&format!("{section_name}.{key_name}")),
                    unknown_key_message(section_name, key_name, keys),
                ));
                continue;
            };
            match set_key(&mut parsed.raw, section_name, key, value) {
                Ok(()) => parsed.lines.push(((section_name, known), pos.0)),
                Err(e) => errors.push(Diagnostic::at(
                    &fragment.path,
                    Some(pos),
                    Some(&format!("{section_name}.{known}")),
                    plain_type_names(e.message().trim()),
                )),
            }
        }
    }
    // The parser hands tables over sorted by key; report in the order a reader meets them.
    errors.sort_by_key(|e| e.pos);
    (parsed, errors)
}

/// serde names Rust types ("expected u64"); say what to write in the file instead.
fn plain_type_names(message: &str) -> String {
    message
        .replace("expected u64", "expected a whole number (no quotes)")
        .replace("expected a boolean", "expected true or false (no quotes)")
        .replace(
            "expected a sequence",
            "expected a list of strings, like [\"a\", \"b\"]",
        )
}

/// Deserializes a single `key = value` into the section's struct and merges it into `raw`.
fn set_key(
    raw: &mut RawFragment,
    section: &str,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    value: &Spanned<DeValue<'_>>,
) -> Result<(), toml::de::Error> {
    let mut one = DeTable::new();
    one.insert(key.clone(), value.clone());
    let span: Range<usize> = value.span();
    keys::set_key(
        raw,
        section,
        ValueDeserializer::from(Spanned::new(span, DeValue::Table(one))),
    )
}

fn unknown_key_message(section: &str, key: &str, keys: &[&str]) -> String {
    let mut message = format!(
        "unknown key; known keys in [{section}]: {}",
        quoted_list(keys, "", "")
    );
    if let Some(near) = nearest(key, keys) {
        message.push_str(&format!("; did you mean {near:?}?"));
    } else if let Some((other, near)) = SECTIONS
        .iter()
        .filter(|(s, _)| *s != section)
        .find_map(|(s, ks)| nearest(key, ks).map(|k| (s, k)))
    {
        message.push_str(&format!("; did you mean {near:?} in [{other}]?"));
    }
    message
}

fn quoted_list(items: &[&str], open: &str, close: &str) -> String {
    items
        .iter()
        .map(|i| format!("{open}{i}{close}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The known name closest to a misspelled one, when it is close enough to be a typo.
pub fn nearest<'a>(wrong: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(wrong, k), *k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(
            nearest("reportng", &["collecting", "reporting"]),
            Some("reporting")
        );
        assert_eq!(nearest("levle", &["level", "exclude"]), Some("level"));
        assert_eq!(nearest("colour", &["level", "exclude"]), None);
    }

    #[test]
    fn line_and_column() {
        assert_eq!(line_col("a\nbc\nd", 4), (2, 3));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
