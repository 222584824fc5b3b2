//! `saslauthd`: parse the command line, start the daemon ([`mux_server::daemon`]) and turn how
//! that ended into the exit status documented in man/saslauthd.8 (EXIT STATUS).

use clap::Parser;
use mux_server::cli::Cli;
use mux_server::config::Config;
use mux_server::daemon::{self, Report, StartError};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Cyrus exits 0 after usage; a wrong command line deserves a failure status.
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if cli.version {
        // `-v`: Cyrus's two lines and a blank one, on stderr as Cyrus prints them.
        eprintln!("{}", mux_server::cli::version_text());
        return ExitCode::SUCCESS;
    }
    if cli.long_version {
        // `--version`: GNU's place, standard output.
        print!("{}", mux_server::cli::version_text());
        return ExitCode::SUCCESS;
    }
    match Config::from_cli(cli).map_err(StartError::from).and_then(daemon::start) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.report() {
                Report::Stderr => eprintln!("saslauthd: {e}"),
                Report::Log => tracing::error!("{e}"),
                Report::Said => {}
            }
            ExitCode::from(e.exit_code())
        }
    }
}
