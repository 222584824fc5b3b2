//! One conversation with the IMAP server: connect, greeting, optional `STARTTLS`, `LOGIN`, the
//! tagged reply, `LOGOUT`. Every wait on the server has a deadline.
//!
//! Responses are classified by hand rather than parsed with imap-codec: only the tag, the status
//! word and a response code matter, and a full parser would turn harmless untagged data it does
//! not know into errors.

use super::login::{self, Literals};
use super::target::{Security, Target};
use super::tls::Tls;
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

/// Longest response line accepted (Cyrus gives up at 1000 bytes; Dovecot's capability lines
/// after login run to about 600).
const MAX_LINE: u64 = 16 * 1024;
/// Largest literal in an untagged response that is skipped rather than treated as nonsense.
const MAX_SKIPPED_LITERAL: u64 = 64 * 1024;
/// How long the courtesy `LOGOUT` may take; the verdict is already known.
const LOGOUT_DEADLINE: Duration = Duration::from_secs(1);

/// What the server made of the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Tagged `OK`.
    Accepted,
    /// Tagged `NO` (without a response code saying the server itself is at fault).
    Rejected,
    /// No decision: unreachable, refused the session, timed out or answered nonsense.
    Unavailable(String),
}

/// Asks the server at `target` whether `login`/`password` are good.
pub async fn authenticate(target: &Target, tls: Option<&Tls>, login: &[u8], password: &[u8]) -> Verdict {
    match run(target, tls, login, password).await {
        Ok(true) => Verdict::Accepted,
        Ok(false) => Verdict::Rejected,
        Err(why) => Verdict::Unavailable(why),
    }
}

async fn run(target: &Target, tls: Option<&Tls>, login: &[u8], password: &[u8]) -> Result<bool, String> {
    let tcp = connect(target).await?;
    // LOGIN and its literals go out in few small writes that must not wait for ACKs.
    let _ = tcp.set_nodelay(true);
    let wait = target.read_timeout;
    let tls = || tls.ok_or_else(|| "TLS is not set up".to_owned());
    match target.security {
        Security::Plain => {
            let mut conn = BufReader::new(tcp);
            let caps = greeting(&mut conn, wait).await?;
            exchange(&mut conn, caps, wait, login, password).await
        }
        Security::Tls => {
            let mut conn = BufReader::new(handshake(tls()?, tcp, wait).await?);
            let caps = greeting(&mut conn, wait).await?;
            exchange(&mut conn, caps, wait, login, password).await
        }
        Security::StartTls => {
            let mut conn = BufReader::new(tcp);
            greeting(&mut conn, wait).await?;
            send(&mut conn, b"a0 STARTTLS\r\n", wait).await?;
            match tagged(&mut conn, "a0", wait).await? {
                Status::Ok => {}
                other => return Err(format!("server refused STARTTLS ({other:?})")),
            }
            // Anything already buffered was sent before the handshake, unprotected: a
            // man-in-the-middle could have injected it (CVE-2011-0411 style).
            if !conn.buffer().is_empty() {
                return Err("server sent data after accepting STARTTLS".into());
            }
            let mut conn = BufReader::new(handshake(tls()?, conn.into_inner(), wait).await?);
            // Capabilities seen before TLS cannot be trusted; synchronizing literals always work.
            let caps = Caps { literals: Literals::Sync, login_disabled: false };
            exchange(&mut conn, caps, wait, login, password).await
        }
    }
}

async fn within<T>(deadline: Duration, what: &str, fut: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(deadline, fut)
        .await
        .map_err(|_| format!("{what}: no answer within {}s", deadline.as_secs_f64()))
}

async fn connect(target: &Target) -> Result<TcpStream, String> {
    let (host, port) = (target.host.as_str(), target.port);
    let addrs = within(target.connect_timeout, "name lookup", tokio::net::lookup_host((host, port)))
        .await?
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match within(target.connect_timeout, "connect", TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(format!("cannot connect to the IMAP server ({last})"))
}

async fn handshake(
    tls: &Tls,
    tcp: TcpStream,
    wait: Duration,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    within(wait, "TLS handshake", tls.connector.connect(tls.name.clone(), tcp))
        .await?
        .map_err(|e| format!("TLS handshake failed: {e}"))
}

/// What the greeting's `[CAPABILITY …]` said, as far as LOGIN cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Caps {
    literals: Literals,
    login_disabled: bool,
}

async fn greeting<S: AsyncRead + Unpin>(conn: &mut BufReader<S>, wait: Duration) -> Result<Caps, String> {
    let line = response(conn, wait).await?;
    let Some(rest) = line.strip_prefix(b"* ") else {
        return Err(format!("unexpected greeting {}", excerpt(&line)));
    };
    if !starts_with_word(rest, "OK") {
        // `* BYE`/`* NO`: the server is refusing sessions; `* PREAUTH` would skip LOGIN.
        return Err(format!("server refused the session: {}", excerpt(&line)));
    }
    Ok(capabilities(rest))
}

fn capabilities(ok_text: &[u8]) -> Caps {
    let mut caps = Caps { literals: Literals::Sync, login_disabled: false };
    let text = String::from_utf8_lossy(ok_text).to_ascii_uppercase();
    let Some(list) = text.split_once("[CAPABILITY ").and_then(|(_, rest)| rest.split_once(']')) else {
        return caps;
    };
    for cap in list.0.split_ascii_whitespace() {
        match cap {
            "LITERAL+" => caps.literals = Literals::Plus,
            "LITERAL-" if caps.literals == Literals::Sync => caps.literals = Literals::Minus,
            "LOGINDISABLED" => caps.login_disabled = true,
            _ => {}
        }
    }
    caps
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
    caps: Caps,
    wait: Duration,
    user: &[u8],
    password: &[u8],
) -> Result<bool, String> {
    if caps.login_disabled {
        return Err("the server advertises LOGINDISABLED: use imaps:// or ?starttls".into());
    }
    let pieces = login::encode("a1", user, password, caps.literals).map_err(|e| e.to_string())?;
    let mut pending = Zeroizing::new(Vec::new());
    let mut early = None;
    for piece in pieces {
        if piece.after_continuation {
            send(conn, &pending, wait).await?;
            pending.clear();
            if let Some(status) = continuation(conn, "a1", wait).await? {
                early = Some(status);
                break;
            }
        }
        pending.extend_from_slice(&piece.bytes);
    }
    let status = match early {
        Some(status) => status,
        None => {
            send(conn, &pending, wait).await?;
            tagged(conn, "a1", wait).await?
        }
    };
    logout(conn).await;
    decide(status)
}

fn decide(status: Status) -> Result<bool, String> {
    match status {
        Status::Ok => Ok(true),
        Status::No(Some(code))
            if matches!(code.as_str(), "UNAVAILABLE" | "SERVERBUG" | "PRIVACYREQUIRED") =>
        {
            // RFC 5530: the server could not check (its own backend is down, or it wants TLS);
            // the password may well be right.
            Err(format!("server answered NO [{code}]"))
        }
        Status::No(_) => Ok(false),
        Status::Bad => Err("server answered BAD to LOGIN".into()),
    }
}

/// Best effort, as Cyrus: say goodbye without waiting for the answer.
async fn logout<S: AsyncRead + AsyncWrite + Unpin>(conn: &mut BufReader<S>) {
    let _ = tokio::time::timeout(LOGOUT_DEADLINE, async {
        conn.write_all(b"a2 LOGOUT\r\n").await?;
        conn.flush().await?;
        conn.shutdown().await
    })
    .await;
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    conn: &mut BufReader<S>,
    bytes: &[u8],
    wait: Duration,
) -> Result<(), String> {
    within(wait, "write", async {
        conn.write_all(bytes).await?;
        conn.flush().await
    })
    .await?
    .map_err(|e| format!("write to the IMAP server failed: {e}"))
}

/// A tagged status, with the response code of a `NO` (upper-cased, first word only).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Status {
    Ok,
    No(Option<String>),
    Bad,
}

/// Waits for the reply tagged `tag`, skipping untagged data.
async fn tagged<S: AsyncRead + Unpin>(
    conn: &mut BufReader<S>,
    tag: &str,
    wait: Duration,
) -> Result<Status, String> {
    loop {
        match classify(&response(conn, wait).await?, tag)? {
            Line::Tagged(status) => return Ok(status),
            Line::Untagged => {}
            Line::Continuation => return Err("unexpected continuation request".into()),
        }
    }
}

/// Waits for `+` before a synchronizing literal; a tagged reply instead ends the command early.
async fn continuation<S: AsyncRead + Unpin>(
    conn: &mut BufReader<S>,
    tag: &str,
    wait: Duration,
) -> Result<Option<Status>, String> {
    loop {
        match classify(&response(conn, wait).await?, tag)? {
            Line::Continuation => return Ok(None),
            Line::Tagged(status) => return Ok(Some(status)),
            Line::Untagged => {}
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Line {
    Tagged(Status),
    Untagged,
    Continuation,
}

fn classify(line: &[u8], tag: &str) -> Result<Line, String> {
    if line == b"+" || line.starts_with(b"+ ") {
        return Ok(Line::Continuation);
    }
    if let Some(rest) = line.strip_prefix(b"* ") {
        if starts_with_word(rest, "BYE") {
            return Err(format!("server closed the session: {}", excerpt(line)));
        }
        return Ok(Line::Untagged);
    }
    let nonsense = || format!("unexpected response {}", excerpt(line));
    let rest = line.strip_prefix(tag.as_bytes()).and_then(|r| r.strip_prefix(b" ")).ok_or_else(nonsense)?;
    if starts_with_word(rest, "OK") {
        Ok(Line::Tagged(Status::Ok))
    } else if starts_with_word(rest, "NO") {
        let code = rest[2..].trim_ascii_start().strip_prefix(b"[").map(|c| {
            let end = c.iter().position(|b| matches!(b, b']' | b' ')).unwrap_or(c.len());
            String::from_utf8_lossy(&c[..end]).to_ascii_uppercase()
        });
        Ok(Line::Tagged(Status::No(code)))
    } else if starts_with_word(rest, "BAD") {
        Ok(Line::Tagged(Status::Bad))
    } else {
        Err(nonsense())
    }
}

/// `word` (case-insensitive) followed by a space or the end.
fn starts_with_word(text: &[u8], word: &str) -> bool {
    text.len() >= word.len()
        && text[..word.len()].eq_ignore_ascii_case(word.as_bytes())
        && matches!(text.get(word.len()), None | Some(b' '))
}

/// The first line of one response, without CRLF; literals in it (untagged data only) are read
/// and dropped together with the lines that continue it.
async fn response<S: AsyncRead + Unpin>(conn: &mut BufReader<S>, wait: Duration) -> Result<Vec<u8>, String> {
    let first = line(conn, wait).await?;
    let mut last = first.clone();
    while let Some(len) = literal_len(&last) {
        if len > MAX_SKIPPED_LITERAL {
            return Err(format!("server sent a {len}-byte literal"));
        }
        let skipped =
            within(wait, "read", tokio::io::copy(&mut (&mut *conn).take(len), &mut tokio::io::sink()))
                .await?
                .map_err(|e| format!("read from the IMAP server failed: {e}"))?;
        if skipped != len {
            return Err("server closed the connection".into());
        }
        last = line(conn, wait).await?;
    }
    Ok(first)
}

async fn line<S: AsyncRead + Unpin>(conn: &mut BufReader<S>, wait: Duration) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let n = within(wait, "read", (&mut *conn).take(MAX_LINE).read_until(b'\n', &mut buf))
        .await?
        .map_err(|e| format!("read from the IMAP server failed: {e}"))?;
    if n == 0 {
        return Err("server closed the connection".into());
    }
    if !buf.ends_with(b"\n") {
        return Err(if n as u64 >= MAX_LINE {
            "server sent an over-long line".into()
        } else {
            "server closed the connection mid-line".into()
        });
    }
    buf.pop();
    if buf.ends_with(b"\r") {
        buf.pop();
    }
    Ok(buf)
}

/// `n` when `line` ends in `{n}` or `{n+}`.
fn literal_len(line: &[u8]) -> Option<u64> {
    let open = line.strip_suffix(b"}")?;
    let open = open.strip_suffix(b"+").unwrap_or(open);
    let start = open.iter().rposition(|b| *b == b'{')?;
    std::str::from_utf8(&open[start + 1..]).ok()?.parse().ok()
}

/// A short, printable piece of a server line for the log (never holds secrets: the greeting
/// comes before the password, and tagged replies are not quoted).
fn excerpt(line: &[u8]) -> String {
    let shown: String = String::from_utf8_lossy(&line[..line.len().min(80)]).escape_debug().collect();
    format!("\"{shown}\"")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn classify_lines() {
        assert_eq!(classify(b"a1 OK Logged in", "a1"), Ok(Line::Tagged(Status::Ok)));
        assert_eq!(classify(b"a1 ok", "a1"), Ok(Line::Tagged(Status::Ok)));
        assert_eq!(
            classify(b"a1 NO [AUTHENTICATIONFAILED] Authentication failed.", "a1"),
            Ok(Line::Tagged(Status::No(Some("AUTHENTICATIONFAILED".into()))))
        );
        assert_eq!(classify(b"a1 NO nope", "a1"), Ok(Line::Tagged(Status::No(None))));
        assert_eq!(classify(b"a1 BAD syntax", "a1"), Ok(Line::Tagged(Status::Bad)));
        assert_eq!(classify(b"* CAPABILITY IMAP4rev1", "a1"), Ok(Line::Untagged));
        assert_eq!(classify(b"+ OK", "a1"), Ok(Line::Continuation));
        assert_eq!(classify(b"+", "a1"), Ok(Line::Continuation));
        assert!(classify(b"* BYE shutting down", "a1").is_err());
        assert!(classify(b"a2 OK", "a1").is_err());
        assert!(classify(b"a1 OKAY", "a1").is_err());
        assert!(classify(b"HTTP/1.1 400 Bad Request", "a1").is_err());
    }

    #[test]
    fn server_trouble_is_not_a_wrong_password() {
        assert_eq!(decide(Status::Ok), Ok(true));
        assert_eq!(decide(Status::No(None)), Ok(false));
        assert_eq!(decide(Status::No(Some("AUTHENTICATIONFAILED".into()))), Ok(false));
        assert!(decide(Status::No(Some("UNAVAILABLE".into()))).is_err());
        assert!(decide(Status::No(Some("PRIVACYREQUIRED".into()))).is_err());
        assert!(decide(Status::Bad).is_err());
    }

    #[test]
    fn greeting_capabilities() {
        let dovecot = b"OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN] Dovecot ready.";
        assert_eq!(capabilities(dovecot), Caps { literals: Literals::Plus, login_disabled: false });
        let minus = b"OK [CAPABILITY IMAP4rev1 literal- LOGINDISABLED] ready";
        assert_eq!(capabilities(minus), Caps { literals: Literals::Minus, login_disabled: true });
        assert_eq!(capabilities(b"OK ready"), Caps { literals: Literals::Sync, login_disabled: false });
    }

    #[test]
    fn literal_lengths() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {12}"), Some(12));
        assert_eq!(literal_len(b"* X {3+}"), Some(3));
        assert_eq!(literal_len(b"* OK done"), None);
        assert_eq!(literal_len(b"* X {}"), None);
    }

    /// A scripted server: reads what the client writes, answers `script` in order.
    async fn scripted(script: &'static [&'static [u8]], literals_caps: &'static str) -> (Verdict, Vec<u8>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(format!("* OK [CAPABILITY IMAP4rev1 {literals_caps}] hi\r\n").as_bytes())
                .await
                .unwrap();
            let mut seen = Vec::new();
            for answer in script {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
                s.write_all(answer).await.unwrap();
            }
            let mut rest = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest)).await;
            seen.extend_from_slice(&rest);
            seen
        });
        let mut target = Target::parse(&format!("127.0.0.1/{port}")).unwrap();
        target.read_timeout = Duration::from_secs(5);
        let verdict = authenticate(&target, None, "jö".as_bytes(), b"p\"w").await;
        (verdict, server.await.unwrap())
    }

    #[tokio::test]
    async fn synchronizing_literal_waits_for_continuation() {
        let (verdict, seen) =
            scripted(&[b"+ go\r\n", b"* CAPABILITY X {3}\r\nabc\r\na1 OK [CAPABILITY X] in\r\n"], "").await;
        assert_eq!(verdict, Verdict::Accepted);
        assert_eq!(seen, b"a1 LOGIN {3}\r\nj\xc3\xb6 \"p\\\"w\"\r\na2 LOGOUT\r\n");
    }

    #[tokio::test]
    async fn literal_plus_sends_at_once() {
        let (verdict, seen) = scripted(&[b"a1 NO [AUTHENTICATIONFAILED] no\r\n"], "LITERAL+").await;
        assert_eq!(verdict, Verdict::Rejected);
        assert_eq!(seen, b"a1 LOGIN {3+}\r\nj\xc3\xb6 \"p\\\"w\"\r\na2 LOGOUT\r\n");
    }

    #[tokio::test]
    async fn refused_literal_ends_the_command() {
        let (verdict, _) = scripted(&[b"a1 BAD too long\r\n"], "").await;
        assert!(matches!(verdict, Verdict::Unavailable(_)), "{verdict:?}");
    }
}
