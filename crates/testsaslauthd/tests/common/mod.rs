//! Helpers shared by the integration tests: run both clients, and a scripted fake saslauthd.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;

use mux_server::frame::{Decoded, decode_request};

/// Cyrus's client, the reference every compatible case is compared with.
pub const CYRUS_CLIENT: &str = "/usr/sbin/testsaslauthd";

/// What one run of a client produced.
#[derive(Debug, PartialEq, Eq)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

/// Run a client binary with `argv[0]` = `testsaslauthd` (Cyrus prints argv[0] in its usage).
pub fn run_client(bin: &str, args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(bin)
        .arg0("testsaslauthd")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    let mut input = child.stdin.take().unwrap();
    // A client that never reads stdin may have exited already; EPIPE is fine then.
    let _ = input.write_all(stdin);
    drop(input);
    let out = child.wait_with_output().unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

/// Our client.
pub fn ours(args: &[&str]) -> Run {
    run_client(env!("CARGO_BIN_EXE_testsaslauthd"), args, b"")
}

/// Cyrus's client.
pub fn cyrus(args: &[&str]) -> Run {
    assert!(Path::new(CYRUS_CLIENT).exists(), "{CYRUS_CLIENT} missing: apt-get install sasl2-bin");
    run_client(CYRUS_CLIENT, args, b"")
}

/// Run both with the same arguments, assert identical results, return ours.
pub fn both_agree(args: &[&str]) -> Run {
    let reference = cyrus(args);
    let got = ours(args);
    assert_eq!(got, reference, "ours vs Cyrus for {args:?}");
    got
}

/// What the fake server does on one connection after reading the request.
#[derive(Clone, Debug)]
pub enum Script {
    /// Write these raw bytes (length word included, so malformed replies can be scripted), close.
    Raw(Vec<u8>),
    /// Send nothing and wait for the client to hang up.
    Silent,
}

/// A well-formed reply.
pub fn reply(text: &str) -> Script {
    let mut bytes = (text.len() as u16).to_be_bytes().to_vec();
    bytes.extend_from_slice(text.as_bytes());
    Script::Raw(bytes)
}

/// A saslauthd stand-in on a UNIX socket in a temp dir, one script per connection, in order.
pub struct FakeServer {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    thread: JoinHandle<Vec<Vec<u8>>>,
}

impl FakeServer {
    pub fn start(scripts: Vec<Script>) -> FakeServer {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mux");
        let listener = UnixListener::bind(&path).unwrap();
        let thread = std::thread::spawn(move || {
            scripts
                .into_iter()
                .map(|script| {
                    let (mut conn, _) = listener.accept().unwrap();
                    let request = read_request(&mut conn);
                    match script {
                        Script::Raw(bytes) => {
                            conn.write_all(&bytes).unwrap();
                        }
                        Script::Silent => {
                            let _ = conn.read_to_end(&mut Vec::new());
                        }
                    }
                    request
                })
                .collect()
        });
        FakeServer { _dir: dir, path, thread }
    }

    pub fn socket(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Wait for every scripted connection; returns the request bytes received on each.
    pub fn finish(self) -> Vec<Vec<u8>> {
        self.thread.join().unwrap()
    }
}

/// Read until a whole request (4 fields, or 5 if the fifth came in the same write) or EOF.
pub fn read_request(conn: &mut UnixStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Decoded::Request { more_coming: false, .. } = decode_request(&buf, usize::from(u16::MAX)) {
            return buf;
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Frame fields as counted strings, for comparing with what a server received.
pub fn framed(fields: &[&[u8]]) -> Vec<u8> {
    mux_server::frame::encode_request(fields).unwrap().to_vec()
}
