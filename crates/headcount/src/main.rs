//! STAND-IN main until the lead's CLI lands: `headcount [--root R] daemon|status [--json]`.
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    headcount::logging::init();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut root = PathBuf::from("/");
    if args.first().map(String::as_str) == Some("--root") && args.len() > 1 {
        root = PathBuf::from(args.remove(1));
        args.remove(0);
    }
    match args.first().map(String::as_str) {
        Some("daemon") => {
            match headcount::daemon::run(&root, &headcount::report_source::Collectors) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
        Some("status") => match headcount::config::load(&root, &[]) {
            Ok(l) => {
                print!("{}", headcount::status::run(&root, &l.settings, args.iter().any(|a| a == "--json")));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(78)
            }
        },
        _ => ExitCode::from(64),
    }
}
