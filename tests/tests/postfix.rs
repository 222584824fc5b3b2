//! A real Postfix with a chrooted smtpd authenticates through the daemon without any change on
//! Postfix's side: 235 for good credentials, 535 for bad ones, and 454 (temporary) when the
//! daemon cannot decide. The same session against Cyrus shows the two agree.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use saslauthd_tests::{Postfix, PwdServer, Target, both_targets};

both_targets!(chrooted_smtpd_authenticates, |target| {
    let pwd = saslauthd_tests::pwdfile(&[("joe", "s3cret \"quoted\""), ("ann", "other")]);
    let postfix = Postfix::new();
    let srv = PwdServer::start_with(target, pwd, |b| b.run_dir(&postfix.chroot_run_dir()));
    // For Cyrus the service names a PAM file unique to this test; Postfix sends it.
    postfix.start(srv.service());

    let (code, text) = postfix.auth_plain("joe", "s3cret \"quoted\"");
    assert_eq!(code, 235, "{text}\n{}", postfix.maillog());
    let (code, _) = postfix.auth_plain("joe", "wrong");
    assert_eq!(code, 535);
    let (code, _) = postfix.auth_plain("nobody", "s3cret \"quoted\"");
    assert_eq!(code, 535);
    drop(srv);
    // No saslauthd at all: libsasl2 gets SASL_FAIL and Postfix answers with a temporary error.
    let (code, text) = postfix.auth_plain("joe", "s3cret \"quoted\"");
    assert_eq!(code, 454, "{text}");
});

#[test]
fn undecidable_is_a_temporary_failure_at_smtp_level() {
    let pwd = saslauthd_tests::pwdfile(&[("joe", "pw")]);
    let postfix = Postfix::new();
    let srv = PwdServer::start_with(Target::Ours, pwd, |b| b.run_dir(&postfix.chroot_run_dir()));
    postfix.start("smtp");
    assert_eq!(postfix.auth_plain("joe", "pw").0, 235);
    srv.pwdfile.remove();
    let (code, text) = postfix.auth_plain("joe", "pw");
    assert_eq!(code, 454, "{text}");
    assert!(srv.daemon.log().contains("auth tempfail"), "{}", srv.daemon.log());
}
