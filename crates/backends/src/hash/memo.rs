//! A memo of stored hashes that recently matched a password (`sql_hash_cache_ttl`,
//! `ldap_hash_cache_ttl`; ours, off by default): a login that repeats within the TTL skips
//! re-computing the hash.
//!
//! Why: checking a crypt(3) hash is the largest cost of a lookup-and-verify login (MD5-crypt
//! ~0.15 ms, bcrypt or yescrypt tens of ms), and the same user logs in again and again with the
//! same password (every SMTP submission, every IMAP reconnect). Unlike the daemon's credential
//! cache (`-c`), the source is still asked every time: a disabled account or a changed password
//! takes effect at once, because a changed stored value is another key. What is kept: a keyed
//! hash (per-process random key, [`crate::secret`]) of stored value and password, as `-c` keeps;
//! only matches are kept, so a wrong password always pays for the full check.

use crate::expiring::{Expiring, Stats};
use crate::secret::{KeyError, Keyer, Tag};
use std::time::Duration;

/// Pairs at most (48 bytes each plus the table's overhead).
const CAPACITY: usize = 16_384;

/// Keeps apart tags made for other purposes with the same key.
const DOMAIN: &str = "matched-hash";

/// (stored value, password) pairs that matched, each valid for the TTL after its check.
pub struct MatchMemo {
    keyer: Keyer,
    matched: Expiring<Tag, ()>,
}

impl MatchMemo {
    /// A memo keeping matches for `ttl` under a fresh random key; `Ok(None)` when `ttl` is zero.
    pub fn new(ttl: Duration) -> Result<Option<Self>, KeyError> {
        let Some(matched) = Expiring::new(ttl, CAPACITY) else { return Ok(None) };
        Ok(Some(Self { keyer: Keyer::random()?, matched }))
    }

    /// The key of `password` checked against `stored`.
    pub fn tag(&self, stored: &[u8], password: &[u8]) -> Tag {
        self.keyer.tag(DOMAIN, &[stored, password])
    }

    /// Whether `tag` matched within the TTL.
    pub fn recalls(&self, tag: &Tag) -> bool {
        self.matched.get(tag).is_some()
    }

    /// Note that `tag` has just matched.
    pub fn remember(&self, tag: Tag) {
        self.matched.insert(tag, ());
    }

    /// Forget every match; how many there were.
    pub fn clear(&self) -> usize {
        self.matched.clear()
    }

    /// Hits, misses and entries.
    pub fn stats(&self) -> Stats {
        self.matched.stats()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn off_at_zero() {
        assert!(MatchMemo::new(Duration::ZERO).unwrap().is_none());
    }

    #[test]
    fn a_pair_is_recalled_and_no_other() {
        let memo = MatchMemo::new(Duration::from_secs(600)).unwrap().unwrap();
        let tag = memo.tag(b"$1$salt$hash", b"pw");
        assert!(!memo.recalls(&tag));
        memo.remember(tag);
        assert!(memo.recalls(&tag));
        assert!(!memo.recalls(&memo.tag(b"$1$salt$other", b"pw")), "a changed hash is another key");
        assert!(!memo.recalls(&memo.tag(b"$1$salt$hash", b"pw2")));
        assert!(!memo.recalls(&memo.tag(b"$1$salt$has", b"hpw")), "fields are kept apart");
        assert_eq!(memo.clear(), 1);
        assert!(!memo.recalls(&tag));
    }

    #[test]
    fn another_process_key_gives_other_tags() {
        let (a, b) = (MatchMemo::new(Duration::from_secs(1)), MatchMemo::new(Duration::from_secs(1)));
        let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
        assert!(!a.tag(b"$1$s$h", b"pw").matches(&b.tag(b"$1$s$h", b"pw")));
    }
}
