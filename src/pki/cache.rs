//! Cache of successful validations, per community (design: "a cache of validated chains keyed by
//! certificate hash, bounded by CRL freshness"). Failures are never cached: a client that fixes
//! its chain must not wait, and caching rejections would let an attacker fill the cache.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::validate::ValidatedChain;

/// Entries kept per community; beyond this, expired entries are purged, then arbitrary ones.
pub const MAX_CACHED_CHAINS: usize = 10_000;

/// SHA-256 over the x5c list (each element length-prefixed, so splitting bytes differently
/// between elements gives a different key).
pub(crate) type CacheKey = [u8; 32];

struct Entry {
    chain: ValidatedChain,
    /// The result holds for `valid_from <= now < valid_until`.
    valid_from: i64,
    valid_until: i64,
}

pub(crate) struct ValidationCache {
    entries: Mutex<HashMap<CacheKey, Entry>>,
    capacity: usize,
}

impl ValidationCache {
    pub(crate) fn new() -> Self {
        Self::with_capacity(MAX_CACHED_CHAINS)
    }

    pub(crate) fn with_capacity(capacity: usize) -> Self {
        ValidationCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn key(x5c: &[Vec<u8>]) -> CacheKey {
        let mut hasher = openssl::sha::Sha256::new();
        for der in x5c {
            hasher.update(&(der.len() as u64).to_be_bytes());
            hasher.update(der);
        }
        hasher.finish()
    }

    /// The cached result for `key` if `now` lies inside its window.
    pub(crate) fn get(&self, key: &CacheKey, now: i64) -> Option<ValidatedChain> {
        let entries = self.entries.lock();
        let entry = entries.get(key)?;
        (entry.valid_from <= now && now < entry.valid_until).then(|| entry.chain.clone())
    }

    /// Stores a successful validation valid for `valid_from <= now < valid_until`.
    pub(crate) fn insert(
        &self,
        key: CacheKey,
        chain: ValidatedChain,
        valid_from: i64,
        valid_until: i64,
        now: i64,
    ) {
        if valid_until <= valid_from {
            return;
        }
        let mut entries = self.entries.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, e| now < e.valid_until);
            // Still full of live entries: drop an arbitrary one. Cheap, and under the attack of
            // many distinct valid chains no eviction order would help much anyway.
            if entries.len() >= self.capacity {
                if let Some(victim) = entries.keys().next().copied() {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(
            key,
            Entry {
                chain,
                valid_from,
                valid_until,
            },
        );
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(tag: u8) -> ValidatedChain {
        ValidatedChain {
            leaf_der: vec![tag],
            san_uris: vec![],
            path_der: vec![vec![tag]],
            not_after: 0,
            leaf_sha256: [tag; 32],
        }
    }

    #[test]
    fn window_and_capacity() {
        let cache = ValidationCache::with_capacity(2);
        let k1 = ValidationCache::key(&[vec![1]]);
        let k2 = ValidationCache::key(&[vec![2]]);
        let k3 = ValidationCache::key(&[vec![3]]);
        // Length-prefixing: [1,2] as one element differs from [1],[2].
        assert_ne!(
            ValidationCache::key(&[vec![1, 2]]),
            ValidationCache::key(&[vec![1], vec![2]])
        );
        cache.insert(k1, chain(1), 100, 200, 150);
        assert_eq!(cache.get(&k1, 150), Some(chain(1)));
        assert_eq!(cache.get(&k1, 99), None);
        assert_eq!(cache.get(&k1, 200), None);
        cache.insert(k2, chain(2), 100, 120, 150);
        // Full: the expired k2 is purged first, k1 survives.
        cache.insert(k3, chain(3), 100, 300, 150);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&k1, 150).is_some());
        assert!(cache.get(&k3, 150).is_some());
        // Full of live entries: one is evicted, the new one is present.
        cache.insert(k2, chain(2), 100, 300, 150);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&k2, 150).is_some());
    }
}
