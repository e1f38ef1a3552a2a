//! What a database read found, kept so the next request need not read again: which model
//! answers to a name, which credential a secret's digest is. Every write that can change an
//! answer moves the generation on and forgets everything: a read that began before it is not
//! kept, so a request racing a rename or a revocation never puts the old answer back.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

/// Entries kept at most; past this the cache starts afresh (a flood of distinct secrets or
/// names cannot grow it).
const MAX_KEPT: usize = 4096;

struct Kept<K, V> {
    generation: u64,
    entries: HashMap<K, V>,
}

pub struct GenerationCache<K, V> {
    kept: Mutex<Kept<K, V>>,
}

impl<K, V> Default for GenerationCache<K, V> {
    fn default() -> Self {
        GenerationCache {
            kept: Mutex::new(Kept {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }
}

impl<K: Hash + Eq, V: Clone> GenerationCache<K, V> {
    fn kept(&self) -> MutexGuard<'_, Kept<K, V>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept entry when `still_good` says so (it may update the entry), else the generation
    /// to hand back to `keep` after reading the database.
    pub fn get(&self, key: &K, still_good: impl FnOnce(&mut V) -> bool) -> Result<V, u64> {
        let mut kept = self.kept();
        let generation = kept.generation;
        match kept.entries.get_mut(key) {
            Some(entry) => {
                if still_good(entry) {
                    Ok(entry.clone())
                } else {
                    Err(generation)
                }
            }
            None => Err(generation),
        }
    }

    /// Keeps what the database said, unless something changed since `generation`.
    pub fn keep(&self, key: K, generation: u64, value: V) {
        let mut kept = self.kept();
        if kept.generation == generation {
            if kept.entries.len() >= MAX_KEPT {
                kept.entries.clear();
            }
            kept.entries.insert(key, value);
        }
    }

    /// A write that can change an answer committed (or is about to): forget them all.
    pub fn forget(&self) {
        let mut kept = self.kept();
        kept.generation += 1;
        kept.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_began_before_a_forget_is_not_kept() {
        let cache = GenerationCache::<[u8; 32], u32>::default();
        let Err(generation) = cache.get(&[1; 32], |_| true) else {
            panic!("empty");
        };
        cache.forget();
        cache.keep([1; 32], generation, 7);
        assert!(cache.get(&[1; 32], |_| true).is_err());
        let Err(generation) = cache.get(&[1; 32], |_| true) else {
            panic!("empty");
        };
        cache.keep([1; 32], generation, 7);
        assert_eq!(cache.get(&[1; 32], |_| true), Ok(7));
        assert!(
            cache.get(&[1; 32], |_| false).is_err(),
            "a stale entry is read again"
        );
    }
}
