//! A password must never reach a log line, at any verbosity: one canary password is sent through
//! every path the daemon has (OK, NO, unknown user, oversize, malformed, truncated, stalled,
//! unusable and weak hashes, tempfail, PAM refusals) with `SASLAUTHD_LOG=trace`, then the
//! daemon's whole stderr is searched for it, its hex and its base64 forms. Also `Debug` of the
//! wrappers that carry a password and have no unit test of their own. And after rimap (with
//! Dovecot), ldap (with slapd) and sql (SQLite) logins the daemon's whole readable memory is
//! searched, through /proc/<pid>/mem, for any copy of the password left unwiped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::Duration;

use base64::Engine as _;
use saslauthd_tests::wire::{connect, read_to_close};
use saslauthd_tests::{
    Daemon, FailDelay, PamService, RawReply, Target, counted, counted_reply, mkpasswd_sha512, pwdfile_raw,
    pwdfile_stack, request, send_raw, send_raw_open,
};

/// The password under watch: distinctive, so finding it anywhere is never a coincidence.
const CANARY: &str = "CanaryPw-9qXz-s3cret";

/// Every encoding of the canary a careless log line might produce.
fn canary_forms() -> Vec<String> {
    let bytes = CANARY.as_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let escaped: String = bytes.iter().map(|b| format!("\\x{b:02x}")).collect();
    let mut forms = vec![CANARY.to_owned(), hex.clone(), hex.to_uppercase(), escaped, format!("{bytes:?}")];
    forms.push(bytes.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", "));
    // base64 of the canary at each of the three alignments it could sit at inside a longer
    // buffer; the middle characters are fixed whatever surrounds it.
    for pad in 0..3 {
        let mut buf = vec![b'\0'; pad];
        buf.extend_from_slice(bytes);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&buf);
        let stable = &encoded[(pad * 4).div_ceil(3) + 1..encoded.len() - 4];
        forms.push(stable.to_owned());
    }
    forms
}

fn assert_log_clean(daemon: &Daemon) {
    let log = daemon.log();
    for form in canary_forms() {
        assert!(!log.contains(&form), "the password appears in the log as {form:?}:\n{log}");
    }
}

fn no(reply: &RawReply) -> bool {
    reply.text().starts_with("NO")
}

/// Our passwd-file daemon, every request path that can carry the password.
#[test]
fn canary_never_logged_passwd_file() {
    let canary = CANARY.as_bytes();
    let content = format!(
        "alice:{}\nbob:{}\ncarol:{CANARY}\ndave:{{PLAIN}}{CANARY}\nerin:{{SSHA}}AAAA\n",
        mkpasswd_sha512(CANARY),
        mkpasswd_sha512("other-password"),
    );
    let file = pwdfile_raw(content.as_bytes());
    let daemon = Daemon::builder(Target::Ours)
        .passwd_file(file.path())
        .read_timeout(1)
        .env("SASLAUTHD_LOG", "trace")
        .start();
    let sock = daemon.socket();
    let ok = counted_reply("OK");
    let req = |login: &[u8], password: &[u8]| request(login, password, "smtp", "");

    assert_eq!(send_raw_open(sock, &req(b"alice", canary)), ok);
    assert_eq!(send_raw_open(sock, &counted(&[b"alice", canary, b"smtp", b"", b"192.0.2.1;25"])), ok);
    assert!(no(&send_raw_open(sock, &req(b"bob", canary))), "wrong password");
    assert!(no(&send_raw_open(sock, &req(b"nobody", canary))), "unknown user");
    // A stored value written without a scheme prefix is unusable, and its error is logged.
    assert!(no(&send_raw_open(sock, &req(b"carol", canary))), "unprefixed cleartext hash");
    // A weak scheme matches and is warned about.
    assert_eq!(send_raw_open(sock, &req(b"dave", canary)), ok);
    assert!(no(&send_raw_open(sock, &req(b"erin", canary))), "malformed digest");
    assert_eq!(send_raw_open(sock, &req(b"", canary)), counted_reply("NO NULL login received"));
    // Oversize: the canary inside a 257-byte password, and beside an oversize service.
    let long = [canary, &[b'x'; 257][..257 - canary.len()]].concat();
    assert_eq!(send_raw_open(sock, &req(b"alice", &long)), RawReply::Reply(b"\x00\x03NO ".to_vec()));
    let long_service = vec![b's'; 257];
    assert_eq!(
        send_raw_open(sock, &counted(&[b"alice", canary, &long_service, b""])),
        RawReply::Reply(b"\x00\x03NO ".to_vec())
    );
    // Malformed fields beside the canary.
    assert_eq!(send_raw_open(sock, &req(b"al\0ice", canary)).text(), "NO malformed login");
    assert_eq!(
        send_raw_open(sock, &counted(&[b"alice", canary, b"sm\xfftp", b""])).text(),
        "NO malformed service"
    );
    // Truncated (closed early) and stalled (read deadline) requests that already hold it.
    let full = req(b"alice", canary);
    assert_eq!(send_raw(sock, &full[..full.len() - 3]), RawReply::ClosedWithoutReply);
    let mut stalled = connect(sock);
    stalled.write_all(&full[..full.len() - 1]).unwrap();
    assert_eq!(read_to_close(&mut stalled), RawReply::ClosedWithoutReply);
    assert!(daemon.wait_for_log("no complete request", Duration::from_secs(3)), "{}", daemon.log());
    // Tempfail: the file is gone, nobody can decide.
    file.remove();
    assert_eq!(send_raw_open(sock, &req(b"alice", canary)), RawReply::ClosedWithoutReply);
    assert!(daemon.wait_for_log("auth tempfail", Duration::from_secs(2)), "{}", daemon.log());

    let log = daemon.log();
    // The log really is verbose, so silence cannot pass for cleanliness.
    for expected in ["auth success", "auth failure", "weak password hash", "unusable hash", "MAX_REQ_LEN"] {
        assert!(log.contains(expected), "no {expected:?} line at trace level:\n{log}");
    }
    assert_log_clean(&daemon);
}

/// Our PAM daemon: success, failure, refused service names, NUL in the password, unknown service.
#[test]
fn canary_never_logged_pam() {
    let users = format!("alice:{}\nbob:{}\n", mkpasswd_sha512(CANARY), mkpasswd_sha512("other-password"));
    let file = pwdfile_raw(users.as_bytes());
    let service = PamService::private(&pwdfile_stack(file.path(), FailDelay::None));
    let daemon = Daemon::builder(Target::Ours).pam(&service).env("SASLAUTHD_LOG", "trace").start();
    let sock = daemon.socket();
    let canary = CANARY.as_bytes();
    let svc = service.name();

    assert_eq!(send_raw_open(sock, &request(b"alice", canary, svc, "")), counted_reply("OK"));
    assert!(no(&send_raw_open(sock, &request(b"bob", canary, svc, ""))));
    assert!(no(&send_raw_open(sock, &request(b"nobody", canary, svc, ""))));
    let nul = [canary, b"\0tail"].concat();
    assert!(no(&send_raw_open(sock, &request(b"alice", &nul, svc, ""))));
    assert!(no(&send_raw_open(sock, &request(b"alice", canary, "../etc/passwd", ""))));
    assert!(no(&send_raw_open(sock, &request(b"alice", canary, &format!("{svc}/x"), ""))));
    // A service with no stack falls to "other" (Debian: pam_deny / pam_unix): an answer either way.
    let _ = send_raw_open(sock, &request(b"alice", canary, "saslauthd-rs-no-such-service", ""));
    assert!(no(&send_raw_open(sock, &counted(&[b"alice", canary, svc.as_bytes(), b"", b"10.0.0.1\0;1"]))));

    let log = daemon.log();
    assert!(log.contains("auth failure") && log.contains("refusing a service name"), "{log}");
    assert_log_clean(&daemon);
}

/// `Debug` of the enums that carry a request (derived, so they rely on `RawRequest`'s own
/// redaction, which has its unit test; this checks the derived wrappers and `{:#?}` too).
#[test]
fn debug_of_request_carriers_is_redacted() {
    use mux_server::connection::Received;
    use mux_server::frame::{Decoded, MAX_FIELD_LEN, decode_request};

    let wire = counted(&[b"joe", CANARY.as_bytes(), b"imap", b"", b"192.0.2.1;25"]);
    let decoded = decode_request(&wire, MAX_FIELD_LEN);
    assert!(matches!(decoded, Decoded::Request { .. }));
    let Decoded::Request { request, .. } = decode_request(&wire, MAX_FIELD_LEN) else { unreachable!() };
    let received = Received::Request(request);
    for shown in
        [format!("{decoded:?}"), format!("{decoded:#?}"), format!("{received:?}"), format!("{received:#?}")]
    {
        assert!(shown.contains("joe") && shown.contains("<redacted>"), "{shown}");
        for form in canary_forms() {
            assert!(!shown.contains(&form), "{shown}");
        }
    }
    let creds = backends::Credentials {
        login: "joe".into(),
        password: zeroize::Zeroizing::new(CANARY.as_bytes().to_vec()),
        service: "imap".into(),
        realm: String::new(),
        client_addr: None,
    };
    let shown = format!("{creds:#?}");
    assert!(!shown.contains(CANARY), "{shown}");
}

/// A malformed service or realm is logged against the login that was sent, not in its place:
/// otherwise any client could write `[user=<anyone>]` failure lines by sending a bad service.
#[test]
fn malformed_field_failures_name_the_real_user() {
    let file = pwdfile_raw(b"alice:{PLAIN}pw\n");
    let daemon = Daemon::builder(Target::Ours).passwd_file(file.path()).start();
    let sock = daemon.socket();
    let r = send_raw_open(sock, &counted(&[b"alice", b"pw", b"victim\xff", b""]));
    assert_eq!(r.text(), "NO malformed service");
    let r = send_raw_open(sock, &counted(&[b"alice", b"pw", b"smtp", b"victim\0"]));
    assert_eq!(r.text(), "NO malformed realm");
    assert!(daemon.wait_for_log("malformed realm", Duration::from_secs(2)));
    let log = daemon.log();
    assert!(!log.contains("[user=victim"), "a service or realm logged as the user:\n{log}");
    assert_eq!(log.matches("[user=alice]").count(), 2, "{log}");
}

/// A canary with `"` and `\`, so that IMAP sends it as a quoted string with both escaped: the
/// escaped form is a copy of its own, which an encoder can leave behind. The part searched for
/// sits past the first 16 bytes, which malloc overwrites with its free-list links when a small
/// buffer is freed.
const QUOTED_CANARY: &str = r#"Canary "memory" probe \ wipe-check 9qXz-h3ap"#;

/// The part every form of [`QUOTED_CANARY`] holds (raw, IMAP-escaped): found anywhere in the
/// daemon's memory, it is a copy somebody did not wipe.
const QUOTED_CANARY_CORE: &[u8] = b"9qXz-h3ap";

/// Where `needle` occurs in the daemon's readable memory: each hit as `(mapping line, address,
/// the bytes around it)`.
/// Root reads any process's /proc/<pid>/mem; mappings that refuse a read (guard pages, vvar)
/// are skipped.
fn memory_hits(pid: u32, needle: &[u8]) -> Vec<(String, u64, String)> {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut hits = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else { continue };
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else { continue };
        let (start, end) = (u64::from_str_radix(start, 16).unwrap(), u64::from_str_radix(end, 16).unwrap());
        let mut region = vec![0u8; usize::try_from(end - start).unwrap()];
        if mem.seek(SeekFrom::Start(start)).is_err() || mem.read_exact(&mut region).is_err() {
            continue;
        }
        let mut from = 0;
        while let Some(i) = region[from..].windows(needle.len()).position(|w| w == needle) {
            let at = from + i;
            let around = &region[at.saturating_sub(24)..(at + needle.len() + 8).min(region.len())];
            hits.push((line.to_owned(), start + at as u64, around.escape_ascii().to_string()));
            from += i + 1;
        }
    }
    hits
}

/// After the logins, no copy of the password is left anywhere in the daemon's memory.
fn assert_memory_clean(daemon: &Daemon, what: &str) {
    // Let the requests' tasks finish dropping what they hold.
    std::thread::sleep(Duration::from_millis(200));
    let hits = memory_hits(daemon.pid(), QUOTED_CANARY_CORE);
    assert!(hits.is_empty(), "{what}: the password is still in the daemon's memory at {hits:#?}");
}

fn ask_quoted_canary(daemon: &Daemon, login: &[u8], service: &str) -> RawReply {
    send_raw_open(daemon.socket(), &request(login, QUOTED_CANARY.as_bytes(), service, ""))
}

/// rimap: the password goes out in an IMAP LOGIN (quoted and escaped) and nowhere else.
#[test]
fn no_copy_in_memory_after_rimap() {
    let dovecot = saslauthd_tests::Dovecot::builder().user("joe", QUOTED_CANARY).start();
    let option = format!("127.0.0.1/{}", dovecot.imap_port());
    let daemon = Daemon::builder(Target::Ours).mech("rimap", Some(&option)).arg("--no-penalty").start();
    assert_eq!(
        ask_quoted_canary(&daemon, b"joe", "imap"),
        counted_reply("OK remote authentication successful"),
        "{}",
        daemon.log()
    );
    assert!(no(&ask_quoted_canary(&daemon, b"nobody", "imap")));
    // The check itself finds a copy where one is: the test process holds the canary.
    assert!(!memory_hits(std::process::id(), QUOTED_CANARY_CORE).is_empty());
    assert_memory_clean(&daemon, "rimap");
}

/// sql (SQLite): the stored hash is fetched and checked here; the password never leaves.
#[test]
fn no_copy_in_memory_after_sql() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mail.db");
    let script = format!(
        "CREATE TABLE mailbox (username TEXT, password TEXT); INSERT INTO mailbox VALUES ('joe', '{}');",
        mkpasswd_sha512(QUOTED_CANARY)
    );
    let sqlite3 = saslauthd_tests::bins::require_program("sqlite3", "sqlite3");
    assert!(std::process::Command::new(sqlite3).arg(&db).arg(script).status().unwrap().success());
    let conf = dir.path().join("sql.conf");
    let select = "SELECT password FROM mailbox WHERE username = '%u'";
    std::fs::write(
        &conf,
        format!("sql_engine: sqlite\nsql_database: {}\nsql_select: {select}\n", db.display()),
    )
    .unwrap();
    let daemon = Daemon::builder(Target::Ours).mech("sql", Some(&conf)).arg("--no-penalty").start();
    assert_eq!(ask_quoted_canary(&daemon, b"joe", "smtp"), counted_reply("OK"), "{}", daemon.log());
    assert!(no(&ask_quoted_canary(&daemon, b"nobody", "smtp")));
    assert_memory_clean(&daemon, "sql");
}

/// ldap with slapd, `custom`: the stored value is read and compared here, so the password
/// never leaves our zeroised buffers.
#[test]
fn no_copy_in_memory_after_ldap_custom() {
    ldap_memory("custom");
}

/// ldap with slapd, search and bind: the password goes to the server in a bind request, which
/// ldap3 copies into its BER tree and its connection's write buffer and never zeroes (before
/// the fix: three copies, two in freed memory and one in the pooled user connection's live
/// buffer until its next request). The daemon's zeroing allocator wipes the freed ones, and the
/// user connection is closed after the bind, so its buffer is freed too.
#[test]
fn no_copy_in_memory_after_ldap_bind() {
    ldap_memory("bind");
}

/// ldap with slapd, `fastbind`: the same bind request, without the search.
#[test]
fn no_copy_in_memory_after_ldap_fastbind() {
    ldap_memory("fastbind");
}

fn ldap_memory(method: &str) {
    use saslauthd_tests::slapd::{ROOT_DN, ROOT_PW, SUFFIX};
    let ldif = format!(
        "dn: uid=joe,ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: joe\ncn: joe\nsn: j\n\
         userPassword: {{CRYPT}}{}\n\n",
        mkpasswd_sha512(QUOTED_CANARY)
    );
    let slapd = saslauthd_tests::Slapd::start(&ldif);
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("saslauthd.conf");
    // fastbind binds to the DN the filter makes, without a search.
    let filter = if method == "fastbind" { format!("uid=%u,ou=people,{SUFFIX}") } else { "(uid=%u)".into() };
    std::fs::write(
        &conf,
        format!(
            "ldap_servers: {}\nldap_search_base: ou=people,{SUFFIX}\nldap_filter: {filter}\n\
             ldap_auth_method: {method}\nldap_bind_dn: {ROOT_DN}\nldap_bind_pw: {ROOT_PW}\n",
            slapd.uri()
        ),
    )
    .unwrap();
    let daemon = Daemon::builder(Target::Ours).mech("ldap", Some(&conf)).arg("--no-penalty").start();
    assert_eq!(ask_quoted_canary(&daemon, b"joe", "smtp"), counted_reply("OK"), "{method}: {}", daemon.log());
    assert!(no(&ask_quoted_canary(&daemon, b"nobody", "smtp")));
    assert_memory_clean(&daemon, method);
}
