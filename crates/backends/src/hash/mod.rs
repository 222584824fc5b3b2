//! Password-hash schemes shared by passwd-file, shadow, LDAP `custom` and SQL.
//!
//! STUB: the hash helper replaces this file; the signatures below are the contract.

/// The scheme a stored hash uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// A locked (`!`, `*`) or empty stored value: never matches.
    Locked,
}

impl Scheme {
    /// Short name for logs (`yescrypt`, `sha512-crypt`, `ssha`, `plain`, …).
    pub fn name(self) -> &'static str {
        "locked"
    }

    /// Whether the scheme is weak (plain, DES, `$1$`, unsalted digests) and deserves a warning.
    pub fn is_weak(self) -> bool {
        false
    }
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// Whether the password matches.
    pub matched: bool,
    /// The scheme of the stored hash.
    pub scheme: Scheme,
}

/// A stored hash that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The hash names a known scheme but its body does not parse.
    #[error("malformed {scheme} hash")]
    Malformed {
        /// Scheme name.
        scheme: &'static str,
    },
    /// The scheme is not supported by this build or by the system's libxcrypt.
    #[error("unsupported hash scheme {0:?}")]
    Unsupported(String),
}

/// Check `password` against `stored`. CPU-heavy: call it from the blocking pool.
pub fn verify_password(_password: &[u8], _stored: &str) -> Result<Checked, HashError> {
    Ok(Checked { matched: false, scheme: Scheme::Locked })
}
