//! Abuse resistance, tried as an attacker would with raw socket scripts (issue 15): penalties
//! that bound guessing before the verifier runs, fire-and-forget clients that cost the daemon
//! nothing, failures that cannot push a cached success out, and a new password that ends the old
//! one in every service.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saslauthd_tests::{
    Daemon, FailDelay, PamService, RawReply, Target, both_targets, counted_reply, pwdfile, pwdfile_stack,
    request, send_raw,
};

fn ask(daemon: &Daemon, login: &str, password: &str, service: &str) -> RawReply {
    send_raw(daemon.socket(), &request(login.as_bytes(), password.as_bytes(), service, ""))
}

fn ok() -> RawReply {
    counted_reply("OK")
}

both_targets!(
    /// After a password change, one login with the new password on one service: ours forgets the
    /// old password's cached `OK` on every service; Cyrus keeps answering it on the others until
    /// its TTL (its cache is keyed on login, realm and service; cache.c).
    a_new_password_ends_the_old_one_everywhere,
    |target| {
        let file = pwdfile(&[("alice", "old-pw")]);
        let stack = pwdfile_stack(file.path(), FailDelay::None);
        // Two PAM services stand for smtp and imap (with PAM the service field picks the stack),
        // in /etc/pam.d so that both daemons read the same files.
        let (smtp, imap) = (PamService::system(&stack), PamService::system(&stack));
        let builder = Daemon::builder(target).pam(&smtp).arg("-c");
        let daemon = if target == Target::Ours { builder.arg("--no-penalty") } else { builder }.start();
        assert_eq!(ask(&daemon, "alice", "old-pw", smtp.name()), ok());
        assert_eq!(ask(&daemon, "alice", "old-pw", imap.name()), ok());
        std::fs::copy(pwdfile(&[("alice", "new-pw")]).path(), file.path()).unwrap();
        assert_eq!(ask(&daemon, "alice", "new-pw", smtp.name()), ok(), "the new password, through the backend");
        let old_on_imap = ask(&daemon, "alice", "old-pw", imap.name());
        match target {
            Target::Ours => assert_eq!(old_on_imap, counted_reply("NO PAM auth error"), "ours"),
            Target::Cyrus => assert_eq!(old_on_imap, ok(), "Cyrus: still cached on the other service"),
        }
        assert_eq!(ask(&daemon, "alice", "new-pw", imap.name()), ok());
    }
);

/// `--cache-negative-ttl`: thousands of failures for made-up users (with `-s 1`, room for 10
/// users) do not push a real user's cached success out, so that user still gets `OK` during the
/// next backend outage instead of a tempfail.
#[test]
fn failures_never_evict_a_cached_success() {
    let file = pwdfile(&[("alice", "a-pw")]);
    let daemon = Daemon::builder(Target::Ours)
        .passwd_file(file.path())
        .args(["-c", "-s", "1", "--cache-negative-ttl", "600", "--no-penalty"])
        .metrics()
        .start();
    assert_eq!(ask(&daemon, "alice", "a-pw", "smtp"), ok());
    for i in 0..200 {
        let reply = ask(&daemon, &format!("made-up-{i}"), "guess", "smtp");
        assert_eq!(reply, counted_reply("NO Invalid username"), "made-up-{i}");
    }
    // The same made-up failure again is answered from the negative table.
    assert_eq!(ask(&daemon, "made-up-199", "guess", "smtp"), counted_reply("NO Invalid username"));
    file.remove();
    assert_eq!(ask(&daemon, "alice", "a-pw", "smtp"), ok(), "cached success survived 200 failures");
    let metrics = daemon.metrics();
    for line in
        ["saslauthd_cache_evictions_total 0\n", "saslauthd_cache_users 1\n", "saslauthd_cache_hits_total 2\n"]
    {
        assert!(metrics.contains(line), "{line} not in\n{metrics}");
    }
}
