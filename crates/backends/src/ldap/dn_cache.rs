//! `ldap_dn_cache_ttl` (ours, off by default): remember which entry a login's search found, so
//! that the next login with `ldap_auth_method: bind` can bind at once and skip the search.
//!
//! Why: a search and a bind are each a full operation for the server; with the search skipped,
//! the server does half the work per login. What it costs, and why the default is off: an entry
//! that stops matching `ldap_filter` (an account disabled by an attribute the filter tests) can
//! still log in with its right password until its entry here expires. A deleted or renamed
//! entry, a changed password or a locked account is noticed at once, because the server still
//! checks every bind. Only successful logins are remembered, so unknown or wrong logins cannot
//! fill the table; a failed bind to a remembered DN drops it and the login is searched again.

use crate::expiring::{Expiring, Stats};
use std::time::Duration;

/// Entries at most: every active user of a large site; ~3 MB with common names, ~15 MB if all
/// were 256-byte logins.
const CAPACITY: usize = 16_384;

/// Login searches (expanded base and filter, which hold login, realm and service) → DNs, each
/// valid for the TTL after the successful bind that stored it.
pub struct DnCache(Expiring<(String, String), String>);

impl DnCache {
    /// A cache keeping DNs for `ttl`; `None` when `ttl` is zero (off).
    pub fn new(ttl: Duration) -> Option<Self> {
        Expiring::new(ttl, CAPACITY).map(Self)
    }

    /// The DN the search `(base, filter)` found, if still valid.
    pub fn get(&self, base: &str, filter: &str) -> Option<String> {
        self.0.get(&(base.to_owned(), filter.to_owned()))
    }

    /// Remember `dn` for the search `(base, filter)` after a successful bind as it.
    pub fn insert(&self, base: &str, filter: &str, dn: &str) {
        self.0.insert((base.to_owned(), filter.to_owned()), dn.to_owned());
    }

    /// Forget the search `(base, filter)`.
    pub fn remove(&self, base: &str, filter: &str) {
        self.0.remove(&(base.to_owned(), filter.to_owned()));
    }

    /// Forget everything; how many entries there were.
    pub fn clear(&self) -> usize {
        self.0.clear()
    }

    /// Hits, misses and entries.
    pub fn stats(&self) -> Stats {
        self.0.stats()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn off_at_zero_and_keyed_by_base_and_filter() {
        assert!(DnCache::new(Duration::ZERO).is_none());
        let cache = DnCache::new(Duration::from_secs(60)).unwrap();
        cache.insert("ou=people", "(uid=bob)", "uid=bob,ou=people");
        assert_eq!(cache.get("ou=people", "(uid=bob)").as_deref(), Some("uid=bob,ou=people"));
        assert_eq!(cache.get("ou=people", "(uid=alice)"), None, "another search is another key");
        assert_eq!(cache.get("ou=staff", "(uid=bob)"), None);
        cache.remove("ou=people", "(uid=bob)");
        assert_eq!(cache.get("ou=people", "(uid=bob)"), None);
    }
}
