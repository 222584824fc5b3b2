//! The real libsasl2 (`pwcheck_method: saslauthd`) against a daemon: `SASL_OK` for good
//! credentials, `SASL_BADAUTH` for bad ones, `SASL_FAIL` when the daemon closes without a
//! reply, and the user@realm split of reference §1.8 / §5 with `-r`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saslauthd_tests::{
    PwdServer, SASL_BADAUTH, SASL_FAIL, SASL_OK, SaslCheck, Target, both_targets, pwdfile,
};

both_targets!(good_and_bad_credentials, |target| {
    let sasl = SaslCheck::build();
    let srv = PwdServer::start(target, &[("alice", "correct horse"), ("bob", "b0b")]);
    let (sock, svc) = (srv.socket(), srv.service());
    assert_eq!(sasl.checkpass(sock, svc, None, "alice", "correct horse"), SASL_OK);
    assert_eq!(sasl.checkpass(sock, svc, None, "bob", "b0b"), SASL_OK);
    assert_eq!(sasl.checkpass(sock, svc, None, "alice", "correct"), SASL_BADAUTH);
    assert_eq!(sasl.checkpass(sock, svc, None, "alice", "b0b"), SASL_BADAUTH);
    assert_eq!(sasl.checkpass(sock, svc, None, "nobody", "b0b"), SASL_BADAUTH);
    assert_eq!(sasl.plain(sock, svc, None, "alice", "correct horse"), SASL_OK);
    assert_eq!(sasl.plain(sock, svc, None, "alice", "wrong"), SASL_BADAUTH);
});

// libsasl2 splits `joe@example.org` at the last `@` into login `joe`, realm `example.org`, or
// takes the realm from user_realm; `-r` joins them again, so the backend sees `joe@example.org`.
both_targets!(realm_split_and_join, |target| {
    let sasl = SaslCheck::build();
    let pw = pwdfile(&[("joe@example.org", "pw-joe"), ("joe", "pw-bare")]);
    let srv = PwdServer::start_with(target, pw, |b| b.realm_join());
    let (sock, svc) = (srv.socket(), srv.service());
    assert_eq!(sasl.checkpass(sock, svc, None, "joe@example.org", "pw-joe"), SASL_OK);
    assert_eq!(sasl.checkpass(sock, svc, Some("example.org"), "joe", "pw-joe"), SASL_OK);
    assert_eq!(sasl.plain(sock, svc, None, "joe@example.org", "pw-joe"), SASL_OK);
    assert_eq!(sasl.plain(sock, svc, Some("example.org"), "joe", "pw-joe"), SASL_OK);
    // The explicit domain overrides user_realm (split at the last '@').
    assert_eq!(sasl.checkpass(sock, svc, Some("other.org"), "joe@example.org", "pw-joe"), SASL_OK);
    // No realm anywhere: the login stays `joe`.
    assert_eq!(sasl.checkpass(sock, svc, None, "joe", "pw-bare"), SASL_OK);
    assert_eq!(sasl.checkpass(sock, svc, None, "joe", "pw-joe"), SASL_BADAUTH);
    assert_eq!(sasl.checkpass(sock, svc, Some("example.org"), "joe", "pw-bare"), SASL_BADAUTH);
    assert_eq!(sasl.checkpass(sock, svc, Some("other.org"), "joe", "pw-joe"), SASL_BADAUTH);
});

// Without `-r` the realm does not reach the login: `joe@example.org` is checked as `joe`.
both_targets!(realm_ignored_without_r, |target| {
    let sasl = SaslCheck::build();
    let srv = PwdServer::start(target, &[("joe", "pw-bare"), ("joe@example.org", "pw-joe")]);
    let (sock, svc) = (srv.socket(), srv.service());
    assert_eq!(sasl.checkpass(sock, svc, None, "joe@example.org", "pw-bare"), SASL_OK);
    assert_eq!(sasl.checkpass(sock, svc, None, "joe@example.org", "pw-joe"), SASL_BADAUTH);
});

/// The verifier cannot decide (its passwd file vanished after start): our daemon closes
/// without a reply, which libsasl2 reports as `SASL_FAIL` — a temporary failure to the mail
/// server — and never as `SASL_BADAUTH`.
#[test]
fn undecidable_is_sasl_fail_ours() {
    let sasl = SaslCheck::build();
    let srv = PwdServer::start(Target::Ours, &[("alice", "secret")]);
    let (sock, svc) = (srv.socket(), srv.service());
    assert_eq!(sasl.checkpass(sock, svc, None, "alice", "secret"), SASL_OK);
    srv.pwdfile.remove();
    assert_eq!(sasl.checkpass(sock, svc, None, "alice", "secret"), SASL_FAIL);
    assert_eq!(sasl.checkpass(sock, svc, None, "alice", "wrong"), SASL_FAIL);
    assert_eq!(sasl.plain(sock, svc, None, "alice", "secret"), SASL_FAIL);
}

/// The helper itself: no daemon at the path is `SASL_FAIL`.
#[test]
fn no_daemon_is_sasl_fail() {
    let sasl = SaslCheck::build();
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(sasl.checkpass(&dir.path().join("mux"), "smtp", None, "alice", "secret"), SASL_FAIL);
}
