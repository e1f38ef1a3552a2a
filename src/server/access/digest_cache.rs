//! Credentials already checked, by the digest of their secret, so a request does not read the
//! database to learn who is calling. Every change that can end a credential (revoke, sign-out,
//! a new key) moves the generation on: a database read that began before it is not kept, so a
//! revoked credential is never put back by a request racing its revocation.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Entries kept at most; past this the cache starts afresh (a flood of distinct secrets cannot
/// grow it).
const MAX_KEPT: usize = 1024;

struct Kept<V> {
    generation: u64,
    entries: HashMap<[u8; 32], V>,
}

pub struct DigestCache<V> {
    kept: Mutex<Kept<V>>,
}

impl<V> Default for DigestCache<V> {
    fn default() -> Self {
        DigestCache {
            kept: Mutex::new(Kept {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }
}

impl<V: Clone> DigestCache<V> {
    fn kept(&self) -> MutexGuard<'_, Kept<V>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept entry when `still_good` says so (it may update the entry), else the generation
    /// to hand back to `keep` after reading the database.
    pub fn get(
        &self,
        digest: &[u8; 32],
        still_good: impl FnOnce(&mut V) -> bool,
    ) -> Result<V, u64> {
        let mut kept = self.kept();
        let generation = kept.generation;
        match kept.entries.get_mut(digest) {
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
    pub fn keep(&self, digest: [u8; 32], generation: u64, value: V) {
        let mut kept = self.kept();
        if kept.generation == generation {
            if kept.entries.len() >= MAX_KEPT {
                kept.entries.clear();
            }
            kept.entries.insert(digest, value);
        }
    }

    /// Something that can end a credential happened: forget them all.
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
        let cache = DigestCache::<u32>::default();
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
