//! `-a sasldb` end to end: files written by Cyrus's own `saslpasswd2`; ours and Cyrus side by
//! side on the same file, bound over /etc/sasldb2 in a private mount namespace with a host name
//! of its own (the machine's /etc/sasldb2 and name are never touched); ours alone for `-O PATH`,
//! a missing or broken file (tempfail, never created) and edits while running.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saslauthd_tests::run::load;
use saslauthd_tests::sasldb::Sasldb;
use saslauthd_tests::{
    Daemon, DaemonBuilder, PrivateEtc, RawReply, Target, both_targets, counted_reply, request, send_raw_open,
};

/// The namespace's host name: the realm of a request without one.
const HOST: &str = "sasldb-host.test";
const ALICE_PW: &str = "Alice-canary-7Qz";
const BOB_PW: &str = "bob pass \"quoted\"";
const WRONG: &str = "not-the-password";

fn builder(target: Target) -> DaemonBuilder {
    // Penalties delay repeated failures; they have tests of their own, and Cyrus has none.
    let b = Daemon::builder(target);
    if target == Target::Ours { b.arg("--no-penalty") } else { b }
}

fn users() -> Sasldb {
    let db = Sasldb::new();
    db.add("alice", Some(HOST), ALICE_PW);
    db.add("bob", Some("example.org"), BOB_PW);
    // saslpasswd2 splits this itself: stored as (carol, example.net).
    db.add("carol@example.net", None, "carol-pw");
    db
}

fn ask(d: &Daemon, login: &str, password: &str, realm: &str) -> RawReply {
    send_raw_open(d.socket(), &request(login.as_bytes(), password.as_bytes(), "smtp", realm))
}

fn assert_reply(d: &Daemon, login: &str, password: &str, realm: &str, expected: &str) {
    assert_eq!(
        ask(d, login, password, realm),
        counted_reply(expected),
        "{:?}: {login} / realm {realm:?}\nlog:\n{}",
        d.target(),
        d.log()
    );
}

fn in_namespace(
    db: &Sasldb,
    target: Target,
    configure: fn(DaemonBuilder) -> DaemonBuilder,
) -> (PrivateEtc, Daemon) {
    let etc = PrivateEtc::new().bind(db.path(), "/etc/sasldb2").hostname(HOST);
    let daemon = etc.wrap(configure(builder(target).mech("sasldb", None::<&str>))).start();
    (etc, daemon)
}

// Cyrus's rule (saslauthd/auth_sasldb.c): the request's realm, or the host name when it is
// empty; `user@realm` in the login is not split; bare `OK`/`NO`.
both_targets!(realm_rule_and_replies_match_cyrus, |target| {
    let db = users();
    let (_etc, d) = in_namespace(&db, target, |b| b);
    assert_reply(&d, "alice", ALICE_PW, "", "OK");
    assert_reply(&d, "alice", ALICE_PW, HOST, "OK");
    assert_reply(&d, "alice", WRONG, "", "NO");
    assert_reply(&d, "alice", &ALICE_PW[..ALICE_PW.len() - 1], "", "NO");
    assert_reply(&d, "alice", ALICE_PW, "example.org", "NO");
    assert_reply(&d, "bob", BOB_PW, "example.org", "OK");
    assert_reply(&d, "bob", BOB_PW, "", "NO");
    assert_reply(&d, "bob@example.org", BOB_PW, "", "NO");
    assert_reply(&d, "carol", "carol-pw", "example.net", "OK");
    assert_reply(&d, "carol@example.net", "carol-pw", "", "NO");
    assert_reply(&d, "nobody", ALICE_PW, "", "NO");
    // saslpasswd2 edits apply to the next request.
    db.add("dave", Some(HOST), "dave-pw");
    assert_reply(&d, "dave", "dave-pw", "", "OK");
    db.delete("dave", HOST);
    assert_reply(&d, "dave", "dave-pw", "", "NO");
    if target == Target::Ours {
        let log = d.log();
        assert!(!log.contains(ALICE_PW) && !log.contains(WRONG), "a password in the log:\n{log}");
    }
});

// `-r` joins the realm first: the entry looked up is (bob@example.org, example.org).
both_targets!(joined_realm_is_looked_up_as_cyrus_does, |target| {
    let db = users();
    let (_etc, d) = in_namespace(&db, target, DaemonBuilder::realm_join);
    assert_reply(&d, "bob", BOB_PW, "example.org", "NO");
    assert_reply(&d, "alice", ALICE_PW, "", "OK");
});

#[test]
fn another_file_with_dash_o() {
    let db = users();
    let d = builder(Target::Ours).mech("sasldb", Some(db.path())).start();
    assert_reply(&d, "bob", BOB_PW, "example.org", "OK");
    assert_reply(&d, "bob", WRONG, "example.org", "NO");
    assert_reply(&d, "alice", ALICE_PW, HOST, "OK");
    assert_reply(&d, "zed", ALICE_PW, HOST, "NO");
}

#[test]
fn a_missing_file_is_a_tempfail_never_created_and_used_once_it_exists() {
    let db = Sasldb::new();
    let d = builder(Target::Ours).mech("sasldb", Some(db.path())).start();
    assert!(d.log().contains("sasldb: cannot read"), "no start-up warning:\n{}", d.log());
    assert_eq!(ask(&d, "bob", BOB_PW, "example.org"), RawReply::ClosedWithoutReply, "{}", d.log());
    assert!(d.wait_for_log("no such file", std::time::Duration::from_secs(5)), "{}", d.log());
    assert!(!db.path().exists(), "the daemon created {}", db.path().display());
    db.add("bob", Some("example.org"), BOB_PW);
    assert_reply(&d, "bob", BOB_PW, "example.org", "OK");
}

#[test]
fn a_file_that_is_no_sasldb_is_a_tempfail() {
    let db = Sasldb::new();
    std::fs::write(db.path(), b"bob:example.org:plaintext\n").unwrap();
    let d = builder(Target::Ours).mech("sasldb", Some(db.path())).start();
    assert_eq!(ask(&d, "bob", "plaintext", "example.org"), RawReply::ClosedWithoutReply);
    assert!(d.wait_for_log("unable to open Berkeley db", std::time::Duration::from_secs(5)), "{}", d.log());
    // A directory where the file should be.
    let d = builder(Target::Ours).mech("sasldb", Some(db.dir())).start();
    assert_eq!(ask(&d, "bob", "plaintext", "example.org"), RawReply::ClosedWithoutReply);
}

/// Side-by-side load run for the report, one round each on the same file (16 clients, 10 s):
/// `cargo build --release --workspace --bins && cargo test --release -p saslauthd-tests --test
/// sasldb -- --ignored --nocapture sasldb_benchmark`.
#[test]
#[ignore = "a 2 x 10 s benchmark, run by hand"]
fn sasldb_benchmark() {
    let db = users();
    for target in Target::ALL {
        let (_etc, d) = in_namespace(&db, target, |b| b.threads(5));
        let done = load(d.socket(), "alice", ALICE_PW, "smtp");
        println!("{target:?}: {}{}", done.stdout, done.stderr);
        assert_eq!(done.load_field("fail"), 0.0, "{}", done.stdout);
    }
}
