//! Open sets: strings whose values cannot all be listed (OS names, versions, builds, instance
//! types, vendors), each held to its field's rule ([`crate::rules`]). A value that breaks it is
//! `other`. Reading a report never fails on an open value: a receiver counts it as `other`.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::labels::PlatformId;
use crate::pattern::Pattern;
use crate::rules::{
    self, BUILD_SHAPE, INSTANCE_TYPE_SHAPE, Identifier, KNOWN_VENDORS, MAX_BUILD_LEN,
    MAX_INSTANCE_TYPE_LEN, MAX_OS_NAME_LEN, MAX_VERSION_LEN, OS_NAME_SHAPE, OTHER, TYPE_RULES,
    TypeRule, VERSION_SHAPE, fits,
};

/// Declares an open-string newtype with `other`, `as_str`, `Display` and serde as the string.
/// Reading accepts any string: one that breaks the type's rule is read as `other`.
macro_rules! open_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Cow<'static, str>);

        impl $name {
            /// The value that stands for every value breaking the rule.
            pub fn other() -> Self {
                Self(Cow::Borrowed(OTHER))
            }

            /// Whether this is `other`.
            pub fn is_other(&self) -> bool {
                self.0 == OTHER
            }

            /// `s` when it passes the type's rule, else `other`.
            pub fn or_other(s: &str) -> Self {
                Self::new(s).unwrap_or_else(Self::other)
            }

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
                Ok(Self::or_other(&s))
            }
        }
    };
}

/// An open string whose rule is a shape: `other`, or a value of `shape`, at most `max_len`
/// bytes, that looks like no identifier (with `stamp`, a date and time stamp may look like a
/// hexadecimal run); its JSON Schema says the same.
macro_rules! shaped_string {
    (
        $(#[$doc:meta])* $name:ident,
        $(#[$new_doc:meta])* shape: $shape:expr,
        max_len: $max_len:expr,
        stamp: $stamp:expr
    ) => {
        open_string!($(#[$doc])* $name);

        impl $name {
            $(#[$new_doc])*
            pub fn new(s: &str) -> Option<Self> {
                (s == OTHER || fits(&$shape, s, $stamp)).then(|| Self(Cow::Owned(s.to_owned())))
            }

            /// The longest value, in bytes.
            pub const MAX_LEN: usize = $max_len;
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                // A stamp's digits are no hexadecimal run.
                let forbidden: Vec<Identifier> = Identifier::ALL
                    .into_iter()
                    .filter(|i| !$stamp || *i != Identifier::HexRun)
                    .collect();
                shaped_schema(&$shape, $max_len, &forbidden)
            }
        }
    };
}

/// `{"type": "string", "pattern": ^(?:other|…)$, …, "allOf": [{"not": …}]}` for a shape.
fn shaped_schema(shape: &Pattern, max_len: usize, forbidden: &[Identifier]) -> Schema {
    let pattern = format!("^(?:{OTHER}|{})$", shape.regex_anywhere());
    let not: Vec<serde_json::Value> = forbidden
        .iter()
        .map(|id| serde_json::json!({ "not": { "pattern": id.regex() } }))
        .collect();
    json_schema!({
        "type": "string",
        "pattern": pattern,
        "minLength": 1,
        "maxLength": max_len,
        "allOf": not,
    })
}

open_string!(
    /// An os-release identifier (`ID`, `VARIANT_ID`): a known name ([`rules::known_os_names`], plus a
    /// vendor's additions: [`crate::Rules`]) or `other`.
    OsName
);

impl OsName {
    /// `s` when an os-release file could hold it as a name (lower-case letters, digits, `.`,
    /// `_`, `-`, at most 32 characters) and it looks like no identifier. Whether it is reported
    /// as itself is the known list's decision ([`crate::Rules::os_name`]).
    pub fn new(s: &str) -> Option<Self> {
        (s == OTHER || fits(&OS_NAME_SHAPE, s, false)).then(|| Self(Cow::Owned(s.to_owned())))
    }

    /// A name a rule let through.
    pub(crate) fn from_rule(s: &str) -> Self {
        match rules::known_os_names().find(|n| *n == s) {
            Some(n) => Self(Cow::Borrowed(n)),
            None => Self(Cow::Owned(s.to_owned())),
        }
    }

    /// The longest name, in bytes.
    pub const MAX_LEN: usize = MAX_OS_NAME_LEN;
}

/// The JSON Schema of an os-release name under `names` (the known list with a vendor's
/// additions).
pub(crate) fn os_name_schema<'a>(names: impl Iterator<Item = &'a str>) -> serde_json::Value {
    let mut all: Vec<&str> = names.collect();
    all.push(OTHER);
    serde_json::json!({ "type": "string", "enum": all })
}

impl JsonSchema for OsName {
    fn schema_name() -> Cow<'static, str> {
        "OsName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut all: Vec<&str> = rules::known_os_names().collect();
        all.push(OTHER);
        json_schema!({ "type": "string", "enum": all })
    }
}

shaped_string!(
    /// An os-release `VERSION_ID` in the numeric shape distributions write (`43`, `9.4`,
    /// `24.04`, `4799.0.0`), or `other`.
    OsVersionId,
    /// `s` when it has a version's shape and looks like no identifier.
    shape: VERSION_SHAPE,
    max_len: MAX_VERSION_LEN,
    stamp: false
);

shaped_string!(
    /// An OS build version in the shape the known distributions' image builders write
    /// (`43.20261102.3.0`, `416.94.202505211447-0`, `9.6.20250617-0`, `stream9.20240807.0`),
    /// or `other`.
    OsBuild,
    /// `s` when it has a build's shape and looks like no identifier (its date and time stamp
    /// aside).
    shape: BUILD_SHAPE,
    max_len: MAX_BUILD_LEN,
    stamp: true
);

open_string!(
    /// A cloud instance or machine type in its provider's documented names (`m5.large`,
    /// `Standard_D2s_v5`, `n2-standard-4`, `VM.Standard.A1.Flex`, …), or `other`. Which names
    /// a platform has: [`InstanceType::for_platform`].
    InstanceType
);

impl InstanceType {
    /// `s` when it is made of an instance type's characters and looks like no identifier.
    /// Whether it is one of its platform's names is [`InstanceType::for_platform`]'s decision.
    pub fn new(s: &str) -> Option<Self> {
        (s == OTHER || fits(&INSTANCE_TYPE_SHAPE, s, false)).then(|| Self(Cow::Owned(s.to_owned())))
    }

    /// The instance type to report for `raw`, as a cloud's metadata (afterburn's attribute or
    /// the metadata service) gives it on `platform`: the value when it is one of the provider's
    /// documented names, `other` when it is not (an operator's own flavor, an ID, an address),
    /// and `None` on a platform that has no instance types (nothing is sent). On GCP only, the
    /// metadata server's `projects/<number>/machineTypes/` prefix is taken off first.
    pub fn for_platform(platform: PlatformId, raw: &str) -> Option<Self> {
        let raw = if platform == PlatformId::Gcp {
            rules::strip_gcp_prefix(raw)
        } else {
            raw
        };
        Self::on_platform(platform, raw)
    }

    /// The rule of `platform` applied to a value as it is on the wire (no prefix taken off).
    pub(crate) fn on_platform(platform: PlatformId, value: &str) -> Option<Self> {
        let ok = match rules::type_rule(platform)? {
            TypeRule::Names(pattern) => fits(pattern, value, false),
            TypeRule::OperatorNamed => false,
        };
        Some(if ok {
            Self(Cow::Owned(value.to_owned()))
        } else {
            Self::other()
        })
    }

    /// The longest instance type, in bytes.
    pub const MAX_LEN: usize = MAX_INSTANCE_TYPE_LEN;
}

impl JsonSchema for InstanceType {
    fn schema_name() -> Cow<'static, str> {
        "InstanceType".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<String> = TYPE_RULES
            .iter()
            .filter_map(|(_, r)| match r {
                TypeRule::Names(p) => Some(p.regex_anywhere()),
                TypeRule::OperatorNamed => None,
            })
            .collect();
        let mut unique = names.clone();
        unique.dedup();
        let not: Vec<serde_json::Value> = Identifier::ALL
            .iter()
            .map(|id| serde_json::json!({ "not": { "pattern": id.regex() } }))
            .collect();
        json_schema!({
            "type": "string",
            "pattern": format!("^(?:{OTHER}|{})$", unique.join("|")),
            "minLength": 1,
            "maxLength": MAX_INSTANCE_TYPE_LEN,
            "allOf": not,
        })
    }
}

open_string!(
    /// A bare-metal system vendor's short name from a closed list ([`KNOWN_VENDORS`]: `Dell`,
    /// `HPE`, `Lenovo`, `Supermicro`, …), or `other`.
    VendorName
);

impl VendorName {
    /// `s` when it is one of the known vendors' short names.
    pub fn new(s: &str) -> Option<Self> {
        if s == OTHER {
            return Some(Self::other());
        }
        KNOWN_VENDORS
            .iter()
            .find(|v| **v == s)
            .map(|v| Self(Cow::Borrowed(v)))
    }

    /// The longest vendor name, in bytes.
    pub const MAX_LEN: usize = 12;
}

impl JsonSchema for VendorName {
    fn schema_name() -> Cow<'static, str> {
        "VendorName".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut all: Vec<&str> = KNOWN_VENDORS.to_vec();
        all.push(OTHER);
        json_schema!({ "type": "string", "enum": all })
    }
}

/// The part of the `Platform` schema that ties an instance type to its platform: for each
/// platform with instance types, the pattern of its provider's names; for every other
/// platform, no instance type at all.
pub(crate) fn platform_rules_schema() -> serde_json::Value {
    let mut rules: Vec<serde_json::Value> = Vec::new();
    let mut without: Vec<&str> = Vec::new();
    for p in PlatformId::ALL {
        match rules::type_regex(p) {
            Some(pattern) => rules.push(serde_json::json!({
                "if": { "properties": { "id": { "const": p.as_str() } } },
                "then": { "properties": { "instance_type": { "pattern": pattern } } },
            })),
            None => without.push(p.as_str()),
        }
    }
    rules.push(serde_json::json!({
        "if": { "properties": { "id": { "enum": without } } },
        "then": { "not": { "required": ["instance_type"] } },
    }));
    serde_json::Value::Array(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_strings_keep_real_values() {
        for ok in ["43.20261102.3.0", "9.6.20250617-0", "416.94.202505211447-0"] {
            assert_eq!(OsBuild::or_other(ok).as_str(), ok);
        }
        for ok in [
            "m5.large",
            "Standard_D2s_v3",
            "n2-standard-4",
            "ecs.g6.large",
        ] {
            assert_eq!(InstanceType::or_other(ok).as_str(), ok);
        }
        assert_eq!(VendorName::or_other("Dell").as_str(), "Dell");
        assert!(OsName::new("fedora").is_some() && OsName::new("coreos").is_some());
    }

    #[test]
    fn what_breaks_a_rule_is_other() {
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
            "i-0abc123def4567890",
            &"a".repeat(49),
        ] {
            assert!(InstanceType::or_other(bad).is_other(), "{bad:?}");
            assert!(OsBuild::or_other(bad).is_other(), "{bad:?}");
            assert!(OsVersionId::or_other(bad).is_other(), "{bad:?}");
        }
        assert!(OsName::or_other("Fedora").is_other());
        assert!(OsName::or_other("4f3c9a1e0b2d4c8e9f7a6b5c4d3e2f10").is_other());
        assert!(VendorName::or_other("ACME <x@y>").is_other());
        assert!(
            VendorName::or_other("Dell Inc.").is_other(),
            "short names only"
        );
    }

    #[test]
    fn reading_never_fails_on_an_open_value() {
        let t: InstanceType = serde_json::from_str(r#""10.0.0.1:80""#).unwrap();
        assert!(t.is_other());
        let n: OsName = serde_json::from_str(r#""other""#).unwrap();
        assert!(n.is_other());
        assert!(
            serde_json::from_str::<InstanceType>("42").is_err(),
            "a number is no string"
        );
    }

    #[test]
    fn longest_values_fit_their_limits() {
        for n in rules::known_os_names() {
            assert!(n.len() <= OsName::MAX_LEN);
        }
        for v in KNOWN_VENDORS {
            assert!(v.len() <= VendorName::MAX_LEN, "{v}");
        }
        assert!("416.94.202505211447-0".len() <= OsBuild::MAX_LEN);
    }
}
