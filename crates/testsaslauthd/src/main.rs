//! `testsaslauthd`: a drop-in for Cyrus's test client, plus a load mode for benchmarks and an
//! admin mode for the daemon's control socket.

mod admin;
mod check;
mod cli;
mod exchange;
mod load;
mod password;
mod reply;
mod stats;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use mux_server::frame::encode_request;
use zeroize::Zeroizing;

use crate::check::{CheckOptions, EXIT_FAILED, run_checks};
use crate::cli::{Cli, CliError, DEFAULT_SERVICE, DEFAULT_SOCKET, c_atoi, usage};
use crate::load::{DEFAULT_LOAD_TIMEOUT, Limit, LoadPlan, run_load};

/// Usage errors exit 1, like Cyrus's `exit(1)`.
const EXIT_USAGE: u8 = 1;

/// Requests in a load run when neither `--count` nor `--duration` is given.
const DEFAULT_LOAD_COUNT: u64 = 1000;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let argv0 =
        args.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_else(|| "testsaslauthd".into());
    let usage_error = |message: Option<String>| {
        if let Some(message) = message {
            eprintln!("{argv0}: {message}");
        }
        eprint!("{}", usage(&argv0));
        ExitCode::from(EXIT_USAGE)
    };
    let mut cli = match Cli::parse_args(args) {
        Ok(cli) => cli,
        Err(CliError::Info(info)) => {
            let _ = info.print();
            return ExitCode::SUCCESS;
        }
        Err(CliError::Usage(message)) => return usage_error(message),
    };
    if cli.admin {
        return ExitCode::from(match admin_mode(&cli, &argv0) {
            Ok(status) => status,
            Err(message) => return usage_error(Some(message)),
        });
    }
    let Some(user) = cli.user.clone() else {
        return usage_error(None);
    };
    let password = match password::obtain_password(cli.password.take(), cli.password_stdin) {
        Ok(Some(password)) => password,
        Ok(None) => return usage_error(None),
        Err(err) => return usage_error(Some(format!("cannot read password: {err}"))),
    };
    let service = cli.service.clone().unwrap_or_else(|| DEFAULT_SERVICE.into());
    let realm = cli.realm.clone().unwrap_or_default();
    let mut fields: Vec<&[u8]> = vec![user.as_bytes(), &password, service.as_bytes(), realm.as_bytes()];
    if let Some(addr) = &cli.client_addr {
        fields.push(addr.as_bytes());
    }
    let request = match encode_request(&fields) {
        Ok(request) => request,
        Err(err) => return usage_error(Some(err.to_string())),
    };
    let socket = PathBuf::from(cli.socket.clone().unwrap_or_else(|| DEFAULT_SOCKET.into()));

    let status = if cli.load {
        let wrong_request = match cli.wrong_password_every {
            Some(every) => {
                // Any different password will do; appending keeps it within the same limits.
                let mut wrong = Zeroizing::new(password.to_vec());
                wrong.extend_from_slice(b"-wrong");
                fields[1] = &wrong;
                match encode_request(&fields) {
                    Ok(wrong) => Some((every, wrong)),
                    Err(err) => return usage_error(Some(err.to_string())),
                }
            }
            None => None,
        };
        let plan = LoadPlan {
            socket,
            request,
            wrong_request,
            concurrency: cli.concurrency,
            limit: match (cli.duration, cli.count) {
                (Some(duration), _) => Limit::Duration(duration),
                (None, count) => Limit::Count(count.unwrap_or(DEFAULT_LOAD_COUNT)),
            },
            timeout: cli.timeout.unwrap_or(DEFAULT_LOAD_TIMEOUT),
            // A progress line is for a person watching; in a pipe or a log it is noise.
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        };
        drop(password);
        match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(runtime) => {
                let (summary, failure) = runtime.block_on(run_load(plan));
                println!("{summary}");
                if let Some(failure) = failure {
                    eprintln!("{argv0}: first failure: {failure}");
                }
                if summary.fail == 0 { 0 } else { EXIT_FAILED }
            }
            Err(err) => {
                eprintln!("{argv0}: cannot start runtime: {err}");
                EXIT_FAILED
            }
        }
    } else {
        drop(password);
        let options = CheckOptions {
            socket: &socket,
            repeat: cli.repeat.as_ref().map_or(1, |r| c_atoi(r.as_bytes())),
            show_reason: cli.show_reason,
            timeout: cli.timeout,
        };
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(run_checks(&request, &options)),
            Err(err) => {
                eprintln!("{argv0}: cannot start runtime: {err}");
                EXIT_FAILED
            }
        }
    };
    ExitCode::from(status)
}

/// `--admin`: the command from the operands, the control socket from `-f`.
fn admin_mode(cli: &Cli, argv0: &str) -> Result<u8, String> {
    let text =
        |arg: &OsString| arg.to_str().map(str::to_owned).ok_or_else(|| format!("{arg:?} is not UTF-8"));
    let mux = PathBuf::from(cli.socket.clone().unwrap_or_else(|| DEFAULT_SOCKET.into()));
    let command = admin::AdminCommand {
        socket: admin::control_socket(&mux),
        words: cli.ignored.iter().map(text).collect::<Result<_, _>>()?,
        realm: cli.realm.as_ref().map(text).transpose()?,
        json: cli.json,
        timeout: cli.timeout.unwrap_or(admin::DEFAULT_ADMIN_TIMEOUT),
    };
    let line = admin::request_line(&command)?;
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => Ok(runtime.block_on(admin::run(&command, &line, argv0))),
        Err(err) => {
            eprintln!("{argv0}: cannot start runtime: {err}");
            Ok(admin::EXIT_UNREACHABLE)
        }
    }
}
