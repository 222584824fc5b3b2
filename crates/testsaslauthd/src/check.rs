//! The Cyrus-compatible mode: `-R` requests in sequence, one result line each.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::exchange::{ExchangeError, exchange};
use crate::reply::Reply;

/// Cyrus's `return -1` from `main`, as the shell sees it.
pub const EXIT_FAILED: u8 = 255;

/// What the Cyrus-compatible loop needs besides the framed request.
pub struct CheckOptions<'a> {
    /// Socket path.
    pub socket: &'a Path,
    /// Cyrus's `repeat` after `atoi`; negative runs nothing, as in Cyrus.
    pub repeat: i32,
    /// Append the reason text to each line.
    pub show_reason: bool,
    /// Per-request deadline, or none as in Cyrus.
    pub timeout: Option<Duration>,
}

/// Run the requests and print exactly what Cyrus testsaslauthd prints; returns the exit status.
pub async fn run_checks(request: &[u8], options: &CheckOptions<'_>) -> u8 {
    // Cyrus does `if (!repeat) repeat = 1;` only, so a negative count runs no request and
    // returns its uninitialised result, observed as 0 on Debian 12 (the reference's "≤ 0 → 1"
    // is wrong for negatives).
    let repeat = if options.repeat == 0 { 1 } else { options.repeat };
    let mut status = 0;
    let mut stdout = std::io::stdout().lock();
    for index in 0..repeat {
        // Cyrus prints the prefix before connecting, so errors leave `N: ` without a newline.
        let _ = write!(stdout, "{index}: ");
        let _ = stdout.flush();
        let outcome = match options.timeout {
            Some(limit) => tokio::time::timeout(limit, exchange(options.socket, request))
                .await
                .unwrap_or(Err(ExchangeError::TimedOut)),
            None => exchange(options.socket, request).await,
        };
        status = match outcome {
            Ok(reply) => {
                let _ = writeln!(stdout, "{}", result_line(&reply, options.show_reason));
                if reply.is_ok() { 0 } else { EXIT_FAILED }
            }
            Err(err) => {
                eprintln!("{err}");
                EXIT_FAILED
            }
        };
        let _ = stdout.flush();
    }
    status
}

/// Cyrus's fixed text for the reply, plus ` (<reason>)` with `--show-reason` when there is one.
pub fn result_line(reply: &Reply, show_reason: bool) -> String {
    let mut line =
        String::from(if reply.is_ok() { "OK \"Success.\"" } else { "NO \"authentication failed\"" });
    if show_reason && !reply.reason().is_empty() {
        line.push_str(&format!(" ({})", reply.printable_reason()));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cyrus_texts() {
        assert_eq!(result_line(&Reply::new(b"OK".to_vec()), true), "OK \"Success.\"");
        assert_eq!(
            result_line(&Reply::new(b"NO PAM auth error".to_vec()), false),
            "NO \"authentication failed\""
        );
        assert_eq!(
            result_line(&Reply::new(b"NO PAM auth error".to_vec()), true),
            "NO \"authentication failed\" (PAM auth error)"
        );
        assert_eq!(result_line(&Reply::new(b"NO".to_vec()), true), "NO \"authentication failed\"");
    }
}
