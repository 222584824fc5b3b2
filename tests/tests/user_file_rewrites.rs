//! A user file (passwd-file, shadow `-O`) rewritten in place while requests arrive: no request
//! is answered from the half-written file, and the edit still takes effect once it is done.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use saslauthd_tests::{Daemon, RawReply, Target, counted_reply, mkpasswd_sha512, request, send_raw};

/// Truncate, write the first 40 bytes, then the rest: what `htpasswd`, `>` and
/// `std::fs::write` do to the file, with the window between the two writes widened a little.
fn rewrite_in_place(path: &Path, text: &[u8]) {
    let mut file = std::fs::OpenOptions::new().write(true).truncate(true).open(path).unwrap();
    file.write_all(&text[..40]).unwrap();
    std::thread::yield_now();
    file.write_all(&text[40..]).unwrap();
}

fn ask(d: &Daemon, user: &str, password: &str) -> RawReply {
    send_raw(d.socket(), &request(user.as_bytes(), password.as_bytes(), "smtp", ""))
}

/// The reviewer's scenario, for each mechanism reading a user file: 4 clients ask for a valid
/// user with the right password while a writer rewrites the file in place 200 times. Before the
/// fix most answers were `NO Invalid username` or `NO Incorrect password`.
#[test]
fn in_place_rewrites_never_answer_no_and_the_last_one_takes_effect() {
    let alice = mkpasswd_sha512("alice-pw");
    let bob_new = mkpasswd_sha512("bob-new");
    for (mech, suffix) in [("passwd-file", ""), ("shadow", ":19000:0:99999:7:::")] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users");
        let text = format!("# users\nalice:{alice}{suffix}\n");
        std::fs::write(&path, &text).unwrap();
        let d = Daemon::builder(Target::Ours).mech(mech, Some(&path)).threads(4).start();
        assert_eq!(ask(&d, "alice", "alice-pw"), counted_reply("OK"), "{mech}: log:\n{}", d.log());

        let done = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let (sock, done) = (d.socket().to_owned(), done.clone());
                std::thread::spawn(move || {
                    let mut replies = Vec::new();
                    while !done.load(Ordering::Relaxed) {
                        replies.push(send_raw(&sock, &request(b"alice", b"alice-pw", "smtp", "")));
                    }
                    replies
                })
            })
            .collect();
        for _ in 0..200 {
            rewrite_in_place(&path, text.as_bytes());
            std::thread::sleep(Duration::from_millis(5));
        }
        done.store(true, Ordering::Relaxed);
        let replies: Vec<RawReply> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
        let wrong: Vec<_> = replies.iter().filter(|r| **r != counted_reply("OK")).collect();
        eprintln!("{mech}: {} answers during 200 in-place rewrites", replies.len());
        assert!(replies.len() >= 4, "{mech}: too few requests ran: {}", replies.len());
        assert!(
            wrong.is_empty(),
            "{mech}: {} of {} answers not OK: {:?}",
            wrong.len(),
            replies.len(),
            &wrong[..1]
        );

        // An in-place edit still takes effect once the file has been quiet for 300 ms (asked
        // once, after that: a `NO` meanwhile would add a penalty delay).
        rewrite_in_place(&path, format!("{text}bob:{bob_new}{suffix}\n").as_bytes());
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(ask(&d, "bob", "bob-new"), counted_reply("OK"), "{mech}: the edit did not take effect");
        assert_eq!(ask(&d, "alice", "alice-pw"), counted_reply("OK"), "{mech}");
    }
}
