//! The accept → frame → policy → reply path in process, with a scripted verifier and real UNIX
//! sockets: isolation between clients, deadlines, pipelining, the connection cap and shedding.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use backends::{Credentials, Outcome, Reject, Verifier, VerifyFuture};
use mux_server::connection::Limits;
use mux_server::frame::encode_request;
use mux_server::policy::{Policy, PolicyConfig};
use mux_server::server::{self, ServerConfig};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// `OK` for password "good", `NO` for anything else; login "slow" sleeps first.
struct Scripted;

impl Verifier for Scripted {
    fn name(&self) -> &'static str {
        "scripted"
    }
    fn verify<'a>(&'a self, creds: &'a Credentials) -> VerifyFuture<'a> {
        Box::pin(async move {
            if creds.login == "slow" {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            if creds.login == "down" {
                return Outcome::Unavailable("backend down".into());
            }
            if &creds.password[..] == b"good" { Outcome::Ok } else { Outcome::No(Reject::IncorrectPassword) }
        })
    }
}

struct Running {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(config: ServerConfig) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("mux");
    let listener = UnixListener::bind(&socket).unwrap();
    let policy = Arc::new(Policy::new(
        Arc::new(Scripted),
        PolicyConfig { join_realm: false, verify_timeout: Duration::from_secs(10) },
    ));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(server::run(vec![listener], policy, config, async {
        let _ = rx.await;
    }));
    Running { _dir: dir, socket, stop: Some(tx), task }
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task).await.unwrap().unwrap();
    }
}

fn config(read_timeout: Duration) -> ServerConfig {
    ServerConfig {
        limits: Limits { read_timeout, drain_timeout: Duration::from_secs(1), ..Limits::default() },
        ..ServerConfig::default()
    }
}

/// Send raw bytes; return the reply text, or None when the server closed without one.
async fn exchange(socket: &Path, bytes: &[u8]) -> Option<String> {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    read_reply(&mut stream).await
}

async fn read_reply(stream: &mut UnixStream) -> Option<String> {
    let mut len = [0u8; 2];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut len)).await.unwrap();
    read.ok()?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut body).await.ok()?;
    Some(String::from_utf8(body).unwrap())
}

fn request(login: &str, password: &str) -> Vec<u8> {
    encode_request(&[login.as_bytes(), password.as_bytes(), b"smtp", b""]).unwrap().to_vec()
}

#[tokio::test]
async fn answers_ok_no_and_tempfail() {
    let server = start(config(Duration::from_secs(5))).await;
    assert_eq!(exchange(&server.socket, &request("joe", "good")).await.as_deref(), Some("OK"));
    assert_eq!(
        exchange(&server.socket, &request("joe", "bad")).await.as_deref(),
        Some("NO Incorrect password")
    );
    assert_eq!(exchange(&server.socket, &request("down", "good")).await, None);
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_client_neither_delays_others_nor_lives_forever() {
    let server = start(config(Duration::from_secs(3))).await;
    let mut stalled = Vec::new();
    for _ in 0..20 {
        let mut s = UnixStream::connect(&server.socket).await.unwrap();
        s.write_all(&request("joe", "good")[..7]).await.unwrap();
        stalled.push(s);
    }
    let started = Instant::now();
    assert_eq!(exchange(&server.socket, &request("joe", "good")).await.as_deref(), Some("OK"));
    // Well under the 3 s the stalled clients are allowed: nothing waited for them.
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    for mut s in stalled {
        // Dropped after the deadline, without a reply.
        assert_eq!(read_reply(&mut s).await, None);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_request_sent_in_pieces_is_answered() {
    let server = start(config(Duration::from_secs(5))).await;
    let mut stream = UnixStream::connect(&server.socket).await.unwrap();
    for byte in request("joe", "good") {
        stream.write_all(&[byte]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(read_reply(&mut stream).await.as_deref(), Some("OK"));
    server.stop().await;
}

#[tokio::test]
async fn a_pipelined_second_request_gets_no_second_answer() {
    let server = start(config(Duration::from_secs(5))).await;
    let mut stream = UnixStream::connect(&server.socket).await.unwrap();
    let mut two = request("joe", "good");
    two.extend(request("joe", "bad"));
    stream.write_all(&two).await.unwrap();
    assert_eq!(read_reply(&mut stream).await.as_deref(), Some("OK"));
    let mut rest = Vec::new();
    let n =
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await.unwrap().unwrap();
    assert_eq!(n, 0, "nothing after the first reply");
    server.stop().await;
}

#[tokio::test]
async fn a_slow_backend_delays_only_its_own_request() {
    let server = start(config(Duration::from_secs(5))).await;
    let slow = tokio::spawn({
        let socket = server.socket.clone();
        async move { exchange(&socket, &request("slow", "good")).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    assert_eq!(exchange(&server.socket, &request("joe", "good")).await.as_deref(), Some("OK"));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(slow.await.unwrap().as_deref(), Some("OK"));
    server.stop().await;
}

#[tokio::test]
async fn at_the_cap_the_reader_silent_longest_makes_room() {
    let mut cfg = config(Duration::from_secs(30));
    cfg.max_connections = 2;
    let server = start(cfg).await;
    let pause = || tokio::time::sleep(Duration::from_millis(100));
    // `a` connects first but then sends a byte: `b` is the one silent the longest.
    let mut a = UnixStream::connect(&server.socket).await.unwrap();
    pause().await;
    let mut b = UnixStream::connect(&server.socket).await.unwrap();
    pause().await;
    let full = request("joe", "good");
    a.write_all(&full[..1]).await.unwrap();
    pause().await;
    // A newcomer is served long before the 30 s deadline would have freed a slot.
    let started = Instant::now();
    assert_eq!(exchange(&server.socket, &request("joe", "good")).await.as_deref(), Some("OK"));
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    // `b` was closed without a reply (a tempfail to libsasl2); `a` kept its slot and is served.
    assert_eq!(read_reply(&mut b).await, None);
    a.write_all(&full[1..]).await.unwrap();
    assert_eq!(read_reply(&mut a).await.as_deref(), Some("OK"));
    server.stop().await;
}

#[tokio::test]
async fn a_request_being_answered_keeps_its_slot() {
    let mut cfg = config(Duration::from_secs(30));
    cfg.max_connections = 1;
    let server = start(cfg).await;
    // The only slot holds a request the backend takes 2 s over: nothing to shed, so the next
    // client waits for it rather than being refused, and both are answered.
    let slow = tokio::spawn({
        let socket = server.socket.clone();
        async move { exchange(&socket, &request("slow", "good")).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    assert_eq!(exchange(&server.socket, &request("joe", "good")).await.as_deref(), Some("OK"));
    assert!(started.elapsed() >= Duration::from_millis(1000), "{:?}", started.elapsed());
    assert_eq!(slow.await.unwrap().as_deref(), Some("OK"));
    server.stop().await;
}

/// With the cap reached only by answered connections whose clients have closed, a newcomer is
/// served at once: an acceptor about to wait for room looks at the connections it answered
/// (a slot held by a closed one was never freed: with `--max-connections 1`, the second
/// sequential login hung for good, the drain deadline notwithstanding; break19b review).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_logins_at_a_cap_of_one_are_all_answered() {
    let mut cfg = config(Duration::from_secs(30));
    cfg.max_connections = 1;
    cfg.limits.drain_timeout = Duration::from_secs(30);
    let server = start(cfg).await;
    let started = Instant::now();
    // Answered by the runtime (a verifier call) and by an acceptor at once (a NULL password).
    for (i, password) in ["good", ""].iter().cycle().take(60).enumerate() {
        let reply =
            tokio::time::timeout(Duration::from_secs(3), exchange(&server.socket, &request("joe", password)))
                .await
                .unwrap_or_else(|_| panic!("login {i} hung"));
        assert!(reply.is_some(), "login {i}");
    }
    // Each one freed its slot right after its client closed, not at the 200 ms accept timeout.
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    server.stop().await;
}

/// Clients that keep their connections open after the reply do not keep newcomers out until
/// the drain deadline: an answered connection is shed first (its client has its reply). Before,
/// `cap` such clients (any local user) held the daemon for the whole deadline, again and again
/// (break19b review).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_holding_their_connection_after_the_reply_are_shed_for_a_newcomer() {
    let mut cfg = config(Duration::from_secs(30));
    cfg.max_connections = 2;
    cfg.limits.drain_timeout = Duration::from_secs(30);
    let server = start(cfg).await;
    let mut held = Vec::new();
    // Answered by the runtime and by an acceptor at once.
    for password in ["good", ""] {
        let mut stream = UnixStream::connect(&server.socket).await.unwrap();
        stream.write_all(&request("joe", password)).await.unwrap();
        assert!(read_reply(&mut stream).await.is_some());
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let reply =
            tokio::time::timeout(Duration::from_secs(5), exchange(&server.socket, &request("joe", "good")))
                .await
                .expect("the newcomer waited for the drain deadline");
        assert_eq!(reply.as_deref(), Some("OK"));
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }
    // The holders were closed (they read the end of file after their reply).
    for mut stream in held {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await.unwrap();
        assert!(rest.is_empty(), "{read:?}");
    }
    server.stop().await;
}

/// A request in progress at shutdown is answered, and the server ends right after: its
/// connection, answered once the drain thread has ended, is closed rather than left holding its
/// slot until the shutdown grace ran out (break19b review).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_answered_during_shutdown_does_not_hold_it_up() {
    let mut cfg = config(Duration::from_secs(30));
    cfg.shutdown_grace = Duration::from_secs(20);
    let server = start(cfg).await;
    let mut slow = UnixStream::connect(&server.socket).await.unwrap();
    slow.write_all(&request("slow", "good")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let stopping = tokio::spawn(server.stop());
    assert_eq!(read_reply(&mut slow).await.as_deref(), Some("OK"));
    // The client keeps its connection open: shutting down closes it, without waiting for it.
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown waited for the grace")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}
