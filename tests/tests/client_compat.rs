//! Ours against Cyrus's /usr/sbin/testsaslauthd on a scripted fake server: identical stdout,
//! stderr and exit status, and identical request bytes, for every case.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use saslauthd_tests::wire::counted;
use saslauthd_tests::{FakeServer, Finished, Script, clients_agree};

/// The bytes Cyrus sends for `-u joe -p pw` (reference §1.2).
const JOE_PW_IMAP: &[u8] = &[0, 3, b'j', b'o', b'e', 0, 2, b'p', b'w', 0, 4, b'i', b'm', b'a', b'p', 0, 0];

/// Run Cyrus then ours against a server playing `script` for each; return ours.
fn compare(script: Script, extra: &[&str]) -> Finished {
    let server = FakeServer::start(vec![script.clone(), script]);
    let mut args = vec!["-u", "joe", "-p", "pw", "-f", server.socket()];
    args.extend_from_slice(extra);
    let run = clients_agree(&args);
    let received = server.finish();
    assert_eq!(received[0], JOE_PW_IMAP, "Cyrus's request");
    assert_eq!(received[1], JOE_PW_IMAP, "our request");
    run
}

fn expect(run: &Finished, stdout: &str, stderr: &str, code: i32) {
    assert_eq!((run.stdout.as_str(), run.stderr.as_str(), run.code), (stdout, stderr, Some(code)));
}

#[test]
fn ok_reply() {
    expect(&compare(Script::reply("OK"), &[]), "0: OK \"Success.\"\n", "", 0);
}

#[test]
fn no_reply_hides_the_reason() {
    expect(&compare(Script::reply("NO PAM auth error"), &[]), "0: NO \"authentication failed\"\n", "", 255);
}

#[test]
fn ok_is_a_prefix_test() {
    expect(&compare(Script::reply("OKAY whatever"), &[]), "0: OK \"Success.\"\n", "", 0);
}

#[test]
fn garbage_reply_is_a_failure() {
    expect(&compare(Script::reply("xx"), &[]), "0: NO \"authentication failed\"\n", "", 255);
}

#[test]
fn reply_shorter_than_two_is_bad() {
    expect(&compare(Script::reply("O"), &[]), "0: ", "bad response from saslauthd\n", 255);
    expect(&compare(Script::reply(""), &[]), "0: ", "bad response from saslauthd\n", 255);
}

#[test]
fn close_without_reply_is_size_read_failed() {
    expect(&compare(Script::Raw(vec![]), &[]), "0: ", "size read failed\n", 255);
    expect(&compare(Script::Raw(vec![0]), &[]), "0: ", "size read failed\n", 255);
}

#[test]
fn short_body_is_read_failed() {
    expect(&compare(Script::Raw(b"\x00\x0aNO x".to_vec()), &[]), "0: ", "read failed\n", 255);
}

#[test]
fn long_replies_are_cut_at_1024_bytes() {
    let mut long = b"\x07\xd0OK".to_vec();
    long.resize(2 + 1024, b'x');
    // Only 1024 of the announced 2000 bytes are read, so the rest need never arrive.
    expect(&compare(Script::Raw(long.clone()), &[]), "0: OK \"Success.\"\n", "", 0);
    long.truncate(2 + 1023);
    expect(&compare(Script::Raw(long), &[]), "0: ", "read failed\n", 255);
}

#[test]
fn every_repetition_is_a_new_connection_and_the_last_decides() {
    let scripts =
        vec![Script::reply("OK"), Script::reply("NO x"), Script::reply("OK"), Script::reply("NO x")];
    let mut doubled = scripts.clone();
    doubled.extend(scripts);
    let server = FakeServer::start(doubled);
    let run = clients_agree(&["-u", "joe", "-p", "pw", "-f", server.socket(), "-R", "2"]);
    expect(&run, "0: OK \"Success.\"\n1: NO \"authentication failed\"\n", "", 255);
    let run = clients_agree(&["-u", "joe", "-p", "pw", "-f", server.socket(), "-R", " 2junk"]);
    expect(&run, "0: OK \"Success.\"\n1: NO \"authentication failed\"\n", "", 255);
    assert!(server.finish().iter().all(|request| request == JOE_PW_IMAP));
}

#[test]
fn service_realm_and_hyphen_values_are_sent_as_given() {
    let server = FakeServer::start(vec![Script::reply("OK"), Script::reply("OK")]);
    let args = ["-s", "smtp", "-r", "example.org", "-u", "-joe", "-p=pw", "-f", server.socket(), "ignored"];
    expect(&clients_agree(&args), "0: OK \"Success.\"\n", "", 0);
    let want = counted(&[b"-joe", b"=pw", b"smtp", b"example.org"]);
    assert_eq!(server.finish(), vec![want.clone(), want]);
}

#[test]
fn missing_socket_is_a_perror() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mux");
    let run = clients_agree(&["-u", "joe", "-p", "pw", "-f", path.to_str().unwrap(), "-R", "2"]);
    expect(&run, "0: 1: ", "connect() : No such file or directory\n".repeat(2).as_str(), 255);
}

#[test]
fn stale_socket_is_connection_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mux");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let run = clients_agree(&["-u", "joe", "-p", "pw", "-f", path.to_str().unwrap()]);
    expect(&run, "0: ", "connect() : Connection refused\n", 255);
}

#[test]
fn usage_errors_match() {
    let usage = "testsaslauthd: usage: testsaslauthd -u username -p password\n              [-r realm] [-s servicename]\n              [-f socket path] [-R repeatnum]\n";
    for (args, first_line) in [
        (&[][..], ""),
        (&["-p", "pw"][..], ""),
        // Cyrus: missing -p; ours: no password on (empty) stdin — the same usage error.
        (&["-u", "joe"][..], ""),
        (&["-x", "-u", "joe", "-p", "pw"][..], "testsaslauthd: invalid option -- 'x'\n"),
        (&["-h"][..], "testsaslauthd: invalid option -- 'h'\n"),
        (&["-u", "joe", "-p", "pw", "-s"][..], "testsaslauthd: option requires an argument -- 's'\n"),
    ] {
        expect(&clients_agree(args), "", &format!("{first_line}{usage}"), 1);
    }
}

#[test]
fn negative_repeat_runs_nothing_like_cyrus() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mux");
    expect(&clients_agree(&["-u", "joe", "-p", "pw", "-f", path.to_str().unwrap(), "-R", "-1"]), "", "", 0);
}
