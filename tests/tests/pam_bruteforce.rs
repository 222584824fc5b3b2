//! A PAM brute force must not starve honest users: with a 2 s fail delay on the PAM stack and
//! `-n 2`, eight threads hammering wrong passwords for one account leave a correct login of
//! another account answered in under 1 s (reference §3.2: Cyrus's workers sleep through
//! pam_unix's delay, multiplying the §1.5 DoS). The attacked account itself is held by its
//! penalty (see tests/tests/abuse.rs): its attempts are answered `NO` after a check, or closed
//! unchecked (tempfail) when their turn would come too late.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use saslauthd_tests::wire::{connect, read_to_close, write_tolerant};
use saslauthd_tests::{
    Daemon, FailDelay, PamService, RawReply, Target, pwdfile, pwdfile_stack, request, send_raw_open,
};

const ATTACKERS: usize = 8;
/// Bounds each attacker even if the stop flag were never set.
const MAX_ATTEMPTS_PER_ATTACKER: usize = 30;
const FAIL_DELAY_US: u64 = 2_000_000;
/// How long an attacker waits for its answer: a held guess may start as late as the default
/// `--penalty-max` (8 s) after it arrived and then sit through the stack's 2 s fail delay, so
/// the harness's usual 10 s read timeout is too short for it (a CI run answered one after ~10.4 s).
const ATTACKER_READ_TIMEOUT: Duration = Duration::from_secs(25);

struct Attack {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<Vec<RawReply>>>,
}

fn start_attack(sock: &Path, service: &str) -> Attack {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let threads = (0..ATTACKERS)
        .map(|i| {
            let (sock, stop, sent) = (sock.to_path_buf(), stop.clone(), sent.clone());
            let req = request(b"victim", format!("guess-{i}").as_bytes(), service, "");
            std::thread::spawn(move || {
                let mut replies = Vec::new();
                for _ in 0..MAX_ATTEMPTS_PER_ATTACKER {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                    let mut s = connect(&sock);
                    s.set_read_timeout(Some(ATTACKER_READ_TIMEOUT)).unwrap();
                    write_tolerant(&mut s, &req);
                    replies.push(read_to_close(&mut s));
                }
                replies
            })
        })
        .collect();
    Attack { stop, sent, threads }
}

impl Attack {
    fn finish(self) -> Vec<RawReply> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    }
}

fn timed_login(sock: &Path, service: &str, login: &str, password: &str) -> (RawReply, Duration) {
    let start = Instant::now();
    let reply = send_raw_open(sock, &request(login.as_bytes(), password.as_bytes(), service, ""));
    (reply, start.elapsed())
}

#[test]
fn correct_login_fast_under_bruteforce_ours() {
    let pw = pwdfile(&[("victim", "right-one"), ("bystander", "right-too")]);
    let pam = PamService::private(&pwdfile_stack(pw.path(), FailDelay::Micros(FAIL_DELAY_US)));
    let daemon = Daemon::builder(Target::Ours).pam(&pam).threads(2).start();
    let (sock, svc) = (daemon.socket(), pam.name());

    let (reply, single_fail) = timed_login(sock, svc, "victim", "wrong");
    assert!(reply.text().starts_with("NO"), "{reply:?}");
    eprintln!(
        "ours: one wrong password answered after {single_fail:?} (stack fail delay {FAIL_DELAY_US} µs)"
    );

    let attack = start_attack(sock, svc);
    // Let every attacker get a request in flight, so a Cyrus-style pool would be saturated.
    std::thread::sleep(Duration::from_millis(500));
    let (reply, elapsed) = timed_login(sock, svc, "bystander", "right-too");
    let in_flight = attack.sent.load(Ordering::Relaxed);
    let replies = attack.finish();
    eprintln!(
        "ours: another user's correct login under {ATTACKERS} attackers ({in_flight} guesses sent) answered in {elapsed:?}"
    );

    assert_eq!(reply, saslauthd_tests::counted_reply("OK"));
    assert!(elapsed < Duration::from_secs(1), "correct login took {elapsed:?} under brute force");
    for r in &replies {
        let refused = *r == RawReply::ClosedWithoutReply || r.text().starts_with("NO");
        assert!(refused, "a wrong guess was not refused: {r:?}");
    }
    assert!(!daemon.log().contains("right-too"), "password in the log");
}

/// For comparison only (no timing assertion): Cyrus with `-n 2` lets the attackers' fail
/// delays queue the honest login behind them.
#[test]
fn correct_login_under_bruteforce_cyrus_for_comparison() {
    let pw = pwdfile(&[("victim", "right-one"), ("bystander", "right-too")]);
    let pam = PamService::system(&pwdfile_stack(pw.path(), FailDelay::Micros(FAIL_DELAY_US)));
    let daemon = Daemon::builder(Target::Cyrus).pam(&pam).threads(2).start();
    let (sock, svc) = (daemon.socket(), pam.name());

    let (_, single_fail) = timed_login(sock, svc, "victim", "wrong");
    eprintln!("cyrus: one wrong password answered after {single_fail:?}");
    let attack = start_attack(sock, svc);
    std::thread::sleep(Duration::from_millis(500));
    let (reply, elapsed) = timed_login(sock, svc, "bystander", "right-too");
    let replies = attack.finish();
    eprintln!("cyrus -n 2: another user's correct login under {ATTACKERS} attackers answered in {elapsed:?}");
    assert_eq!(reply, saslauthd_tests::counted_reply("OK"));
    assert!(replies.iter().all(|r| r.text().starts_with("NO")));
}
