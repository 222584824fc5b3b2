//! A credential's `label=`: a short name for log lines and metrics.

use std::fmt;

/// Longest label, in bytes.
pub const MAX_LEN: usize = 32;

/// A credential's name (`label=phone`): 1 to [`MAX_LEN`] bytes of `A–Z a–z 0–9 . _ -`.
///
/// The narrow alphabet is deliberate: a label lands in log lines that fail2ban parses and in a
/// metrics label value, so it must need no escaping in either. Stored inline so that a label
/// (and the [`crate::Reject`] that carries one) stays `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Label {
    len: u8,
    bytes: [u8; MAX_LEN],
}

impl Label {
    /// Check and store `text`; the error says what is wrong with it.
    pub fn new(text: &str) -> Result<Label, String> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if text.is_empty() || text.len() > MAX_LEN || !text.bytes().all(allowed) {
            return Err(format!(
                "label {:?} is not 1 to {MAX_LEN} characters of A-Z a-z 0-9 . _ -",
                text.escape_debug().to_string()
            ));
        }
        let mut bytes = [0; MAX_LEN];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(Label { len: u8::try_from(text.len()).unwrap_or(0), bytes })
    }

    /// The label's text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Label({:?})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_log_and_metric_safe_names() {
        assert_eq!(Label::new("phone").unwrap().as_str(), "phone");
        assert_eq!(Label::new("Printer-2nd_floor.v1").unwrap().to_string(), "Printer-2nd_floor.v1");
        assert_eq!(Label::new(&"x".repeat(MAX_LEN)).unwrap().as_str().len(), MAX_LEN);
        for bad in ["", "a b", "a]b", "a\"", "ph\u{f6}ne", "a\nb", "a=b", &"x".repeat(MAX_LEN + 1)] {
            assert!(Label::new(bad).is_err(), "{bad:?}");
        }
    }
}
