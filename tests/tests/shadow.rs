//! `-a shadow` end to end (reference §3.1): real libxcrypt hashes from `mkpasswd`, exact reply
//! texts over the real socket; a shadow-format `-O` file for ours, and real NSS in a private mount
//! namespace (copies of /etc/passwd and /etc/shadow bound over the originals, which are never
//! touched) for ours and Cyrus side by side.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saslauthd_tests::mkpasswd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use saslauthd_tests::bins::require_program;
use saslauthd_tests::{Daemon, DaemonBuilder, RawReply, Target, counted_reply, request, send_raw_open};
use tempfile::TempDir;

const RIGHT: &str = "Shadow-canary-9Kx";
const WRONG: &str = "not-the-password";
const NIS_TEXT: &str = "NO Insufficient permission to access NIS authentication database (saslauthd)";

/// Days since 1970-01-01 (UTC), as both daemons compute "today".
fn today() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() / 86_400).unwrap()
}

/// One shadow(5) line: `name:hash:lstchg::max:::expire:` (empty numbers = unset).
fn line(name: &str, hash: &str, lstchg: Option<i64>, max: Option<i64>, expire: Option<i64>) -> String {
    let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    format!("{name}:{hash}:{}:0:{}:7::{}:\n", n(lstchg), n(max), n(expire))
}

fn reply(daemon: &Daemon, login: &str, password: &str) -> RawReply {
    send_raw_open(daemon.socket(), &request(login.as_bytes(), password.as_bytes(), "smtp", ""))
}

fn assert_reply(daemon: &Daemon, login: &str, password: &str, expected: &str) {
    assert_eq!(
        reply(daemon, login, password),
        counted_reply(expected),
        "{:?}: user {login}, {} password\nlog:\n{}",
        daemon.target(),
        if password == RIGHT { "right" } else { "wrong" },
        daemon.log()
    );
}

fn start_with_file(path: &Path) -> Daemon {
    Daemon::builder(Target::Ours).mech("shadow", Some(path)).start()
}

#[test]
fn file_every_scheme_and_every_reply() {
    let today = today();
    let mut text = String::from("# test users\n");
    let schemes = ["yescrypt", "sha-512", "sha-256", "md5", "bcrypt", "des"];
    for method in schemes {
        // DES uses only the first 8 characters, so give it a password where that still differs.
        text += &line(&format!("u-{method}"), &mkpasswd(method, RIGHT), Some(today - 1), Some(99_999), None);
    }
    let sha = mkpasswd("sha-512", RIGHT);
    text += &line("bang", "!", Some(today), None, None);
    text += &line("star", "*", Some(today), None, None);
    text += &line("lockedhash", &format!("!{sha}"), Some(today), None, None);
    text += &line("empty", "", Some(today), None, None);
    text += &line("nis", "*NP*", Some(today), None, None);
    text += &line("expired", &sha, Some(today - 10), Some(99_999), Some(today - 1));
    text += &line("expzero", &sha, Some(today - 10), Some(99_999), Some(0));
    text += &line("expires-today", &sha, Some(today - 10), Some(99_999), Some(today));
    text += &line("pwexp", &sha, Some(today - 31), Some(30), None);
    text += &line("pwlast", &sha, Some(today - 30), Some(30), None);
    text += &line("mustchange", &sha, Some(0), Some(99_999), None);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shadow");
    std::fs::write(&path, &text).unwrap();
    let d = start_with_file(&path);

    for method in schemes {
        let user = format!("u-{method}");
        assert_reply(&d, &user, RIGHT, "OK");
        assert_reply(&d, &user, WRONG, "NO Incorrect password");
    }
    for locked in ["bang", "star", "lockedhash", "empty"] {
        assert_reply(&d, locked, RIGHT, "NO Incorrect password");
    }
    assert_reply(&d, "nis", RIGHT, NIS_TEXT);
    assert_reply(&d, "expired", RIGHT, "NO Account expired");
    assert_reply(&d, "expzero", RIGHT, "NO Account expired");
    assert_reply(&d, "expires-today", RIGHT, "OK");
    assert_reply(&d, "pwexp", RIGHT, "NO Password expired");
    assert_reply(&d, "pwlast", RIGHT, "OK");
    // lstchg 0 with a max: only the sum counts, and day 0 + 99999 is far in the future.
    assert_reply(&d, "mustchange", RIGHT, "OK");
    // Expiry is revealed only to someone who knows the password.
    for user in ["expired", "expzero", "pwexp"] {
        assert_reply(&d, user, WRONG, "NO Incorrect password");
    }
    assert_reply(&d, "no-such-user", RIGHT, "NO Invalid username");

    let log = d.log();
    assert!(!log.contains(RIGHT) && !log.contains(WRONG), "a password in the log:\n{log}");
    assert!(!log.contains(&sha), "a hash in the log:\n{log}");
}

#[test]
fn file_edits_apply_at_once_and_a_vanished_file_is_a_tempfail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shadow");
    std::fs::write(&path, line("alice", &mkpasswd("yescrypt", RIGHT), None, None, None)).unwrap();
    let d = start_with_file(&path);
    assert_reply(&d, "alice", RIGHT, "OK");

    // Replaced the way vipw and shadow's tools do: a new file renamed over the old.
    let tmp = dir.path().join("shadow.new");
    let new = line("alice", &mkpasswd("yescrypt", WRONG), None, None, None)
        + &line("bob", &mkpasswd("sha-512", RIGHT), None, None, None);
    std::fs::write(&tmp, new).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert_reply(&d, "alice", RIGHT, "NO Incorrect password");
    assert_reply(&d, "alice", WRONG, "OK");
    assert_reply(&d, "bob", RIGHT, "OK");

    std::fs::remove_file(&path).unwrap();
    assert_eq!(reply(&d, "bob", RIGHT), RawReply::ClosedWithoutReply, "log:\n{}", d.log());
}

#[test]
fn file_must_be_readable_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(Target::Ours.saslauthd())
        .args(["-a", "shadow", "-O"])
        .arg(dir.path().join("absent"))
        .arg("-m")
        .arg(dir.path())
        .arg("-d")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shadow"), "{out:?}");
}

/// Copies of /etc/passwd and /etc/shadow with test users appended, bound over the originals in
/// a private mount namespace the daemon is started in: NSS (glibc's files module) then sees the
/// test users, while the machine's own files are never written.
struct PrivateUsers {
    _dir: TempDir,
    passwd: PathBuf,
    shadow: PathBuf,
}

impl PrivateUsers {
    fn new(passwd_lines: &str, shadow_lines: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        let shadow = dir.path().join("shadow");
        let mut p = std::fs::read_to_string("/etc/passwd").unwrap();
        p += passwd_lines;
        let mut s = std::fs::read_to_string("/etc/shadow").expect("read /etc/shadow (the tests run as root)");
        s += shadow_lines;
        std::fs::write(&passwd, p).unwrap();
        std::fs::write(&shadow, s).unwrap();
        Self { _dir: dir, passwd, shadow }
    }

    /// `unshare -m` gives the daemon a private mount namespace (util-linux makes its
    /// propagation private, so the binds never reach the host); `exec` keeps the daemon's pid.
    fn wrap(&self, builder: DaemonBuilder) -> DaemonBuilder {
        let unshare = require_program("unshare", "util-linux");
        builder.wrapper(
            unshare,
            [
                "-m".into(),
                "--".into(),
                "sh".into(),
                "-c".into(),
                r#"mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/shadow && shift 2 && exec "$@""#
                    .into(),
                "sh".into(),
                self.passwd.clone().into_os_string(),
                self.shadow.clone().into_os_string(),
            ],
        )
    }
}

fn passwd_line(name: &str, uid: u32) -> String {
    format!("{name}:x:{uid}:{uid}:shadow test:/nonexistent:/usr/sbin/nologin\n")
}

fn nss_users() -> PrivateUsers {
    let today = today();
    let yes = mkpasswd("yescrypt", RIGHT);
    let users = [
        ("ns-good", line("ns-good", &yes, Some(today - 1), Some(99_999), None)),
        ("ns-sha", line("ns-sha", &mkpasswd("sha-512", RIGHT), None, None, None)),
        ("ns-locked", line("ns-locked", &format!("!{yes}"), Some(today), None, None)),
        ("ns-empty", line("ns-empty", "", Some(today), None, None)),
        ("ns-nis", line("ns-nis", "*NP*", Some(today), None, None)),
        ("ns-expired", line("ns-expired", &yes, Some(today - 10), Some(99_999), Some(today - 1))),
        ("ns-expzero", line("ns-expzero", &yes, Some(today - 10), Some(99_999), Some(0))),
        ("ns-pwexp", line("ns-pwexp", &yes, Some(today - 31), Some(30), None)),
    ];
    let mut passwd = String::new();
    let mut shadow = String::new();
    for (uid, (name, shadow_line)) in (61_000..).zip(users) {
        passwd += &passwd_line(name, uid);
        shadow += &shadow_line;
    }
    // In passwd, not in shadow.
    passwd += &passwd_line("ns-noshadow", 61_100);
    PrivateUsers::new(&passwd, &shadow)
}

/// The same users and the same replies through NSS, for each daemon.
fn nss_replies(target: Target) {
    let users = nss_users();
    let d = users.wrap(Daemon::builder(target).mech("shadow", None::<&str>)).start();
    assert_reply(&d, "ns-good", RIGHT, "OK");
    assert_reply(&d, "ns-good", WRONG, "NO Incorrect password");
    assert_reply(&d, "ns-sha", RIGHT, "OK");
    assert_reply(&d, "ns-locked", RIGHT, "NO Incorrect password");
    assert_reply(&d, "ns-empty", RIGHT, "NO Incorrect password");
    assert_reply(&d, "ns-nis", RIGHT, NIS_TEXT);
    assert_reply(&d, "ns-expired", RIGHT, "NO Account expired");
    assert_reply(&d, "ns-expired", WRONG, "NO Incorrect password");
    assert_reply(&d, "ns-expzero", RIGHT, "NO Account expired");
    assert_reply(&d, "ns-pwexp", RIGHT, "NO Password expired");
    assert_reply(&d, "ns-noshadow", RIGHT, "NO Invalid shadow username");
    assert_reply(&d, "ns-nobody-here", RIGHT, "NO Invalid username");
    assert_reply(&d, "root", WRONG, "NO Incorrect password");
    if target == Target::Ours {
        let log = d.log();
        assert!(!log.contains(RIGHT) && !log.contains(WRONG), "a password in the log:\n{log}");
    }
}

saslauthd_tests::both_targets!(nss_in_a_private_namespace, nss_replies);

#[test]
fn nss_namespace_leaves_the_host_files_alone() {
    let before = (std::fs::read("/etc/passwd").unwrap(), std::fs::read("/etc/shadow").unwrap());
    let users = nss_users();
    let d = users.wrap(Daemon::builder(Target::Ours).mech("shadow", None::<&str>)).start();
    assert_reply(&d, "ns-good", RIGHT, "OK");
    // Outside the namespace the test user does not exist.
    assert!(nix::unistd::User::from_name("ns-good").unwrap().is_none());
    drop(d);
    assert_eq!(before, (std::fs::read("/etc/passwd").unwrap(), std::fs::read("/etc/shadow").unwrap()));
}

/// Shadow lookups run on the bounded pool: 16 concurrent yescrypt checks all finish, and in
/// about the time two cores need, not serialised behind one another on the async threads.
#[test]
fn concurrent_yescrypt_checks_all_answer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shadow");
    std::fs::write(&path, line("alice", &mkpasswd("yescrypt", RIGHT), None, None, None)).unwrap();
    let d = Daemon::builder(Target::Ours).mech("shadow", Some(&path)).threads(4).start();
    let sock = d.socket().to_owned();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                let password = if i % 4 == 0 { WRONG } else { RIGHT };
                send_raw_open(&sock, &request(b"alice", password.as_bytes(), "smtp", ""))
            })
        })
        .collect();
    let start = std::time::Instant::now();
    for (i, h) in handles.into_iter().enumerate() {
        let expected = if i % 4 == 0 { "NO Incorrect password" } else { "OK" };
        assert_eq!(h.join().unwrap(), counted_reply(expected));
    }
    assert!(start.elapsed() < Duration::from_secs(10), "16 checks took {:?}", start.elapsed());
}
