//! The receiver's validation of a posted body, and the counter keys it derives from an accepted
//! report: any bytes a client posts. An accepted report is one whose own body validates back to
//! itself, within the size limit.
#![no_main]

use headcount_report::{MAX_REPORT_BYTES, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(report) = validate(data) else {
        return;
    };
    let body = report.to_body();
    assert!(body.len() <= MAX_REPORT_BYTES);
    assert_eq!(
        validate(&body).as_ref(),
        Ok(&report),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let crosstabs = vec![
        vec!["os.version_id".to_owned(), "platform.id".to_owned()],
        vec!["arch".to_owned(), "hardware.memory".to_owned()],
    ];
    let keys = headcount_receiver::counters::keys(&report, &crosstabs);
    assert!(!keys.is_empty());
});
