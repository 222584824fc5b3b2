//! `-a kerberos5` end to end against a private MIT KDC (tests/src/kdc.rs), ours and Cyrus's
//! saslauthd side by side with the same krb5.conf, keytab and `-O` file: the replies Cyrus
//! defines must be byte-identical; where the issue (#18) fixes Cyrus, both answers are pinned
//! (realm doubled, tempfails where Cyrus says `NO`, a broken or stale keytab that tells right
//! from wrong passwords in Cyrus).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use saslauthd_tests::kdc::{HOST_PRINCIPAL, Kdc, REALM, SERVER_NAME};
use saslauthd_tests::run::load;
use saslauthd_tests::{Daemon, RawReply, Target, counted_reply, request, send_raw_open};
use tempfile::TempDir;

const JOE_PW: &str = "Joe-canary-7Qz";
const ALICE_PW: &str = "Alice-canary-3Wv";
const WRONG: &str = "not-the-password";
/// What a test expects in place of a reply: the connection closed without one.
const TEMPFAIL: &str = "<tempfail>";

/// A KDC with users `joe` and `alice`, and an `-O` file naming its keytab and server name.
struct Realm {
    kdc: Kdc,
    dir: TempDir,
    conf: PathBuf,
}

impl Realm {
    fn new() -> Realm {
        Realm::with_conf("")
    }

    /// `extra` is appended to the `-O` file.
    fn with_conf(extra: &str) -> Realm {
        let kdc = Kdc::start();
        kdc.add_user("joe", JOE_PW);
        kdc.add_user("alice", ALICE_PW);
        let dir = tempfile::tempdir().unwrap();
        let conf = write_conf(dir.path(), &kdc.host_keytab(), extra);
        Realm { kdc, dir, conf }
    }

    /// A daemon using this realm's krb5.conf (`KRB5_CONFIG`) and `-O` file.
    fn daemon(&self, target: Target) -> Daemon {
        self.daemon_with(target, &self.kdc.krb5_conf(), &self.conf)
    }

    fn daemon_with(&self, target: Target, krb5_conf: &Path, conf: &Path) -> Daemon {
        let builder = Daemon::builder(target).mech("kerberos5", Some(conf)).env("KRB5_CONFIG", krb5_conf);
        if target == Target::Ours { builder.arg("--no-penalty") } else { builder }.start()
    }
}

fn write_conf(dir: &Path, keytab: &Path, extra: &str) -> PathBuf {
    let path = dir.join(format!("saslauthd-{}.conf", std::fs::read_dir(dir).unwrap().count()));
    std::fs::write(
        &path,
        format!("krb5_keytab: {}\nkrb5_servername: {SERVER_NAME}\n{extra}", keytab.display()),
    )
    .unwrap();
    path
}

fn reply(d: &Daemon, login: &str, password: &str, realm: &str) -> RawReply {
    send_raw_open(d.socket(), &request(login.as_bytes(), password.as_bytes(), "imap", realm))
}

fn expected(text: &str) -> RawReply {
    if text == TEMPFAIL { RawReply::ClosedWithoutReply } else { counted_reply(text) }
}

fn assert_reply(d: &Daemon, login: &str, password: &str, realm: &str, want: &str) {
    assert_eq!(
        reply(d, login, password, realm),
        expected(want),
        "{:?}: login {login:?}, realm {realm:?}, {} password\nlog:\n{}",
        d.target(),
        if password == WRONG { "wrong" } else { "a right" },
        d.log()
    );
}

fn assert_no_password_in_log(d: &Daemon) {
    let log = d.log();
    for pw in [JOE_PW, ALICE_PW, WRONG] {
        assert!(!log.contains(pw), "a password in the log:\n{log}");
    }
}

/// login, password, realm, ours, Cyrus: one row per case, both daemons on one KDC.
const ROWS: &[(&str, &str, &str, &str, &str)] = &[
    ("joe", JOE_PW, "", "OK", "OK"),
    ("joe", WRONG, "", "NO krb5_get_init_creds_password failed", "NO krb5_get_init_creds_password failed"),
    (
        "nobody",
        JOE_PW,
        "",
        "NO krb5_get_init_creds_password failed",
        "NO krb5_get_init_creds_password failed",
    ),
    // The realm field.
    ("alice", ALICE_PW, REALM, "OK", "OK"),
    (
        "alice",
        WRONG,
        REALM,
        "NO krb5_get_init_creds_password failed",
        "NO krb5_get_init_creds_password failed",
    ),
    // login@REALM as written.
    ("joe@SASLAUTHD.TEST", JOE_PW, "", "OK", "OK"),
    // login@REALM plus the realm field: Cyrus forms joe@REALM@REALM.
    ("joe@SASLAUTHD.TEST", JOE_PW, REALM, "OK", "NO saslauthd internal error"),
    (
        "joe@SASLAUTHD.TEST",
        WRONG,
        REALM,
        "NO krb5_get_init_creds_password failed",
        "NO saslauthd internal error",
    ),
    // Realms are case-sensitive and neither upper-cases by default; a realm with no KDC that is
    // not the server's own is the request's fault for us, too.
    (
        "joe",
        JOE_PW,
        "saslauthd.test",
        "NO krb5_get_init_creds_password failed",
        "NO krb5_get_init_creds_password failed",
    ),
    // Instances are the login's to name (and here unknown).
    (
        "joe/admin",
        JOE_PW,
        "",
        "NO krb5_get_init_creds_password failed",
        "NO krb5_get_init_creds_password failed",
    ),
    // Not a principal libkrb5 can parse.
    ("a@b@c", JOE_PW, "", "NO saslauthd internal error", "NO saslauthd internal error"),
];

#[test]
fn replies_side_by_side_with_cyrus() {
    let realm = Realm::new();
    let ours = realm.daemon(Target::Ours);
    let cyrus = realm.daemon(Target::Cyrus);
    for &(login, password, r, want_ours, want_cyrus) in ROWS {
        assert_reply(&ours, login, password, r, want_ours);
        assert_reply(&cyrus, login, password, r, want_cyrus);
    }
    assert_no_password_in_log(&ours);
}

#[test]
fn bad_bytes_are_refused_without_asking_the_kdc() {
    let realm = Realm::new();
    let d = realm.daemon(Target::Ours);
    // C would cut at the NUL: Cyrus would check the password "Joe-" against the KDC.
    let mut with_nul = JOE_PW.as_bytes().to_vec();
    with_nul.insert(4, 0);
    let sent = send_raw_open(d.socket(), &request(b"joe", &with_nul, "imap", ""));
    assert_eq!(sent, counted_reply("NO krb5_get_init_creds_password failed"), "{}", d.log());
    for login in ["jo\ne", "joe\r", "jo\"e", "joe\\", "@SASLAUTHD.TEST", "joe@"] {
        let got = reply(&d, login, JOE_PW, "");
        assert!(
            got != counted_reply("OK") && got != RawReply::ClosedWithoutReply,
            "{login:?}: {got:?}\n{}",
            d.log()
        );
    }
    assert_no_password_in_log(&d);
}

/// libkrb5 echoes the principal in its messages, escaping `\n` in a name but neither `\r` nor
/// anything in a realm it cannot find: the mechanism's own log line must not let a login or
/// realm start a forged line.
#[test]
fn logins_and_realms_cannot_forge_log_lines() {
    let realm = Realm::new();
    let d = realm.daemon(Target::Ours);
    for (login, r) in [("joe", "EVIL.TEST\nforged-by-realm"), ("joe\rforged-by-login", ""), ("jo\ne", "")] {
        let got = reply(&d, login, WRONG, r);
        assert_eq!(
            got,
            counted_reply("NO krb5_get_init_creds_password failed"),
            "{login:?} {r:?}\n{}",
            d.log()
        );
    }
    let log = d.log();
    assert!(!log.contains('\r'), "a raw CR in the log:\n{log}");
    assert!(!log.lines().any(|l| l.starts_with("forged")), "a forged line in the log:\n{log}");
}

#[test]
fn uppercase_realm_is_a_named_option() {
    let realm = Realm::with_conf("krb5_uppercase_realm: yes\n");
    let d = realm.daemon(Target::Ours);
    assert_reply(&d, "joe", JOE_PW, "saslauthd.test", "OK");
    assert_reply(&d, "joe@saslauthd.test", JOE_PW, "", "OK");
    assert_reply(&d, "joe", WRONG, "saslauthd.test", "NO krb5_get_init_creds_password failed");
}

#[test]
fn a_service_can_force_an_instance() {
    let realm = Realm::with_conf("krb5_imap_instance: mail\n");
    realm.kdc.add_user("joe/mail", "Mail-canary-1");
    let d = realm.daemon(Target::Ours);
    assert_reply(&d, "joe", "Mail-canary-1", "", "OK");
    assert_reply(&d, "joe/mail", "Mail-canary-1", "", "OK");
    assert_reply(&d, "joe/admin", JOE_PW, "", "NO saslauthd principal name error");
    let cyrus = realm.daemon(Target::Cyrus);
    assert_reply(&cyrus, "joe", "Mail-canary-1", "", "OK");
    assert_reply(&cyrus, "joe/admin", JOE_PW, "", "NO saslauthd principal name error");
}

#[test]
fn kdc_down_is_a_tempfail() {
    let mut realm = Realm::new();
    let ours = realm.daemon(Target::Ours);
    let cyrus = realm.daemon(Target::Cyrus);
    assert_reply(&ours, "joe", JOE_PW, "", "OK");
    realm.kdc.stop();
    for password in [JOE_PW, WRONG] {
        assert_reply(&ours, "joe", password, "", TEMPFAIL);
        // Cyrus tells the user the password is wrong.
        assert_reply(&cyrus, "joe", password, "", "NO krb5_get_init_creds_password failed");
    }
    assert!(ours.log().contains("Cannot contact any KDC"), "{}", ours.log());
    realm.kdc.resume();
    assert_reply(&ours, "joe", JOE_PW, "", "OK");
}

#[test]
fn a_silent_kdc_is_a_tempfail_at_the_deadline() {
    let realm = Realm::new();
    // Bound but never answering: libkrb5 waits and retries.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let conf = realm.dir.path().join("silent-krb5.conf");
    let text = realm.kdc.krb5_conf_text().replace(
        &format!("kdc = 127.0.0.1:{}", realm.kdc.port()),
        &format!("kdc = 127.0.0.1:{}", silent.local_addr().unwrap().port()),
    );
    std::fs::write(&conf, text).unwrap();
    let d = Daemon::builder(Target::Ours)
        .mech("kerberos5", Some(&realm.conf))
        .env("KRB5_CONFIG", &conf)
        .args_verify_timeout(2)
        .start();
    let start = Instant::now();
    assert_reply(&d, "joe", JOE_PW, "", TEMPFAIL);
    assert!(start.elapsed() < Duration::from_secs(8), "took {:?}", start.elapsed());
}

/// `--verify-timeout`, as an extension trait so the shared builder stays untouched.
trait VerifyTimeout {
    fn args_verify_timeout(self, secs: u32) -> Self;
}

impl VerifyTimeout for saslauthd_tests::DaemonBuilder {
    fn args_verify_timeout(self, secs: u32) -> Self {
        self.arg("--verify-timeout").arg(secs.to_string())
    }
}

#[test]
fn a_broken_krb5_conf_is_a_tempfail() {
    let realm = Realm::new();
    let broken = realm.dir.path().join("broken-krb5.conf");
    std::fs::write(&broken, "[libdefaults\n default_realm = SASLAUTHD.TEST\n").unwrap();
    let ours = realm.daemon_with(Target::Ours, &broken, &realm.conf);
    let cyrus = realm.daemon_with(Target::Cyrus, &broken, &realm.conf);
    for password in [JOE_PW, WRONG] {
        assert_reply(&ours, "joe", password, "", TEMPFAIL);
        assert_reply(&cyrus, "joe", password, "", "NO saslauthd internal error");
    }
    assert!(ours.log().contains("cannot read the Kerberos configuration"), "{}", ours.log());
    assert!(
        ours.log().contains("temporary failure until this is fixed"),
        "no start-up warning:\n{}",
        ours.log()
    );
}

#[test]
fn no_default_realm_is_a_tempfail_unless_the_request_names_one() {
    let realm = Realm::new();
    let conf = realm.dir.path().join("no-default-krb5.conf");
    std::fs::write(&conf, realm.kdc.krb5_conf_text().replace(&format!(" default_realm = {REALM}\n"), ""))
        .unwrap();
    let d = realm.daemon_with(Target::Ours, &conf, &realm.conf);
    assert_reply(&d, "joe", JOE_PW, "", TEMPFAIL);
    assert_reply(&d, "joe", JOE_PW, REALM, "OK");
    assert_reply(&d, "joe@SASLAUTHD.TEST", JOE_PW, "", "OK");
}

/// Unusable keytabs: missing, not a keytab, or without the verifying principal's key. Ours
/// tempfails for right and wrong passwords alike; Cyrus's reply tells the two apart.
#[test]
fn an_unusable_keytab_is_a_tempfail_for_right_and_wrong_passwords() {
    let realm = Realm::new();
    let other = realm.dir.path().join("other.keytab");
    realm.kdc.kadmin("addprinc -randkey host/elsewhere.test");
    realm.kdc.export_keytab(&other, "host/elsewhere.test");
    let garbage = realm.dir.path().join("garbage.keytab");
    std::fs::write(&garbage, b"\x05\x02this is no keytab").unwrap();
    let missing = realm.dir.path().join("missing.keytab");
    for keytab in [&missing, &garbage, &other] {
        let conf = write_conf(realm.dir.path(), keytab, "");
        let ours = realm.daemon_with(Target::Ours, &realm.kdc.krb5_conf(), &conf);
        let cyrus = realm.daemon_with(Target::Cyrus, &realm.kdc.krb5_conf(), &conf);
        for login in ["joe", "nobody"] {
            assert_reply(&ours, login, JOE_PW, "", TEMPFAIL);
            assert_reply(&ours, login, WRONG, "", TEMPFAIL);
        }
        assert!(ours.log().contains("so no ticket can be verified"), "{}", ours.log());
        assert_reply(&cyrus, "joe", JOE_PW, "", "NO krb5_verify_init_creds failed");
        assert_reply(&cyrus, "joe", WRONG, "", "NO krb5_get_init_creds_password failed");
    }
}

/// How many AS exchanges the KDC logged for the verifying principal: the keytab checks.
fn keytab_checks_at(kdc: &Kdc) -> usize {
    let client = format!("{HOST_PRINCIPAL}@{REALM} for krbtgt/");
    kdc.log().lines().filter(|l| l.contains("AS_REQ") && l.contains(&client)).count()
}

/// The server's key changed after the keytab was written (`cpw -randkey`): the KDC's ticket
/// no longer decrypts with the keytab, and before a refused password is answered the keytab is
/// checked against the KDC (an AS exchange with its key), so right and wrong passwords get the
/// same tempfail, logged with keytab and principal. Cyrus's replies tell the two apart. A wave
/// of wrong passwords costs the KDC one keytab check per interval (60 s by default).
#[test]
fn a_stale_keytab_is_a_tempfail_for_right_and_wrong_passwords() {
    let realm = Realm::new();
    realm.kdc.kadmin(&format!("cpw -randkey {HOST_PRINCIPAL}"));
    let d = realm.daemon(Target::Ours);
    // A wrong password first: nothing has been learnt about the keytab yet.
    for _ in 0..5 {
        assert_reply(&d, "joe", WRONG, "", TEMPFAIL);
        assert_reply(&d, "nobody", WRONG, "", TEMPFAIL);
    }
    assert_reply(&d, "joe", JOE_PW, "", TEMPFAIL);
    assert_reply(&d, "alice", ALICE_PW, REALM, TEMPFAIL);
    assert_eq!(keytab_checks_at(&realm.kdc), 1, "one keytab check for the whole wave:\n{}", realm.kdc.log());
    let log = d.log();
    let keytab = realm.kdc.host_keytab();
    assert!(
        log.contains(&format!(
            "keytab FILE:{} does not hold the KDC's current key for {HOST_PRINCIPAL}@{REALM}",
            keytab.display()
        )),
        "{log}"
    );
    assert!(log.contains("does not match keytab"), "{log}");
    assert_no_password_in_log(&d);
    let cyrus = realm.daemon(Target::Cyrus);
    assert_reply(&cyrus, "joe", JOE_PW, "", "NO krb5_verify_init_creds failed");
    assert_reply(&cyrus, "joe", WRONG, "", "NO krb5_get_init_creds_password failed");
}

/// Once the keytab is renewed (`ktadd` of the new key), `OK` and `NO` come back as soon as the
/// remembered verdict expires (`krb5_keytab_check_interval`, here 1 s).
#[test]
fn a_renewed_keytab_answers_again_after_the_interval() {
    let realm = Realm::with_conf("krb5_keytab_check_interval: 1\n");
    realm.kdc.kadmin(&format!("cpw -randkey {HOST_PRINCIPAL}"));
    let d = realm.daemon(Target::Ours);
    assert_reply(&d, "joe", WRONG, "", TEMPFAIL);
    assert_reply(&d, "joe", JOE_PW, "", TEMPFAIL);
    realm.kdc.export_keytab(&realm.kdc.host_keytab(), HOST_PRINCIPAL);
    std::thread::sleep(Duration::from_millis(1500));
    assert_reply(&d, "joe", WRONG, "", "NO krb5_get_init_creds_password failed");
    assert_reply(&d, "joe", JOE_PW, "", "OK");
    assert_reply(&d, "nobody", WRONG, "", "NO krb5_get_init_creds_password failed");
    // Stale again: found again, now by the right password's ticket.
    realm.kdc.kadmin(&format!("cpw -randkey {HOST_PRINCIPAL}"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_reply(&d, "joe", JOE_PW, "", TEMPFAIL);
    assert_reply(&d, "joe", WRONG, "", TEMPFAIL);
    assert_no_password_in_log(&d);
}

/// A verifying principal that may not get initial tickets (`+needchange`) cannot be
/// checked with an AS exchange: a warning says so and refused passwords get `NO` as before;
/// once a right password's ticket shows the keytab stale, wrong ones tempfail too, until a
/// right password verifies again (here with every verdict expired at once: interval 0).
#[test]
fn an_uncheckable_keytab_warns_and_remembers_a_mismatch() {
    let realm = Realm::with_conf("krb5_keytab_check_interval: 0\n");
    realm.kdc.kadmin(&format!("modprinc +needchange {HOST_PRINCIPAL}"));
    let d = realm.daemon(Target::Ours);
    assert_reply(&d, "joe", WRONG, "", "NO krb5_get_init_creds_password failed");
    assert_reply(&d, "joe", JOE_PW, "", "OK");
    assert!(d.log().contains("cannot tell whether keytab"), "{}", d.log());
    realm.kdc.kadmin(&format!("cpw -randkey {HOST_PRINCIPAL}"));
    assert_reply(&d, "joe", JOE_PW, "", TEMPFAIL);
    assert_reply(&d, "joe", WRONG, "", TEMPFAIL);
    assert_reply(&d, "nobody", WRONG, "", TEMPFAIL);
    realm.kdc.export_keytab(&realm.kdc.host_keytab(), HOST_PRINCIPAL);
    assert_reply(&d, "joe", JOE_PW, "", "OK");
    assert_reply(&d, "joe", WRONG, "", "NO krb5_get_init_creds_password failed");
}

/// Without `krb5_keytab`, `KRB5_KTNAME` names the keytab, as for Cyrus (libkrb5's default).
#[test]
fn krb5_ktname_names_the_keytab() {
    let realm = Realm::new();
    let conf = realm.dir.path().join("no-keytab.conf");
    std::fs::write(&conf, format!("krb5_servername: {SERVER_NAME}\n")).unwrap();
    for target in Target::ALL {
        let d = Daemon::builder(target)
            .mech("kerberos5", Some(&conf))
            .env("KRB5_CONFIG", realm.kdc.krb5_conf())
            .env("KRB5_KTNAME", format!("FILE:{}", realm.kdc.host_keytab().display()))
            .start();
        assert_reply(&d, "joe", JOE_PW, "", "OK");
    }
}

/// A KDC that does not know the keytab's key (a second KDC for the same realm, as an attacker
/// answering for the real one would be) accepts its own user's password; the TGT it issues
/// must not log anyone in.
#[test]
fn a_spoofed_kdc_cannot_log_anyone_in() {
    let realm = Realm::new();
    let spoof = Kdc::start();
    spoof.add_user("joe", "Spoofed-canary-5");
    // The daemons ask the spoofing KDC but verify with the real keytab.
    let ours = realm.daemon_with(Target::Ours, &spoof.krb5_conf(), &realm.conf);
    let cyrus = realm.daemon_with(Target::Cyrus, &spoof.krb5_conf(), &realm.conf);
    assert_reply(&ours, "joe", "Spoofed-canary-5", "", TEMPFAIL);
    assert!(ours.log().contains("does not match keytab"), "{}", ours.log());
    assert_reply(&cyrus, "joe", "Spoofed-canary-5", "", "NO krb5_verify_init_creds failed");
    // The real password is wrong at the spoofing KDC, but that KDC does not know the keytab's
    // key either (the keytab check), so that is no `NO` either.
    assert_reply(&ours, "joe", JOE_PW, "", TEMPFAIL);
    assert!(ours.log().contains("does not hold the KDC's current key"), "{}", ours.log());
    // The spoofing KDC works: with its own keytab the same password passes.
    let spoof_conf = write_conf(realm.dir.path(), &spoof.host_keytab(), "");
    let fooled = realm.daemon_with(Target::Ours, &spoof.krb5_conf(), &spoof_conf);
    assert_reply(&fooled, "joe", "Spoofed-canary-5", "", "OK");
}

/// A relative `KRB5_CONFIG` (and keytab) keeps working after the daemon detaches and changes
/// directory to `/`.
#[test]
fn relative_paths_survive_the_change_of_directory() {
    let realm = Realm::new();
    let run = realm.dir.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::write(
        realm.kdc.dir().join("rel.conf"),
        format!("krb5_keytab: FILE:keytab\nkrb5_servername: {SERVER_NAME}\n"),
    )
    .unwrap();
    // Make sure the relative keytab exists before the daemon looks for it.
    let _ = realm.kdc.host_keytab();
    let out = Command::new(Target::Ours.saslauthd())
        .current_dir(realm.kdc.dir())
        .env("KRB5_CONFIG", "krb5.conf")
        .args(["-a", "kerberos5", "-O", "rel.conf", "--no-penalty", "-m"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let pid: i32 = std::fs::read_to_string(run.join("saslauthd.pid")).unwrap().trim().parse().unwrap();
    let sent = send_raw_open(&run.join("mux"), &request(b"joe", JOE_PW.as_bytes(), "imap", ""));
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(cwd, Path::new("/"));
    assert_eq!(sent, counted_reply("OK"));
}

/// `cargo test -p saslauthd-tests --test kerberos5 -- --ignored --nocapture`: requests/s of
/// ours and Cyrus (`-n 5` each), 16 clients for 10 s, one run each, every request a full AS
/// exchange plus verification against the same private KDC. One run (2026-11-30, 2 shared
/// cores, release build): ours 151 requests/s (p50 77 ms, p99 412 ms), Cyrus 120 requests/s
/// (p50 104 ms, p99 340 ms); the KDC does most of the work.
#[test]
#[ignore = "a 2 x 10 s benchmark, run by hand"]
fn kerberos5_benchmark() {
    let realm = Realm::new();
    let mut results = Vec::new();
    for (label, target) in [("ours", Target::Ours), ("cyrus", Target::Cyrus)] {
        let builder = Daemon::builder(target)
            .mech("kerberos5", Some(&realm.conf))
            .env("KRB5_CONFIG", realm.kdc.krb5_conf())
            .threads(5);
        let d = builder.start();
        assert_reply(&d, "joe", JOE_PW, "", "OK");
        let done = load(d.socket(), "joe", JOE_PW, "imap");
        println!("{label}: {}{}", done.stdout, done.stderr);
        assert_eq!((done.load_field("no"), done.load_field("fail")), (0.0, 0.0), "{label}: {}", done.stdout);
        results.push((label, done.load_field("rps"), done.load_field("p50_ms"), done.load_field("p99_ms")));
    }
    for (label, rps, p50, p99) in &results {
        println!("RESULT {label}: {rps:.0} requests/s, p50 {p50:.1} ms, p99 {p99:.1} ms");
    }
}
