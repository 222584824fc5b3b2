//! A scripted saslauthd stand-in for testing clients: it records each request and answers with
//! exactly the bytes a test chose, malformed ones included, or with silence.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::thread::JoinHandle;

use mux_server::frame::{Decoded, decode_request};
use tempfile::TempDir;

use crate::wire::counted;

/// What the fake server does on one connection after reading the request.
#[derive(Clone, Debug)]
pub enum Script {
    /// Write these raw bytes (length word included, so malformed replies can be scripted), close.
    Raw(Vec<u8>),
    /// Send nothing and wait for the client to hang up.
    Silent,
}

impl Script {
    /// A well-formed reply `text`.
    pub fn reply(text: &str) -> Script {
        Script::Raw(counted(&[text.as_bytes()]))
    }
}

/// A saslauthd stand-in on a UNIX socket in a temp dir, one script per connection, in order.
#[derive(Debug)]
pub struct FakeServer {
    _dir: TempDir,
    path: PathBuf,
    thread: JoinHandle<Vec<Vec<u8>>>,
}

impl FakeServer {
    /// Listens and serves `scripts` to the next connections, one each.
    pub fn start(scripts: Vec<Script>) -> FakeServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mux");
        let listener = UnixListener::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        let thread = std::thread::spawn(move || {
            scripts
                .into_iter()
                .map(|script| {
                    let (mut conn, _) = listener.accept().expect("accept");
                    let request = read_request(&mut conn);
                    match script {
                        Script::Raw(bytes) => conn.write_all(&bytes).expect("write the scripted reply"),
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

    /// The socket path as a `-f` argument.
    pub fn socket(&self) -> &str {
        self.path.to_str().expect("temp paths are UTF-8")
    }

    /// Waits for every scripted connection; returns the request bytes received on each.
    pub fn finish(self) -> Vec<Vec<u8>> {
        self.thread.join().expect("the fake server panicked")
    }
}

/// Reads until a whole request (4 fields, or 5 if the fifth came in the same write) or EOF.
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
