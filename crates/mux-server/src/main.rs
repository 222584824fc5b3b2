//! `saslauthd`: parse the command line, start the daemon ([`mux_server::daemon`]) and turn how
//! that ended into the exit status documented in man/saslauthd.8 (EXIT STATUS).

use clap::Parser;
use mux_server::cli::Cli;
use mux_server::config::Config;
use mux_server::daemon::{self, Report, StartError};
use std::process::ExitCode;

/// Every heap block is zeroed when freed, and when a `realloc` moves it (the crate leaves
/// `realloc` to `GlobalAlloc`'s default, which allocates, copies and frees). Our own password
/// buffers zero themselves; this covers the copies dependencies make and never wipe, such as
/// ldap3's encoding of a bind request (SECURITY.md, "Passwords"). Memory that C libraries get
/// from malloc directly (PAM modules, libsqlite3) is not covered.
#[global_allocator]
static ALLOCATOR: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

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
