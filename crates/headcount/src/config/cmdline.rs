//! `headcount.level=` on the kernel command line: the level for machines whose /etc does not
//! persist or is not written before first boot (live ISO, PXE, CI runners, appliances).
//!
//! Read under the root (`proc/cmdline`) the way the collectors read it, and split the way the
//! kernel splits it (`parse_args` in the kernel's `lib/cmdline.c` and `kernel/params.c`):
//! arguments are separated by white space outside double quotes, and quotes around a value
//! (`headcount.level="off"`) are not part of it. The last `headcount.level=` wins.

use std::path::Path;

use headcount_collect::Root;

use super::Diagnostic;

/// The kernel command line, relative to the root.
pub const CMDLINE_PATH: &str = "proc/cmdline";
/// The parameter's name.
pub const LEVEL_PARAM: &str = "headcount.level";

/// The value of the last `headcount.level` parameter on the kernel command line under `root`
/// (`Some("")` for a bare `headcount.level`), or `None` when there is none.
///
/// A missing `proc/cmdline` (a fixture root, a container without /proc) has no parameter; one
/// that exists but cannot be read is an error: it might hold an opt-out.
pub fn level_arg(root: &Path) -> Result<Option<String>, Diagnostic> {
    let files = Root::new(root);
    let Some(text) = files.read(CMDLINE_PATH) else {
        if !files.exists(CMDLINE_PATH) {
            return Ok(None);
        }
        return Err(Diagnostic {
            path: Some(root.join(CMDLINE_PATH)),
            pos: None,
            key: None,
            message: format!(
                "cannot read the kernel command line (not a regular file, unreadable, or larger \
                 than {} bytes); it may set {LEVEL_PARAM}=",
                headcount_collect::MAX_FILE_BYTES
            ),
        });
    };
    Ok(args(&text)
        .into_iter()
        .filter(|(name, _)| name == LEVEL_PARAM)
        .map(|(_, value)| value.unwrap_or_default())
        .next_back())
}

/// The error for an invalid value: it names the command line as its origin.
pub fn invalid(root: &Path, value: &str, reason: &str) -> Diagnostic {
    Diagnostic {
        path: Some(root.join(CMDLINE_PATH)),
        pos: None,
        key: Some(format!("kernel command line {LEVEL_PARAM}={value}")),
        message: reason.to_owned(),
    }
}

/// The kernel's white space (`isspace` in the kernel's ctype table).
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Splits a command line into `(name, value)` pairs the way the kernel does.
pub fn args(cmdline: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = cmdline.trim_start_matches(is_space);
    while !rest.is_empty() {
        // One argument: up to white space outside double quotes.
        let mut in_quote = false;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            if c == '"' {
                in_quote = !in_quote;
            } else if is_space(c) && !in_quote {
                end = i;
                break;
            }
        }
        let (arg, tail) = rest.split_at(end);
        rest = tail.trim_start_matches(is_space);
        // A leading quote opens the whole argument (`"a=b c"`); it is not part of the name.
        let (arg, quoted) = match arg.strip_prefix('"') {
            Some(a) => (a, true),
            None => (arg, false),
        };
        let (name, value) = match arg.split_once('=') {
            None => (
                arg.strip_suffix('"').filter(|_| quoted).unwrap_or(arg),
                None,
            ),
            Some((name, value)) => {
                let value = match value.strip_prefix('"') {
                    Some(v) => v.strip_suffix('"').unwrap_or(v),
                    None if quoted => value.strip_suffix('"').unwrap_or(value),
                    None => value,
                };
                (name, Some(value.to_owned()))
            }
        };
        out.push((name.to_owned(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, Option<String>)> {
        args(s)
    }

    fn p(n: &str, v: Option<&str>) -> (String, Option<String>) {
        (n.to_owned(), v.map(str::to_owned))
    }

    #[test]
    fn splits_like_the_kernel() {
        assert_eq!(
            pairs("BOOT_IMAGE=(hd0,gpt3)/boot/vmlinuz rw  quiet\theadcount.level=off\n"),
            vec![
                p("BOOT_IMAGE", Some("(hd0,gpt3)/boot/vmlinuz")),
                p("rw", None),
                p("quiet", None),
                p("headcount.level", Some("off")),
            ]
        );
        // Quotes group white space and are dropped from the value.
        assert_eq!(
            pairs(r#"a="b c" headcount.level="full" "d=e f" "g""#),
            vec![
                p("a", Some("b c")),
                p("headcount.level", Some("full")),
                p("d", Some("e f")),
                p("g", None),
            ]
        );
        assert_eq!(pairs(""), vec![]);
        assert_eq!(pairs("   "), vec![]);
        assert_eq!(pairs("x= y"), vec![p("x", Some("")), p("y", None)]);
        // An unterminated quote runs to the end of the line.
        assert_eq!(pairs(r#"a="b c"#), vec![p("a", Some("b c"))]);
    }

    #[test]
    fn the_last_headcount_level_wins_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(level_arg(dir.path()).unwrap(), None);
        std::fs::create_dir(dir.path().join("proc")).unwrap();
        let cmdline = dir.path().join(CMDLINE_PATH);
        std::fs::write(&cmdline, "ro headcount.level=off root=UUID=x\n").unwrap();
        assert_eq!(level_arg(dir.path()).unwrap().as_deref(), Some("off"));
        std::fs::write(&cmdline, "headcount.level=off headcount.level=full\n").unwrap();
        assert_eq!(level_arg(dir.path()).unwrap().as_deref(), Some("full"));
        std::fs::write(&cmdline, "headcount.level\n").unwrap();
        assert_eq!(level_arg(dir.path()).unwrap().as_deref(), Some(""));
        // Other parameters that merely start with the name do not count.
        std::fs::write(&cmdline, "headcount.levels=off rd.headcount.level=off\n").unwrap();
        assert_eq!(level_arg(dir.path()).unwrap(), None);
    }

    #[test]
    fn an_unreadable_command_line_is_an_error_not_an_absence() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(CMDLINE_PATH)).unwrap();
        let e = level_arg(dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot read the kernel command line"),
            "{e}"
        );
        // A FIFO must not hang the read.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("proc")).unwrap();
        nix::unistd::mkfifo(
            &dir.path().join(CMDLINE_PATH),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        assert!(level_arg(dir.path()).is_err());
    }
}
