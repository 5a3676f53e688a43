//! The man pages say what the code does: headcount(8) is generated from the clap CLI, and
//! headcount.conf(5) (hand-written) describes every config key with the code's defaults.
//!
//! After changing the CLI, regenerate the page and commit it:
//! `UPDATE_GOLDEN=1 cargo test -p headcount --test manpage`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

mod common;

use clap::CommandFactory;
use headcount::cli::Cli;

const PAGE_8: &str = "../../dist/man/headcount.8";
/// The title line's date: the month the page's hand-written parts were last revised.
const PAGE_DATE: &str = "2026-11";
const PAGE_5: &str = include_str!("../../../dist/man/headcount.conf.5");

/// What clap does not know: appended by hand after the generated sections.
const TAIL: &str = r#".SH "RUNNING UNDER SYSTEMD"
.B headcount daemon
is what
.B headcount.service
runs (Type=notify). It reports READY=1 once its configuration and state are loaded, and keeps a
one\-line status (level, last accepted periods, next due time) for
.BR "systemctl status headcount" .
SIGHUP
.RB ( "systemctl reload headcount" )
re\-reads the configuration, at once even in the middle of a send; SIGTERM stops it within a
second. At level
.B off
or without an endpoint it logs one line saying that nothing will be sent and exits 0; a reload to
.B off
abandons a report in flight.
.B headcount level off
waits for that, so once it returns no report leaves.
.PP
While it runs at minimal or full, a two\-line login notice (pam_motd, through the symlink
.IR /usr/lib/motd.d/headcount )
says so, names the receiver's host, and how to see
.RB ( "headcount preview" )
and change
.RB ( "headcount level off" )
it. The notice lives in the unit's runtime directory, so it goes away with the service.
.PP
Every report the receiver accepted is logged to the journal with MESSAGE_ID
522108f49c1b482b93573325becbff69 and the exact body in the field HEADCOUNT_REPORT:
.PP
.RS
.nf
journalctl \-u headcount MESSAGE_ID=522108f49c1b482b93573325becbff69 \-o cat \-\-output\-fields=HEADCOUNT_REPORT
.fi
.RE
.SH "EXIT STATUS"
.TP
.B 0
Success; for the daemon also a stop by SIGTERM, and level off.
.TP
.B 78
The configuration is invalid (EX_CONFIG); every error was printed with its file and key. For
.BR "headcount level minimal" | full :
refused, because a source of higher precedence (named) would override it.
.TP
.B 77
.BR "headcount level" :
the level fragment may not be written (EX_NOPERM); run it as root.
.TP
.B 70
.BR "headcount daemon" :
its runtime, timer or signal handlers could not be set up (EX_SOFTWARE), for example for want of
file descriptors.
.TP
.B 2
The command line is wrong (an unknown command, option or value); the usage was printed.
.TP
.B 1
Any other failure, for example output that cannot be written.
.SH FILES
.TP
.I /usr/lib/headcount/config.d/*.toml, /run/headcount/config.d/*.toml, /etc/headcount/config.d/*.toml
Configuration fragments, see
.BR headcount.conf (5).
.TP
.I /etc/headcount/config.d/90\-level.toml
The administrator's level, which
.B headcount level
writes.
.TP
.I /proc/cmdline
.BI headcount.level= LEVEL
on the kernel command line sets the level above every fragment (an
.B off
from any source wins).
.TP
.I /etc/fedora\-coreos\-pinger/config.d/*.toml, /etc/fedora\-coreos\-metrics\-client/config.d/*.toml
The old pinger's opt-out,
.B [reporting] enabled = false
(also under /run and /usr/lib), means level
.BR off .
.TP
.I /usr/lib/motd.d/headcount
A symlink to
.IR /run/headcount/notice/motd ,
the login notice the service keeps while it sends.
.TP
.I /var/lib/headcount/
State: the last settled period of each window, nothing else.
.SH "SEE ALSO"
.BR headcount.conf (5),
.BR journalctl (1),
.BR systemctl (1)
"#;

/// headcount(8): NAME, SYNOPSIS, DESCRIPTION and OPTIONS of the top-level command, then one
/// subsection per subcommand (synopsis, description, options), then [`TAIL`].
fn render() -> String {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    // A fixed date, not today's: the page changes only when the CLI or the version does.
    let man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .source(format!("headcount {}", env!("CARGO_PKG_VERSION")))
        .manual("System Administration")
        .date(PAGE_DATE);
    let mut out = Vec::new();
    man.render_title(&mut out).unwrap();
    man.render_name_section(&mut out).unwrap();
    man.render_synopsis_section(&mut out).unwrap();
    man.render_description_section(&mut out).unwrap();
    man.render_options_section(&mut out).unwrap();
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_man = clap_mangen::Man::new(sub.clone());
        let mut part = Vec::new();
        sub_man.render_synopsis_section(&mut part).unwrap();
        sub_man.render_description_section(&mut part).unwrap();
        sub_man.render_options_section(&mut part).unwrap();
        let part = String::from_utf8(part).unwrap();
        for line in part.lines() {
            // Nest the subcommand's sections under COMMANDS instead of repeating top-level ones.
            let line = match line {
                ".SH SYNOPSIS" => format!(".SS \"headcount {}\"", sub.get_name()),
                ".SH DESCRIPTION" => ".PP".to_owned(),
                ".SH OPTIONS" => ".PP\nOptions:".to_owned(),
                other => other.to_owned(),
            };
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    out.extend_from_slice(TAIL.as_bytes());
    String::from_utf8(out).unwrap()
}

#[test]
fn headcount_8_is_generated_from_the_cli() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(PAGE_8);
    let rendered = render();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "{} is out of date with the CLI:\n{}\nregenerate: UPDATE_GOLDEN=1 cargo test -p headcount \
         --test manpage",
        path.display(),
        common::diff(&committed, &rendered)
    );
}

#[test]
fn headcount_8_documents_every_subcommand() {
    let page = render();
    for sub in Cli::command().get_subcommands() {
        assert!(
            page.contains(&format!(".SS \"headcount {}\"", sub.get_name())),
            "{} missing",
            sub.get_name()
        );
    }
}

#[test]
fn headcount_8_documents_every_exit_code() {
    let page = render();
    let section = page
        .split(".SH \"EXIT STATUS\"")
        .nth(1)
        .and_then(|s| s.split("\n.SH ").next())
        .unwrap();
    let mut documented: Vec<u8> = section
        .lines()
        .filter_map(|l| l.strip_prefix(".B ")?.parse().ok())
        .collect();
    documented.sort();
    let mut code = headcount::EXIT_CODES.to_vec();
    code.sort();
    assert_eq!(documented, code);
}

#[test]
fn headcount_conf_5_describes_every_key_the_config_accepts() {
    for (section, keys) in headcount::config::SECTIONS {
        let start = PAGE_5
            .find(&format!(".SH \"[{section}] SECTION\""))
            .unwrap_or_else(|| panic!("no [{section}] section in headcount.conf(5)"));
        let body = &PAGE_5[start..];
        let end = body[4..].find("\n.SH ").map_or(body.len(), |i| i + 4);
        for key in keys.iter() {
            assert!(
                body[..end].contains(&format!(".BR {key} =")),
                "[{section}] {key} is not described in headcount.conf(5)"
            );
        }
    }
    let described = PAGE_5.matches("\n.BR ").count();
    assert!(
        described
            >= headcount::config::SECTIONS
                .iter()
                .map(|(_, k)| k.len())
                .sum()
    );
}

#[test]
fn headcount_conf_5_states_the_code_defaults() {
    use headcount::config::*;
    for (key, default) in common::NUMERIC_DEFAULTS {
        let entry = PAGE_5
            .split(".TP\n")
            .find(|e| e.starts_with(&format!(".BR {key} =")))
            .unwrap();
        assert!(
            entry.contains(&format!("Default:\n.BR {default} .")),
            "{key}: headcount.conf(5) does not say the default is {default}:\n{entry}"
        );
    }
    assert!(PAGE_5.contains(&format!("Default:\n.BR \\(dq{}\\(dq .", DEFAULT_LEVEL)));
}

#[test]
fn headcount_conf_5_names_the_level_sources_beyond_the_fragments() {
    assert!(PAGE_5.contains(&format!(
        ".BI {}= LEVEL",
        headcount::config::cmdline::LEVEL_PARAM
    )));
    for name in headcount::config::pinger::PINGER_NAMES {
        let escaped = name.replace('-', "\\-");
        assert!(
            PAGE_5.contains(&format!("{{/usr/lib,/run,/etc}}/{escaped}/config.d/")),
            "{name}"
        );
    }
    assert!(PAGE_5.contains(".B socks5h://") && PAGE_5.contains(".B socks5://"));
}
