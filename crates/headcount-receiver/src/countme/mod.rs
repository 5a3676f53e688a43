//! Counts that join Fedora's published countme data.
//!
//! DNF and rpm-ostree send a "countme" flag once per countme week (Monday 00:00 UTC); Fedora's
//! mirrors-countme counts those requests into weekly totals, `totals.csv`, by OS name, version,
//! variant, architecture and age bucket. The receiver keeps the same tuple for every weekly
//! report as a built-in cross-tabulation ([`FIELD`]), and writes it back in exactly that format:
//! [`totals`] for `export` (the exact rows) and `publish` (the released, noisy rows). [`names`]
//! derives the OS name, which reports do not carry. docs/usage/countme.md is the reader's side.

pub mod names;
pub mod totals;

use headcount_report::Window;

/// The report fields of the countme tuple, in the order of the built-in cross-tabulation.
pub const TUPLE: [&str; 5] = [
    "os.id",
    "os.version_id",
    "os.variant_id",
    "arch",
    "age_bucket",
];

/// The counter field of the built-in cross-tabulation (the [`TUPLE`] joined by `|`).
pub const FIELD: &str = "os.id|os.version_id|os.variant_id|arch|age_bucket";

/// A built-in cross-tabulation: its counter field, and the report fields it joins.
pub type Builtin = (&'static str, &'static [&'static str]);

/// The cross-tabulations every report of `window` has besides the configured ones: the countme
/// tuple for the weekly window, none for the others. It is exempt from the limit of 4 fields of
/// configured ones: its five fields are coarse (few values each), and its combinations are what
/// Fedora already publishes for every DNF system.
pub fn builtin_crosstabs(window: Window) -> &'static [Builtin] {
    match window {
        Window::Weekly => &[(FIELD, &TUPLE)],
        Window::Daily | Window::Monthly => &[],
    }
}

/// Whether `field` is the built-in cross-tabulation of some window.
pub fn is_builtin(field: &str) -> bool {
    field == FIELD
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::{CROSSTAB_SEPARATOR, is_known_field};

    #[test]
    fn the_tuple_is_made_of_report_fields_and_named_by_them() {
        assert!(TUPLE.iter().all(|f| is_known_field(f)));
        assert_eq!(TUPLE.join(&CROSSTAB_SEPARATOR.to_string()), FIELD);
        assert_eq!(builtin_crosstabs(Window::Weekly), [(FIELD, &TUPLE[..])]);
        assert!(builtin_crosstabs(Window::Daily).is_empty());
        assert!(builtin_crosstabs(Window::Monthly).is_empty());
    }
}
