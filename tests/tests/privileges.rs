//! `--user` with a mechanism that needs root to read its data is refused at start-up, not left
//! to fail on every request (issue 15 §7); PAM keeps its warning and starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use saslauthd_tests::run::run_with_deadline;
use saslauthd_tests::{Daemon, Target, counted_reply, request, send_raw_open};

fn start(args: &[&str]) -> saslauthd_tests::Finished {
    let run = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(Target::Ours.saslauthd());
    cmd.args(args).arg("-m").arg(run.path().join("run")).arg("-d");
    run_with_deadline(&mut cmd, Duration::from_secs(10))
}

#[test]
fn shadow_without_a_file_is_refused_with_user() {
    let out = start(&["-a", "shadow", "--user", "nobody"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("mechanism shadow reads /etc/shadow, which only root can read"),
        "{}",
        out.stderr
    );
    // In a chain too.
    let out = start(&["-a", "pam,shadow", "--user", "nobody"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("leave out --user"), "{}", out.stderr);
}

#[test]
fn shadow_with_a_readable_file_runs_unprivileged() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("shadow");
    std::fs::write(&file, "joe:$1$A5R8Eied$GJkh2KMtgkIFUtjkFMfTh1:19000:0:99999:7:::\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let daemon = Daemon::builder(Target::Ours)
        .mech("shadow", Some(&file))
        .arg("--user")
        .arg("nobody")
        .arg("--no-penalty")
        .start();
    assert!(!daemon.log().contains("leave out --user"));
    let reply = send_raw_open(daemon.socket(), &request(b"joe", b"wrong", "smtp", ""));
    assert!(reply.text().starts_with("NO"), "{}", reply.text());
    assert_ne!(reply, counted_reply("OK"));
}

#[test]
fn pam_with_user_warns_and_starts() {
    let daemon = Daemon::builder(Target::Ours).mech::<str>("pam", None).arg("--user").arg("nobody").start();
    assert!(
        daemon.log().contains("saslauthd: warning: without root, pam_unix can check only"),
        "{}",
        daemon.log()
    );
}
