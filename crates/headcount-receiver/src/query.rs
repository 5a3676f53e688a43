//! Query strings of the read endpoints, parsed strictly: a parameter the endpoint does not know
//! or one given twice is refused, never silently resolved (with `window=daily&window=monthly` a
//! map keeps one of the two, and which one depends on the parser).

use std::collections::BTreeMap;

/// Parses `raw` (what follows `?`; absent for none) into parameter -> value. Only `allowed`
/// names are accepted, each at most once; the error is one line for a `400` body.
pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<BTreeMap<String, String>, String> {
    let mut params = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if !allowed.contains(&&*name) {
            return Err(format!(
                "unknown parameter {name:?}: allowed are {}",
                allowed.join(" and ")
            ));
        }
        if params.contains_key(&*name) {
            return Err(format!("parameter {name:?} is given more than once"));
        }
        params.insert(name.into_owned(), value.into_owned());
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOWED: &[&str] = &["window", "period"];

    #[test]
    fn each_known_parameter_once() {
        let p = parse(Some("window=daily&period=2026-11-23"), ALLOWED).unwrap();
        assert_eq!(p["window"], "daily");
        assert_eq!(p["period"], "2026-11-23");
        assert!(parse(None, ALLOWED).unwrap().is_empty());
        assert!(parse(Some(""), ALLOWED).unwrap().is_empty());
        assert_eq!(
            parse(Some("window=d%61ily"), ALLOWED).unwrap()["window"],
            "daily"
        );
    }

    #[test]
    fn repeated_and_unknown_parameters_are_refused() {
        for (q, needle) in [
            (
                "window=daily&window=monthly",
                "\"window\" is given more than once",
            ),
            (
                "window=daily&window=daily",
                "\"window\" is given more than once",
            ),
            (
                "period=2026-11&window=monthly&period=2026-12",
                "\"period\" is given more",
            ),
            (
                "window=daily&ip=1",
                "unknown parameter \"ip\": allowed are window and period",
            ),
            (
                "w%69ndow=daily&window=daily",
                "\"window\" is given more than once",
            ),
        ] {
            let e = parse(Some(q), ALLOWED).unwrap_err();
            assert!(e.contains(needle), "{q}: {e}");
        }
    }
}
