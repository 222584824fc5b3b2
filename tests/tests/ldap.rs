//! `-a ldap` end to end against a private slapd (reference §3.4): search+bind with escaping,
//! duplicates, empty passwords, fastbind DN injection, custom, groups, failover and tempfail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use saslauthd_tests::slapd::{ROOT_DN, ROOT_PW, SUFFIX, free_port};
use saslauthd_tests::{Daemon, RawReply, Slapd, Target, request, send_raw_open};
use tempfile::TempDir;

const ALICE_PW: &str = r#"Pa"ss*(x)\ é"#;
const WEIRD_UID: &str = r#"we,ird+"<>;"#;
const WEIRD_PW: &str = "w3ird-pass";

fn ldif() -> String {
    format!(
        "dn: uid=alice,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: alice\ncn: alice\nsn: a\nuserPassword: {ALICE_PW}\n\n\
         dn: uid=bob,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: bob\ncn: bob\nsn: b\nuserPassword: bob-pass\n\n\
         dn: uid=we\\,ird\\+\\\"\\<\\>\\;,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {WEIRD_UID}\ncn: w\nsn: w\nuserPassword: {WEIRD_PW}\n\n\
         dn: uid=dup,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: dup\ncn: d1\nsn: d\nuserPassword: dup-pass\n\n\
         dn: cn=dup,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: dup\ncn: dup\nsn: d\nuserPassword: dup-pass\n\n\
         dn: cn=mail,ou=groups,{SUFFIX}\nobjectClass: groupOfUniqueNames\ncn: mail\nuniqueMember: uid=alice,ou=people,{SUFFIX}\n\n"
    )
}

struct Setup {
    _dir: TempDir,
    conf: PathBuf,
}

fn conf(text: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("saslauthd.conf");
    std::fs::write(&conf, text).unwrap();
    Setup { _dir: dir, conf }
}

fn daemon(target: Target, setup: &Setup) -> Daemon {
    Daemon::builder(target).mech("ldap", Some(&setup.conf)).start()
}

fn auth(d: &Daemon, login: &str, password: &str) -> RawReply {
    send_raw_open(d.socket(), &request(login.as_bytes(), password.as_bytes(), "smtp", ""))
}

fn text(d: &Daemon, login: &str, password: &str) -> String {
    auth(d, login, password).text()
}

fn bind_conf(slapd: &Slapd) -> String {
    format!("ldap_servers: {}\nldap_search_base: ou=people,{SUFFIX}\nldap_filter: (uid=%u)\n", slapd.uri())
}

fn search_and_bind(target: Target) {
    let slapd = Slapd::start(&ldif());
    let setup = conf(&bind_conf(&slapd));
    let d = daemon(target, &setup);
    assert_eq!(text(&d, "alice", ALICE_PW), "OK");
    assert_eq!(text(&d, "alice", "wrong"), "NO", "a bare NO, as Cyrus");
    assert_eq!(text(&d, "nobody", "x"), "NO");
    assert_eq!(text(&d, "bob", "bob-pass"), "OK");
    assert_eq!(text(&d, "dup", "dup-pass"), "NO", "two entries match: refused");
    for evil in ["*", "alice)(uid=*", "*)(|(uid=*", "al*", r"alice\", "(uid=alice)"] {
        assert_eq!(text(&d, evil, ALICE_PW), "NO", "login {evil:?}");
    }
}

#[test]
fn search_and_bind_ours() {
    search_and_bind(Target::Ours);
}

#[test]
fn search_and_bind_cyrus() {
    search_and_bind(Target::Cyrus);
}

#[test]
fn special_characters_and_empty_password() {
    let slapd = Slapd::start(&ldif());
    let setup = conf(&bind_conf(&slapd));
    let d = daemon(Target::Ours, &setup);
    assert_eq!(text(&d, WEIRD_UID, WEIRD_PW), "OK", "uid with ,+\"<>; found and bound");
    assert_eq!(text(&d, WEIRD_UID, "nope"), "NO");
    // libsasl2 never sends an empty password; a raw client can, and it must not become an
    // unauthenticated bind.
    assert_eq!(text(&d, "alice", ""), "NO NULL password received");
}

#[test]
fn fastbind_escapes_the_dn() {
    let slapd = Slapd::start(&ldif());
    let setup = conf(&format!(
        "ldap_servers: {}\nldap_auth_method: fastbind\nldap_filter: uid=%u,ou=people,{SUFFIX}\n",
        slapd.uri()
    ));
    let d = daemon(Target::Ours, &setup);
    assert_eq!(text(&d, "alice", ALICE_PW), "OK");
    assert_eq!(text(&d, "alice", "wrong"), "NO");
    assert_eq!(text(&d, WEIRD_UID, WEIRD_PW), "OK", "the DN is RFC 4514 escaped");
    // Cyrus binds as uid=alice,ou=people,...,ou=people,... here; we bind as one odd uid.
    assert_eq!(text(&d, &format!("alice,ou=people,{SUFFIX}"), ALICE_PW), "NO");
    assert_eq!(text(&d, "alice+cn=alice", ALICE_PW), "NO");
}

#[test]
fn custom_reads_the_password_attribute() {
    let slapd = Slapd::start(&ldif());
    let setup = conf(&format!(
        "ldap_servers: {}\nldap_search_base: ou=people,{SUFFIX}\nldap_auth_method: custom\n\
         ldap_bind_dn: {ROOT_DN}\nldap_bind_pw: {ROOT_PW}\n",
        slapd.uri()
    ));
    let d = daemon(Target::Ours, &setup);
    assert_eq!(text(&d, "alice", ALICE_PW), "OK", "cleartext value");
    assert_eq!(text(&d, "alice", "wrong"), "NO");
    assert_eq!(text(&d, "nobody", "x"), "NO");
}

#[test]
fn group_membership() {
    let slapd = Slapd::start(&ldif());
    let attr = conf(&format!("{}ldap_group_dn: cn=mail,ou=groups,{SUFFIX}\n", bind_conf(&slapd)));
    let d = daemon(Target::Ours, &attr);
    assert_eq!(text(&d, "alice", ALICE_PW), "OK", "member (compare)");
    assert_eq!(text(&d, "bob", "bob-pass"), "NO", "not a member");
    drop(d);
    let filter = conf(&format!(
        "{}ldap_group_match_method: filter\nldap_group_search_base: ou=groups,{SUFFIX}\n\
         ldap_group_filter: (&(cn=mail)(uniqueMember=%D))\n",
        bind_conf(&slapd)
    ));
    let d = daemon(Target::Ours, &filter);
    assert_eq!(text(&d, "alice", ALICE_PW), "OK", "member (filter)");
    assert_eq!(text(&d, "bob", "bob-pass"), "NO");
}

#[test]
fn failover_tempfail_and_recovery() {
    let mut first = Slapd::start(&ldif());
    let second = Slapd::start(&ldif());
    let dead = format!("ldap://127.0.0.1:{}/", free_port());
    let setup = conf(&format!(
        "ldap_servers: {dead} {} {}\nldap_search_base: ou=people,{SUFFIX}\nldap_timeout: 2\n\
         ldap_failback_interval: 1\n",
        first.uri(),
        second.uri()
    ));
    let d = daemon(Target::Ours, &setup);
    assert_eq!(text(&d, "alice", ALICE_PW), "OK", "a dead first server is skipped");
    first.stop();
    assert_eq!(text(&d, "alice", ALICE_PW), "OK", "fails over to the next server");
    assert_eq!(text(&d, "alice", "wrong"), "NO");
    first.resume();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(text(&d, "alice", ALICE_PW), "OK", "back on the first");
    drop(second);
    first.stop();
    for _ in 0..3 {
        assert_eq!(auth(&d, "alice", ALICE_PW), RawReply::ClosedWithoutReply, "all down: tempfail, never NO");
    }
    first.resume();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(text(&d, "alice", ALICE_PW), "OK", "recovers once a server is back");
}

#[test]
fn bad_config_stops_start_up() {
    let setup = conf("ldap_auth_method: kerberos\n");
    let out = std::process::Command::new(Target::Ours.saslauthd())
        .args(["-d", "-a", "ldap", "-O"])
        .arg(&setup.conf)
        .args(["-m", "/nonexistent-run-dir"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ldap_auth_method"), "{err}");
}
