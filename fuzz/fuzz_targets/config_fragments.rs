//! Config fragments: any bytes in any number of files under config.d (Ignition writes them,
//! an operator edits them, a package ships them). Every outcome is an answer, never a panic; an
//! opt-out fragment always wins; no message ever shows the proxy's password.
//!
//! Input: flags (bit 0: add a last fragment saying `level = "off"`; bit 1: add a fragment with a
//! proxy URL carrying a password, its host the next record), then one record per fragment.
#![no_main]

use headcount::config::load_from_bytes;
use headcount_fuzz::Input;
use headcount_report::Level;
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

const SECRET: &str = "S3CR3T-PW-fuzz";
const MAX_FRAGMENTS: usize = 6;

fn toml_string(s: &str) -> String {
    let mut out = String::from('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fuzz_target!(|data: &[u8]| {
    let root = headcount_fuzz::root("config", None, &[]);
    let mut input = Input::new(data);
    let flags = input.byte();
    let opt_out = flags & 1 != 0;
    let proxy_host = (flags & 2 != 0)
        .then(|| String::from_utf8_lossy(input.record().unwrap_or_default()).into_owned());
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    while let Some(bytes) = input.record() {
        if files.len() == MAX_FRAGMENTS {
            break;
        }
        let path = PathBuf::from(format!(
            "/etc/headcount/config.d/{}-fuzz.toml",
            10 + files.len()
        ));
        files.push((path, bytes.to_vec()));
    }
    // The password may only show if the input itself holds it elsewhere (libFuzzer learns the
    // string from the comparison below).
    let secret_elsewhere = files
        .iter()
        .map(|(_, b)| b.as_slice())
        .chain(proxy_host.as_deref().map(str::as_bytes))
        .any(|b| b.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    if let Some(host) = &proxy_host {
        let url = format!("http://fleet:{SECRET}@{host}:3128/");
        files.push((
            PathBuf::from("/etc/headcount/config.d/80-proxy.toml"),
            format!("[reporting]\nproxy = {}\n", toml_string(&url)).into_bytes(),
        ));
    }
    if opt_out {
        files.push((
            PathBuf::from("/etc/headcount/config.d/99-off.toml"),
            b"[collecting]\nlevel = \"off\"\n".to_vec(),
        ));
    }
    let known = headcount::known_collectors();
    let said = match load_from_bytes(root.path(), &files, &known) {
        Ok(loaded) => {
            if opt_out {
                assert_eq!(loaded.settings.level, Level::Off, "the opt-out did not win");
                assert!(!loaded.settings.sends());
            }
            if let Some(endpoint) = &loaded.settings.endpoint {
                assert!(matches!(endpoint.scheme(), "http" | "https"), "{endpoint}");
            }
            let mut said: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
            said.push(format!("{:?}", loaded.settings));
            said.join("\n")
        }
        Err(e) => {
            assert!(!opt_out, "the opt-out did not win: {e}");
            let text = e.to_string();
            assert!(!text.trim().is_empty());
            text
        }
    };
    if proxy_host.is_some() && !secret_elsewhere {
        assert!(
            !said.contains(SECRET),
            "the proxy password was shown: {said}"
        );
    }
});
