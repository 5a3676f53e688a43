use std::error::Error as _;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = headcount::cli::Cli::parse();
    match headcount::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = format!("headcount: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                // Transparent wrappers repeat their cause's text; print each text once.
                let text = cause.to_string();
                if !message.contains(&text) {
                    message.push_str(&format!(": {text}"));
                }
                source = cause.source();
            }
            eprintln!("{message}");
            ExitCode::from(e.exit_code())
        }
    }
}
