//! A small in-memory read cache with a TTL, used for credential checks and for user records,
//! so the hot path of an authenticated request needs no database round trip.
//!
//! Entries live for a TTL (so a change made by another process, such as the CLI, is seen
//! within it) and are dropped at once when this process changes what they cache. The TTL can
//! change while the cache is in use (`set_ttl`): the core lengthens it only while it follows
//! other processes' invalidations. A generation counter keeps a lookup that raced with an
//! invalidation from re-inserting what was just invalidated.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::RwLock;

use chrono::{DateTime, Duration, Utc};

#[derive(Debug)]
struct Entry<V> {
    value: V,
    fetched_at: DateTime<Utc>,
}

#[derive(Debug)]
pub(crate) struct TtlCache<K, V> {
    entries: RwLock<HashMap<K, Entry<V>>>,
    /// In milliseconds.
    ttl_ms: AtomicI64,
    capacity: usize,
    generation: AtomicU64,
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            ttl_ms: AtomicI64::new(ttl.num_milliseconds()),
            capacity,
            generation: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// How long entries live from now on (entries already cached included).
    pub(crate) fn set_ttl(&self, ttl: Duration) {
        self.ttl_ms.store(ttl.num_milliseconds(), Ordering::Relaxed);
    }

    pub(crate) fn ttl(&self) -> Duration {
        Duration::milliseconds(self.ttl_ms.load(Ordering::Relaxed))
    }

    /// A fresh entry for which `usable` holds, counting the hit or miss.
    pub(crate) fn get(
        &self,
        key: &K,
        now: DateTime<Utc>,
        usable: impl Fn(&V) -> bool,
    ) -> Option<V> {
        let ttl = self.ttl();
        let entries = self.entries.read().expect("cache lock poisoned");
        let found = entries
            .get(key)
            .filter(|e| now - e.fetched_at < ttl && usable(&e.value));
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found.map(|e| e.value.clone())
    }

    /// The generation to pass to `insert` for a database read that starts now.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches `value` unless something was invalidated since `generation` was read.
    pub(crate) fn insert(&self, key: K, value: V, now: DateTime<Utc>, generation: u64) {
        let mut entries = self.entries.write().expect("cache lock poisoned");
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= self.capacity {
            let ttl = self.ttl();
            entries.retain(|_, e| now - e.fetched_at < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                value,
                fetched_at: now,
            },
        );
    }

    /// Drops every entry whose value matches.
    pub(crate) fn invalidate(&self, matches: impl Fn(&V) -> bool) {
        let mut entries = self.entries.write().expect("cache lock poisoned");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, e| !matches(&e.value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_invalidate() {
        let cache = TtlCache::<u32, &str>::new(Duration::seconds(1), 10);
        let t0 = Utc::now();
        cache.insert(1, "one", t0, cache.generation());
        assert_eq!(cache.get(&1, t0, |_| true), Some("one"));
        assert_eq!(cache.get(&1, t0, |_| false), None);
        assert_eq!(cache.get(&1, t0 + Duration::seconds(1), |_| true), None);
        cache.invalidate(|v| *v == "one");
        assert_eq!(cache.get(&1, t0, |_| true), None);
        assert_eq!(cache.hits.load(Ordering::Relaxed), 1);
        assert_eq!(cache.misses.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_shorter_ttl_applies_to_entries_already_cached() {
        let cache = TtlCache::<u32, &str>::new(Duration::seconds(30), 10);
        let t0 = Utc::now();
        cache.insert(1, "one", t0, cache.generation());
        assert_eq!(
            cache.get(&1, t0 + Duration::seconds(5), |_| true),
            Some("one")
        );
        cache.set_ttl(Duration::seconds(1));
        assert_eq!(cache.get(&1, t0 + Duration::seconds(5), |_| true), None);
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_cached() {
        let cache = TtlCache::<u32, &str>::new(Duration::seconds(60), 10);
        let now = Utc::now();
        let before = cache.generation();
        cache.invalidate(|_| true);
        cache.insert(1, "stale", now, before);
        assert_eq!(cache.get(&1, now, |_| true), None);
    }

    #[test]
    fn capacity_is_bounded() {
        let cache = TtlCache::<u32, u32>::new(Duration::seconds(60), 3);
        let now = Utc::now();
        for i in 0..10 {
            cache.insert(i, i, now, cache.generation());
        }
        assert!(cache.entries.read().unwrap().len() <= 3);
    }
}
