//! The wire protocol byte by byte (reference §1.2–§1.5, checklist §9): same assertions against
//! ours and Cyrus where Cyrus behaves the same; the stalled-client and NUL cases are ours only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::{Duration, Instant};

use saslauthd_tests::wire::{connect, read_to_close};
use saslauthd_tests::{
    PwdServer, RawReply, Target, both_targets, counted, counted_reply, pwdfile_raw, request, send_raw,
    send_raw_open,
};

/// A password distinctive enough that finding it in a log is never a coincidence.
const CANARY: &str = "Canary-pw-7Qz";

fn ok() -> RawReply {
    counted_reply("OK")
}

// Four fields and no half-close: the daemon must not wait for an optional fifth field.
both_targets!(four_fields_answered_ok, |target| {
    let srv = PwdServer::start(target, &[("alice", CANARY)]);
    let start = Instant::now();
    let reply = send_raw_open(srv.socket(), &srv.request(b"alice", CANARY.as_bytes()));
    let elapsed = start.elapsed();
    assert_eq!(reply, ok());
    assert!(elapsed < Duration::from_secs(2), "4-field answer took {elapsed:?}");
    let no = send_raw_open(srv.socket(), &srv.request(b"alice", b"wrong"));
    assert!(no.text().starts_with("NO"), "{no:?}");
    if target == Target::Cyrus {
        assert_eq!(no, counted_reply("NO PAM auth error"));
    }
    assert!(!srv.daemon.log().contains(CANARY), "password in the log:\n{}", srv.daemon.log());
});

both_targets!(five_fields_answered, |target| {
    let srv = PwdServer::start(target, &[("alice", "secret")]);
    let five = counted(&[b"alice", b"secret", srv.service().as_bytes(), b"", b"127.0.0.1;4711"]);
    assert_eq!(send_raw_open(srv.socket(), &five), ok());
    let five = counted(&[b"alice", b"nope", srv.service().as_bytes(), b"", b"127.0.0.1;4711"]);
    assert!(send_raw_open(srv.socket(), &five).text().starts_with("NO"));
    let empty_addr = counted(&[b"alice", b"secret", srv.service().as_bytes(), b"", b""]);
    assert_eq!(send_raw(srv.socket(), &empty_addr), ok());
});

// 256 bytes is Cyrus's MAX_REQ_LEN and still processed; 257 in any field is `NO ` exactly.
both_targets!(field_length_limit, |target| {
    let long_pw = "p".repeat(256);
    let srv = PwdServer::start(target, &[("alice", &long_pw)]);
    let svc = srv.service().to_owned();
    let realm256 = "r".repeat(256);
    assert_eq!(send_raw_open(srv.socket(), &srv.request(b"alice", long_pw.as_bytes())), ok());
    assert_eq!(send_raw_open(srv.socket(), &request(b"alice", long_pw.as_bytes(), &svc, &realm256)), ok());

    let f257 = vec![b'x'; 257];
    let cases: [(&str, Vec<u8>); 4] = [
        ("login", counted(&[&f257, b"pw", svc.as_bytes(), b""])),
        ("password", counted(&[b"alice", &f257, svc.as_bytes(), b""])),
        ("service", counted(&[b"alice", b"pw", &f257, b""])),
        ("realm", counted(&[b"alice", b"pw", svc.as_bytes(), &f257])),
    ];
    for (field, bytes) in cases {
        assert_eq!(send_raw_open(srv.socket(), &bytes), RawReply::Reply(b"\x00\x03NO ".to_vec()), "{field}");
        assert!(
            srv.daemon.wait_for_log(&format!("{field} exceeded MAX_REQ_LEN: 256"), Duration::from_secs(2)),
            "log line for {field} missing:\n{}",
            srv.daemon.log()
        );
    }
    // Only the length word matters: 257 announced and nothing sent after it.
    assert_eq!(send_raw(srv.socket(), b"\x01\x01"), RawReply::Reply(b"\x00\x03NO ".to_vec()));
});

both_targets!(empty_login_and_password, |target| {
    let srv = PwdServer::start(target, &[("alice", "secret")]);
    assert_eq!(
        send_raw_open(srv.socket(), &srv.request(b"", b"secret")),
        counted_reply("NO NULL login received")
    );
    assert_eq!(
        send_raw_open(srv.socket(), &srv.request(b"alice", b"")),
        counted_reply("NO NULL password received")
    );
    assert_eq!(send_raw_open(srv.socket(), &srv.request(b"", b"")), counted_reply("NO NULL login received"));
    // Service and realm may be empty (ours ignores the service; Cyrus's PAM would pick `other`).
    if target == Target::Ours {
        assert_eq!(send_raw_open(srv.socket(), &request(b"alice", b"secret", "", "")), ok());
    }
});

// EOF anywhere before the fourth field is complete: no reply at all.
both_targets!(truncated_frames_close_without_reply, |target| {
    let srv = PwdServer::start(target, &[("alice", "secret")]);
    let full = srv.request(b"alice", b"secret");
    for cut in 0..full.len() {
        assert_eq!(
            send_raw(srv.socket(), &full[..cut]),
            RawReply::ClosedWithoutReply,
            "cut at {cut}/{}",
            full.len()
        );
    }
    // The daemon is still serving after all that.
    assert_eq!(send_raw(srv.socket(), &full), ok());
});

// One request per connection: a pipelined second request is never answered.
both_targets!(pipelined_second_request_ignored, |target| {
    let srv = PwdServer::start(target, &[("alice", "secret")]);
    let mut two = srv.request(b"alice", b"secret");
    two.extend_from_slice(&srv.request(b"alice", b"wrong"));
    assert_eq!(send_raw(srv.socket(), &two), ok());
    let mut two = srv.request(b"alice", b"wrong");
    two.extend_from_slice(&srv.request(b"alice", b"secret"));
    let reply = send_raw(srv.socket(), &two);
    assert!(reply.text().starts_with("NO"), "{reply:?}");
});

// CR, LF and quotes reach the verifier byte for byte: no truncation, no unescaping.
both_targets!(special_chars_reach_the_verifier, |target| {
    let login = "o\"b'c\rd";
    let password = "p\"w\r\n'x\\";
    let srv = PwdServer::start(target, &[(login, password), ("plain", "p\"w")]);
    assert_eq!(send_raw_open(srv.socket(), &srv.request(login.as_bytes(), password.as_bytes())), ok());
    for wrong in ["p\"w\r\n'y\\", "p\"w", "p\"w\r", "p\"w\r\n'x"] {
        let r = send_raw_open(srv.socket(), &srv.request(login.as_bytes(), wrong.as_bytes()));
        assert!(r.text().starts_with("NO"), "{wrong:?}: {r:?}");
    }
    // A password whose prefix (up to the CR) is another user's password does not log that user in.
    let r = send_raw_open(srv.socket(), &srv.request(b"plain", b"p\"w\r\njunk"));
    assert!(r.text().starts_with("NO"), "{r:?}");
    assert_eq!(send_raw_open(srv.socket(), &srv.request(b"plain", b"p\"w")), ok());
});

/// NUL inside login or password is kept (Cyrus truncates at NUL, reference §1.3: `secret\0junk`
/// is accepted as `secret`; ours must not).
#[test]
fn nul_bytes_reach_the_verifier_ours() {
    let pw = pwdfile_raw(b"nul:{PLAIN}ab\0cd\nnu\0l:{PLAIN}pw\nab:{PLAIN}ab\n");
    let srv = PwdServer::start_with(Target::Ours, pw, |b| b);
    let sock = srv.socket();
    assert_eq!(send_raw_open(sock, &srv.request(b"nul", b"ab\0cd")), ok());
    for wrong in [&b"ab"[..], b"ab\0", b"ab\0xx", b"abcd"] {
        let r = send_raw_open(sock, &srv.request(b"nul", wrong));
        assert!(r.text().starts_with("NO"), "{:?}: {r:?}", wrong.escape_ascii().to_string());
    }
    // A NUL in a login is refused outright: no verifier (PAM, crypt, LDAP, SQL) can take it,
    // and Cyrus's truncation would check a different name than the one sent.
    for login in [&b"nu\0l"[..], b"ab\0junk"] {
        let r = send_raw_open(sock, &srv.request(login, b"ab"));
        assert_eq!(r.text(), "NO malformed login", "{r:?}");
    }
    let r = send_raw_open(sock, &srv.request(b"nu", b"pw"));
    assert!(r.text().starts_with("NO"), "{r:?}");
    let r = send_raw_open(sock, &srv.request(b"ab", b"ab\0junk"));
    assert!(r.text().starts_with("NO"), "{r:?}");
}

/// A client that sends half a request and waits neither delays other clients nor holds its
/// connection past `--read-timeout` (with `-n 1`, Cyrus would wait forever: reference §1.5).
#[test]
fn stalled_client_does_not_block_others_ours() {
    let srv = PwdServer::start_with(Target::Ours, saslauthd_tests::pwdfile(&[("alice", "secret")]), |b| {
        b.threads(1).read_timeout(1)
    });
    let full = srv.request(b"alice", b"secret");

    let mut stalled = Vec::new();
    let stall_start = Instant::now();
    for cut in [0, 1, 5, full.len() - 1] {
        let mut s = connect(srv.socket());
        s.write_all(&full[..cut]).unwrap();
        stalled.push(s);
    }

    for _ in 0..3 {
        let start = Instant::now();
        assert_eq!(send_raw_open(srv.socket(), &full), ok());
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_millis(500), "a stalled client delayed a working one: {elapsed:?}");
    }

    for (i, mut s) in stalled.into_iter().enumerate() {
        assert_eq!(read_to_close(&mut s), RawReply::ClosedWithoutReply, "stalled client {i}");
        let waited = stall_start.elapsed();
        assert!(waited >= Duration::from_millis(800), "stalled client {i} dropped too early: {waited:?}");
        assert!(waited < Duration::from_secs(5), "stalled client {i} held for {waited:?}");
    }
    assert_eq!(send_raw_open(srv.socket(), &full), ok());
}

/// A request trickling in within the read timeout is still answered.
#[test]
fn chunked_request_answered_ours() {
    let srv = PwdServer::start_with(Target::Ours, saslauthd_tests::pwdfile(&[("alice", "secret")]), |b| {
        b.threads(1).read_timeout(2)
    });
    let full = srv.request(b"alice", b"secret");
    let mut s = connect(srv.socket());
    for chunk in full.chunks(3) {
        s.write_all(chunk).unwrap();
        std::thread::sleep(Duration::from_millis(40));
    }
    assert_eq!(read_to_close(&mut s), ok());
}

/// When the verifier cannot decide (passwd file gone), ours closes without a reply so the
/// client reports a temporary failure instead of a wrong password.
#[test]
fn undecidable_closes_without_reply_ours() {
    let srv = PwdServer::start(Target::Ours, &[("alice", "secret")]);
    assert_eq!(send_raw_open(srv.socket(), &srv.request(b"alice", b"secret")), ok());
    srv.pwdfile.remove();
    assert_eq!(send_raw_open(srv.socket(), &srv.request(b"alice", b"secret")), RawReply::ClosedWithoutReply);
    assert_eq!(send_raw_open(srv.socket(), &srv.request(b"alice", b"wrong")), RawReply::ClosedWithoutReply);
}

/// Sends `request`, reads the reply up to the daemon's end of file (Cyrus half-closes after its
/// reply, reference §1.5), waits a moment, then writes `late` on the same connection: the reply,
/// and whether the late write was taken.
fn write_after_the_reply(srv: &PwdServer, request: &[u8], late: &[u8]) -> (RawReply, std::io::Result<()>) {
    let mut s = connect(srv.socket());
    s.write_all(request).unwrap();
    let reply = read_to_close(&mut s);
    // Long after any close-at-once, well within Cyrus's drain (it waits for the client's EOF).
    std::thread::sleep(Duration::from_millis(200));
    let written = s.write_all(late);
    (reply, written)
}

/// Bytes a client writes after its reply — a second request on the same connection, a fifth
/// field written on its own after the other four — are read and discarded until the client
/// closes, as Cyrus 2.1.28 does (reference §1.5, issue #445): the write succeeds. Closing the
/// socket instead makes that write fail with EPIPE, i.e. SIGPIPE for a C client that does not
/// ignore it.
fn late_write_is_drained(target: Target) {
    let srv = PwdServer::start(target, &[("alice", "secret")]);
    let request = srv.request(b"alice", b"secret");
    let (reply, written) = write_after_the_reply(&srv, &request, &request);
    assert_eq!(reply, ok());
    assert!(written.is_ok(), "a second request written after the reply: {written:?}");
    let (reply, written) = write_after_the_reply(&srv, &request, &counted(&[b"127.0.0.1;4711"]));
    assert_eq!(reply, ok());
    assert!(written.is_ok(), "a fifth field written after the reply: {written:?}");
}

#[test]
fn late_write_is_drained_cyrus() {
    late_write_is_drained(Target::Cyrus);
}

#[test]
fn late_write_is_drained_ours() {
    late_write_is_drained(Target::Ours);
}
