//! A bounded table whose entries expire a fixed time after they were stored: what the
//! mechanisms' own memories (the `*_cache_ttl` keys of ldap and sql) are built on.

use lru::LruCache;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// At most `capacity` entries (the least recently used goes first), each valid for `ttl`.
pub struct Expiring<K: Hash + Eq, V> {
    ttl: Duration,
    entries: Mutex<LruCache<K, (V, Instant)>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Counts for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lookups that found a valid entry.
    pub hits: u64,
    /// Lookups that found none (or an expired one).
    pub misses: u64,
    /// Entries held now (expired ones included until looked up or pushed out).
    pub entries: usize,
}

impl<K: Hash + Eq, V: Clone> Expiring<K, V> {
    /// An empty table; `None` when `ttl` or `capacity` is zero (nothing would be kept).
    pub fn new(ttl: Duration, capacity: usize) -> Option<Self> {
        let capacity = NonZeroUsize::new(capacity).filter(|_| !ttl.is_zero())?;
        Some(Self {
            ttl,
            entries: Mutex::new(LruCache::new(capacity)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// The value stored for `key`, unless it has expired (then it is dropped).
    pub fn get(&self, key: &K) -> Option<V> {
        let mut entries = self.lock();
        let found = match entries.get(key) {
            Some((value, stored)) if stored.elapsed() < self.ttl => Some(value.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        };
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Store `value` for `key`, valid from now.
    pub fn insert(&self, key: K, value: V) {
        self.lock().put(key, (value, Instant::now()));
    }

    /// Drop `key`.
    pub fn remove(&self, key: &K) {
        self.lock().pop(key);
    }

    /// Drop everything; how many entries there were.
    pub fn clear(&self) -> usize {
        let mut entries = self.lock();
        let n = entries.len();
        entries.clear();
        n
    }

    /// Lookups so far and entries now.
    pub fn stats(&self) -> Stats {
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.lock().len(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<K, (V, Instant)>> {
        // Every change is one call on whole entries: the table is usable after a panic.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nothing_is_kept_without_ttl_or_room() {
        assert!(Expiring::<u8, u8>::new(Duration::ZERO, 10).is_none());
        assert!(Expiring::<u8, u8>::new(Duration::from_secs(1), 0).is_none());
    }

    #[test]
    fn entries_are_bounded_counted_and_can_be_dropped() {
        let table = Expiring::new(Duration::from_secs(600), 2).unwrap();
        table.insert("a", 1);
        table.insert("b", 2);
        assert_eq!((table.get(&"a"), table.get(&"b")), (Some(1), Some(2)));
        table.insert("c", 3);
        assert_eq!(table.get(&"a"), None, "the least recently used made room");
        table.remove(&"b");
        assert_eq!(table.get(&"b"), None);
        assert_eq!(table.stats(), Stats { hits: 2, misses: 2, entries: 1 });
        assert_eq!(table.clear(), 1);
        assert_eq!(table.get(&"c"), None);
    }

    #[test]
    fn entries_expire() {
        let table = Expiring::new(Duration::from_millis(1), 2).unwrap();
        table.insert("a", 1);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(table.get(&"a"), None);
        assert_eq!(table.stats().entries, 0, "dropped when found expired");
    }
}
