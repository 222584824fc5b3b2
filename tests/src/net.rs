//! Ports for the servers the tests start.

use std::net::TcpListener;

/// A loopback TCP port nobody listens on right now (bound, then released for a server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}
