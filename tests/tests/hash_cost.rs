//! Stored hashes whose own parameters ask for seconds of CPU or hundreds of MB (issue 15 §3)
//! are refused at once, so that with `-n 1` neither their users nor anyone else waits for them.
//! The three values are the ones the issue timed (11 s, 7 s, 19 s and 539 MB on a quiet
//! machine): scrypt with p = 65536, yescrypt with t = 1000, scrypt with p = 524288.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use saslauthd_tests::{Daemon, Target, counted_reply, mkpasswd_sha512, pwdfile_raw, request, send_raw_open};

/// The costly values, each with its user and the scheme the log line must name.
const COSTLY: [(&str, &str, &str); 3] = [
    ("costly-p", "scrypt", "$7$8/......E..8yX0oxK4uTyz3yF7$Hx9OeVNcx0M8TeK5RdgyQxhXiyJ8yVB2V0qwBz7M/u5"),
    ("costly-t", "yescrypt", "$y$j9T/s4r$abcdefghijklmnopqrstuv$vJsX8LvmBMvy4zFtTWWXkLsVxJp3tXp8Zf7b8kO0nF3"),
    ("costly-mem", "scrypt", "$7$26.......0.kQ2n8ZfP1tDyoWmA$8mpmwDfPwXvAD4FQLaqP0KkLx7Y1oT3uRb9dVn2cZq1"),
];

/// Most time a reply may take here: the refused hashes would take 7–19 s (far more on a loaded
/// machine), an ordinary sha512-crypt check a few milliseconds.
const PROMPT: Duration = Duration::from_secs(1);

fn timed(sock: &std::path::Path, login: &str, password: &str) -> (String, Duration) {
    let start = Instant::now();
    let reply = send_raw_open(sock, &request(login.as_bytes(), password.as_bytes(), "smtp", ""));
    (reply.text(), start.elapsed())
}

#[test]
fn costly_hashes_are_refused_at_once_and_hold_no_one_with_one_thread() {
    let mut content = format!("alice:{}\n", mkpasswd_sha512("alice-pw"));
    for (user, _, hash) in COSTLY {
        content.push_str(&format!("{user}:{hash}\n"));
    }
    let file = pwdfile_raw(content.as_bytes());
    // Penalties off: they delay a NO on purpose (asynchronously, holding no thread); what is
    // measured here is the hash check itself.
    let daemon =
        Daemon::builder(Target::Ours).passwd_file(file.path()).threads(1).arg("--no-penalty").start();
    let sock = daemon.socket().to_owned();

    let costly: Vec<_> = COSTLY
        .iter()
        .flat_map(|&(user, _, _)| std::iter::repeat_n(user, 3))
        .map(|user| {
            let sock = sock.clone();
            std::thread::spawn(move || (user, timed(&sock, user, "any-password")))
        })
        .collect();
    let normal: Vec<Duration> = (0..10)
        .map(|_| {
            let (reply, took) = timed(&sock, "alice", "alice-pw");
            assert_eq!(reply, "OK", "the ordinary user is served meanwhile");
            took
        })
        .collect();
    for handle in costly {
        let (user, (reply, took)) = handle.join().unwrap();
        assert!(reply.starts_with("NO"), "{user}: {reply}");
        assert!(took < PROMPT, "{user} answered after {took:?}");
        eprintln!("{user}: {reply} after {took:?}");
    }
    let slowest = normal.iter().max().unwrap();
    assert!(*slowest < PROMPT, "the ordinary user waited {slowest:?} behind the costly ones");
    eprintln!("ordinary user's replies meanwhile: slowest {slowest:?}, all {normal:?}");

    let log = daemon.log();
    for (user, scheme, hash) in COSTLY {
        let line = log
            .lines()
            .find(|l| l.contains(&format!("user={user}")) && l.contains("too costly"))
            .unwrap_or_else(|| panic!("no refusal logged for {user}:\n{log}"));
        assert!(line.contains(&format!("{scheme} hash too costly")), "the line names the scheme: {line}");
        let salt = hash.split('$').nth(3).unwrap();
        assert!(!log.contains(salt), "the stored value never reaches the log:\n{log}");
    }
    assert_eq!(send_raw_open(&sock, &request(b"alice", b"alice-pw", "smtp", "")), counted_reply("OK"));
}
