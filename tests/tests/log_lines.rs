//! A login, service or realm holding LF, CR or ESC cannot forge or rewrite a log line, in any
//! mechanism, at the most verbose level (issue 15 §7): each daemon runs with `-d` and
//! `SASLAUTHD_LOG=trace`, gets the hostile names, and every line it wrote is checked for raw
//! control characters and for a forged `auth failure: [user=root]` line (what fail2ban reads).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use saslauthd_tests::slapd::SUFFIX;
use saslauthd_tests::{
    Daemon, DaemonBuilder, Dovecot, FailDelay, PamService, Slapd, Target, counted, mkpasswd_sha512,
    pwdfile_raw, pwdfile_stack, send_raw_open,
};

/// Logins built to forge a second line, hide text with CR, or drive a terminal with ESC.
const HOSTILE: [&[u8]; 4] = [
    b"eve\nauth failure: [user=root] [service=smtp] [realm=] [mech=pam] [reason=PAM auth error]",
    b"eve\rauth success: [user=root]",
    b"eve\x1b[2K\x1b[1Gauth failure: [user=root]",
    b"eve\r\n\x07\x08\x7f\x1b]0;title\x07",
];

/// Send each hostile login (with a hostile service and realm too) and check every log line.
fn feed_and_check(daemon: &Daemon, service: &str) {
    for login in HOSTILE {
        let _ = send_raw_open(daemon.socket(), &counted(&[login, b"some-password", service.as_bytes(), b""]));
        let _ =
            send_raw_open(daemon.socket(), &counted(&[login, b"some-password", b"smtp\nx", b"realm\x1b[2J"]));
        // The fifth field (client address) is logged too.
        let _ = send_raw_open(
            daemon.socket(),
            &counted(&[b"eve", b"some-password", service.as_bytes(), b"", b"1.2.3.4\n[user=root];25"]),
        );
    }
    let log = daemon.log();
    assert!(log.contains("eve"), "the requests were logged at all:\n{log}");
    for line in log.lines() {
        let raw: Vec<char> = line.chars().filter(|c| c.is_control() && *c != '\t').collect();
        assert!(raw.is_empty(), "raw control characters {raw:?} in the line {line:?}");
        assert!(!line.contains("[user=root]"), "a forged field in {line:?}");
        assert!(!line.trim_start().starts_with("auth "), "a line begins with forged text: {line:?}");
    }
}

fn verbose(builder: DaemonBuilder) -> Daemon {
    builder.env("SASLAUTHD_LOG", "trace").arg("--no-penalty").start()
}

#[test]
fn passwd_file() {
    let file = pwdfile_raw(format!("alice:{}\nbroken:$6$nohash\n", mkpasswd_sha512("pw")).as_bytes());
    feed_and_check(&verbose(Daemon::builder(Target::Ours).passwd_file(file.path())), "smtp");
}

#[test]
fn shadow_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shadow");
    std::fs::write(&file, format!("alice:{}:19000:0:99999:7:::\n", mkpasswd_sha512("pw"))).unwrap();
    feed_and_check(&verbose(Daemon::builder(Target::Ours).mech("shadow", Some(&file))), "smtp");
}

#[test]
fn pam() {
    let users = pwdfile_raw(format!("alice:{}\n", mkpasswd_sha512("pw")).as_bytes());
    let service = PamService::private(&pwdfile_stack(users.path(), FailDelay::None));
    let daemon = verbose(Daemon::builder(Target::Ours).pam(&service));
    feed_and_check(&daemon, service.name());
}

#[test]
fn rimap_with_dovecot() {
    let dovecot = Dovecot::builder().user("joe", "secret").start();
    let option = format!("127.0.0.1/{}", dovecot.imap_port());
    feed_and_check(&verbose(Daemon::builder(Target::Ours).mech("rimap", Some(&option))), "imap");
}

fn ldif() -> String {
    format!(
        "dn: uid=alice,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: alice\ncn: alice\nsn: a\n\
         userPassword: pw\n\n"
    )
}

#[test]
fn ldap_with_slapd() {
    let slapd = Slapd::start(&ldif());
    let dir = tempfile::tempdir().unwrap();
    // Search and bind, then custom (the stored value compared here), then fastbind (the login
    // in a DN): each logs the login and the server's words differently.
    for extra in ["", "ldap_auth_method: custom\n", "ldap_auth_method: fastbind\n"] {
        let conf = dir.path().join("saslauthd.conf");
        let filter = if extra.contains("fastbind") {
            format!("ldap_filter: uid=%u,ou=people,{SUFFIX}\n")
        } else {
            "ldap_filter: (uid=%u)\n".to_owned()
        };
        std::fs::write(
            &conf,
            format!("ldap_servers: {}\nldap_search_base: ou=people,{SUFFIX}\n{filter}{extra}", slapd.uri()),
        )
        .unwrap();
        feed_and_check(&verbose(Daemon::builder(Target::Ours).mech("ldap", Some(&conf))), "smtp");
    }
}

#[test]
fn sql_with_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mail.db");
    sqlite(
        &db,
        &format!(
            "CREATE TABLE mailbox (username TEXT, password TEXT); INSERT INTO mailbox VALUES ('alice', '{}');",
            mkpasswd_sha512("pw")
        ),
    );
    let conf = dir.path().join("sql.conf");
    std::fs::write(
        &conf,
        format!(
            "sql_engine: sqlite\nsql_database: {}\nsql_select: SELECT password FROM mailbox WHERE username = '%u'\n",
            db.display()
        ),
    )
    .unwrap();
    feed_and_check(&verbose(Daemon::builder(Target::Ours).mech("sql", Some(&conf))), "smtp");
}

fn sqlite(db: &Path, script: &str) {
    let sqlite3 = saslauthd_tests::bins::require_program("sqlite3", "sqlite3");
    assert!(Command::new(sqlite3).arg(db).arg(script).status().unwrap().success());
}
