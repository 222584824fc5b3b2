//! A saslauthd reply as the client sees it: `OK…` or anything else, plus the reason text.

/// The text of one reply (at most [`crate::exchange::MAX_REPLY_READ`] bytes, no length word).
#[derive(Debug, Clone)]
pub struct Reply {
    text: Vec<u8>,
}

impl Reply {
    /// Wrap the reply bytes read off the socket.
    pub fn new(text: Vec<u8>) -> Reply {
        Reply { text }
    }

    /// Success is a reply starting with `OK`, as libsasl2's `strncmp(response, "OK", 2)`: so
    /// `OKAY` counts, and anything else, `NO …` or garbage, is a failure (reference §1.8).
    pub fn is_ok(&self) -> bool {
        self.text.starts_with(b"OK")
    }

    /// What follows `OK`/`NO` and its separating space, e.g. `PAM auth error`; may be empty.
    pub fn reason(&self) -> &[u8] {
        let rest = self.text.get(2..).unwrap_or_default();
        rest.strip_prefix(b" ").unwrap_or(rest)
    }

    /// The reason for display: invalid UTF-8 replaced, control characters escaped, so a hostile
    /// server cannot drive the terminal.
    pub fn printable_reason(&self) -> String {
        let mut out = String::new();
        for c in String::from_utf8_lossy(self.reason()).chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_like_libsasl2() {
        assert!(Reply::new(b"OK".to_vec()).is_ok());
        assert!(Reply::new(b"OKAY whatever".to_vec()).is_ok());
        assert!(!Reply::new(b"NO PAM auth error".to_vec()).is_ok());
        assert!(!Reply::new(b"ok".to_vec()).is_ok());
    }

    #[test]
    fn reason_strips_status_and_one_space() {
        assert_eq!(Reply::new(b"NO PAM auth error".to_vec()).reason(), b"PAM auth error");
        assert_eq!(Reply::new(b"NO ".to_vec()).reason(), b"");
        assert_eq!(Reply::new(b"NO".to_vec()).reason(), b"");
        assert_eq!(Reply::new(b"OKAY".to_vec()).reason(), b"AY");
        assert_eq!(Reply::new(b"NO a\x1b[2Jb\xff".to_vec()).printable_reason(), "a\\u{1b}[2Jb\u{fffd}");
    }
}
