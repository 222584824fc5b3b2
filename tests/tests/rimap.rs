//! `-a rimap` against a real Dovecot (plaintext, imaps, STARTTLS with a CA made here), fake IMAP
//! servers that misbehave, and Cyrus's rimap side by side where both should agree.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use saslauthd_tests::pki::Pki;
use saslauthd_tests::run::{load, run_with_deadline};
use saslauthd_tests::{Daemon, Dovecot, RawReply, Target, both_targets, free_port, request, send_raw_open};

const SERVICE: &str = "imap";
/// Cyrus's reply when the IMAP server says `NO` (reference §3.3).
const REJECTED: &str = "NO remote server rejected your credentials";

fn rimap(target: Target, option: &str) -> Daemon {
    Daemon::builder(target).mech("rimap", Some(option)).start()
}

fn ask(daemon: &Daemon, login: &[u8], password: &[u8]) -> RawReply {
    send_raw_open(daemon.socket(), &request(login, password, SERVICE, ""))
}

fn assert_ok(daemon: &Daemon, login: &str, password: &str) {
    let reply = ask(daemon, login.as_bytes(), password.as_bytes());
    assert!(reply.text().starts_with("OK"), "{login}/{password:?}: {reply:?}\n{}", daemon.log());
}

fn assert_rejected(daemon: &Daemon, login: &[u8], password: &[u8]) {
    let reply = ask(daemon, login, password);
    assert_eq!(
        reply.text(),
        REJECTED,
        "{:?}/{:?}",
        String::from_utf8_lossy(login),
        String::from_utf8_lossy(password)
    );
}

fn assert_tempfail(daemon: &Daemon, login: &str, password: &str) {
    assert_eq!(
        ask(daemon, login.as_bytes(), password.as_bytes()),
        RawReply::ClosedWithoutReply,
        "{}",
        daemon.log()
    );
}

fn plain_dovecot() -> Dovecot {
    Dovecot::builder().user("joe", "secret").user("joe@example.org", "realm-pw").start()
}

both_targets!(accepts_and_rejects, |target| {
    let dovecot = plain_dovecot();
    let daemon = rimap(target, &format!("127.0.0.1/{}", dovecot.imap_port()));
    assert_ok(&daemon, "joe", "secret");
    assert_rejected(&daemon, b"joe", b"wrong");
    assert_rejected(&daemon, b"nobody", b"secret");
    // The daemon answers an empty password itself, as Cyrus does.
    assert_eq!(ask(&daemon, b"joe", b"").text(), "NO NULL password received");
    assert!(!daemon.log().contains("secret"), "{}", daemon.log());
});

// `-r` joins the realm before the verifier; the server must see `login@realm`.
both_targets!(realm_is_joined_to_the_login, |target| {
    let dovecot = plain_dovecot();
    let daemon = Daemon::builder(target)
        .mech("rimap", Some(&format!("127.0.0.1/{}", dovecot.imap_port())))
        .realm_join()
        .start();
    let reply = send_raw_open(daemon.socket(), &request(b"joe", b"realm-pw", SERVICE, "example.org"));
    assert!(reply.text().starts_with("OK"), "{reply:?}");
    assert!(dovecot.wait_for_log("user=<joe@example.org>", Duration::from_secs(5)), "{}", dovecot.log());
    let reply = send_raw_open(daemon.socket(), &request(b"joe", b"secret", SERVICE, "example.org"));
    assert_eq!(reply.text(), REJECTED);
});

// Cyrus escapes `"` and `\` in its quoted strings too; both must get these through intact.
both_targets!(quotes_and_backslashes, |target| {
    let dovecot = Dovecot::builder().user("q", "p\"w\\d").user("b", "\\").user("s", " two  words ").start();
    let daemon = rimap(target, &format!("127.0.0.1/{}", dovecot.imap_port()));
    assert_ok(&daemon, "q", "p\"w\\d");
    assert_ok(&daemon, "b", "\\");
    assert_ok(&daemon, "s", " two  words ");
    assert_rejected(&daemon, b"q", b"p\"w\\");
    assert_rejected(&daemon, b"q", b"p\"w\\d\\");
    assert_rejected(&daemon, b"s", b"two words");
});

// 8-bit values go as literals (Dovecot advertises LITERAL+), never raw in a quoted string.
#[test]
fn utf8_and_imap_syntax_in_values() {
    let long = "x".repeat(250);
    let users = [
        ("utf", "pässwörd ✓"),
        ("jörg", "grüße"),
        ("brace", "{5}"),
        ("paren", "(a) [b] %*"),
        ("long", long.as_str()),
    ];
    let mut builder = Dovecot::builder();
    for (user, password) in users {
        builder = builder.user(user, password);
    }
    let dovecot = builder.start();
    for option in [
        format!("127.0.0.1/{}", dovecot.imap_port()),
        format!("127.0.0.1:{}", dovecot.imap_port()),
        format!("imap://127.0.0.1:{}", dovecot.imap_port()),
    ] {
        let daemon = rimap(Target::Ours, &option);
        for (user, password) in users {
            assert_ok(&daemon, user, password);
        }
        assert_rejected(&daemon, "utf".as_bytes(), "passwörd ✓".as_bytes());
        assert_rejected(&daemon, b"utf", b"p\xe4sswrd");
    }
}

// CR, LF and NUL would let a password carry a second IMAP command (Cyrus sends them raw): they
// are refused without contacting the server.
#[test]
fn line_breaks_are_refused_before_connecting() {
    let dovecot = Dovecot::builder().user("joe", "secret").user("marker", "m").start();
    let daemon = rimap(Target::Ours, &format!("127.0.0.1/{}", dovecot.imap_port()));
    let injections: [(&[u8], &[u8]); 5] = [
        (b"joe", b"Canary-1\r\na9 LOGIN joe secret"),
        (b"joe", b"Canary-2\na9 LOGOUT"),
        (b"joe", b"Canary-3\r"),
        (b"joe\r\na9 LOGIN joe secret", b"Canary-4"),
        (b"jo\ne", b"secret"),
    ];
    for (login, password) in injections {
        assert_rejected(&daemon, login, password);
    }
    let nul = ask(&daemon, b"joe", b"sec\0ret");
    assert!(nul.text().starts_with("NO"), "{nul:?}");
    // A good login afterwards is the only one the server ever saw.
    assert_ok(&daemon, "marker", "m");
    assert!(dovecot.wait_for_log("user=<marker>", Duration::from_secs(5)), "{}", dovecot.log());
    let lines = dovecot.login_lines();
    assert_eq!(lines.len(), 1, "the server saw more than the marker login:\n{}", dovecot.log());
    assert!(!daemon.log().contains("Canary"), "password in our log:\n{}", daemon.log());
}

#[test]
fn server_down_is_tempfail() {
    let port = free_port();
    let daemon = rimap(Target::Ours, &format!("127.0.0.1/{port}"));
    let start = Instant::now();
    assert_tempfail(&daemon, "joe", "secret");
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert!(daemon.log().contains("cannot connect"), "{}", daemon.log());
}

// The difference from Cyrus, on record: it answers NO, so a mail client is told the password is
// wrong while the IMAP server is merely down.
#[test]
fn cyrus_says_no_when_server_down() {
    let daemon = rimap(Target::Cyrus, &format!("127.0.0.1/{}", free_port()));
    let reply = ask(&daemon, b"joe", b"secret");
    assert_eq!(reply.text(), "NO [ALERT] Couldn't contact remote authentication server");
}

#[test]
fn silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts (the kernel does, from the backlog) and never writes.
    let daemon = rimap(Target::Ours, &format!("imap://127.0.0.1:{port}?timeout=1"));
    let start = Instant::now();
    assert_tempfail(&daemon, "joe", "secret");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(5), "{took:?}");
    assert!(daemon.log().contains("no answer within 1s"), "{}", daemon.log());
    drop(listener);
}

/// A one-shot fake IMAP server: for each connection, writes `greeting`, and after the first
/// line from the client writes `reply`.
fn fake_imap(greeting: &'static [u8], reply: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.write_all(greeting);
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            let _ = stream.write_all(reply);
        }
    });
    port
}

#[test]
fn server_trouble_is_tempfail() {
    const HELLO: &[u8] = b"* OK [CAPABILITY IMAP4rev1 LITERAL+] fake ready\r\n";
    let cases: [(&str, &[u8], &[u8]); 8] = [
        ("BYE greeting", b"* BYE too busy\r\n", b""),
        ("NO greeting", b"* NO go away\r\n", b""),
        ("PREAUTH greeting", b"* PREAUTH welcome\r\n", b""),
        ("not IMAP", b"SSH-2.0-OpenSSH_9.2\r\n", b""),
        ("BAD", HELLO, b"a1 BAD what\r\n"),
        ("NO [UNAVAILABLE]", HELLO, b"a1 NO [UNAVAILABLE] auth backend down\r\n"),
        ("nonsense reply", HELLO, b"hello there\r\n"),
        ("closed after LOGIN", HELLO, b""),
    ];
    for (what, greeting, reply) in cases {
        let port = fake_imap(greeting, reply);
        let daemon = rimap(Target::Ours, &format!("imap://127.0.0.1:{port}?timeout=2"));
        assert_eq!(ask(&daemon, b"joe", b"secret"), RawReply::ClosedWithoutReply, "{what}: {}", daemon.log());
    }
    // Dovecot's plain NO with a code is an ordinary rejection.
    let port = fake_imap(HELLO, b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
    let daemon = rimap(Target::Ours, &format!("imap://127.0.0.1:{port}?timeout=2"));
    assert_rejected(&daemon, b"joe", b"secret");
}

#[test]
fn bad_options_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (&["-a", "rimap"], "needs the IMAP server"),
        (&["-a", "rimap", "-O", "127.0.0.1/notaport"], "bad port"),
        (&["-a", "rimap", "-O", "imap://h?bogus=1"], "unknown option"),
        (&["-a", "rimap", "-O", "imaps://h?ca_file=/nonexistent/ca.pem"], "ca_file"),
        (&["-a", "rimap", "-O", "imap://h?timeout=0"], "timeout"),
    ];
    for (args, needle) in cases {
        let mut cmd = Command::new(Target::Ours.saslauthd());
        cmd.args(args).arg("-d").arg("-m").arg(dir.path());
        let done = run_with_deadline(&mut cmd, Duration::from_secs(10));
        assert_eq!(done.code, Some(1), "{args:?}: {done:?}");
        assert!(done.stderr.contains(needle), "{args:?}: {}", done.stderr);
    }
}

fn tls_dovecot(pki: &Pki) -> Dovecot {
    Dovecot::builder().user("joe", "secret").user("utf", "pässwörd").tls(&pki.cert, &pki.key).start()
}

fn ca(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn imaps_with_a_private_ca() {
    let pki = Pki::new(&["localhost"]);
    let dovecot = tls_dovecot(&pki);
    let daemon = rimap(
        Target::Ours,
        &format!("imaps://localhost:{}?ca_file={}", dovecot.imaps_port(), ca(&pki.ca_file)),
    );
    assert_ok(&daemon, "joe", "secret");
    assert_ok(&daemon, "utf", "pässwörd");
    assert_rejected(&daemon, b"joe", b"wrong");
    assert!(dovecot.wait_for_log("user=<joe>", Duration::from_secs(5)));
    let login = dovecot.log().lines().find(|l| l.contains("Login: user=<joe>")).map(str::to_owned);
    assert!(login.as_deref().is_some_and(|l| l.contains("TLS")), "{login:?}");

    // Connecting by address, the certificate's name is given separately.
    let by_ip = format!(
        "imaps://127.0.0.1:{}?ca_file={}&tls_name=localhost&timeout=5",
        dovecot.imaps_port(),
        ca(&pki.ca_file)
    );
    assert_ok(&rimap(Target::Ours, &by_ip), "joe", "secret");
}

#[test]
fn starttls_with_a_private_ca() {
    let pki = Pki::new(&["localhost"]);
    let dovecot = tls_dovecot(&pki);
    let option = format!("imap://localhost:{}?starttls&ca_file={}", dovecot.imap_port(), ca(&pki.ca_file));
    let daemon = rimap(Target::Ours, &option);
    assert_ok(&daemon, "joe", "secret");
    assert_ok(&daemon, "utf", "pässwörd");
    assert_rejected(&daemon, b"joe", b"wrong");
    assert!(dovecot.wait_for_log("Login: user=<utf>", Duration::from_secs(5)));
    let logins: Vec<String> =
        dovecot.log().lines().filter(|l| l.contains("Login: user=")).map(str::to_owned).collect();
    assert!(logins.iter().all(|l| l.contains("TLS")), "{logins:?}");
}

#[test]
fn wrong_name_or_untrusted_certificate_is_tempfail() {
    let pki_ok = Pki::new(&["localhost"]);
    let other = Pki::new(&["localhost"]);
    let dovecot = tls_dovecot(&pki_ok);
    let (imaps, imap) = (dovecot.imaps_port(), dovecot.imap_port());
    let cases = [
        // The certificate names localhost, not the address.
        format!("imaps://127.0.0.1:{imaps}?ca_file={}", ca(&pki_ok.ca_file)),
        format!("imaps://localhost:{imaps}?ca_file={}&tls_name=imap.example.org", ca(&pki_ok.ca_file)),
        format!("imap://127.0.0.1:{imap}?starttls&ca_file={}", ca(&pki_ok.ca_file)),
        // Signed by a CA nobody told us to trust.
        format!("imaps://localhost:{imaps}?ca_file={}", ca(&other.ca_file)),
        format!("imap://localhost:{imap}?starttls&ca_file={}", ca(&other.ca_file)),
        // The system's roots do not include the test CA either.
        format!("imaps://localhost:{imaps}"),
    ];
    for option in cases {
        let daemon = rimap(Target::Ours, &option);
        assert_tempfail(&daemon, "joe", "secret");
        assert!(daemon.log().contains("TLS handshake failed"), "{option}: {}", daemon.log());
    }
    // No password ever reached the server.
    assert!(!dovecot.log().contains("Login: user="), "{}", dovecot.log());
}

/// A server certificate that is itself the trust anchor (self-signed, `CA:TRUE`, as `openssl req
/// -x509` makes it) named as `ca_file` is accepted, as OpenSSL accepts it; over imaps and STARTTLS.
#[test]
fn self_signed_ca_as_server_certificate_is_trusted() {
    let pki = Pki::self_signed_ca(&["localhost"]);
    let dovecot = tls_dovecot(&pki);
    for option in [
        format!("imaps://localhost:{}?ca_file={}", dovecot.imaps_port(), ca(&pki.ca_file)),
        format!("imap://localhost:{}?starttls&ca_file={}", dovecot.imap_port(), ca(&pki.ca_file)),
    ] {
        let daemon = rimap(Target::Ours, &option);
        assert_ok(&daemon, "joe", "secret");
        assert_rejected(&daemon, b"joe", b"wrong");
    }
    assert!(dovecot.wait_for_log("Login: user=<joe>", Duration::from_secs(5)));
    let logins: Vec<String> =
        dovecot.log().lines().filter(|l| l.contains("Login: user=")).map(str::to_owned).collect();
    assert!(logins.len() >= 2 && logins.iter().all(|l| l.contains("TLS")), "{logins:?}");
}

/// Only that very certificate: another self-signed CA, the right one for another name, or an
/// expired one are refused (tempfail, no password sent).
#[test]
fn self_signed_ca_is_trusted_for_nothing_else() {
    let pki = Pki::self_signed_ca(&["localhost"]);
    let other = Pki::self_signed_ca(&["localhost"]);
    let expired = Pki::self_signed_ca_expired(&["localhost"]);
    let dovecot = tls_dovecot(&pki);
    let old = tls_dovecot(&expired);
    let (imaps, imap) = (dovecot.imaps_port(), dovecot.imap_port());
    let cases = [
        format!("imaps://localhost:{imaps}?ca_file={}", ca(&other.ca_file)),
        format!("imap://localhost:{imap}?starttls&ca_file={}", ca(&other.ca_file)),
        format!("imaps://127.0.0.1:{imaps}?ca_file={}", ca(&pki.ca_file)),
        format!("imaps://localhost:{imaps}?ca_file={}&tls_name=imap.example.org", ca(&pki.ca_file)),
        format!("imap://127.0.0.1:{imap}?starttls&ca_file={}", ca(&pki.ca_file)),
        format!("imaps://localhost:{}?ca_file={}", old.imaps_port(), ca(&expired.ca_file)),
        format!("imap://localhost:{}?starttls&ca_file={}", old.imap_port(), ca(&expired.ca_file)),
    ];
    for option in cases {
        let daemon = rimap(Target::Ours, &option);
        assert_tempfail(&daemon, "joe", "secret");
        assert!(daemon.log().contains("TLS handshake failed"), "{option}: {}", daemon.log());
    }
    for server in [&dovecot, &old] {
        assert!(!server.log().contains("Login: user="), "{}", server.log());
    }
}

/// Side-by-side load run for the report, twice in alternating order against one Dovecot:
/// `cargo build --release --workspace --bins && cargo test --release -p saslauthd-tests --test
/// rimap -- --ignored --nocapture rimap_benchmark`.
#[test]
#[ignore = "a 4 x 10 s benchmark, run by hand"]
fn rimap_benchmark() {
    let dovecot = Dovecot::builder().user("user1", "pw1").start();
    let option = format!("127.0.0.1/{}", dovecot.imap_port());
    let mut results: Vec<(Target, f64, f64)> = Vec::new();
    for target in [Target::Ours, Target::Cyrus, Target::Cyrus, Target::Ours] {
        let daemon = Daemon::builder(target).mech("rimap", Some(&option)).threads(5).start();
        let done = load(daemon.socket(), "user1", "pw1", SERVICE);
        println!("{target:?} ({}): {}{}", daemon.log().lines().count(), done.stdout, done.stderr);
        let field = |name: &str| done.load_field(name);
        assert_eq!(field("fail"), 0.0, "{}", done.stdout);
        results.push((target, field("rps"), field("p99_ms")));
    }
    let mean = |t: Target, pick: fn(&(Target, f64, f64)) -> f64| {
        let v: Vec<f64> = results.iter().filter(|r| r.0 == t).map(pick).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (rps_ours, rps_cyrus) = (mean(Target::Ours, |r| r.1), mean(Target::Cyrus, |r| r.1));
    let (p99_ours, p99_cyrus) = (mean(Target::Ours, |r| r.2), mean(Target::Cyrus, |r| r.2));
    println!(
        "mean rps ours={rps_ours:.1} cyrus={rps_cyrus:.1} (x{:.2}); mean p99_ms ours={p99_ours:.2} cyrus={p99_cyrus:.2} (x{:.2})",
        rps_ours / rps_cyrus,
        p99_ours / p99_cyrus
    );
}

/// Where the server is while a load request runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
enum Phase {
    Up,
    Stopping,
    Down,
    Restarting,
    UpAgain,
}

impl Phase {
    fn of(n: u8) -> Phase {
        [Phase::Up, Phase::Stopping, Phase::Down, Phase::Restarting, Phase::UpAgain][usize::from(n)]
    }
}

/// `OK`, `NO`, or `tempfail` (closed without a reply).
fn verdict(reply: &RawReply) -> &'static str {
    match reply {
        RawReply::ClosedWithoutReply => "tempfail",
        reply if reply.text().starts_with("OK") => "OK",
        reply if reply.text().starts_with("NO") => "NO",
        _ => "malformed",
    }
}

/// Polls `done` every 20 ms for up to `timeout`.
fn wait_until(timeout: Duration, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

// Dovecot stopped and started again while four clients keep logging in with a good password:
// while it is down every answer is a tempfail (never NO, which would tell a mail client its
// password is wrong); once it listens again logins succeed within seconds; and afterwards the
// daemon holds no more descriptors than before (no connection to the dead server leaked).
#[test]
fn dovecot_restart_under_load() {
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
    use std::sync::{Arc, Mutex};

    let mut dovecot = plain_dovecot();
    let daemon = rimap(Target::Ours, &format!("imap://127.0.0.1:{}?timeout=3", dovecot.imap_port()));
    let pid = daemon.pid();
    assert_ok(&daemon, "joe", "secret");
    let fds_before = saslauthd_tests::proc::fd_count(pid);

    let phase = Arc::new(AtomicU8::new(Phase::Up as u8));
    let stop = Arc::new(AtomicBool::new(false));
    // (phase when sent, phase when answered, reply)
    let seen: Arc<Mutex<Vec<(Phase, Phase, RawReply)>>> = Arc::default();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (phase, stop, seen) = (phase.clone(), stop.clone(), seen.clone());
            let socket = daemon.socket().to_owned();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let sent = Phase::of(phase.load(Ordering::SeqCst));
                    let reply = send_raw_open(&socket, &request(b"joe", b"secret", SERVICE, ""));
                    let answered = Phase::of(phase.load(Ordering::SeqCst));
                    seen.lock().unwrap().push((sent, answered, reply));
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    let count = |wanted: Phase, ok: bool| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(s, a, r)| *s == wanted && *a == wanted && (verdict(r) == "OK") == ok)
            .count()
    };
    let timeout = Duration::from_secs(15);

    assert!(wait_until(timeout, || count(Phase::Up, true) >= 20), "no logins before the stop");
    phase.store(Phase::Stopping as u8, Ordering::SeqCst);
    dovecot.stop();
    phase.store(Phase::Down as u8, Ordering::SeqCst);
    assert!(wait_until(timeout, || count(Phase::Down, false) >= 40), "too few answers while down");
    phase.store(Phase::Restarting as u8, Ordering::SeqCst);
    let restarted = Instant::now();
    dovecot.restart();
    phase.store(Phase::UpAgain as u8, Ordering::SeqCst);
    let recovered = wait_until(timeout, || count(Phase::UpAgain, true) >= 20);
    let recovery = restarted.elapsed();
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().unwrap();
    }
    assert!(recovered, "logins did not succeed again within {timeout:?} of the restart\n{}", daemon.log());

    let seen = seen.lock().unwrap();
    let rejected: Vec<_> =
        seen.iter().filter(|(_, _, r)| verdict(r) != "OK" && verdict(r) != "tempfail").collect();
    assert!(rejected.is_empty(), "NO or worse while the server restarted: {rejected:?}\n{}", daemon.log());
    for (sent, answered, reply) in seen.iter() {
        match (sent, answered) {
            (Phase::Up, Phase::Up) => assert_eq!(verdict(reply), "OK", "before the stop"),
            (Phase::Down, Phase::Down) => assert_eq!(verdict(reply), "tempfail", "while down"),
            _ => {}
        }
    }
    let tempfails_after =
        seen.iter().filter(|(s, _, r)| *s == Phase::UpAgain && r == &RawReply::ClosedWithoutReply).count();
    println!(
        "rimap restart: {} requests; recovered {recovery:?} after the restart began; {tempfails_after} tempfails after it listened",
        seen.len()
    );

    let fds_after = saslauthd_tests::proc::wait_fd_count_at_most(pid, fds_before, Duration::from_secs(10));
    println!("rimap restart: daemon descriptors {fds_before} before the load, {fds_after} after");
    assert!(fds_after <= fds_before, "descriptors: {fds_before} before the load, {fds_after} after");
}
