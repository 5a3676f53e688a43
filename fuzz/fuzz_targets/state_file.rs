//! The daemon's state file, as read back at start: any bytes an attacker or a broken disk left
//! in the state directory. A state is accepted only if writing it back reads back the same.
#![no_main]

use headcount::state::{MAX_STATE_BYTES, State};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = State::from_bytes(data) {
        let json = state.to_json();
        assert!(json.len() as u64 <= MAX_STATE_BYTES, "{json}");
        let back = State::from_bytes(json.as_bytes()).expect("a written state reads back");
        assert_eq!(back, state, "{json}");
    }
});
