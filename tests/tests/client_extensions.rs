//! Our long-only extensions: --show-reason, -a, password prompt/stdin, --timeout, --load.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixListener;

use mux_server::frame::{Decoded, decode_request};
use saslauthd_tests::fake_server::read_request;
use saslauthd_tests::wire::counted;
use saslauthd_tests::{FakeServer, Finished, Script, Target, client};

/// Our client with `args` and nothing on stdin.
fn ours(args: &[&str]) -> Finished {
    client(Target::Ours, args, b"")
}

#[test]
fn show_reason_appends_the_servers_text() {
    let server = FakeServer::start(vec![
        Script::reply("NO PAM auth error"),
        Script::reply("OK"),
        Script::reply("NO \x1b[2J"),
    ]);
    let run = ours(&["-u", "joe", "-p", "pw", "-f", server.socket(), "-R", "3", "--show-reason"]);
    assert_eq!(
        run.stdout,
        "0: NO \"authentication failed\" (PAM auth error)\n1: OK \"Success.\"\n2: NO \"authentication failed\" (\\u{1b}[2J)\n"
    );
    assert_eq!(run.code, Some(255));
    server.finish();
}

#[test]
fn client_address_is_a_fifth_field() {
    let server = FakeServer::start(vec![Script::reply("OK")]);
    let run = ours(&["-u", "joe", "-p", "pw", "-a", "192.0.2.1;25", "-f", server.socket()]);
    assert_eq!((run.stdout.as_str(), run.code), ("0: OK \"Success.\"\n", Some(0)));
    assert_eq!(server.finish(), vec![counted(&[b"joe", b"pw", b"imap", b"", b"192.0.2.1;25"])]);
}

#[test]
fn password_is_read_from_stdin_when_absent() {
    let server = FakeServer::start(vec![Script::reply("OK"), Script::reply("OK"), Script::reply("OK")]);
    for (args, stdin) in [
        (vec!["-u", "joe"], &b"s3cret\nnext line\n"[..]),
        (vec!["-u", "joe", "--password-stdin"], &b"s3cret\r\n"[..]),
        (vec!["-u", "joe"], &b"s3cret"[..]),
    ] {
        let mut args = args.clone();
        args.extend(["-f", server.socket()]);
        let run = client(Target::Ours, &args, stdin);
        assert_eq!(
            (run.stdout.as_str(), run.stderr.as_str(), run.code),
            ("0: OK \"Success.\"\n", "", Some(0))
        );
    }
    let want = counted(&[b"joe", b"s3cret", b"imap", b""]);
    assert_eq!(server.finish(), vec![want.clone(), want.clone(), want]);
}

#[test]
fn password_stdin_conflicts_with_p() {
    let run = ours(&["-u", "joe", "-p", "pw", "--password-stdin"]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("usage:"), "{}", run.stderr);
    assert!(!run.stderr.contains("pw\n") && !run.stderr.contains("'pw'"), "{}", run.stderr);
}

#[test]
fn timeout_gives_up_on_a_silent_server() {
    let server = FakeServer::start(vec![Script::Silent]);
    let run = ours(&["-u", "joe", "-p", "pw", "-f", server.socket(), "--timeout", "0.3"]);
    assert_eq!(
        (run.stdout.as_str(), run.stderr.as_str(), run.code),
        ("0: ", "timed out waiting for saslauthd\n", Some(255))
    );
    server.finish();
}

#[test]
fn help_and_version_are_long_only() {
    let run = ours(&["--help"]);
    assert_eq!(run.code, Some(0));
    for flag in ["--show-reason", "--load", "--concurrency", "--duration", "--timeout", "-R <repeatnum>"] {
        assert!(run.stdout.contains(flag), "{flag} missing from --help");
    }
    let run = ours(&["--version"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.starts_with("testsaslauthd "));
}

/// A server answering forever: `OK` for password `pw`, `NO wrong` otherwise.
fn password_server() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mux");
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            std::thread::spawn(move || {
                let bytes = read_request(&mut conn);
                let answer: &[u8] = match decode_request(&bytes, 256) {
                    Decoded::Request { request, .. } if &request.password[..] == b"pw" => b"\x00\x02OK",
                    _ => b"\x00\x08NO wrong",
                };
                let _ = conn.write_all(answer);
            });
        }
    });
    (dir, path.to_str().unwrap().to_owned())
}

fn parse_summary(line: &str) -> HashMap<String, f64> {
    line.trim()
        .split(' ')
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap();
            (key.to_owned(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn load_counts_ok_and_no() {
    let (_dir, socket) = password_server();
    let run = ours(&[
        "--load",
        "--concurrency",
        "4",
        "--count",
        "50",
        "--wrong-password-every",
        "5",
        "-u",
        "joe",
        "-p",
        "pw",
        "-f",
        &socket,
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let keys: Vec<&str> = run.stdout.trim().split(' ').map(|p| p.split('=').next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "concurrency",
            "requests",
            "ok",
            "no",
            "fail",
            "seconds",
            "rps",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "max_ms"
        ]
    );
    let summary = parse_summary(&run.stdout);
    assert_eq!((summary["requests"], summary["ok"], summary["no"], summary["fail"]), (50.0, 40.0, 10.0, 0.0));
    assert!(
        summary["rps"] > 0.0
            && summary["p50_ms"] <= summary["p99_ms"]
            && summary["p99_ms"] <= summary["max_ms"]
    );
    assert!(!run.stdout.contains("pw") && !run.stderr.contains("pw"));
}

#[test]
fn load_runs_for_a_duration() {
    let (_dir, socket) = password_server();
    let run =
        ours(&["--load", "--concurrency", "2", "--duration", "0.5", "-u", "joe", "-p", "pw", "-f", &socket]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let summary = parse_summary(&run.stdout);
    assert!(summary["ok"] > 0.0 && summary["no"] == 0.0 && summary["fail"] == 0.0, "{summary:?}");
    assert!(summary["seconds"] >= 0.5 && summary["seconds"] < 5.0, "{summary:?}");
}

#[test]
fn load_counts_failures_and_exits_255() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mux");
    let run = ours(&[
        "--load",
        "--concurrency",
        "3",
        "--count",
        "7",
        "-u",
        "joe",
        "-p",
        "pw",
        "-f",
        path.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(255));
    let summary = parse_summary(&run.stdout);
    assert_eq!((summary["requests"], summary["fail"], summary["ok"]), (7.0, 7.0, 0.0));
    assert!(run.stderr.contains("first failure: connect() : No such file or directory"), "{}", run.stderr);
}

#[test]
fn load_options_need_load() {
    let run = ours(&["--concurrency", "3", "-u", "joe", "-p", "pw"]);
    assert_eq!(run.code, Some(1));
}
