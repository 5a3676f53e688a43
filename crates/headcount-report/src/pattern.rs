//! Shape rules written once, as data: each [`Pattern`] both matches a value and renders the
//! regular expression the JSON Schema carries, so what the schema documents is what the code
//! enforces, on the daemon and on the receiver alike. A small grammar is enough for the short
//! values of a report (literals, character classes, sequences, alternatives, repetition); no
//! regular-expression engine is compiled into the daemon, and patterns are static data.

use std::fmt::Write;

/// The longest value a pattern can match: positions are kept in the bits of a `u64`.
pub(crate) const MAX_MATCH_LEN: usize = 63;

/// A shape rule over ASCII text.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pattern {
    /// This text, exactly.
    Lit(&'static str),
    /// `min` to `max` characters of a class body such as `a-z0-9._-` (ranges `x-y`, everything
    /// else literal, a trailing `-` literal).
    Class(&'static str, u8, u8),
    /// Each pattern in turn.
    Seq(&'static [Pattern]),
    /// One of the patterns.
    Alt(&'static [Pattern]),
    /// The pattern, `min` to `max` times.
    Rep(&'static Pattern, u8, u8),
    /// The pattern, or nothing.
    Opt(&'static Pattern),
}

use Pattern::*;

/// One digit.
pub(crate) const DIGIT: Pattern = Class("0-9", 1, 1);

/// Whether `c` belongs to a regular-expression character class body such as `A-Za-z0-9._-`
/// (ranges `x-y`, everything else literal, a trailing `-` literal).
///
/// It runs for every character of every open string a receiver validates, so it reads the class
/// in place (collecting it into a `Vec` first made it the receiver's largest cost after parsing).
pub(crate) fn class_contains(class: &str, c: char) -> bool {
    let mut chars = class.chars();
    while let Some(a) = chars.next() {
        let mut ahead = chars.clone();
        if let (Some('-'), Some(b)) = (ahead.next(), ahead.next()) {
            if a <= c && c <= b {
                return true;
            }
            chars = ahead;
        } else if a == c {
            return true;
        }
    }
    false
}

impl Pattern {
    /// Whether the whole of `s` matches.
    pub(crate) fn matches(&self, s: &str) -> bool {
        s.len() <= MAX_MATCH_LEN && self.ends(s.as_bytes(), 1) & (1u64 << s.len()) != 0
    }

    /// From every start position set in `starts`, the positions where a match can end.
    fn ends(&self, s: &[u8], starts: u64) -> u64 {
        if starts == 0 {
            return 0;
        }
        match *self {
            Lit(text) => {
                let t = text.as_bytes();
                positions(starts, s.len())
                    .filter(|&i| s[i..].starts_with(t))
                    .fold(0, |acc, i| acc | 1u64 << (i + t.len()))
            }
            Class(body, min, max) => {
                let mut out = 0;
                for i in positions(starts, s.len()) {
                    let run = s[i..]
                        .iter()
                        .take(usize::from(max))
                        .take_while(|b| class_contains(body, char::from(**b)))
                        .count();
                    for k in usize::from(min)..=run {
                        out |= 1u64 << (i + k);
                    }
                }
                out
            }
            Seq(parts) => parts.iter().fold(starts, |at, p| p.ends(s, at)),
            Alt(options) => options.iter().fold(0, |acc, p| acc | p.ends(s, starts)),
            Rep(p, min, max) => {
                let mut out = if min == 0 { starts } else { 0 };
                let mut at = starts;
                for n in 1..=max {
                    at = p.ends(s, at);
                    if at == 0 {
                        break;
                    }
                    if n >= min {
                        out |= at;
                    }
                }
                out
            }
            Opt(p) => starts | p.ends(s, starts),
        }
    }

    /// The regular expression of the whole value: `^(?:…)$`, in the syntax JSON Schema
    /// (ECMA-262), Python's `re` and Rust's `regex` share.
    #[cfg(test)]
    pub(crate) fn regex(&self) -> String {
        let mut out = String::from("^(?:");
        self.render(&mut out);
        out.push_str(")$");
        out
    }

    /// The regular expression of the pattern anywhere in a value (for rules that forbid it).
    pub(crate) fn regex_anywhere(&self) -> String {
        let mut out = String::new();
        self.render(&mut out);
        out
    }

    fn render(&self, out: &mut String) {
        match *self {
            Lit(text) => {
                for c in text.chars() {
                    if "\\^$.|?*+()[]{}/".contains(c) {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
            Class(body, min, max) => {
                let _ = write!(out, "[{body}]");
                repeat(out, min, max);
            }
            Seq(parts) => parts.iter().for_each(|p| p.render(out)),
            Alt(options) => {
                out.push_str("(?:");
                for (i, p) in options.iter().enumerate() {
                    if i > 0 {
                        out.push('|');
                    }
                    p.render(out);
                }
                out.push(')');
            }
            Rep(p, min, max) => {
                out.push_str("(?:");
                p.render(out);
                out.push(')');
                repeat(out, min, max);
            }
            Opt(p) => {
                out.push_str("(?:");
                p.render(out);
                out.push_str(")?");
            }
        }
    }
}

fn repeat(out: &mut String, min: u8, max: u8) {
    match (min, max) {
        (1, 1) => {}
        (0, 1) => out.push('?'),
        (m, n) if m == n => {
            let _ = write!(out, "{{{m}}}");
        }
        (m, n) => {
            let _ = write!(out, "{{{m},{n}}}");
        }
    }
}

/// The positions set in `mask` that are inside a text of `len` bytes (the end included).
fn positions(mask: u64, len: usize) -> impl Iterator<Item = usize> {
    (0..=len).filter(move |i| mask & (1u64 << i) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The class reader as first written (indexing a collected `Vec`), kept as the reference.
    fn reference(class: &str, c: char) -> bool {
        let chars: Vec<char> = class.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            if i + 2 < chars.len() && chars[i + 1] == '-' {
                if chars[i] <= c && c <= chars[i + 2] {
                    return true;
                }
                i += 3;
            } else {
                if chars[i] == c {
                    return true;
                }
                i += 1;
            }
        }
        false
    }

    #[test]
    fn classes_are_read_as_before() {
        let classes = [
            "a-z0-9",
            "a-z0-9._-",
            "A-Za-z0-9",
            "A-Za-z0-9._+~-",
            "A-Za-z0-9 .,&()_-",
            "-a",
            "a-",
            "-",
            "",
            "a-c-e",
        ];
        for class in classes {
            for c in (0..=0x2FFu32)
                .filter_map(char::from_u32)
                .chain(['é', '€', '\u{10FFFF}'])
            {
                assert_eq!(
                    class_contains(class, c),
                    reference(class, c),
                    "{class:?} {c:?}"
                );
            }
        }
    }

    static VERSION: Pattern = Seq(&[
        Class("1-9", 1, 1),
        Class("0-9", 0, 3),
        Rep(&Seq(&[Lit("."), Class("0-9", 1, 4)]), 0, 2),
    ]);
    static WORDS: Pattern = Seq(&[
        Alt(&[Lit("m1"), Lit("u1"), Lit("cx1")]),
        Lit("."),
        Opt(&Class("248", 1, 1)),
        Alt(&[Lit("large"), Lit("xlarge"), Lit("medium")]),
    ]);

    fn check(p: &Pattern, s: &str) -> bool {
        let re = regex_lite::Regex::new(&p.regex()).unwrap();
        let ours = p.matches(s);
        assert_eq!(re.is_match(s), ours, "{} on {s:?}", p.regex());
        ours
    }

    #[test]
    fn matcher_and_rendered_regex_agree() {
        for s in [
            "43", "4.13", "3815.2.0", "0", "43.", "1.2.3.4", "", "12345", "24.04", "9.0",
        ] {
            check(&VERSION, s);
        }
        assert!(check(&VERSION, "3815.2.0") && !check(&VERSION, "1.2.3.4"));
        for s in [
            "m1.large",
            "cx1.2xlarge",
            "u1.4medium",
            "u1.xlarge",
            "m1.",
            "m1.large2",
            "x1.large",
        ] {
            check(&WORDS, s);
        }
        assert!(check(&WORDS, "cx1.2xlarge") && !check(&WORDS, "m1.3large"));
    }

    #[test]
    fn literals_are_escaped() {
        assert_eq!(Lit("a.b+c").regex(), r"^(?:a\.b\+c)$");
        assert!(check(&Lit("a.b"), "a.b") && !check(&Lit("a.b"), "axb"));
    }

    #[test]
    fn long_values_never_match() {
        let any = Class("a", 0, 255);
        assert!(any.matches(&"a".repeat(MAX_MATCH_LEN)));
        assert!(!any.matches(&"a".repeat(MAX_MATCH_LEN + 1)));
    }
}
