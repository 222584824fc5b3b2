//! `-a ldap` end to end against a private slapd (reference §3.4): search+bind with escaping,
//! duplicates, empty passwords, fastbind DN injection, custom with cleartext and hashed
//! passwords, groups with tokens, failover and tempfail, slapd killed under load, TLS (`ldaps://`
//! and StartTLS with a CA made here), and a benchmark against Cyrus.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saslauthd_tests::mkpasswd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use saslauthd_tests::bins::require_program;
use saslauthd_tests::free_port;
use saslauthd_tests::pki::Pki;
use saslauthd_tests::proc::{children_cpu_ms, cpu_ms, fd_count, wait_fd_count_at_most};
use saslauthd_tests::run::{load, run_with_deadline};
use saslauthd_tests::slapd::{ROOT_DN, ROOT_PW, SUFFIX};
use saslauthd_tests::{Daemon, RawReply, Slapd, Target, both_targets, request, send_raw_open};
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
    let builder = Daemon::builder(target).mech("ldap", Some(&setup.conf));
    // Penalties would delay each retry after a wrong password by seconds; they have tests of
    // their own, and Cyrus has none.
    if target == Target::Ours { builder.arg("--no-penalty") } else { builder }.start()
}

fn auth(d: &Daemon, login: &str, password: &str) -> RawReply {
    send_raw_open(d.socket(), &request(login.as_bytes(), password.as_bytes(), "smtp", ""))
}

fn text(d: &Daemon, login: &str, password: &str) -> String {
    auth(d, login, password).text()
}

/// Polls `check` every 20 ms until it holds or `timeout` passes; whether it held.
fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How many binds to DNs starting with `dn_prefix` a `log_stats` slapd has logged.
fn binds(slapd: &Slapd, dn_prefix: &str) -> usize {
    slapd.log().matches(&format!("BIND dn=\"{dn_prefix}")).count()
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

/// `ldap_dn_cache_ttl` (ours): a repeated login binds without a search; wrong passwords, moved
/// entries and changed passwords are still decided by the server; an entry disabled only
/// through `ldap_filter` keeps logging in until the entry expires or SIGUSR1 — the documented
/// cost of the option.
#[test]
fn dn_cache_skips_the_search_and_leaves_the_password_to_the_server() {
    let slapd = Slapd::builder(&ldif()).log_stats().start();
    let setup = conf(&format!(
        "ldap_servers: {}\nldap_search_base: ou=people,{SUFFIX}\n\
         ldap_filter: (&(uid=%u)(!(description=disabled)))\nldap_dn_cache_ttl: 300\n",
        slapd.uri()
    ));
    let d = daemon(Target::Ours, &setup);
    let ops =
        |op: &str, needle: &str| slapd.log().lines().filter(|l| l.contains(op) && l.contains(needle)).count();
    // slapd logs each bind twice (method=, then mech=): count one of them.
    let user_binds = |dn: &str| ops(&format!(" BIND dn=\"{dn}"), " method=");
    // slapd logs an operation as it starts it, so its line precedes our reply.
    let seen = |searches_now: usize, binds_now: usize, what: &str| {
        assert_eq!(
            (ops(" SRCH base=", "(uid=bob)"), user_binds("uid=bob,")),
            (searches_now, binds_now),
            "{what}"
        );
    };
    assert_eq!(text(&d, "bob", "bob-pass"), "OK");
    seen(1, 1, "the first login searches");
    assert_eq!(text(&d, "bob", "bob-pass"), "OK");
    seen(1, 2, "the second binds at once");
    assert_eq!(text(&d, "bob", "wrong"), "NO");
    seen(2, 3, "a refused bind is checked by a search; the same DN is not bound again");
    assert_eq!(text(&d, "bob", "bob-pass"), "OK");
    seen(3, 4, "after a refusal the DN is searched again");

    slapd.modify(&format!(
        "dn: uid=bob,ou=people,{SUFFIX}\nchangetype: modrdn\nnewrdn: cn=bob-moved\ndeleteoldrdn: 0\n"
    ));
    assert_eq!(text(&d, "bob", "bob-pass"), "OK", "a moved entry is found again");
    assert_eq!(user_binds("cn=bob-moved,"), 1);
    let moved = format!("cn=bob-moved,ou=people,{SUFFIX}");
    slapd
        .modify(&format!("dn: {moved}\nchangetype: modify\nreplace: userPassword\nuserPassword: new-pass\n"));
    assert_eq!(text(&d, "bob", "bob-pass"), "NO", "the old password is refused at once");
    assert_eq!(text(&d, "bob", "new-pass"), "OK");

    slapd.modify(&format!("dn: {moved}\nchangetype: modify\nadd: description\ndescription: disabled\n"));
    assert_eq!(text(&d, "bob", "new-pass"), "OK", "disabled through the filter only: still remembered");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.pid() as i32), nix::sys::signal::Signal::SIGUSR1)
        .unwrap();
    assert!(d.wait_for_log("forgot 1 remembered", Duration::from_secs(10)), "{}", d.log());
    assert_eq!(text(&d, "bob", "new-pass"), "NO", "searched again after SIGUSR1");
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
    let mut first = Slapd::builder(&ldif()).log_stats().start();
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
    let before = binds(&first, "uid=alice,");
    first.resume();
    // Within ldap_failback_interval (1 s) plus slack, requests are served by the first again.
    let back = wait_until(Duration::from_secs(5), || {
        assert_eq!(text(&d, "alice", ALICE_PW), "OK");
        binds(&first, "uid=alice,") > before
    });
    assert!(back, "traffic did not return to the first server:\n{}", d.log());
    drop(second);
    first.stop();
    for _ in 0..3 {
        assert_eq!(auth(&d, "alice", ALICE_PW), RawReply::ClosedWithoutReply, "all down: tempfail, never NO");
    }
    first.resume();
    let recovered = wait_until(Duration::from_secs(5), || match auth(&d, "alice", ALICE_PW) {
        RawReply::ClosedWithoutReply => false,
        reply => {
            assert_eq!(reply.text(), "OK", "never NO while recovering");
            true
        }
    });
    assert!(recovered, "no recovery once a server is back:\n{}", d.log());
}

both_targets!(
    /// `ldapi://` with the socket path percent-encoded, as libldap takes it: logins work over
    /// the local socket (slapd sees them there, none on its TCP port).
    ldapi_socket,
    |target| {
        let slapd = Slapd::builder(&ldif()).ldapi().log_stats().start();
        let setup = conf(&format!("ldap_servers: {}\nldap_search_base: ou=people,{SUFFIX}\n", slapd.ldapi_uri()));
        let d = daemon(target, &setup);
        assert_eq!(text(&d, "alice", ALICE_PW), "OK", "{}", d.log());
        assert_eq!(text(&d, "alice", "wrong"), "NO");
        assert_eq!(text(&d, "nobody", "x"), "NO");
        let log = slapd.log();
        assert!(binds(&slapd, "uid=alice,") >= 1, "{log}");
        let conn = |line: &str| line.split_whitespace().find(|w| w.starts_with("conn=")).map(str::to_owned);
        let local: Vec<String> = log.lines().filter(|l| l.contains("ACCEPT from PATH=")).filter_map(conn).collect();
        let ops: Vec<&str> = log.lines().filter(|l| l.contains(" BIND dn=") || l.contains(" SRCH base=")).collect();
        assert!(!local.is_empty() && !ops.is_empty(), "{log}");
        assert!(ops.iter().all(|l| conn(l).is_some_and(|c| local.contains(&c))), "an operation over TCP:\n{log}");
    }
);

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

/// Values that could never work stop the daemon at start-up, and `--check` says the same, both
/// with `file:line: key: reason` and exit status 1 (saslauthd.conf(5)), instead of a healthy
/// daemon that tempfails every login with `filter parse error`.
#[test]
fn unusable_values_stop_start_up_and_check() {
    let cases = [
        ("ldap_filter: \"(uid=%u)\"\n", 2, "ldap_filter", "quotes are taken as part of the filter"),
        ("ldap_filter: (&(uid=%u)(objectClass=person)\n", 2, "ldap_filter", "unbalanced parentheses"),
        ("ldap_filter: (uid=%u)(mail=%u)\n", 2, "ldap_filter", "not a valid search filter"),
        ("ldap_filter: (%s=%u)\n", 2, "ldap_filter", "%s outside an assertion value"),
        ("ldap_filter: (uid=*%u*%d*)\n", 2, "ldap_filter", "once its tokens stand for nothing"),
        (
            "ldap_group_dn: cn=mail,ou=groups\nldap_group_filter: (member=%D\nldap_group_match_method: filter\n",
            3,
            "ldap_group_filter",
            "unbalanced",
        ),
        ("ldap_search_base: ou=people,,dc=example\n", 2, "ldap_search_base", "not a valid DN"),
        ("ldap_group_dn: cn=%s\\zz\n", 2, "ldap_group_dn", "not a valid DN"),
        (
            "ldap_auth_method: custom\nldap_password_attr: user password\n",
            3,
            "ldap_password_attr",
            "attribute",
        ),
        ("ldap_auth_method: fastbind\n", 2, "ldap_auth_method", "fastbind needs ldap_filter"),
        ("ldap_servers: ldapi://run%2Fldapi\n", 2, "ldap_servers", "is not absolute"),
        ("ldap_servers: ldap://a/ http://b/\n", 2, "ldap_servers", "is not ldap://, ldaps:// or ldapi://"),
        ("ldap_servers: ldapi:///\nldap_start_tls: yes\n", 3, "ldap_start_tls", "not offered over ldapi://"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (text, line, key, reason)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.conf"));
        std::fs::write(&path, format!("ldap_servers: ldap://127.0.0.1:1/\n{text}")).unwrap();
        let expected = format!("{}:{line}: {key}: ", path.display());
        let mut start = Command::new(Target::Ours.saslauthd());
        start.args(["-d", "-a", "ldap", "-O"]).arg(&path).arg("-m").arg(dir.path().join("run"));
        let mut check = Command::new(Target::Ours.saslauthd());
        check.args(["--check", "-a", "ldap", "-O"]).arg(&path);
        for (what, cmd) in [("start-up", &mut start), ("--check", &mut check)] {
            let done = run_with_deadline(cmd, Duration::from_secs(10));
            assert_eq!(done.code, Some(1), "{what} {text:?}: {done:?}");
            let found = done.stderr.lines().find(|l| l.contains(&expected));
            assert!(
                found.is_some_and(|l| l.contains(reason)),
                "{what} {text:?}: wanted {expected}…{reason}:\n{}",
                done.stderr
            );
        }
    }
    assert!(!dir.path().join("run").exists(), "a refused daemon made its run directory");
}

fn tls_slapd(pki: &Pki) -> Slapd {
    Slapd::builder(&ldif()).tls(&pki.cert, &pki.key).log_stats().start()
}

fn tls_conf(servers: &str, extra: &str) -> Setup {
    conf(&format!("ldap_servers: {servers}\nldap_search_base: ou=people,{SUFFIX}\nldap_timeout: 3\n{extra}"))
}

#[test]
fn ldaps_and_starttls_verified_against_a_private_ca() {
    let ours = Pki::new(&["localhost"]);
    let slapd = tls_slapd(&ours);
    let ca = format!("ldap_tls_cacert_file: {}\n", ours.ca_file.display());
    let cases = [
        ("ldaps", tls_conf(&slapd.ldaps_uri("localhost"), &ca)),
        ("StartTLS", tls_conf(&slapd.uri_for("localhost"), &format!("{ca}ldap_start_tls: yes\n"))),
        // The service account's password travels the same way.
        (
            "ldaps, custom as the service account",
            tls_conf(
                &slapd.ldaps_uri("localhost"),
                &format!("{ca}ldap_auth_method: custom\nldap_bind_dn: {ROOT_DN}\nldap_bind_pw: {ROOT_PW}\n"),
            ),
        ),
    ];
    for (what, setup) in &cases {
        let d = daemon(Target::Ours, setup);
        assert_eq!(text(&d, "alice", ALICE_PW), "OK", "{what}: {}", d.log());
        assert_eq!(text(&d, "alice", "wrong"), "NO", "{what}");
        assert!(!d.log().contains("insecure"), "{what}: {}", d.log());
    }
    // Verification off: another CA's certificate and a name it does not carry are accepted, and
    // the log says what that means.
    let other = Pki::new(&["localhost"]);
    let insecure = tls_conf(
        &slapd.ldaps_uri("127.0.0.1"),
        &format!("ldap_tls_check_peer: no\nldap_tls_cacert_file: {}\n", other.ca_file.display()),
    );
    let d = daemon(Target::Ours, &insecure);
    assert_eq!(text(&d, "alice", ALICE_PW), "OK", "{}", d.log());
    assert!(d.log().contains("ldap_tls_check_peer: no") && d.log().contains("insecure"), "{}", d.log());
    let plaintext = slapd.plaintext_operations();
    assert!(plaintext.is_empty(), "operations outside TLS:\n{}", plaintext.join("\n"));
    // Two per daemon but custom's, one for the insecure one (at least one log line each).
    assert!(binds(&slapd, "uid=alice,") >= 5, "{}", slapd.log());
}

#[test]
fn untrusted_or_misnamed_certificate_is_tempfail_without_plaintext() {
    let pki_ok = Pki::new(&["localhost"]);
    let other = Pki::new(&["localhost"]);
    let slapd = tls_slapd(&pki_ok);
    let ca = |p: &Pki| format!("ldap_tls_cacert_file: {}\n", p.ca_file.display());
    let start_tls = "ldap_start_tls: yes\n";
    let cases = [
        // The certificate names localhost, not the address.
        ("ldaps to the address", tls_conf(&slapd.ldaps_uri("127.0.0.1"), &ca(&pki_ok))),
        ("StartTLS to the address", tls_conf(&slapd.uri_for("127.0.0.1"), &(ca(&pki_ok) + start_tls))),
        // Signed by a CA nobody told us to trust.
        ("ldaps, other CA", tls_conf(&slapd.ldaps_uri("localhost"), &ca(&other))),
        ("StartTLS, other CA", tls_conf(&slapd.uri_for("localhost"), &(ca(&other) + start_tls))),
        // The system's roots do not include the test CA either.
        ("ldaps, system roots", tls_conf(&slapd.ldaps_uri("localhost"), "")),
    ];
    for (what, setup) in &cases {
        let d = daemon(Target::Ours, setup);
        for password in [ALICE_PW, "wrong"] {
            assert_eq!(auth(&d, "alice", password), RawReply::ClosedWithoutReply, "{what}: {}", d.log());
        }
        assert!(d.log().contains("TLS handshake failed: invalid peer certificate"), "{what}: {}", d.log());
    }
    assert_eq!(binds(&slapd, "uid=alice,"), 0, "a bind reached slapd:\n{}", slapd.log());
    let plaintext = slapd.plaintext_operations();
    assert!(plaintext.is_empty(), "operations outside TLS (a plaintext fallback):\n{}", plaintext.join("\n"));
    // StartTLS was attempted and then abandoned, not skipped.
    assert!(slapd.log().contains("STARTTLS"), "{}", slapd.log());
}

both_targets!(
    /// A server certificate that is itself the trust anchor (self-signed, `CA:TRUE`, as `openssl
    /// req -x509` makes it) named in `ldap_tls_cacert_file`: Cyrus's libldap accepts it, and so
    /// do we, over ldaps and StartTLS.
    self_signed_ca_as_server_certificate_is_trusted,
    |target| {
    let names = saslauthd_tests::pki::localhost_names();
    let pki = Pki::self_signed_ca(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let slapd = tls_slapd(&pki);
    let ca = format!("ldap_tls_cacert_file: {}\n", pki.ca_file.display());
    let cases = [
        ("ldaps", tls_conf(&slapd.ldaps_uri("localhost"), &ca)),
        ("StartTLS", tls_conf(&slapd.uri_for("localhost"), &format!("{ca}ldap_start_tls: yes\n"))),
    ];
    for (what, setup) in &cases {
        let d = daemon(target, setup);
        assert_eq!(text(&d, "alice", ALICE_PW), "OK", "{what}: {}", d.log());
        assert_eq!(text(&d, "alice", "wrong"), "NO", "{what}");
    }
    let plaintext = slapd.plaintext_operations();
    assert!(plaintext.is_empty(), "operations outside TLS:\n{}", plaintext.join("\n"));
});

/// Only that very certificate is trusted that way: another self-signed CA, the right one for
/// another name, or an expired one are refused (tempfail, nothing sent outside TLS).
#[test]
fn self_signed_ca_is_trusted_for_nothing_else() {
    let pki = Pki::self_signed_ca(&["localhost"]);
    let other = Pki::self_signed_ca(&["localhost"]);
    let expired = Pki::self_signed_ca_expired(&["localhost"]);
    let slapd = tls_slapd(&pki);
    let old_slapd = tls_slapd(&expired);
    let ca = |p: &Pki| format!("ldap_tls_cacert_file: {}\n", p.ca_file.display());
    let start_tls = "ldap_start_tls: yes\n";
    let cases = [
        ("ldaps, another self-signed CA", tls_conf(&slapd.ldaps_uri("localhost"), &ca(&other))),
        (
            "StartTLS, another self-signed CA",
            tls_conf(&slapd.uri_for("localhost"), &(ca(&other) + start_tls)),
        ),
        ("ldaps to the address", tls_conf(&slapd.ldaps_uri("127.0.0.1"), &ca(&pki))),
        ("StartTLS to the address", tls_conf(&slapd.uri_for("127.0.0.1"), &(ca(&pki) + start_tls))),
        ("ldaps, expired", tls_conf(&old_slapd.ldaps_uri("localhost"), &ca(&expired))),
        ("StartTLS, expired", tls_conf(&old_slapd.uri_for("localhost"), &(ca(&expired) + start_tls))),
    ];
    for (what, setup) in &cases {
        let d = daemon(Target::Ours, setup);
        assert_eq!(auth(&d, "alice", ALICE_PW), RawReply::ClosedWithoutReply, "{what}: {}", d.log());
        assert!(d.log().contains("TLS handshake failed: invalid peer certificate"), "{what}: {}", d.log());
    }
    for server in [&slapd, &old_slapd] {
        assert_eq!(binds(server, "uid=alice,"), 0, "a bind reached slapd:\n{}", server.log());
        let plaintext = server.plaintext_operations();
        assert!(plaintext.is_empty(), "operations outside TLS:\n{}", plaintext.join("\n"));
    }
}

/// An OpenLDAP `{SCHEME}` value made by `slappasswd`.
fn slappasswd(args: &[&str], password: &str) -> String {
    let out = Command::new(require_program("slappasswd", "slapd"))
        .args(args)
        .args(["-s", password])
        .output()
        .unwrap();
    assert!(out.status.success(), "slappasswd {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim_end().to_owned()
}

// Cyrus's custom method knows {SSHA} and {CRYPT} (through crypt(3)); both must agree.
both_targets!(custom_checks_hashed_passwords, |target| {
    let users = [
        ("ssha", slappasswd(&["-h", "{SSHA}"], "ssha-pw"), "ssha-pw"),
        ("sha512", format!("{{CRYPT}}{}", mkpasswd("sha-512", "sha512-pw")), "sha512-pw"),
        ("yescrypt", format!("{{CRYPT}}{}", mkpasswd("yescrypt", "yes-pw")), "yes-pw"),
        ("slapcrypt", slappasswd(&["-h", "{CRYPT}", "-c", "$6$%.16s"], "slap-pw"), "slap-pw"),
    ];
    let mut entries = String::new();
    for (uid, hash, _) in &users {
        entries += &format!(
            "dn: uid={uid},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: h\nuserPassword: {hash}\n\n"
        );
    }
    let slapd = Slapd::start(&entries);
    let setup = conf(&format!(
        "ldap_servers: {}\nldap_search_base: ou=people,{SUFFIX}\nldap_auth_method: custom\n\
         ldap_bind_dn: {ROOT_DN}\nldap_bind_pw: {ROOT_PW}\n",
        slapd.uri()
    ));
    let d = daemon(target, &setup);
    for (uid, hash, password) in &users {
        assert_eq!(text(&d, uid, password), "OK", "{uid} {hash}\n{}", d.log());
        assert_eq!(text(&d, uid, &format!("{password}x")), "NO", "{uid}");
        assert_eq!(text(&d, uid, hash), "NO", "{uid}: the stored value is not a password");
    }
});

/// `ldap_hash_cache_ttl` (ours, custom): a repeated match is not hashed again, but the entry is
/// still read every time, so a changed password is refused at once.
#[test]
fn custom_hash_cache_still_reads_the_entry() {
    let hash = format!("{{CRYPT}}{}", mkpasswd("yescrypt", "yes-pw"));
    let slapd = Slapd::start(&format!(
        "dn: uid=y,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: y\ncn: y\nsn: y\nuserPassword: {hash}\n\n"
    ));
    let setup = conf(&format!(
        "ldap_servers: {}\nldap_search_base: ou=people,{SUFFIX}\nldap_auth_method: custom\n\
         ldap_bind_dn: {ROOT_DN}\nldap_bind_pw: {ROOT_PW}\nldap_hash_cache_ttl: 60\n",
        slapd.uri()
    ));
    let d =
        Daemon::builder(Target::Ours).mech("ldap", Some(&setup.conf)).arg("--no-penalty").metrics().start();
    assert_eq!(text(&d, "y", "yes-pw"), "OK");
    assert_eq!(text(&d, "y", "yes-pw"), "OK");
    assert_eq!(text(&d, "y", "wrong"), "NO");
    d.assert_memory_metrics("ldap", "matched_hash", 1, 2, 1);
    let new_hash = format!("{{CRYPT}}{}", mkpasswd("yescrypt", "new-pw"));
    slapd.modify(&format!(
        "dn: uid=y,ou=people,{SUFFIX}\nchangetype: modify\nreplace: userPassword\nuserPassword: {new_hash}\n"
    ));
    assert_eq!(text(&d, "y", "yes-pw"), "NO", "the entry is read again: the old password is refused");
    assert_eq!(text(&d, "y", "new-pw"), "OK");
}

#[test]
fn group_search_base_and_dn_with_tokens() {
    let slapd = Slapd::start(&format!(
        "{}dn: ou=smtp,ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: smtp\n\n\
         dn: cn=senders,ou=smtp,ou=groups,{SUFFIX}\nobjectClass: groupOfUniqueNames\ncn: senders\n\
         uniqueMember: uid=alice,ou=people,{SUFFIX}\n\
         uniqueMember: uid=we\\,ird\\+\\\"\\<\\>\\;,ou=people,{SUFFIX}\n\n\
         dn: cn=smtp,ou=groups,{SUFFIX}\nobjectClass: groupOfUniqueNames\ncn: smtp\n\
         uniqueMember: uid=bob,ou=people,{SUFFIX}\n\n",
        ldif()
    ));
    // The realm's labels build the bases (%2 = example, %1 = com), the service picks the group
    // subtree; %D is the DN found for the user, escaped for the filter.
    let by_filter = conf(&format!(
        "ldap_servers: {}\nldap_search_base: ou=people,dc=%2,dc=%1\nldap_filter: (uid=%U)\n\
         ldap_group_match_method: filter\nldap_group_search_base: ou=%s,ou=groups,dc=%2,dc=%1\n\
         ldap_group_scope: one\nldap_group_filter: (&(cn=senders)(uniqueMember=%D))\n",
        slapd.uri()
    ));
    let d = daemon(Target::Ours, &by_filter);
    let ask = |login: &str, password: &str, service: &str, realm: &str| {
        send_raw_open(d.socket(), &request(login.as_bytes(), password.as_bytes(), service, realm)).text()
    };
    assert_eq!(ask("alice@example.com", ALICE_PW, "smtp", ""), "OK", "%1/%2 from the login's domain");
    assert_eq!(ask("alice", ALICE_PW, "smtp", "example.com"), "OK", "%1/%2 from the realm");
    assert_eq!(ask(&format!("{WEIRD_UID}@example.com"), WEIRD_PW, "smtp", ""), "OK", "%D with ,+\"<>;");
    assert_eq!(ask("bob@example.com", "bob-pass", "smtp", ""), "NO", "not a sender");
    assert_eq!(ask("alice@example.com", ALICE_PW, "imap", ""), "NO", "no ou=imap group subtree");
    assert_eq!(ask("alice@example.org", ALICE_PW, "smtp", ""), "NO", "no dc=org base");
    // A label holding DN syntax stays one (escaped) attribute value.
    assert_eq!(ask("alice@com,dc=example.com", ALICE_PW, "smtp", ""), "NO");
    drop(d);

    // attr method: the group DN from the service.
    let by_attr = conf(&format!("{}ldap_group_dn: cn=%s,ou=groups,{SUFFIX}\n", bind_conf(&slapd)));
    let d = daemon(Target::Ours, &by_attr);
    let ask = |login: &str, password: &str, service: &str| {
        send_raw_open(d.socket(), &request(login.as_bytes(), password.as_bytes(), service, "")).text()
    };
    assert_eq!(ask("bob", "bob-pass", "smtp"), "OK");
    assert_eq!(ask("alice", ALICE_PW, "smtp"), "NO");
    assert_eq!(ask("alice", ALICE_PW, "mail"), "OK", "cn=mail lists alice");
    assert_eq!(ask("alice", ALICE_PW, "senders,ou=smtp"), "NO", "the service is one escaped RDN value");
}

#[test]
fn slapd_killed_under_load_tempfails_then_recovers_without_leaks() {
    const POOL: usize = 4;
    let mut slapd = Slapd::start(&ldif());
    let setup = conf(&format!("{}ldap_timeout: 2\nldap_pool_size: {POOL}\n", bind_conf(&slapd)));
    let d = Arc::new(daemon(Target::Ours, &setup));
    let pid = d.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let (oks, tempfails) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let hammer = || -> Vec<std::thread::JoinHandle<()>> {
        stop.store(false, Ordering::SeqCst);
        (0..4)
            .map(|_| {
                let (d, stop, oks, tempfails) = (d.clone(), stop.clone(), oks.clone(), tempfails.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match auth(&d, "alice", ALICE_PW) {
                            RawReply::ClosedWithoutReply => {
                                tempfails.fetch_add(1, Ordering::SeqCst);
                                // A refused connect fails in microseconds; no need to spin.
                                std::thread::sleep(Duration::from_millis(5));
                            }
                            reply => {
                                assert_eq!(reply.text(), "OK", "never NO while slapd is down or back");
                                oks.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    }
                })
            })
            .collect()
    };
    let join = |workers: Vec<std::thread::JoinHandle<()>>| {
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.join().unwrap();
        }
    };

    // Warm up until both pools hold connections, then count descriptors at rest.
    let workers = hammer();
    assert!(wait_until(Duration::from_secs(10), || oks.load(Ordering::SeqCst) >= 100), "{}", d.log());
    join(workers);
    let before = fd_count(pid);

    let workers = hammer();
    slapd.stop();
    let down = tempfails.load(Ordering::SeqCst);
    assert!(
        wait_until(Duration::from_secs(10), || tempfails.load(Ordering::SeqCst) >= down + 20),
        "no tempfails while slapd is down:\n{}",
        d.log()
    );
    slapd.resume();
    let restarted = Instant::now();
    let oks_at_restart = oks.load(Ordering::SeqCst);
    assert!(
        wait_until(Duration::from_secs(5), || oks.load(Ordering::SeqCst) >= oks_at_restart + 100),
        "not serving again within 5 s of the restart:\n{}",
        d.log()
    );
    let recovery = restarted.elapsed();
    join(workers);
    assert!(d.log().contains("no LDAP server reachable"), "{}", d.log());

    // Old connections were dropped with the dead server, not kept: at rest again, the count is
    // back within what the two pools may hold.
    let after = wait_fd_count_at_most(pid, before + 2 * POOL, Duration::from_secs(5));
    assert!(after <= before + 2 * POOL, "descriptors {before} before, {after} after recovery");
    println!("recovered in {recovery:?}; descriptors {before} before, {after} after");
    assert_eq!(text(&d, "alice", "wrong"), "NO");
}

/// Side-by-side load run for the report: 16 one-request clients (`testsaslauthd --load`) against
/// one slapd, Cyrus `-a ldap -n 5` and ours with the same saslauthd.conf, and ours with
/// `ldap_dn_cache_ttl` added (one operation per login instead of two), alternating:
/// `cargo build --release --workspace --bins && cargo test --release -p saslauthd-tests --test
/// ldap -- --ignored --nocapture ldap_benchmark`.
#[test]
#[ignore = "a 6 x 10 s benchmark, run by hand"]
fn ldap_benchmark() {
    let slapd = Slapd::start(&ldif());
    let same = conf(&bind_conf(&slapd));
    let dn_cache = conf(&format!("{}ldap_dn_cache_ttl: 300\n", bind_conf(&slapd)));
    let rounds = [
        ("ours", Target::Ours, &same),
        ("cyrus", Target::Cyrus, &same),
        ("ours+dn-cache", Target::Ours, &dn_cache),
        ("ours+dn-cache", Target::Ours, &dn_cache),
        ("cyrus", Target::Cyrus, &same),
        ("ours", Target::Ours, &same),
    ];
    let mut results: Vec<(&str, f64, f64, f64)> = Vec::new();
    for (label, target, setup) in rounds {
        let d = Daemon::builder(target).mech("ldap", Some(&setup.conf)).threads(5).start();
        // A benchmark of refusals would measure nothing: both must accept the user first.
        assert_eq!(text(&d, "bob", "bob-pass"), "OK", "{label} does not accept the user:\n{}", d.log());
        // Another user, so that our default brute-force penalty does not touch bob.
        assert_eq!(text(&d, "alice", "wrong"), "NO", "{label}");
        // The daemon's process group holds Cyrus's workers too.
        let (daemon_pid, slapd_pid) = (d.pid(), slapd.pid());
        let cpu_now = || (cpu_ms(|_, group| group == daemon_pid), cpu_ms(|pid, _| pid == slapd_pid));
        let (cpu_before, client_before) = (cpu_now(), children_cpu_ms());
        let done = load(d.socket(), "bob", "bob-pass", "smtp");
        let (cpu_after, client) = (cpu_now(), children_cpu_ms() - client_before);
        let cpu = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
        println!("{label}: {}{}", done.stdout, done.stderr);
        let field = |name: &str| done.load_field(name);
        assert_eq!((field("no"), field("fail")), (0.0, 0.0), "{label}: {}\n{}", done.stdout, d.log());
        let requests = field("requests");
        println!(
            "{label}: CPU per request: daemon {:.3} ms, slapd {:.3} ms, load client {:.3} ms",
            cpu.0 as f64 / requests,
            cpu.1 as f64 / requests,
            client / requests
        );
        results.push((label, field("rps"), field("p50_ms"), field("p99_ms")));
    }
    let mean = |label: &str, pick: fn(&(&str, f64, f64, f64)) -> f64| {
        let v: Vec<f64> = results.iter().filter(|r| r.0 == label).map(pick).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (rps_c, p50_c, p99_c) = (mean("cyrus", |r| r.1), mean("cyrus", |r| r.2), mean("cyrus", |r| r.3));
    println!("cyrus: mean rps={rps_c:.1} p50_ms={p50_c:.2} p99_ms={p99_c:.2}");
    for label in ["ours", "ours+dn-cache"] {
        let (rps, p50, p99) = (mean(label, |r| r.1), mean(label, |r| r.2), mean(label, |r| r.3));
        println!(
            "{label}: mean rps={rps:.1} (x{:.2} of cyrus) p50_ms={p50:.2} p99_ms={p99:.2} (x{:.2} of cyrus)",
            rps / rps_c,
            p99 / p99_c
        );
    }
}
