//! Client-supplied text made safe for log lines.
//!
//! User names arrive from any local process; a CR/LF or escape sequence in one must not forge a
//! second `auth failure` line for fail2ban or rewrite a terminal. Control characters and invalid
//! UTF-8 are escaped; everything else is shown as sent, so `[user=josé]` stays readable.
//!
//! Every log line that carries a login, realm, service, client address or a message that may
//! echo one (an LDAP filter or DN, a server's error text) shows it through this type, in the
//! daemon and in every mechanism alike.

use std::fmt;

/// Displays bytes with control characters and invalid UTF-8 escaped.
pub struct LogSafe<'a>(pub &'a [u8]);

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    // Brackets would let a name close `[user=…]` and open a forged field.
                    '[' => f.write_str("\\x5b")?,
                    ']' => f.write_str("\\x5d")?,
                    '\\' => f.write_str("\\\\")?,
                    c if c.is_control() || invisible_format(c) => write!(f, "{}", c.escape_default())?,
                    c => write!(f, "{c}")?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Characters that are not `Cc` controls yet break or disguise a line: the Unicode line and
/// paragraph separators (which some log viewers and JSON-era tools render as a line break), the
/// bidirectional overrides and isolates (which reorder what a terminal shows after them) and
/// the zero-width ones (which make two different names look alike). std has no
/// general-category table; this is the short list of those that matter in a log line.
fn invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::LogSafe;

    #[test]
    fn escapes_what_could_forge_a_line() {
        let shown = LogSafe(b"eve\r\nauth failure: [user=root]\x1b[2J\xff").to_string();
        assert_eq!(shown, r"eve\r\nauth failure: \x5buser=root\x5d\u{1b}\x5b2J\xff");
        assert_eq!(LogSafe("josé".as_bytes()).to_string(), "josé");
    }

    #[test]
    fn escapes_unicode_line_breaks_and_bidi_overrides() {
        let shown = LogSafe("a\u{2028}auth failure\u{2029}x".as_bytes()).to_string();
        assert_eq!(shown, r"a\u{2028}auth failure\u{2029}x");
        assert_eq!(LogSafe("adm\u{202e}nimda".as_bytes()).to_string(), r"adm\u{202e}nimda");
        assert_eq!(LogSafe("ro\u{200b}ot\u{feff}".as_bytes()).to_string(), r"ro\u{200b}ot\u{feff}");
        assert_eq!(LogSafe("e\u{301}".as_bytes()).to_string(), "e\u{301}", "combining marks stay");
    }
}
