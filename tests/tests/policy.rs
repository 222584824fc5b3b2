//! End-to-end: mechanism chains (passwd-file then PAM), the credential cache and brute-force
//! penalties, on the real daemon binary with real PAM modules.
//!
//! The daemon is started here rather than through `DaemonBuilder`, whose mechanism helpers each
//! add their own `-a` (a chain needs one `-a a,b`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use saslauthd_tests::{
    FailDelay, PamService, PwdFile, RawReply, Target, counted_reply, pwdfile, pwdfile_stack, request,
    send_raw,
};

/// Our daemon in the foreground in a temp dir, killed on drop.
struct Ours {
    child: Child,
    dir: tempfile::TempDir,
}

impl Ours {
    fn start(args: &[OsString]) -> Ours {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = Command::new(Target::Ours.saslauthd())
            .args(args)
            .arg("-m")
            .arg(&run)
            .arg("-d")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        let ours = Ours { child, dir };
        let start = Instant::now();
        while !ours.socket().exists() {
            assert!(start.elapsed() < Duration::from_secs(10), "daemon did not start: {}", ours.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        ours
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/mux")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    fn ask(&self, login: &str, password: &str, service: &str) -> RawReply {
        send_raw(&self.socket(), &request(login.as_bytes(), password.as_bytes(), service, ""))
    }

    fn signal(&self, sig: nix::sys::signal::Signal, then_log: &str) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).unwrap());
        nix::sys::signal::kill(pid, sig).unwrap();
        let start = Instant::now();
        while !self.log().contains(then_log) {
            assert!(start.elapsed() < Duration::from_secs(5), "no {then_log:?} in {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn args(list: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    list.iter().map(|a| a.as_ref().to_owned()).collect()
}

fn ok() -> RawReply {
    counted_reply("OK")
}

/// passwd-file knows alice and an old password of bob; PAM (pam_pwdfile on another file) knows
/// bob's current password and carol.
fn chain_setup() -> (PwdFile, PwdFile, PamService) {
    let first = pwdfile(&[("alice", "a-pw"), ("bob", "bob-old")]);
    let second = pwdfile(&[("bob", "bob-new"), ("carol", "c-pw")]);
    let pam = PamService::private(&pwdfile_stack(second.path(), FailDelay::None));
    (first, second, pam)
}

fn chain_args(first: &Path, pam: &PamService, extra: &[&str]) -> Vec<OsString> {
    let mut a = args(&[
        &"-a",
        &"passwd-file,pam",
        &"--mech-option",
        &format!("passwd-file={}", first.display()),
        &"--pam-confdir",
        &pam.confdir().unwrap(),
        &"--no-penalty",
    ]);
    a.extend(extra.iter().map(OsString::from));
    a
}

#[test]
fn chain_ok_wins_and_no_moves_to_the_next_mechanism() {
    let (first, _second, pam) = chain_setup();
    let d = Ours::start(&chain_args(first.path(), &pam, &[]));
    let svc = pam.name();
    assert_eq!(d.ask("alice", "a-pw", svc), ok(), "first mechanism");
    assert_eq!(d.ask("bob", "bob-new", svc), ok(), "passwd-file says NO, PAM says OK");
    assert_eq!(d.ask("carol", "c-pw", svc), ok(), "unknown to passwd-file, known to PAM");
    assert_eq!(d.ask("carol", "wrong", svc), counted_reply("NO PAM auth error"), "the last NO's reason");
    assert_eq!(d.ask("nobody", "x", svc), counted_reply("NO PAM auth error"));
    assert!(d.log().contains("[mech=pam] [reason=PAM auth error]"), "{}", d.log());
}

#[test]
fn chain_stops_on_a_tempfail_unless_told_to_continue() {
    let (first, _second, pam) = chain_setup();
    let stop = Ours::start(&chain_args(first.path(), &pam, &[]));
    let (first2, _s2, pam2) = chain_setup();
    let cont = Ours::start(&chain_args(first2.path(), &pam2, &["--chain-continue-on-tempfail"]));
    first.remove();
    first2.remove();
    assert_eq!(stop.ask("carol", "c-pw", pam.name()), RawReply::ClosedWithoutReply);
    assert_eq!(cont.ask("carol", "c-pw", pam2.name()), ok());
    // Continuing finds no OK: a tempfail, not the NO of the mechanism that did answer.
    assert_eq!(cont.ask("carol", "wrong", pam2.name()), RawReply::ClosedWithoutReply);
}

#[test]
fn a_chain_refuses_unknown_or_repeated_mechanisms_and_stray_options() {
    for (a, extra) in [("passwd-file,nope", None), ("pam,pam", None), ("pam", Some("passwd-file=/x"))] {
        let mut cmd = Command::new(Target::Ours.saslauthd());
        cmd.args(["-a", a, "-m", "/nonexistent-run-dir", "-f"]);
        if let Some(opt) = extra {
            cmd.args(["--mech-option", opt]);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "-a {a}: {out:?}");
    }
}

#[test]
fn cache_serves_during_an_outage_and_sigusr1_flushes_it() {
    let file = pwdfile(&[("alice", "a-pw"), ("bob", "b-pw")]);
    let d = Ours::start(&args(&[&"-a", &"passwd-file", &"-O", &file.path(), &"-c", &"--no-penalty"]));
    assert_eq!(d.ask("alice", "a-pw", "smtp"), ok());
    file.remove();
    assert_eq!(d.ask("alice", "a-pw", "smtp"), ok(), "cached while the file is gone");
    assert_eq!(d.ask("alice", "a-pw", "imap"), RawReply::ClosedWithoutReply, "another service is a miss");
    assert_eq!(d.ask("bob", "b-pw", "smtp"), RawReply::ClosedWithoutReply);
    d.signal(nix::sys::signal::Signal::SIGUSR1, "cache flushed");
    assert_eq!(d.ask("alice", "a-pw", "smtp"), RawReply::ClosedWithoutReply, "flushed");
}

#[test]
fn cache_drops_an_old_password_at_the_first_failure() {
    let file = pwdfile(&[("alice", "old-pw")]);
    let d = Ours::start(&args(&[&"-a", &"passwd-file", &"-O", &file.path(), &"-c", &"--no-penalty"]));
    assert_eq!(d.ask("alice", "old-pw", "smtp"), ok());
    let changed = pwdfile(&[("alice", "new-pw")]);
    // Renamed into place: read at once (an in-place rewrite waits to settle).
    std::fs::rename(changed.path(), file.dir().join("passwd")).unwrap();
    assert_eq!(d.ask("alice", "old-pw", "smtp"), ok(), "still cached, as in Cyrus");
    assert_eq!(d.ask("alice", "typo", "smtp"), counted_reply("NO Incorrect password"));
    assert_eq!(d.ask("alice", "old-pw", "smtp"), counted_reply("NO Incorrect password"));
    assert_eq!(d.ask("alice", "new-pw", "smtp"), ok());
}

#[test]
fn penalties_hold_the_next_attempt_before_its_check_whatever_its_answer() {
    let file = pwdfile(&[("alice", "a-pw")]);
    let d = penalised_by_half_seconds(file.path(), &[]);
    let timed = |pw: &str| timed_ask(&d, pw);
    let (r, first) = timed("g1");
    assert_eq!(r, counted_reply("NO Incorrect password"));
    let (r, second) = timed("g2");
    assert_eq!(r, counted_reply("NO Incorrect password"));
    let (_, repeat) = timed("g2");
    let (r, good) = timed("a-pw");
    assert_eq!(r, ok());
    let (_, after) = timed("g3");
    eprintln!(
        "first NO {first:?}, second {second:?}, repeated {repeat:?}, OK {good:?}, after the OK {after:?}"
    );
    // The first failure is answered at once; the next attempt waits 0.5 s before its check.
    assert!(first < Duration::from_millis(400), "{first:?}");
    assert!(second >= Duration::from_millis(450) && second < Duration::from_millis(950), "{second:?}");
    // Two distinct failures: 1 s; the repeated one does not make it 2 s.
    assert!(repeat >= Duration::from_millis(950) && repeat < Duration::from_millis(1500), "{repeat:?}");
    // The right password waits as long as a wrong one would: timing does not tell them apart.
    assert!(good >= Duration::from_millis(950) && good < Duration::from_millis(1500), "{good:?}");
    // And the success started the count again.
    assert!(after < Duration::from_millis(400), "{after:?}");
}

/// `-a passwd-file` on `file` with penalties of 0.5 s doubling up to 2 s, and `extra` arguments.
fn penalised_by_half_seconds(file: &std::path::Path, extra: &[&dyn AsRef<std::ffi::OsStr>]) -> Ours {
    let mut all: Vec<&dyn AsRef<std::ffi::OsStr>> =
        vec![&"-a", &"passwd-file", &"-O", &file, &"--penalty-base", &"0.5", &"--penalty-max", &"2"];
    all.extend_from_slice(extra);
    Ours::start(&args(&all))
}

/// `alice`'s answer to `password` for smtp, and how long it took.
fn timed_ask(d: &Ours, password: &str) -> (saslauthd_tests::RawReply, Duration) {
    let t = Instant::now();
    let r = d.ask("alice", password, "smtp");
    (r, t.elapsed())
}

/// With `-c` a penalised account's right password is a cache hit, which the acceptor threads
/// answer without the runtime (issue 19): it must still wait its turn before the check like a
/// wrong one, or the answer's timing would tell a guesser which guess was right.
#[test]
fn a_cache_hit_of_a_penalised_account_waits_its_turn_too() {
    let file = pwdfile(&[("alice", "a-pw")]);
    let d = penalised_by_half_seconds(file.path(), &[&"-c"]);
    let timed = |pw: &str| timed_ask(&d, pw);
    assert_eq!(timed("a-pw").0, ok(), "a miss, then cached");
    let (r, hit) = timed("a-pw");
    assert_eq!(r, ok());
    assert!(hit < Duration::from_millis(400), "an unpenalised hit is answered at once: {hit:?}");
    let (r, first) = timed("g1");
    assert_eq!(r, counted_reply("NO Incorrect password"));
    assert!(first < Duration::from_millis(400), "{first:?}");
    let (r, held) = timed("a-pw");
    assert_eq!(r, ok());
    assert!(
        held >= Duration::from_millis(450) && held < Duration::from_millis(950),
        "penalised hit: {held:?}"
    );
    let (r, after) = timed("a-pw");
    assert_eq!(r, ok());
    assert!(after < Duration::from_millis(400), "the success started the count again: {after:?}");
}
