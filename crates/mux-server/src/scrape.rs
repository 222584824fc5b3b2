//! Beside the request path: the endpoint that serves the metrics (`--metrics-listen`).
//!
//! It answers `GET /metrics` with a minimal HTTP/1.1 response and closes. It is hand-written:
//! one read-only, single-path responder does not justify an HTTP stack (hyper and friends would
//! double the dependency tree of a security-sensitive daemon). It belongs on loopback or a UNIX
//! socket.

use crate::metrics::Metrics;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Where the metrics endpoint listens: `unix:/path` or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address (keep it on loopback).
    Tcp(std::net::SocketAddr),
    /// A UNIX socket path.
    Unix(std::path::PathBuf),
}

impl std::str::FromStr for Endpoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Endpoint, String> {
        match text.strip_prefix("unix:") {
            Some(path) if path.starts_with('/') => Ok(Endpoint::Unix(path.into())),
            Some(_) => Err("unix: needs an absolute path".to_owned()),
            None => text
                .parse()
                .map(Endpoint::Tcp)
                .map_err(|_| format!("{text:?} is not host:port or unix:/path")),
        }
    }
}

/// Answer one scrape on `stream`: `GET /metrics` (or `/`) gets the exposition, anything else 404.
pub async fn answer_scrape<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, metrics: &Metrics) {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    let read_head = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), read_head).await.is_err() {
        return;
    }
    let wanted = head.starts_with(b"GET /metrics ") || head.starts_with(b"GET / ");
    let (status, body) = if wanted { ("200 OK", metrics.render()) } else { ("404 Not Found", String::new()) };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Serve scrapes on `endpoint` until the task is dropped.
pub async fn serve(endpoint: Endpoint, metrics: &'static Metrics) -> std::io::Result<()> {
    match endpoint {
        Endpoint::Tcp(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(answer_scrape(stream, metrics));
            }
        }
        Endpoint::Unix(path) => {
            let _ = std::fs::remove_file(&path);
            let listener = tokio::net::UnixListener::bind(&path)?;
            tracing::info!("metrics on unix:{}", path.display());
            loop {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(answer_scrape(stream, metrics));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::metrics::RequestResult;

    #[test]
    fn endpoints_parse() {
        assert_eq!("127.0.0.1:9105".parse(), Ok(Endpoint::Tcp("127.0.0.1:9105".parse().unwrap())));
        assert_eq!("unix:/run/m.sock".parse(), Ok(Endpoint::Unix("/run/m.sock".into())));
        assert!("unix:rel".parse::<Endpoint>().is_err());
        assert!("nonsense".parse::<Endpoint>().is_err());
    }

    #[tokio::test]
    async fn a_scrape_gets_the_text_and_other_paths_404() {
        let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new()));
        metrics.observe("shadow", RequestResult::Ok, Duration::from_millis(1));
        for (request, want) in
            [("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "200 OK"), ("GET /x HTTP/1.1\r\n\r\n", "404")]
        {
            let (client, server) = tokio::io::duplex(1 << 16);
            let task = tokio::spawn(answer_scrape(server, metrics));
            let (mut rd, mut wr) = tokio::io::split(client);
            wr.write_all(request.as_bytes()).await.unwrap();
            let mut response = String::new();
            rd.read_to_string(&mut response).await.unwrap();
            task.await.unwrap();
            assert!(response.starts_with(&format!("HTTP/1.1 {want}")), "{response}");
            if want == "200 OK" {
                assert!(response.contains(r#"saslauthd_requests_total{mech="shadow",result="ok"} 1"#));
            }
        }
    }
}
