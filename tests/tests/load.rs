//! Our daemon under hostile load, on its own socket: any byte stream gets a well-formed answer or
//! a clean close; ~2000 idle connections (twice the connection cap), stalled clients and garbage
//! beside real traffic leave good requests answered within seconds, memory bounded, and every
//! descriptor returned afterwards. Bounded in time; run with `--nocapture` to see the figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use saslauthd_tests::proc::{fd_count, raise_nofile, status_kib, wait_fd_count_at_most};
use saslauthd_tests::wire::{connect, read_to_close};
use saslauthd_tests::{Daemon, RawReply, Target, counted, counted_reply, pwdfile_raw, request, send_raw};

/// `{SSHA}` of "secret": cheap to check, so the figures measure the daemon, not the hash.
const ALICE: &[u8] = b"alice:{SSHA}1G904nLkTkGWjKNnQuB/hpWXC/hzYWx0c2FsdA==\n";

fn start(read_timeout: u64) -> (Daemon, saslauthd_tests::PwdFile) {
    let file = pwdfile_raw(ALICE);
    let daemon = Daemon::builder(Target::Ours).passwd_file(file.path()).read_timeout(read_timeout).start();
    (daemon, file)
}

fn good(sock: &Path) -> RawReply {
    send_raw(sock, &request(b"alice", b"secret", "smtp", ""))
}

/// The reply is exactly one counted string whose text starts with OK or NO, or nothing at all.
fn well_formed(reply: &RawReply) -> bool {
    match reply {
        RawReply::ClosedWithoutReply => true,
        RawReply::Reply(bytes) => match bytes.split_first_chunk::<2>() {
            Some((len, body)) => {
                usize::from(u16::from_be_bytes(*len)) == body.len()
                    && (body.starts_with(b"OK") || body.starts_with(b"NO"))
            }
            None => false,
        },
    }
}

/// Byte streams near the protocol: pure noise, and counted fields of random (sometimes
/// oversize or lying) lengths, optionally cut short.
fn streams() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(any::<u8>(), 250..270),
    ];
    let framed = (proptest::collection::vec(field, 0..7), any::<Option<u16>>(), any::<usize>()).prop_map(
        |(fields, lie, cut)| {
            let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
            let mut bytes = counted(&refs);
            if let Some(len) = lie {
                bytes.extend_from_slice(&len.to_be_bytes());
            }
            let keep = if bytes.is_empty() { 0 } else { cut % (bytes.len() + 1) };
            bytes.truncate(keep.max(bytes.len() / 2));
            bytes
        },
    );
    prop_oneof![proptest::collection::vec(any::<u8>(), 0..1400), framed]
}

/// Any byte stream, sent and half-closed, yields a well-formed reply or a clean close, and the
/// daemon still answers a good request afterwards.
#[test]
fn any_byte_stream_gets_a_reply_or_a_clean_close() {
    let (daemon, _file) = start(5);
    let sock = daemon.socket().to_owned();
    let mut runner = TestRunner::new(Config { cases: 300, failure_persistence: None, ..Config::default() });
    runner
        .run(&streams(), |bytes| {
            let reply = send_raw(&sock, &bytes);
            prop_assert!(well_formed(&reply), "{reply:?} for b\"{}\"", bytes.escape_ascii());
            Ok(())
        })
        .unwrap();
    assert_eq!(good(&sock), counted_reply("OK"));
    assert_eq!(
        send_raw(&sock, &request(b"alice", b"wrong", "smtp", "")),
        counted_reply("NO Incorrect password")
    );
}

/// Peak resident set the daemon may reach under this test's load.
const MAX_PEAK_RSS_KIB: u64 = 100 * 1024;

/// More idle connections than `--max-connections` (1024) beside stalled clients, garbage and
/// real traffic. At the cap the daemon sheds the connections silent the longest, so good
/// requests are answered within one read deadline (2 s) at worst.
#[test]
fn idle_flood_beside_real_traffic() {
    const IDLE: usize = 2000;
    let limit = raise_nofile(IDLE as u64 + 1000);
    assert!(limit > IDLE as u64 + 200, "RLIMIT_NOFILE {limit} too low for {IDLE} idle connections");
    let (daemon, _file) = start(2);
    let sock: PathBuf = daemon.socket().to_owned();
    let pid = daemon.pid();
    let baseline = fd_count(pid);
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));

    // Idle: connect and send nothing, all held until the end of the test.
    let idle = {
        let sock = sock.clone();
        std::thread::spawn(move || (0..IDLE).map(|_| UnixStream::connect(&sock).unwrap()).collect::<Vec<_>>())
    };
    // Stalled: half a request, then silence, over and over.
    let stalled = {
        let (sock, stop) = (sock.clone(), stop.clone());
        std::thread::spawn(move || {
            let full = request(b"alice", b"secret", "smtp", "");
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let mut s = UnixStream::connect(&sock).unwrap();
                let _ = s.write_all(&full[..full.len() / 2]);
                held.push(s);
                std::thread::sleep(Duration::from_millis(20));
            }
            held.len()
        })
    };
    // Garbage: random frames, each judged like in the property test.
    let garbage_sent = Arc::new(AtomicUsize::new(0));
    let garbage = {
        let (sock, stop, sent) = (sock.clone(), stop.clone(), garbage_sent.clone());
        std::thread::spawn(move || {
            let mut runner = TestRunner::deterministic();
            let strategy = streams();
            while !stop.load(Ordering::Relaxed) {
                let bytes = strategy.new_tree(&mut runner).unwrap().current();
                let reply = send_raw(&sock, &bytes);
                assert!(well_formed(&reply), "{reply:?}");
                sent.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    // The daemon's descriptors, sampled while the load runs.
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while !stop.load(Ordering::Relaxed) {
                most = most.max(fd_count(pid));
                std::thread::sleep(Duration::from_millis(10));
            }
            most
        })
    };

    // Real traffic from four clients, each a mix of right and wrong passwords.
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                let mut worst = Duration::ZERO;
                for i in 0..25 {
                    let right = (c + i) % 3 != 0;
                    let pw: &[u8] = if right { b"secret" } else { b"wrong" };
                    let t = Instant::now();
                    let reply = send_raw(&sock, &request(b"alice", pw, "smtp", ""));
                    worst = worst.max(t.elapsed());
                    let want = if right { "OK" } else { "NO Incorrect password" };
                    assert_eq!(reply, counted_reply(want), "client {c} request {i}");
                }
                worst
            })
        })
        .collect();
    let worst = clients.into_iter().map(|c| c.join().unwrap()).max().unwrap();
    let idle_conns = idle.join().unwrap();
    let opened_in = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let peak_fds = sampler.join().unwrap();
    let stalled_count = stalled.join().unwrap();
    garbage.join().unwrap();

    // The cap holds: one descriptor per served connection, never more than 1024 of them (and the
    // one accepted while a slot is made for it).
    assert!(peak_fds <= baseline + 1024 + 8, "daemon held {peak_fds} fds (baseline {baseline})");
    assert!(worst < Duration::from_secs(7), "a good request waited {worst:?}");
    assert_eq!(good(&sock), counted_reply("OK"));

    drop(idle_conns);
    let after = wait_fd_count_at_most(pid, baseline, Duration::from_secs(15));
    let peak_rss = status_kib(pid, "VmHWM");
    eprintln!(
        "idle_flood: {IDLE} idle + {stalled_count} stalled + {} garbage connections, 100 good requests; \
         idle opened in {opened_in:?}; worst good latency {worst:?}; daemon fds baseline {baseline}, \
         peak {peak_fds}, after {after}; peak RSS (VmHWM) {} KiB",
        garbage_sent.load(Ordering::Relaxed),
        peak_rss
    );
    assert!(after <= baseline, "daemon holds {after} fds, {baseline} before the load");
    assert!(peak_rss < MAX_PEAK_RSS_KIB, "peak RSS {peak_rss} KiB");
    assert_eq!(good(&sock), counted_reply("OK"));
}

/// Idle connections opened for this test when `SASLAUTHD_IDLE_FLOOD` does not say.
const IDLE_FLOOD: usize = 2500;

/// Idle connections far beyond the cap (issue 19): the daemon sheds the connections silent the
/// longest, so 20 logins one after another are all answered long before a read deadline (60 s
/// here) could have freed a slot. The bound is generous (no timing is measured); the figures
/// are printed. `SASLAUTHD_IDLE_FLOOD=5000` (and `--no-capture`) gives the full measurement.
#[test]
fn an_idle_flood_beyond_the_cap_is_shed() {
    let count: usize =
        std::env::var("SASLAUTHD_IDLE_FLOOD").ok().and_then(|n| n.parse().ok()).unwrap_or(IDLE_FLOOD);
    let limit = raise_nofile(count as u64 + 1000);
    assert!(limit > count as u64 + 200, "RLIMIT_NOFILE {limit} too low for {count} idle connections");
    let file = pwdfile_raw(ALICE);
    let daemon = Daemon::builder(Target::Ours).passwd_file(file.path()).read_timeout(60).metrics().start();
    let sock = daemon.socket().to_owned();
    let pid = daemon.pid();

    let started = Instant::now();
    let mut idle: Vec<UnixStream> = (0..count).map(|_| connect(&sock)).collect();
    let opened_in = started.elapsed();
    let started = Instant::now();
    for i in 0..20 {
        assert_eq!(good(&sock), counted_reply("OK"), "login {i} after {count} idle connections");
    }
    let logins_in = started.elapsed();
    let peak_rss = status_kib(pid, "VmHWM");
    let metrics = daemon.metrics();
    let shed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("saslauthd_connections_shed_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no shed counter in\n{metrics}"));
    eprintln!(
        "idle flood: {count} idle connections opened in {opened_in:?}, then 20 logins one after \
         another answered in {logins_in:?}; {shed} connections shed; daemon peak RSS (VmHWM) {peak_rss} KiB"
    );
    assert!(logins_in < Duration::from_secs(30), "20 logins took {logins_in:?}");
    assert!(shed as usize > count.saturating_sub(1024), "only {shed} of {count} idle connections shed");
    // The first idle client was shed: closed without a reply, which libsasl2 reports as a
    // temporary failure.
    assert_eq!(read_to_close(&mut idle[0]), RawReply::ClosedWithoutReply);
    assert!(peak_rss < MAX_PEAK_RSS_KIB, "peak RSS {peak_rss} KiB");
}

/// A burst of clients that each stall on a different byte of a request; every one is dropped
/// at the deadline without a reply, and the daemon keeps answering during and after.
#[test]
fn stalled_clients_are_dropped_at_the_deadline() {
    let (daemon, _file) = start(1);
    let sock = daemon.socket().to_owned();
    let pid = daemon.pid();
    let baseline = fd_count(pid);
    let full = request(b"alice", b"secret", "smtp", "");
    let start = Instant::now();
    let mut stalled: Vec<UnixStream> = (0..200)
        .map(|i| {
            let mut s = connect(&sock);
            s.write_all(&full[..i % full.len()]).unwrap();
            s
        })
        .collect();
    let t = Instant::now();
    assert_eq!(good(&sock), counted_reply("OK"));
    assert!(t.elapsed() < Duration::from_millis(500), "answered after {:?}", t.elapsed());
    for (i, s) in stalled.iter_mut().enumerate() {
        assert_eq!(read_to_close(s), RawReply::ClosedWithoutReply, "stalled client {i}");
    }
    assert!(start.elapsed() < Duration::from_secs(5), "stalled clients held {:?}", start.elapsed());
    drop(stalled);
    let after = wait_fd_count_at_most(pid, baseline, Duration::from_secs(5));
    assert!(after <= baseline, "daemon holds {after} fds, {baseline} before");
}
