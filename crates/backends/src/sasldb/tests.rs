#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// `saslpasswd2 -f FILE -c -p [-u REALM] USER` with `password` on stdin (Debian's sasl2-bin).
fn saslpasswd2(file: &Path, user: &str, realm: Option<&str>, password: &str) {
    let mut cmd = Command::new("/usr/sbin/saslpasswd2");
    cmd.arg("-f").arg(file).args(["-c", "-p"]);
    if let Some(realm) = realm {
        cmd.args(["-u", realm]);
    }
    let mut child = cmd.arg(user).stdin(Stdio::piped()).spawn().expect("run saslpasswd2 (sasl2-bin)");
    child.stdin.take().unwrap().write_all(password.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "saslpasswd2 {user}");
}

fn cstring(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

#[test]
fn cyrus_realm_rule_and_replies() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sasldb2");
    saslpasswd2(&file, "alice", None, "host-pw");
    saslpasswd2(&file, "bob", Some("example.org"), "realm-pw");
    // saslpasswd2 itself splits `user@realm` (its -u is then ignored): stored as (carol, example.org).
    saslpasswd2(&file, "carol@example.org", Some("other.net"), "at-pw");
    let plugin = Plugin::load().unwrap();
    let f = cstring(&file);
    let check = |login: &str, realm: &str, pw: &str| check(&plugin, &f, login, realm, pw.as_bytes());

    // saslpasswd2 without -u stores the host name as the realm; an empty request realm uses it.
    assert_eq!(check("alice", "", "host-pw"), Outcome::Ok);
    assert_eq!(check("alice", &host_name().unwrap(), "host-pw"), Outcome::Ok);
    assert_eq!(check("alice", "", "wrong"), Outcome::No(Reject::Bare));
    assert_eq!(check("alice", "", "host-p"), Outcome::No(Reject::Bare));
    assert_eq!(check("alice", "", "host-pw\0"), Outcome::No(Reject::Bare));
    assert_eq!(check("alice", "example.org", "host-pw"), Outcome::No(Reject::Bare));
    assert_eq!(check("bob", "example.org", "realm-pw"), Outcome::Ok);
    assert_eq!(check("bob", "", "realm-pw"), Outcome::No(Reject::Bare));
    // `user@realm` in the login is not split: it is the login of an entry of its own.
    assert_eq!(check("bob@example.org", "", "realm-pw"), Outcome::No(Reject::Bare));
    assert_eq!(check("carol@example.org", "other.net", "at-pw"), Outcome::No(Reject::Bare));
    assert_eq!(check("carol@example.org", "", "at-pw"), Outcome::No(Reject::Bare));
    assert_eq!(check("carol", "example.org", "at-pw"), Outcome::Ok);
    assert_eq!(check("nobody", "", "host-pw"), Outcome::No(Reject::Bare));
}

#[test]
fn a_missing_or_broken_file_is_a_tempfail_and_is_never_created() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = Plugin::load().unwrap();
    let missing = dir.path().join("absent");
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, b"not a database at all\n").unwrap();
    for path in [&missing, &garbage, &dir.path().to_owned()] {
        let got = check(&plugin, &cstring(path), "alice", "", b"pw");
        assert!(
            matches!(&got, Outcome::Unavailable(why) if why.contains("sasldb")),
            "{}: {got:?}",
            path.display()
        );
    }
    assert!(!missing.exists(), "a read created the file");
}

#[test]
fn reading_leaves_the_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sasldb2");
    saslpasswd2(&file, "alice", Some("r"), "pw");
    let before = (std::fs::read(&file).unwrap(), std::fs::metadata(&file).unwrap().modified().unwrap());
    let plugin = Plugin::load().unwrap();
    assert_eq!(check(&plugin, &cstring(&file), "alice", "r", b"pw"), Outcome::Ok);
    let after = (std::fs::read(&file).unwrap(), std::fs::metadata(&file).unwrap().modified().unwrap());
    assert!(before == after, "the lookup changed the file");
    // No lock or environment files beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["sasldb2"]);
}

#[test]
fn lookups_from_many_threads_agree() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sasldb2");
    saslpasswd2(&file, "alice", Some("r"), "pw");
    let plugin = Arc::new(Plugin::load().unwrap());
    let f = Arc::new(cstring(&file));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (plugin, f) = (plugin.clone(), f.clone());
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let pw: &[u8] = if i % 2 == 0 { b"pw" } else { b"no" };
                    let want = if i % 2 == 0 { Outcome::Ok } else { Outcome::No(Reject::Bare) };
                    assert_eq!(check(&plugin, &f, "alice", "r", pw), want);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
