//! Every configuration key, declared once: its section, name, type in the file, and how
//! check-config shows its effective value. The table yields the raw serde structs, the merge of
//! one fragment into another, the merged [`Inputs`] with the file that set each value, the origins
//! and the check-config rows. Validation into [`Settings`] stays in `mod.rs`, key by key.

use serde::{Deserialize, Serialize};

use super::Settings;
use super::inputs::{Origin, Sourced};
use super::raw::Parsed;

/// One check-config line: a key, its effective value (`None` when unset) and what unset means.
pub struct Row {
    /// The section, without brackets.
    pub section: &'static str,
    /// The key.
    pub key: &'static str,
    /// The effective value as TOML, `None` when unset.
    pub value: Option<String>,
    /// What an unset value means.
    pub unset: &'static str,
}

/// A string as TOML writes it.
fn quote(v: &str) -> String {
    toml::Value::String(v.to_owned()).to_string()
}

/// A list of strings as TOML writes it.
fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = items.into_iter().map(quote).collect();
    format!("[{}]", quoted.join(", "))
}

macro_rules! keys {
    ($(
        [$section:ident] $Raw:ident {
            $($key:ident: $ty:ty => |$s:ident| $show:expr, unset $unset:literal;)+
        }
    )+) => {
        $(
            #[doc = concat!("The `[", stringify!($section), "]` table of one fragment.")]
            #[derive(Debug, Default, Clone, Deserialize, Serialize)]
            #[serde(deny_unknown_fields)]
            pub struct $Raw {
                $(pub $key: Option<$ty>,)+
            }
        )+

        /// One fragment, parsed.
        #[derive(Debug, Default, Clone, Deserialize, Serialize)]
        #[serde(deny_unknown_fields)]
        pub struct RawFragment {
            $(pub $section: Option<$Raw>,)+
        }

        /// Sections and their keys, in documentation order.
        pub const SECTIONS: [(&str, &[&str]); [$(stringify!($section)),+].len()] =
            [$((stringify!($section), &[$(stringify!($key)),+]),)+];

        /// Deserializes one `key = value` of `section` and lays it over what `raw` holds.
        pub(super) fn set_key<'de, D: serde::Deserializer<'de>>(
            raw: &mut RawFragment,
            section: &str,
            de: D,
        ) -> Result<(), D::Error> {
            match section {
                $(stringify!($section) => {
                    let v = $Raw::deserialize(de)?;
                    let r = raw.$section.get_or_insert_with(Default::default);
                    $(r.$key = v.$key.or(r.$key.take());)+
                })+
                _ => {}
            }
            Ok(())
        }

        /// All fragments merged: a later fragment's key overrides an earlier one's.
        #[derive(Debug, Default)]
        pub struct Inputs {
            $($(pub $key: Option<Sourced<$ty>>,)+)+
        }

        impl Inputs {
            /// Applies one parsed fragment on top of what is merged so far.
            pub fn apply(&mut self, path: &std::path::Path, parsed: &Parsed) {
                $(if let Some(r) = &parsed.raw.$section {
                    $(if let Some(value) = &r.$key {
                        self.$key = Some(Sourced {
                            value: value.clone(),
                            origin: Origin::File {
                                path: path.to_owned(),
                                line: parsed
                                    .line_of(stringify!($section), stringify!($key))
                                    .unwrap_or(0),
                            },
                        });
                    })+
                })+
            }

            /// For each `(section, key)`, where its merged value came from.
            pub fn origins(&self) -> Vec<((&'static str, &'static str), Origin)> {
                vec![$($((
                    (stringify!($section), stringify!($key)),
                    self.$key.as_ref().map_or(Origin::Default, |s| s.origin.clone()),
                ),)+)+]
            }
        }

        /// The check-config rows of `settings`, section by section.
        pub fn rows(settings: &Settings) -> Vec<Row> {
            vec![$($({
                let $s = settings;
                Row {
                    section: stringify!($section),
                    key: stringify!($key),
                    value: $show,
                    unset: $unset,
                }
            },)+)+]
        }
    };
}

keys! {
    [collecting] RawCollecting {
        level: String => |s| Some(quote(s.level.as_str())), unset "";
        exclude: Vec<String> => |s| Some(list(s.exclude.iter().map(String::as_str))), unset "";
        known_os_names: Vec<String> =>
            |s| Some(list(s.rules.extra_os_names().iter().map(String::as_str))), unset "";
    }
    [reporting] RawReporting {
        endpoint: String => |s| s.endpoint.as_ref().map(|u| quote(u.as_str())),
            unset "nothing will be sent";
        proxy: String => |s| s.proxy.as_ref().map(|p| quote(&p.to_string())),
            unset "the proxy environment variables apply";
        ca_file: String => |s| s.ca_file.as_ref().map(|p| quote(&p.display().to_string())),
            unset "the system trust roots only";
        timeout_secs: u64 => |s| Some(s.timeout.as_secs().to_string()), unset "";
        max_startup_delay_secs: u64 => |s| Some(s.max_startup_delay.as_secs().to_string()),
            unset "";
        max_rollover_delay_secs: u64 => |s| Some(s.max_rollover_delay.as_secs().to_string()),
            unset "";
        allow_plain_http: bool => |s| Some(s.allow_plain_http.to_string()), unset "";
        windows: Vec<String> => |s| Some(list(s.windows.iter().map(|w| w.as_str()))), unset "";
    }
}
