//! The query strings of the receiver's read endpoints (`GET /v1/counts?window=…&period=…`): what
//! any client puts after the `?`. Parsed strictly, then read the way the endpoint reads them.
#![no_main]

use headcount_receiver::query;
use headcount_report::{Period, Window};
use libfuzzer_sys::fuzz_target;

const ALLOWED: &[&str] = &["window", "period"];

fuzz_target!(|raw: &str| {
    let Ok(params) = query::parse(Some(raw), ALLOWED) else {
        return;
    };
    assert!(
        params.keys().all(|k| ALLOWED.contains(&k.as_str())),
        "{raw:?}"
    );
    let Some(Ok(window)) = params.get("window").map(|w| w.parse::<Window>()) else {
        return;
    };
    if let Some(Ok(period)) = params.get("period").map(|p| Period::parse_for(window, p)) {
        assert_eq!(period.window(), window);
        assert_eq!(Period::parse_for(window, &period.to_string()), Ok(period));
    }
});
