//! A bounded table whose entries expire a fixed time after they were last stored: what the
//! daemon's credential cache (`-c`) and penalties, and the mechanisms' own memories (the
//! `*_cache_ttl` keys of ldap and sql), are built on.
//!
//! Time is tokio's clock ([`tokio::time::Instant`]): tests pause and advance it
//! (`#[tokio::test(start_paused = true)]`) instead of sleeping; outside a runtime, or in one
//! whose clock is not paused, it is the system's monotonic clock. Hand-rolled on the `lru` crate
//! rather than `moka` for that clock, and because the users need more than get and insert: the
//! cache keeps a small record per user, the penalties update counters in place.

use lru::LruCache;
use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// At most `capacity` entries (the least recently used goes first), each valid for `ttl` after
/// it was last stored. The lock is held for one operation on one entry.
pub struct Expiring<K: Hash + Eq, V> {
    ttl: Duration,
    capacity: NonZeroUsize,
    entries: Mutex<LruCache<K, Stamped<V>>>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// A value and when it was stored.
struct Stamped<V> {
    value: V,
    stored: Instant,
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

impl<K: Hash + Eq, V> Expiring<K, V> {
    /// An empty table; `None` when `ttl` or `capacity` is zero (nothing would be kept).
    pub fn new(ttl: Duration, capacity: usize) -> Option<Self> {
        let capacity = NonZeroUsize::new(capacity).filter(|_| !ttl.is_zero())?;
        Some(Self::bounded(ttl, capacity))
    }

    /// An empty table even when `ttl` is zero (then every entry is expired as soon as stored).
    /// Nothing is allocated up front: `capacity` may be far beyond what is ever filled.
    pub fn bounded(ttl: Duration, capacity: NonZeroUsize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(LruCache::unbounded()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// What `look` makes of the valid entry for `key`; counted as a hit when that is `Some`, a
    /// miss otherwise. An expired entry is dropped and `look` is not called.
    pub fn find<R>(&self, key: &K, look: impl FnOnce(&V) -> Option<R>) -> Option<R> {
        let now = Instant::now();
        let mut entries = self.lock();
        let found = match entries.get(key) {
            Some(entry) if self.fresh(entry, now) => look(&entry.value),
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

    /// The value stored for `key`, unless it has expired (then it is dropped).
    pub fn get(&self, key: &K) -> Option<V>
    where
        V: Clone,
    {
        self.find(key, |value| Some(value.clone()))
    }

    /// Store `value` for `key`, valid from now.
    pub fn insert(&self, key: K, value: V) {
        let mut entries = self.lock();
        self.make_room(&mut entries, &key);
        entries.put(key, Stamped { value, stored: Instant::now() });
    }

    /// Change the entry for `key` in place with `change` (a missing or expired entry starts as
    /// `V::default()`), and count it as stored now; returns what `change` returns.
    pub fn update<R>(&self, key: K, change: impl FnOnce(&mut V) -> R) -> R
    where
        V: Default,
    {
        let now = Instant::now();
        let mut entries = self.lock();
        self.make_room(&mut entries, &key);
        let entry = entries.get_or_insert_mut(key, || Stamped { value: V::default(), stored: now });
        if !self.fresh(entry, now) {
            entry.value = V::default();
        }
        entry.stored = now;
        change(&mut entry.value)
    }

    /// Drop `key`; whether there was an entry (expired or not).
    pub fn remove(&self, key: &K) -> bool {
        self.lock().pop(key).is_some()
    }

    /// Drop everything; how many entries there were.
    pub fn clear(&self) -> usize {
        let mut entries = self.lock();
        let n = entries.len();
        entries.clear();
        n
    }

    /// Entries held (expired ones included until looked up or pushed out).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `test` holds for every entry held, expired ones included (for tests of the
    /// tables built on this one).
    pub fn all(&self, mut test: impl FnMut(&V) -> bool) -> bool {
        self.lock().iter().all(|(_, entry)| test(&entry.value))
    }

    /// What `each` makes of every valid entry, given its key, value and the time left before it
    /// expires; most recently stored first. For listings (the control socket's `penalties`):
    /// counts no hit or miss, and holds the lock for the whole walk.
    pub fn snapshot<R>(&self, mut each: impl FnMut(&K, &V, Duration) -> Option<R>) -> Vec<R> {
        let now = Instant::now();
        let entries = self.lock();
        entries
            .iter()
            .filter_map(|(key, entry)| {
                let left = self.ttl.checked_sub(now.saturating_duration_since(entry.stored))?;
                (!left.is_zero()).then(|| each(key, &entry.value, left)).flatten()
            })
            .collect()
    }

    /// Lookups so far and entries now.
    pub fn stats(&self) -> Stats {
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.len(),
        }
    }

    /// Entries dropped, least recently used first, to make room for another, since start.
    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    fn fresh(&self, entry: &Stamped<V>, now: Instant) -> bool {
        // A TTL past the end of time (`-t` takes any u64) never expires instead of overflowing.
        now.saturating_duration_since(entry.stored) < self.ttl
    }

    /// Before `key` is stored: drop the least recently used entry if the table is full and
    /// `key` is not in it.
    fn make_room(&self, entries: &mut LruCache<K, Stamped<V>>, key: &K) {
        if !entries.contains(key) && entries.len() >= self.capacity.get() && entries.pop_lru().is_some() {
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<K, Stamped<V>>> {
        // Every change is one call on whole entries: the table is usable after a panic.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Hash + Eq, V> std::fmt::Debug for Expiring<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys or values: they may be keyed tags of credentials.
        f.debug_struct("Expiring")
            .field("ttl", &self.ttl)
            .field("capacity", &self.capacity)
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn nothing_is_kept_without_ttl_or_room() {
        assert!(Expiring::<u8, u8>::new(Duration::ZERO, 10).is_none());
        assert!(Expiring::<u8, u8>::new(s(1), 0).is_none());
    }

    #[test]
    fn entries_are_bounded_counted_and_can_be_dropped() {
        let table = Expiring::new(s(600), 2).unwrap();
        table.insert("a", 1);
        table.insert("b", 2);
        assert_eq!((table.get(&"a"), table.get(&"b")), (Some(1), Some(2)));
        table.insert("c", 3);
        assert_eq!(table.get(&"a"), None, "the least recently used made room");
        assert_eq!(table.evictions(), 1);
        assert!(table.remove(&"b"));
        assert!(!table.remove(&"b"));
        assert_eq!(table.get(&"b"), None);
        assert_eq!(table.stats(), Stats { hits: 2, misses: 2, entries: 1 });
        assert_eq!(table.clear(), 1);
        assert_eq!(table.get(&"c"), None);
        assert!(table.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_at_the_ttl() {
        let table = Expiring::new(s(100), 2).unwrap();
        table.insert("a", 1);
        tokio::time::advance(s(99)).await;
        assert_eq!(table.get(&"a"), Some(1), "lookups do not refresh; still inside the TTL");
        tokio::time::advance(s(1)).await;
        assert_eq!(table.get(&"a"), None, "expired at the TTL");
        assert_eq!(table.stats().entries, 0, "dropped when found expired");
    }

    #[tokio::test(start_paused = true)]
    async fn an_update_restarts_the_ttl_and_an_expired_entry_starts_afresh() {
        let table: Expiring<&str, u32> = Expiring::bounded(s(10), NonZeroUsize::new(2).unwrap());
        let bump = |n: &mut u32| {
            *n += 1;
            *n
        };
        assert_eq!(table.update("a", bump), 1);
        tokio::time::advance(s(9)).await;
        assert_eq!(table.update("a", bump), 2, "inside the TTL: kept, and stored again");
        tokio::time::advance(s(9)).await;
        assert_eq!(table.update("a", bump), 3, "the TTL counts from the last update");
        tokio::time::advance(s(10)).await;
        assert_eq!(table.update("a", bump), 1, "idle for the TTL: starts again");
        table.update("b", bump);
        table.update("c", bump);
        assert_eq!((table.len(), table.evictions()), (2, 1), "updates are bounded too");
        assert!(table.all(|&n| n == 1));
    }

    #[tokio::test(start_paused = true)]
    async fn find_counts_hits_only_for_what_it_finds() {
        let table = Expiring::new(s(10), 4).unwrap();
        table.insert("a", vec![1, 2]);
        assert_eq!(table.find(&"a", |v| v.iter().find(|&&x| x == 2).copied()), Some(2));
        assert_eq!(table.find(&"a", |v| v.iter().find(|&&x| x == 3).copied()), None);
        assert_eq!(table.find(&"b", |_| Some(())), None);
        assert_eq!((table.stats().hits, table.stats().misses), (1, 2));
        tokio::time::advance(s(10)).await;
        assert_eq!(table.find(&"a", |_| Some(())), None, "an expired entry is not looked at");
    }

    #[test]
    fn a_huge_ttl_never_expires_and_a_zero_ttl_keeps_nothing() {
        let forever = Expiring::bounded(Duration::MAX, NonZeroUsize::MIN);
        forever.insert(1, 1);
        assert_eq!(forever.get(&1), Some(1));
        let never = Expiring::bounded(Duration::ZERO, NonZeroUsize::MIN);
        never.insert(1, 1);
        assert_eq!(never.get(&1), None);
    }

    #[test]
    fn debug_shows_no_keys_or_values() {
        let table = Expiring::new(s(1), 1).unwrap();
        table.insert("secret-key", "secret-value");
        let shown = format!("{table:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
