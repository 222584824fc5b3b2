//! End-to-end: GNU-style `--help`/`--version` beside Cyrus's `-h`/`-v` on our daemon, and the
//! progress line of `testsaslauthd --load`, shown on a terminal only (a pseudo-terminal from
//! util-linux's `script`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use saslauthd_tests::run::{CLIENT_DEADLINE, run_with_deadline};
use saslauthd_tests::{Daemon, Finished, Target, pwdfile_raw};

fn saslauthd(args: &[&str]) -> Finished {
    run_with_deadline(Command::new(Target::Ours.saslauthd()).args(args), CLIENT_DEADLINE)
}

#[test]
fn long_help_and_version_go_to_stdout_and_exit_0() {
    let help = saslauthd(&["--help"]);
    assert_eq!(help.code, Some(0), "{help:?}");
    assert!(help.stdout.contains("--control") && help.stdout.contains("-a <authmech>"), "{}", help.stdout);
    assert!(help.stderr.is_empty());
    let version = saslauthd(&["--version"]);
    assert_eq!(version.code, Some(0), "{version:?}");
    assert!(
        version.stdout.starts_with(&format!("saslauthd-rs {} ", env!("CARGO_PKG_VERSION"))),
        "{version:?}"
    );
    assert!(version.stdout.contains("authentication mechanisms: "));
    assert!(version.stderr.is_empty());
    // Cyrus's short options keep their meaning: -v on stderr, -h exits 0.
    let v = saslauthd(&["-v"]);
    assert_eq!((v.code, v.stdout.as_str()), (Some(0), ""));
    assert_eq!(v.stderr, format!("{}\n", version.stdout), "the same text, then a blank line, as Cyrus");
    assert_eq!(saslauthd(&["-h"]).code, Some(0));
    // A real mistake is still one.
    assert_eq!(saslauthd(&["--helpp"]).code, Some(2));
}

/// `testsaslauthd --load` for 2.5 s against a daemon; `tty` runs it on a pseudo-terminal.
fn load(daemon: &Daemon, tty: bool) -> Finished {
    let client = Target::Ours.testsaslauthd();
    let args = ["-u", "joe", "-p", "pw", "--load", "--concurrency", "2", "--duration", "2.5"];
    let mut cmd = if tty {
        let line = format!("{} -f {} {}", client.display(), daemon.socket().display(), args.join(" "));
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line, "/dev/null"]);
        cmd
    } else {
        let mut cmd = Command::new(client);
        cmd.arg("-f").arg(daemon.socket()).args(args);
        cmd
    };
    run_with_deadline(&mut cmd, Duration::from_secs(30))
}

#[test]
fn load_progress_is_shown_on_a_terminal_only() {
    let passwd = pwdfile_raw(b"joe:{PLAIN}pw\n");
    let daemon = Daemon::builder(Target::Ours).passwd_file(passwd.path()).arg("--no-penalty").start();
    let quiet = load(&daemon, false);
    assert_eq!(quiet.code, Some(0), "{quiet:?}");
    assert!(quiet.stderr.is_empty(), "no progress into a pipe or file: {quiet:?}");
    assert!(quiet.stdout.contains("ok="), "{quiet:?}");

    let shown = load(&daemon, true);
    assert_eq!(shown.code, Some(0), "{shown:?}");
    // `script` puts the terminal's output, stdout and stderr, on its stdout.
    let updates = shown.stdout.matches("\r\x1b[K").count();
    assert!(updates >= 2, "a line rewritten each second, then cleared: {:?}", shown.stdout);
    assert!(shown.stdout.contains(" requests, 0 failed, "), "{:?}", shown.stdout);
    assert!(shown.stdout.contains("ok="), "the summary still follows: {:?}", shown.stdout);
}
