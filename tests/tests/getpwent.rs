//! `-a getpwent` end to end (Cyrus's saslauthd/auth_getpwent.c): test users with real libxcrypt
//! hashes in the password field of a private /etc/passwd (a copy with the users appended, bound
//! over the original in a private mount namespace, so the machine's file is never written and
//! nothing is left behind if a test fails), ours and Cyrus side by side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saslauthd_tests::mkpasswd;

use saslauthd_tests::run::load;
use saslauthd_tests::{
    Daemon, DaemonBuilder, PrivateEtc, RawReply, Target, both_targets, counted_reply, request, send_raw_open,
};

const RIGHT: &str = "Getpwent-canary-4Rw";
const WRONG: &str = "not-the-password";

fn passwd_line(name: &str, field: &str, uid: u32) -> String {
    format!("{name}:{field}:{uid}:{uid}:getpwent test:/nonexistent:/usr/sbin/nologin\n")
}

/// The test users, unique names (`gp-<pid>-…`) in case a namespace ever leaked.
struct Users {
    etc: PrivateEtc,
    prefix: String,
}

impl Users {
    fn new() -> Self {
        let prefix = format!("gp{}", std::process::id());
        let yes = mkpasswd("yescrypt", RIGHT);
        let fields = [
            ("good", yes.clone()),
            ("sha", mkpasswd("sha-512", RIGHT)),
            ("md5", mkpasswd("md5", RIGHT)),
            ("x", "x".to_owned()),
            ("locked", format!("!{yes}")),
            ("star", "*".to_owned()),
            ("empty", String::new()),
            ("braced", format!("{{PLAIN}}{RIGHT}")),
        ];
        let lines: String = (62_000..)
            .zip(fields)
            .map(|(uid, (name, field))| passwd_line(&format!("{prefix}-{name}"), &field, uid))
            .collect();
        Users { etc: PrivateEtc::new().append("/etc/passwd", &lines), prefix }
    }

    fn name(&self, short: &str) -> String {
        format!("{}-{short}", self.prefix)
    }

    fn start(&self, target: Target, configure: fn(DaemonBuilder) -> DaemonBuilder) -> Daemon {
        let b = Daemon::builder(target).mech("getpwent", None::<&str>);
        let b = if target == Target::Ours { b.arg("--no-penalty") } else { b };
        self.etc.wrap(configure(b)).start()
    }
}

fn ask(d: &Daemon, login: &str, password: &str, realm: &str) -> RawReply {
    send_raw_open(d.socket(), &request(login.as_bytes(), password.as_bytes(), "imap", realm))
}

fn assert_reply(d: &Daemon, login: &str, password: &str, realm: &str, expected: &str) {
    assert_eq!(
        ask(d, login, password, realm),
        counted_reply(expected),
        "{:?}: {login}\nlog:\n{}",
        d.target(),
        d.log()
    );
}

both_targets!(replies_match_cyrus, |target| {
    let users = Users::new();
    let d = users.start(target, |b| b);
    for user in ["good", "sha", "md5"] {
        assert_reply(&d, &users.name(user), RIGHT, "", "OK");
        assert_reply(&d, &users.name(user), WRONG, "", "NO Incorrect password");
    }
    // The realm is ignored.
    assert_reply(&d, &users.name("good"), RIGHT, "example.org", "OK");
    // `x` (password in shadow), locked, empty and `{SCHEME}` fields never match.
    for user in ["x", "locked", "star", "empty", "braced"] {
        assert_reply(&d, &users.name(user), RIGHT, "", "NO Incorrect password");
    }
    assert_reply(&d, &format!("{}-nobody", users.prefix), RIGHT, "", "NO Invalid username");
    assert_reply(&d, "root", WRONG, "", "NO Incorrect password");
    if target == Target::Ours {
        let log = d.log();
        assert!(!log.contains(RIGHT) && !log.contains(WRONG), "a password in the log:\n{log}");
        assert!(log.contains("password is in shadow(5)"), "no hint for `x`:\n{log}");
    }
});

// `-r`: the joined `user@realm` is looked up, and names nobody.
both_targets!(joined_realm_names_another_user, |target| {
    let users = Users::new();
    let d = users.start(target, DaemonBuilder::realm_join);
    assert_reply(&d, &users.name("good"), RIGHT, "example.org", "NO Invalid username");
    assert_reply(&d, &users.name("good"), RIGHT, "", "OK");
});

/// An entry NSS cannot hand over (bigger than any lookup buffer, ERANGE) is a tempfail with a
/// log line, as every NSS error is (Cyrus: `NO Username lookup failure: …`).
#[test]
fn an_nss_error_is_a_tempfail() {
    let prefix = format!("gpbig{}", std::process::id());
    let huge = format!("{prefix}:x:62100:62100:{}:/nonexistent:/usr/sbin/nologin\n", "g".repeat(2 << 20));
    let etc = PrivateEtc::new().append("/etc/passwd", &huge);
    let d = etc.wrap(Daemon::builder(Target::Ours).mech("getpwent", None::<&str>)).start();
    assert_eq!(ask(&d, &prefix, RIGHT, ""), RawReply::ClosedWithoutReply, "{}", d.log());
    assert!(d.wait_for_log("getpwnam_r", std::time::Duration::from_secs(5)), "{}", d.log());
}

#[test]
fn the_host_passwd_is_left_alone() {
    let before = std::fs::read("/etc/passwd").unwrap();
    let users = Users::new();
    let d = users.start(Target::Ours, |b| b);
    assert_reply(&d, &users.name("good"), RIGHT, "", "OK");
    assert!(nix::unistd::User::from_name(&users.name("good")).unwrap().is_none());
    drop(d);
    assert_eq!(before, std::fs::read("/etc/passwd").unwrap());
}

/// Side-by-side load run for the report, one round each (16 clients, 10 s; sha-512 crypt):
/// `cargo build --release --workspace --bins && cargo test --release -p saslauthd-tests --test
/// getpwent -- --ignored --nocapture getpwent_benchmark`.
#[test]
#[ignore = "a 2 x 10 s benchmark, run by hand"]
fn getpwent_benchmark() {
    let users = Users::new();
    for target in Target::ALL {
        let d = users.start(target, |b| b.threads(5));
        let done = load(d.socket(), &users.name("sha"), RIGHT, "imap");
        println!("{target:?}: {}{}", done.stdout, done.stderr);
        assert_eq!(done.load_field("fail"), 0.0, "{}", done.stdout);
    }
}
