//! Ours and Cyrus's client against a real Cyrus `saslauthd -a pam` backed by pam_pwdfile.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saslauthd_tests::{Finished, PwdServer, Target, client, clients_agree};

/// A real Cyrus `saslauthd -a pam` on a pam_pwdfile service holding `alice:secret`.
fn cyrus_daemon() -> PwdServer {
    PwdServer::start(Target::Cyrus, &[("alice", "secret")])
}

fn ours(args: &[&str]) -> Finished {
    client(Target::Ours, args, b"")
}

#[test]
fn same_answers_as_cyrus_client_from_real_cyrus_daemon() {
    let daemon = cyrus_daemon();
    let socket = daemon.socket().to_str().unwrap();
    let common = ["-s", daemon.service(), "-f", socket];
    let cases: [(&[&str], &str, i32); 4] = [
        (&["-u", "alice", "-p", "secret"], "0: OK \"Success.\"\n", 0),
        (&["-u", "alice", "-p", "wrong"], "0: NO \"authentication failed\"\n", 255),
        (&["-u", "nobody-here", "-p", "secret"], "0: NO \"authentication failed\"\n", 255),
        (&["-u", "alice", "-p", "secret", "-R", "2"], "0: OK \"Success.\"\n1: OK \"Success.\"\n", 0),
    ];
    for (args, stdout, code) in cases {
        let mut args = args.to_vec();
        args.extend(common);
        let run = clients_agree(&args);
        assert_eq!(
            (run.stdout.as_str(), run.stderr.as_str(), run.code),
            (stdout, "", Some(code)),
            "{args:?}"
        );
    }
    let mut args = vec!["-u", "alice", "-p", "wrong", "--show-reason"];
    args.extend(common);
    assert_eq!(ours(&args).stdout, "0: NO \"authentication failed\" (PAM auth error)\n");
}

#[test]
fn load_mode_against_real_cyrus_daemon() {
    let daemon = cyrus_daemon();
    let run = ours(&[
        "--load",
        "--concurrency",
        "4",
        "--count",
        "24",
        "--wrong-password-every",
        "6",
        "-u",
        "alice",
        "-p",
        "secret",
        "-s",
        daemon.service(),
        "-f",
        daemon.socket().to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.starts_with("concurrency=4 requests=24 ok=20 no=4 fail=0 "), "{}", run.stdout);
}
