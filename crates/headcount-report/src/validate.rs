//! Checking a received body against the contract, and the JSON Schema that documents it.

use std::fmt;

use schemars::generate::SchemaSettings;
use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::report::{MAX_REPORT_BYTES, Report, SCHEMA_VERSION};
use crate::rules::Rules;

/// Why a body is not an acceptable report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The body is larger than [`MAX_REPORT_BYTES`] (a receiver answers 413).
    #[error("report is {size} bytes, the limit is {limit}")]
    TooLarge {
        /// Size of the body in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is a JSON object with a `schema` version this side does not know (a receiver
    /// answers 422: the body may be a valid report of another version).
    #[error(
        "report schema version {0} is not supported (this side knows version {SCHEMA_VERSION})"
    )]
    UnsupportedSchema(u64),
    /// The body is not a valid report (a receiver answers 400).
    #[error("invalid report: {0}")]
    Invalid(String),
}

/// Longest reason kept in [`ValidationError::Invalid`]: enough to name the field, never an echo
/// of a large body.
const MAX_REASON_CHARS: usize = 200;

fn invalid(reason: impl std::fmt::Display) -> ValidationError {
    ValidationError::Invalid(reason.to_string().chars().take(MAX_REASON_CHARS).collect())
}

/// Checks a received body with the built-in [`Rules`]: [`validate_with`].
pub fn validate(bytes: &[u8]) -> Result<Report, ValidationError> {
    validate_with(bytes, &Rules::default())
}

/// Checks a received body: size, schema version, then every field (unknown fields, types,
/// closed sets, `null`, and the period against the window), and applies `rules` to the open
/// fields: a value that breaks its rule is not a reason to refuse the report, it is counted as
/// `other` ([`Rules::conform`]).
pub fn validate_with(bytes: &[u8], rules: &Rules) -> Result<Report, ValidationError> {
    if bytes.len() > MAX_REPORT_BYTES {
        return Err(ValidationError::TooLarge {
            size: bytes.len(),
            limit: MAX_REPORT_BYTES,
        });
    }
    let mut report = match valid_at_once(bytes) {
        Some(report) => report,
        None => general(bytes)?,
    };
    rules.conform(&mut report);
    Ok(report)
}

/// Every check, one after the other, each with its own words.
fn general(bytes: &[u8]) -> Result<Report, ValidationError> {
    // The version decides how the rest is read, so it is looked at before anything else.
    let Strict(value) = serde_json::from_slice(bytes).map_err(invalid)?;
    let Some(object) = value.as_object() else {
        return Err(invalid("the body is not a JSON object"));
    };
    match object.get("schema").map(|s| s.as_u64()) {
        None => return Err(invalid("missing field `schema`")),
        Some(None) => return Err(invalid("`schema` is not a non-negative integer")),
        Some(Some(v)) if v != u64::from(SCHEMA_VERSION) => {
            return Err(ValidationError::UnsupportedSchema(v));
        }
        Some(Some(_)) => {}
    }
    // serde reads a struct from an array of its fields in order; no field of this version is an
    // array, so `"os":["fedora",…]` is the wrong shape, not another spelling of the object.
    if let Some(path) = array_in(&value, "") {
        return Err(invalid(format_args!(
            "`{path}` is an array; no field of a report is one"
        )));
    }
    let report: Report = serde_json::from_value(value).map_err(invalid)?;
    if report.period.window() != report.window {
        return Err(invalid(format_args!(
            "period {} is not a {} period",
            report.period, report.window
        )));
    }
    Ok(report)
}

/// The common case in one pass: a version-1 report read straight into [`Report`], without the
/// intermediate [`Value`] (which costs as much again as the parse). It accepts exactly what the
/// checks below accept: every object of the contract is a struct whose derived `Deserialize`
/// refuses unknown and repeated keys (after unescaping); a body holding `[` anywhere, or not an
/// object, takes the general path (serde would read a struct from an array); and the version and
/// the period's window are checked as below. Anything it does not accept goes the general way,
/// which alone words the errors.
fn valid_at_once(bytes: &[u8]) -> Option<Report> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' || bytes.contains(&b'[') {
        return None;
    }
    let report: Report = serde_json::from_slice(bytes).ok()?;
    (report.schema == SCHEMA_VERSION && report.period.window() == report.window).then_some(report)
}

/// The path of the first array in `v`, if any.
fn array_in(v: &Value, path: &str) -> Option<String> {
    match v {
        Value::Array(_) => Some(path.to_owned()),
        Value::Object(map) => map.iter().find_map(|(k, c)| {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            array_in(c, &p)
        }),
        _ => None,
    }
}

/// A JSON value whose objects never repeat a key. serde_json keeps the last of two equal keys,
/// so `{"schema":2,…,"schema":1}` would pass as version 1 and be read differently by a parser that
/// keeps the first: a report means one thing or is refused.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity, so every parsed float is a Number.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(A::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let Strict(v) = map.next_value()?;
            object.insert(key, v);
        }
        Ok(Value::Object(object))
    }
}

/// The JSON Schema (draft 2020-12) of a report under the built-in [`Rules`]: [`schema_with`].
pub fn schema() -> serde_json::Value {
    schema_with(&Rules::default())
}

/// The JSON Schema (draft 2020-12) of a report a side with `rules` sends, generated from the
/// types and the rules: the os-release names it knows, and each platform's instance types.
pub fn schema_with(rules: &Rules) -> serde_json::Value {
    let generator = SchemaSettings::draft2020_12()
        .for_deserialize()
        .into_generator();
    let mut schema = serde_json::Value::from(generator.into_root_schema_for::<Report>());
    forbid_additional_properties(&mut schema);
    if let Some(defs) = schema.get_mut("$defs") {
        defs["OsName"] = crate::text::os_name_schema(rules.os_names());
        if let Some(platform) = defs.get_mut("Platform") {
            platform["allOf"] = crate::text::platform_rules_schema();
        }
    }
    schema
}

/// Every object schema gets `additionalProperties: false` (the types deny unknown fields;
/// this makes sure the schema says so everywhere, whatever the generator emitted).
fn forbid_additional_properties(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if map.get("type").and_then(|t| t.as_str()) == Some("object") {
                map.insert("additionalProperties".into(), false.into());
            }
            for child in map.values_mut() {
                forbid_additional_properties(child);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(forbid_additional_properties),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    const MINIMAL: &str = r#"{"schema":1,"window":"daily","period":"2026-11-23","level":"minimal","os":{"id":"fedora","variant_id":"coreos","version_id":"43","build":"43.20261102.3.0"},"original_os":{"build":"39.20231101.3.0"},"platform":{"id":"aws","instance_type":"m5.large"},"arch":"x86_64","age_bucket":4}"#;

    fn full() -> Report {
        let mut r = Report::new(Level::Full, "2026-11".parse().unwrap()).unwrap();
        // The longest instance type a rule lets through: an Azure size of 48 characters.
        let size = "Standard_NDC9999-999israbc_GB20000_MI300XX_cc_v5";
        assert_eq!(size.len(), InstanceType::MAX_LEN);
        r.platform = Some(Platform {
            id: PlatformId::Azure,
            instance_type: InstanceType::for_platform(PlatformId::Azure, size)
                .filter(|t| !t.is_other()),
        });
        r.hardware = Some(Hardware {
            cpu_vendor: Some(CpuVendor::Amd),
            cpus: Some(CpuBucket::of(513)),
            memory_gib: Some(MemoryBucket::of(u64::MAX)),
            firmware: Some(Firmware::Uefi),
            secure_boot: Some(true),
            disks: Some(Disks {
                nvme: CountBucket::of(200),
                ssd: CountBucket::of(200),
                hdd: CountBucket::of(200),
                r#virtual: CountBucket::of(200),
                total_gib: DiskSizeBucket::of(u64::MAX),
            }),
            system_vendor: VendorName::new("Raspberry Pi"),
        });
        let rt = Runtime {
            installed: true,
            active: true,
            running: Some(CountBucket::More),
        };
        r.containers = Some(Containers {
            podman: Some(rt.clone()),
            docker: Some(rt.clone()),
            crio: Some(rt.clone()),
            containerd: Some(rt.clone()),
            nspawn: Some(rt),
        });
        let c = CountBucket::More;
        r.network = Some(Network {
            interfaces: Some(Interfaces {
                ethernet: c,
                wifi: c,
                bond: c,
                bridge: c,
                vlan: c,
                team: c,
                vxlan: c,
                wireguard: c,
                tun: c,
                other: c,
            }),
            ipv4: Some(true),
            ipv6: Some(false),
            default_route: Some(true),
        });
        r.packages = Some(Packages {
            layered: CountBucket::More,
        });
        // The longest values the rules let through.
        r.os = Some(Os {
            id: OsName::new("ubuntu-core"),
            variant_id: OsName::new("miraclewm-atomic"),
            version_id: OsVersionId::new("9999.9999.9999"),
            build: OsBuild::new("9999.999.202303221220-999"),
        });
        r.original_os = OsBuild::new("9999.999.202303221220-999").map(|build| OriginalOs { build });
        r.arch = Some(Arch::Loongarch64);
        r.age_bucket = AgeBucket::new(4);
        r
    }

    #[test]
    fn design_example_round_trips_byte_for_byte() {
        let report = validate(MINIMAL.as_bytes()).unwrap();
        assert_eq!(report.to_body(), MINIMAL.as_bytes());
    }

    /// An object written as the array of its fields' values is the wrong shape (serde would read
    /// it positionally).
    #[test]
    fn an_object_written_as_an_array_is_refused() {
        for (field, value) in [
            ("os", r#"["fedora","coreos","43","43.20261102.3.0"]"#),
            ("platform", r#"["aws","m5.large"]"#),
            ("original_os", r#"["39.20231101.3.0"]"#),
            ("arch", r#"["x86_64"]"#),
        ] {
            let body = with(field, value);
            match validate(&body) {
                Err(ValidationError::Invalid(m)) => {
                    assert!(m.contains(&format!("`{field}` is an array")), "{m}")
                }
                other => panic!("{field}: {other:?}"),
            }
        }
        // A newer version is still told apart first, whatever its shape.
        let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        v["schema"] = 2.into();
        v["os"] = serde_json::json!(["fedora"]);
        assert_eq!(
            validate(&serde_json::to_vec(&v).unwrap()),
            Err(ValidationError::UnsupportedSchema(2))
        );
    }

    #[test]
    fn largest_full_report_is_far_below_the_limit() {
        let body = full().to_body();
        eprintln!("largest full report: {} bytes", body.len());
        assert!(full().platform.unwrap().instance_type.is_some());
        assert!(body.len() * 4 < MAX_REPORT_BYTES, "{} bytes", body.len());
        assert_eq!(validate(&body).unwrap(), full());
        assert!(!body.ends_with(b"\n"));
    }

    fn with(field: &str, value: &str) -> Vec<u8> {
        let mut v: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        let (topic, key) = field.split_once('.').unwrap_or(("", field));
        let target = if topic.is_empty() {
            &mut v
        } else {
            &mut v[topic]
        };
        target[key] = serde_json::from_str(value).unwrap();
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn rejects_what_is_outside_the_contract() {
        for (field, value) in [
            ("extra", "1"),
            ("os.hostname", r#""web1""#),
            ("os", "null"),
            ("os.build", "null"),
            ("platform.instance_type", "42"),
            ("os.id", "true"),
            ("platform.id", r#""mycloud""#),
            ("arch", r#""X86_64""#),
            ("age_bucket", "0"),
            ("age_bucket", "5"),
            ("age_bucket", r#""4""#),
            ("period", r#""2026-11""#),
            ("period", r#""2026-11-23T10:00:00Z""#),
            ("window", r#""weekly""#),
            ("level", r#""off""#),
            ("schema", r#""1""#),
            ("schema", "-1"),
            ("schema", "1.5"),
        ] {
            let body = with(field, value);
            let err = validate(&body).unwrap_err();
            assert!(
                matches!(err, ValidationError::Invalid(_)),
                "{field}={value}: {err}"
            );
        }
        for bad in [&b"{"[..], b"[]", b"null", b"\xff", b""] {
            assert!(matches!(validate(bad), Err(ValidationError::Invalid(_))));
        }
    }

    #[test]
    fn a_weekly_report_names_an_iso_week() {
        let weekly = MINIMAL.replacen(
            r#""window":"daily","period":"2026-11-23""#,
            r#""window":"weekly","period":"2026-W48""#,
            1,
        );
        let r = validate(weekly.as_bytes()).unwrap();
        assert_eq!(r.window, Window::Weekly);
        assert_eq!(r.period.to_string(), "2026-W48");
        assert_eq!(r.to_body(), weekly.as_bytes());
        for (window, period) in [
            ("weekly", "2026-11-23"),
            ("weekly", "2026-11"),
            ("daily", "2026-W48"),
            ("monthly", "2026-W48"),
            ("weekly", "2026-W54"),
            ("weekly", "2026-W48-1"),
        ] {
            let body = with("window", &format!("\"{window}\""));
            let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            v["period"] = period.into();
            let err = validate(&serde_json::to_vec(&v).unwrap()).unwrap_err();
            assert!(
                matches!(err, ValidationError::Invalid(_)),
                "{window} {period}"
            );
        }
    }

    /// A key given twice is refused wherever it is, even with the same value: the last one
    /// winning is how `{"schema":2,…,"schema":1}` passed as version 1.
    /// The one-pass path accepts a body only when the general path accepts it too, as the same
    /// report; everything it declines is left to the general path.
    #[test]
    fn the_one_pass_path_accepts_exactly_what_the_checks_accept() {
        let minimal = MINIMAL.to_owned();
        let full = String::from_utf8(full().to_body()).unwrap();
        let mut bodies: Vec<String> = vec![
            minimal.clone(),
            full.clone(),
            format!("  \n{minimal}\n"),
            minimal.replace(r#""schema":1"#, r#""schema":2"#),
            minimal.replace(r#""schema":1"#, r#""schema":1.0"#),
            minimal.replace(r#""schema":1"#, r#""schema":"1""#),
            minimal.replace(r#""window":"daily""#, r#""window":"monthly""#),
            minimal.replace(r#""arch":"x86_64""#, r#""arch":"x86_64","arch":"aarch64""#),
            minimal.replace(
                r#""arch":"x86_64""#,
                r#""arch":"x86_64","\u0061rch":"x86_64""#,
            ),
            minimal.replace(r#""id":"aws""#, r#""id":"aws","id":"aws""#),
            minimal.replace(r#""arch":"x86_64""#, r#""arch":null"#),
            minimal.replace(r#""arch":"x86_64""#, r#""arch":"x86_64","hostname":"h""#),
            minimal.replace(r#""age_bucket":4"#, r#""age_bucket":4.0"#),
            minimal.replace(r#""age_bucket":4"#, r#""age_bucket":-4"#),
            format!("{minimal} x"),
            format!("[{minimal}]"),
            minimal.replace(
                r#"{"id":"aws","instance_type":"m5.large"}"#,
                r#"["aws","m5.large"]"#,
            ),
            r#""schema""#.to_owned(),
            "{}".to_owned(),
            String::new(),
        ];
        // Fields left out: optional ones (valid), required ones (invalid).
        for field in [
            r#""os":{"id":"fedora","variant_id":"coreos","version_id":"43","build":"43.20261102.3.0"},"#,
            r#""original_os":{"build":"39.20231101.3.0"},"#,
            r#""level":"minimal","#,
            r#""period":"2026-11-23","#,
        ] {
            assert!(minimal.contains(field), "{field}");
            bodies.push(minimal.replace(field, ""));
        }
        let mut accepted = 0;
        for b in &bodies {
            let general = general(b.as_bytes());
            match valid_at_once(b.as_bytes()) {
                Some(r) => {
                    accepted += 1;
                    assert_eq!(general.as_ref(), Ok(&r), "{b}");
                }
                None => assert!(
                    general.is_err() || b.contains('['),
                    "declined a valid body: {b}"
                ),
            }
            // Both paths then hold the open fields to the same rules.
            let conformed = general.map(|mut r| {
                Rules::default().conform(&mut r);
                r
            });
            assert_eq!(validate(b.as_bytes()), conformed, "{b}");
        }
        assert!(accepted >= 4, "{accepted}");
    }

    #[test]
    fn a_repeated_key_anywhere_is_refused() {
        let version_twice = MINIMAL
            .replacen(r#"{"schema":1"#, r#"{"schema":2"#, 1)
            .replacen(r#""age_bucket":4}"#, r#""age_bucket":4,"schema":1}"#, 1);
        let nested = MINIMAL.replacen(r#""id":"fedora""#, r#""id":"fedora","id":"rhel""#, 1);
        let same_value = MINIMAL.replacen(
            r#""arch":"x86_64""#,
            r#""arch":"x86_64","arch":"x86_64""#,
            1,
        );
        let escaped = MINIMAL.replacen(
            r#""arch":"x86_64""#,
            r#""arch":"x86_64","\u0061rch":"s390x""#,
            1,
        );
        for body in [version_twice, nested, same_value, escaped] {
            let err = validate(body.as_bytes()).unwrap_err();
            let ValidationError::Invalid(reason) = &err else {
                panic!("{body}: {err}")
            };
            assert!(reason.starts_with("duplicate key `"), "{reason}");
        }
        // Equal values in different objects are not repeated keys.
        assert!(validate(MINIMAL.as_bytes()).is_ok());
    }

    #[test]
    fn unknown_schema_is_decided_before_the_rest() {
        let body = br#"{"schema":2,"whatever":{"new":"fields"}}"#;
        assert_eq!(validate(body), Err(ValidationError::UnsupportedSchema(2)));
        assert_eq!(
            validate(&with("schema", "0")),
            Err(ValidationError::UnsupportedSchema(0))
        );
    }

    #[test]
    fn size_limit_comes_first() {
        let body = vec![b' '; MAX_REPORT_BYTES + 1];
        assert_eq!(
            validate(&body),
            Err(ValidationError::TooLarge {
                size: MAX_REPORT_BYTES + 1,
                limit: MAX_REPORT_BYTES
            })
        );
        let mut padded = MINIMAL.as_bytes().to_vec();
        padded.resize(MAX_REPORT_BYTES, b' ');
        assert!(validate(&padded).is_ok());
    }

    /// An open value that breaks its rule is no reason to refuse a report: it is counted as
    /// `other`, or left out where the rule says so.
    #[test]
    fn open_values_that_break_their_rule_are_other() {
        let other = Some("other");
        let instance_type = |r: &Report| {
            r.platform
                .as_ref()
                .and_then(|p| p.instance_type.as_ref())
                .map(|t| t.to_string())
        };
        for value in [
            "10.0.0.1:80",
            "projects/408213637716/machineTypes/n1-standard-1",
            "i-0abc123def4567890",
            "n2-standard-4",
            &"x".repeat(5000),
        ] {
            let r = validate(&with("platform.instance_type", &format!("{value:?}"))).unwrap();
            assert_eq!(instance_type(&r).as_deref(), other, "{value}");
        }
        let r = validate(&with("os.id", r#""acme-host42""#)).unwrap();
        let os = r.os.as_ref().unwrap();
        assert_eq!(os.id.as_ref().map(|i| i.as_str()), other);
        assert!(
            os.version_id.is_none() && os.build.is_none(),
            "versions of an unknown OS"
        );
        assert!(
            r.original_os.is_none(),
            "the original build of an unknown OS"
        );
        let r = validate(&with("os.version_id", r#""10.0.0.1""#)).unwrap();
        assert_eq!(
            r.os.unwrap().version_id.map(|v| v.to_string()).as_deref(),
            other
        );
        let r = validate(&with(
            "original_os",
            r#"{"build":"ec2a1b2c-3d4e-5f60-7182-93a4b5c6d7e8"}"#,
        ))
        .unwrap();
        assert_eq!(r.original_os.map(|o| o.build.to_string()).as_deref(), other);
        // A vendor's own name is known where its rules say so.
        let acme = Rules::with_os_names(&["acme"]).unwrap();
        let r = validate_with(&with("os.id", r#""acme""#), &acme).unwrap();
        assert_eq!(r.os.unwrap().id.unwrap().as_str(), "acme");
        // What a daemon sends is left as it is.
        assert_eq!(
            validate(MINIMAL.as_bytes()).unwrap().to_body(),
            MINIMAL.as_bytes()
        );
    }

    #[test]
    fn reasons_are_short() {
        let body = with("platform.id", &format!("\"{}\"", "x".repeat(5000)));
        let ValidationError::Invalid(reason) = validate(&body).unwrap_err() else {
            panic!("not invalid")
        };
        assert!(reason.chars().count() <= MAX_REASON_CHARS, "{reason}");
    }

    fn walk(v: &serde_json::Value, path: &str, check: &mut dyn FnMut(&str, &serde_json::Value)) {
        check(path, v);
        match v {
            serde_json::Value::Object(m) => {
                for (k, c) in m {
                    walk(c, &format!("{path}/{k}"), check);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    walk(c, &format!("{path}/{i}"), check);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn schema_is_closed_and_described() {
        let schema = schema();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let mut objects = 0;
        walk(&schema, "", &mut |path, v| {
            if v.get("type").and_then(|t| t.as_str()) == Some("object") {
                objects += 1;
                assert_eq!(v["additionalProperties"], false, "{path}");
                for (name, prop) in v["properties"].as_object().unwrap() {
                    assert!(prop.get("description").is_some(), "{path}/{name}");
                }
            }
            if v.get("type").and_then(|t| t.as_str()) == Some("string")
                && v.get("enum").is_none()
                && v.get("const").is_none()
            {
                assert!(v.get("pattern").is_some(), "{path}");
                assert!(v.get("maxLength").is_some(), "{path}");
            }
            assert!(!v.to_string().contains("\"null\""), "{path} allows null");
        });
        assert!(objects >= 11, "{objects}");
        assert_eq!(schema["properties"]["schema"]["minimum"], 1);
        assert_eq!(schema["properties"]["schema"]["maximum"], 1);
    }
}
