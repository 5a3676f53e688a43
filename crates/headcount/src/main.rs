use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = headcount::cli::Cli::parse();
    match headcount::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("headcount: {}", headcount::error_chain(&e));
            ExitCode::from(e.exit_code())
        }
    }
}
