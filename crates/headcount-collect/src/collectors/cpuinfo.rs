//! Reading `proc/cpuinfo`: `key<TAB>: value` lines, one block per CPU (some architectures add a
//! header or trailer block). The facts read here are the same on every CPU of a machine, so the
//! first line with a key speaks for all.

/// The value of the first `key` line of `cpuinfo`, trimmed.
pub fn value<'a>(cpuinfo: &'a str, key: &str) -> Option<&'a str> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// Whether the first `flags` line (x86) carries `flag`.
pub fn has_flag(cpuinfo: &str, flag: &str) -> bool {
    value(cpuinfo, "flags").is_some_and(|flags| flags.split_ascii_whitespace().any(|f| f == flag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_with_a_key_counts() {
        let text =
            "processor\t: 0\nflags\t\t: fpu lm\n\nprocessor\t: 1\nflags\t\t: fpu hypervisor\n";
        assert_eq!(value(text, "processor"), Some("0"));
        assert!(has_flag(text, "lm"));
        assert!(!has_flag(text, "hypervisor"));
        assert!(!has_flag(text, "fp"));
        assert_eq!(value("", "flags"), None);
    }
}
