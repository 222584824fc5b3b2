//! Cyrus's own `testsaslauthd` against a daemon: exact output `0: OK "Success."` /
//! `0: NO "authentication failed"` and exit status 0 / 255, as Debian's autopkgtest checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use saslauthd_tests::{
    Daemon, FailDelay, PamService, PwdServer, Target, pwdfile, pwdfile_stack, testsaslauthd,
};

const OK_LINE: &str = "0: OK \"Success.\"\n";
const NO_LINE: &str = "0: NO \"authentication failed\"\n";

fn assert_ok(client: Target, sock: &Path, user: &str, pass: &str, service: &str) {
    let f = testsaslauthd(client, sock, &["-u", user, "-p", pass, "-s", service]);
    assert_eq!((f.stdout.as_str(), f.code), (OK_LINE, Some(0)), "{user}: {f:?}");
}

fn assert_no(client: Target, sock: &Path, user: &str, pass: &str, service: &str) {
    let f = testsaslauthd(client, sock, &["-u", user, "-p", pass, "-s", service]);
    assert_eq!((f.stdout.as_str(), f.code), (NO_LINE, Some(255)), "{user}: {f:?}");
}

#[test]
fn cyrus_client_against_our_passwd_file() {
    let srv = PwdServer::start(Target::Ours, &[("alice", "secret"), ("bob", "hunter2")]);
    let sock = srv.socket();
    assert_ok(Target::Cyrus, sock, "alice", "secret", "imap");
    assert_ok(Target::Cyrus, sock, "bob", "hunter2", "smtp");
    assert_no(Target::Cyrus, sock, "alice", "wrong", "imap");
    assert_no(Target::Cyrus, sock, "alice", "hunter2", "imap");
    assert_no(Target::Cyrus, sock, "nobody", "secret", "imap");

    let f = testsaslauthd(Target::Cyrus, sock, &["-u", "alice", "-p", "secret", "-R", "3"]);
    assert_eq!(f.stdout, "0: OK \"Success.\"\n1: OK \"Success.\"\n2: OK \"Success.\"\n", "{f:?}");
    assert_eq!(f.code, Some(0));
}

/// PAM with pam_pwdfile: ours through a private confdir, Cyrus through /etc/pam.d.
fn pam_ok_and_no(daemon_target: Target, client: Target, system_pam_d: bool) {
    let pw = pwdfile(&[("carol", "s3cret pass")]);
    let stack = pwdfile_stack(pw.path(), FailDelay::None);
    let pam = if system_pam_d { PamService::system(&stack) } else { PamService::private(&stack) };
    let daemon = Daemon::builder(daemon_target).pam(&pam).start();
    let sock = daemon.socket();
    assert_ok(client, sock, "carol", "s3cret pass", pam.name());
    assert_no(client, sock, "carol", "s3cret", pam.name());
    assert_no(client, sock, "dave", "s3cret pass", pam.name());
}

#[test]
fn cyrus_client_against_our_pam_private_confdir() {
    pam_ok_and_no(Target::Ours, Target::Cyrus, false);
}

#[test]
fn cyrus_client_against_our_pam_etc_pam_d() {
    pam_ok_and_no(Target::Ours, Target::Cyrus, true);
}

/// Baseline: the harness and the expectations hold for Cyrus against itself.
#[test]
fn cyrus_client_against_cyrus_pam() {
    pam_ok_and_no(Target::Cyrus, Target::Cyrus, true);
}

/// Our client prints what Cyrus's prints, against Cyrus's daemon.
#[test]
fn our_client_against_cyrus_pam() {
    pam_ok_and_no(Target::Cyrus, Target::Ours, true);
}

#[test]
fn cyrus_client_connect_failure_exits_255() {
    let dir = tempfile::tempdir().unwrap();
    let f = testsaslauthd(Target::Cyrus, &dir.path().join("mux"), &["-u", "a", "-p", "b"]);
    assert_eq!(f.code, Some(255), "{f:?}");
    assert!(f.stderr.contains("connect()"), "{f:?}");
}
