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

use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries at most: enough for every active user of a large site, a few MB at worst.
const CAPACITY: usize = 16_384;

/// The search that found a DN: its expanded base and filter (which hold login, realm, service).
type Key = (String, String);

/// Login searches → DNs, each valid for the TTL after the successful bind that stored it.
pub struct DnCache {
    ttl: Duration,
    entries: Mutex<LruCache<Key, (String, Instant)>>,
}

impl DnCache {
    /// A cache keeping DNs for `ttl`; `None` when `ttl` is zero (off).
    pub fn new(ttl: Duration) -> Option<Self> {
        let capacity = NonZeroUsize::new(CAPACITY)?;
        (!ttl.is_zero()).then(|| Self { ttl, entries: Mutex::new(LruCache::new(capacity)) })
    }

    /// The DN the search `(base, filter)` found, if still valid.
    pub fn get(&self, base: &str, filter: &str) -> Option<String> {
        let mut entries = self.lock();
        let key = (base.to_owned(), filter.to_owned());
        match entries.get(&key) {
            Some((dn, stored)) if stored.elapsed() < self.ttl => Some(dn.clone()),
            Some(_) => {
                entries.pop(&key);
                None
            }
            None => None,
        }
    }

    /// Remember `dn` for the search `(base, filter)` after a successful bind as it.
    pub fn insert(&self, base: &str, filter: &str, dn: &str) {
        self.lock().put((base.to_owned(), filter.to_owned()), (dn.to_owned(), Instant::now()));
    }

    /// Forget the search `(base, filter)`.
    pub fn remove(&self, base: &str, filter: &str) {
        self.lock().pop(&(base.to_owned(), filter.to_owned()));
    }

    /// Forget everything; how many entries there were.
    pub fn clear(&self) -> usize {
        let mut entries = self.lock();
        let n = entries.len();
        entries.clear();
        n
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Key, (String, Instant)>> {
        // The table holds only whole entries (each change is one call): usable after a panic.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn zero_ttl_is_off() {
        assert!(DnCache::new(Duration::ZERO).is_none());
    }

    #[test]
    fn entries_expire_and_can_be_dropped() {
        let cache = DnCache::new(Duration::from_millis(50)).unwrap();
        cache.insert("ou=people", "(uid=bob)", "uid=bob,ou=people");
        assert_eq!(cache.get("ou=people", "(uid=bob)").as_deref(), Some("uid=bob,ou=people"));
        assert_eq!(cache.get("ou=people", "(uid=alice)"), None, "another search is another key");
        cache.remove("ou=people", "(uid=bob)");
        assert_eq!(cache.get("ou=people", "(uid=bob)"), None);
        cache.insert("ou=people", "(uid=bob)", "uid=bob,ou=people");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("ou=people", "(uid=bob)"), None, "expired");
        cache.insert("ou=people", "(uid=bob)", "uid=bob,ou=people");
        assert_eq!(cache.clear(), 1);
        assert_eq!(cache.get("ou=people", "(uid=bob)"), None);
    }
}
