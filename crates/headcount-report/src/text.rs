//! Open sets: short strings constrained by a character pattern and a length, so a new cloud
//! instance type is valid and an address with a colon, a path, an e-mail or free text is not.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whether `c` belongs to a regular-expression character class body such as `A-Za-z0-9._-`
/// (ranges `x-y`, everything else literal, a trailing `-` literal). The same text is put into
/// the JSON Schema pattern, so what the schema documents is what [`crate::validate`] enforces.
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

/// The checks behind one open-string type: first character, the others, maximum length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub first: &'static str,
    pub rest: &'static str,
    pub max_len: usize,
}

impl Shape {
    pub(crate) fn matches(&self, s: &str) -> bool {
        let mut chars = s.chars();
        let Some(first) = chars.next() else {
            return false;
        };
        s.len() <= self.max_len
            && class_contains(self.first, first)
            && chars.all(|c| class_contains(self.rest, c))
    }

    pub(crate) fn pattern(&self) -> String {
        format!(
            "^[{}][{}]{{0,{}}}$",
            self.first,
            self.rest,
            self.max_len - 1
        )
    }
}

/// Declares an open-string newtype: validated on construction and on deserialization, and with
/// a JSON Schema carrying its pattern and maximum length.
macro_rules! open_string {
    ($(#[$doc:meta])* $name:ident, $first:literal, $rest:literal, $max:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub(crate) const SHAPE: Shape = Shape { first: $first, rest: $rest, max_len: $max };

            /// Accepts `s` when it matches the type's pattern and length, else `None`.
            pub fn new(s: &str) -> Option<Self> {
                Self::SHAPE.matches(s).then(|| Self(s.to_owned()))
            }

            /// The regular expression every value matches (also in the JSON Schema).
            pub fn pattern() -> String {
                Self::SHAPE.pattern()
            }

            /// The longest value allowed, in bytes (all allowed characters are ASCII).
            pub const MAX_LEN: usize = $max;

            /// The value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = Cow::<str>::deserialize(d)?;
                Self::new(&s).ok_or_else(|| {
                    serde::de::Error::custom(format_args!(
                        "{} {:?} does not match {} (at most {} characters)",
                        $what,
                        s.chars().take(80).collect::<String>(),
                        Self::pattern(),
                        $max
                    ))
                })
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": Self::pattern(),
                    "minLength": 1,
                    "maxLength": $max,
                })
            }
        }
    };
}

open_string!(
    /// An os-release identifier (`ID`, `VARIANT_ID`): lower-case letters, digits, `.`, `_`, `-`,
    /// as the os-release specification defines them.
    OsName,
    "a-z0-9",
    "a-z0-9._-",
    32,
    "OS identifier"
);

open_string!(
    /// An os-release `VERSION_ID`: mostly numeric, lower-case letters, digits, `.`, `_`, `-`.
    OsVersionId,
    "a-z0-9",
    "a-z0-9._-",
    32,
    "OS version"
);

open_string!(
    /// An OS build version such as `43.20261102.3.0` (`OSTREE_VERSION`, aleph `version`).
    OsBuild,
    "A-Za-z0-9",
    "A-Za-z0-9._+~-",
    48,
    "OS build version"
);

open_string!(
    /// A cloud instance or machine type such as `m5.large`, `Standard_D2s_v3`, `n2-standard-4`.
    InstanceType,
    "A-Za-z0-9",
    "A-Za-z0-9._-",
    48,
    "instance type"
);

open_string!(
    /// A hardware vendor name as DMI states it, such as `Dell Inc.` or `Supermicro`.
    VendorName,
    "A-Za-z0-9",
    "A-Za-z0-9 .,&()_-",
    40,
    "vendor name"
);

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

    #[test]
    fn open_strings_accept_real_values() {
        for ok in ["43.20261102.3.0", "9.6.20250101.0", "bookworm-1.2", "43"] {
            assert!(OsBuild::new(ok).is_some(), "{ok}");
        }
        for ok in [
            "m5.large",
            "c7gn.16xlarge",
            "Standard_D2s_v3",
            "n2-standard-4",
            "ecs.g6.large",
        ] {
            assert!(InstanceType::new(ok).is_some(), "{ok}");
        }
        assert!(VendorName::new("Dell Inc.").is_some());
        assert!(OsName::new("fedora").is_some() && OsName::new("coreos").is_some());
    }

    #[test]
    fn open_strings_reject_addresses_paths_and_text() {
        for bad in [
            "",
            "fe80::1",
            "projects/123/machineTypes/n1",
            "a b",
            "x@example.com",
            "-rf",
            ".hidden",
            "héllo",
            "m5.large\n",
            &"a".repeat(49),
        ] {
            assert!(InstanceType::new(bad).is_none(), "{bad:?}");
            assert!(OsBuild::new(bad).is_none(), "{bad:?}");
        }
        assert!(OsName::new("Fedora").is_none());
        assert!(VendorName::new("ACME <x@y>").is_none());
    }

    /// The pattern in the schema and the hand-written check agree, character by character.
    #[test]
    fn pattern_and_check_agree() {
        let shapes = [
            OsName::SHAPE,
            OsVersionId::SHAPE,
            OsBuild::SHAPE,
            InstanceType::SHAPE,
            VendorName::SHAPE,
        ];
        for shape in shapes {
            let re = regex_lite::Regex::new(&shape.pattern()).unwrap();
            for c in (0u8..=127).map(char::from).chain(['é', 'ß']) {
                for s in [c.to_string(), format!("a{c}"), format!("0{c}0")] {
                    assert_eq!(re.is_match(&s), shape.matches(&s), "{:?} on {s:?}", shape);
                }
            }
            let long = "a".repeat(shape.max_len);
            assert!(re.is_match(&long) && shape.matches(&long));
            let longer = "a".repeat(shape.max_len + 1);
            assert!(!re.is_match(&longer) && !shape.matches(&longer));
        }
    }
}
