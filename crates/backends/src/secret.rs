//! The per-process random key, and the keyed hashes (HMAC-SHA256) that the daemon's cache and
//! penalty table, and the sql and ldap memos of matched hashes, keep instead of passwords or
//! plain digests.
//!
//! Cyrus stores an unsalted MD5 of each cached password (reference §4); a memory dump or the
//! `cache.mmap` file then allows offline guessing. A key drawn at start-up and never written
//! anywhere makes the stored tags useless outside this process (as Cyrus PR #877 proposes).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A keyed hash of some request fields.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tag([u8; 32]);

impl Tag {
    /// Compare in constant time: a tag derived from a password must not leak through timing
    /// how many leading bytes a guess got right.
    pub fn matches(&self, other: &Tag) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// The first 16 bytes: enough to tell recent wrong passwords apart, half the memory.
    pub fn short(&self) -> [u8; 16] {
        let mut short = [0u8; 16];
        short.copy_from_slice(&self.0[..16]);
        short
    }
}

impl std::fmt::Debug for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tag(..)")
    }
}

/// Why no key could be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The operating system's random source failed.
    #[error("no random key for the cache and penalties: {0}")]
    Random(getrandom::Error),
    /// HMAC refused the key (cannot happen for HMAC, which takes any length).
    #[error("HMAC key rejected")]
    Rejected,
}

/// The per-process HMAC key.
#[derive(Clone)]
pub struct Keyer {
    // The keyed state, cloned per tag: the key itself is not kept around, and the two key
    // blocks are hashed once instead of per request.
    mac: Hmac<Sha256>,
}

impl Keyer {
    /// A keyer with a fresh random key.
    pub fn random() -> Result<Self, KeyError> {
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut key[..]).map_err(KeyError::Random)?;
        Self::from_key(&key[..])
    }

    /// A keyer with a given key (tests, and nothing else: the point is that the key is secret).
    pub fn from_key(key: &[u8]) -> Result<Self, KeyError> {
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| KeyError::Rejected)?;
        Ok(Self { mac })
    }

    /// The tag of `parts` under `domain`. Each part is length-prefixed, so `("ab", "c")` and
    /// `("a", "bc")` differ, and the domain keeps tags made for different purposes apart.
    pub fn tag(&self, domain: &str, parts: &[&[u8]]) -> Tag {
        let mut mac = self.mac.clone();
        for part in std::iter::once(domain.as_bytes()).chain(parts.iter().copied()) {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        Tag(mac.finalize().into_bytes().into())
    }
}

impl std::fmt::Debug for Keyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyer(..)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn parts_are_length_prefixed_and_domains_separate() {
        let k = Keyer::from_key(b"k").unwrap();
        assert!(!k.tag("d", &[b"ab", b"c"]).matches(&k.tag("d", &[b"a", b"bc"])));
        assert!(!k.tag("d", &[b"a"]).matches(&k.tag("e", &[b"a"])));
        assert!(k.tag("d", &[b"a"]).matches(&k.tag("d", &[b"a"])));
    }

    #[test]
    fn two_processes_have_different_keys() {
        let (a, b) = (Keyer::random().unwrap(), Keyer::random().unwrap());
        assert!(!a.tag("d", &[b"pw"]).matches(&b.tag("d", &[b"pw"])));
        assert_eq!(format!("{a:?}"), "Keyer(..)");
    }
}
