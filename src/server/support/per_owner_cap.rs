//! Places counted per owner (a client address, an API key): taking one fails once the owner
//! holds `cap`, and a place is given back when its guard is dropped, whatever ends the work
//! holding it (an answer, a closed connection, a panic).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// Cloned, it is the same places (shared).
#[derive(Clone)]
pub struct Places<K: Hash + Eq + Clone>(Arc<Mutex<HashMap<K, usize>>>);

impl<K: Hash + Eq + Clone> Default for Places<K> {
    fn default() -> Self {
        Places(Arc::default())
    }
}

impl<K: Hash + Eq + Clone> Places<K> {
    /// One more place for `owner`, or `None` when it holds `cap` already.
    pub fn take(&self, owner: K, cap: usize) -> Option<Place<K>> {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(owner.clone()).or_default();
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Place {
            places: self.0.clone(),
            owner,
        })
    }

    /// Places `owner` holds now.
    pub fn held(&self, owner: &K) -> usize {
        let held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.get(owner).copied().unwrap_or(0)
    }
}

/// One taken place; dropping it gives the place back.
pub struct Place<K: Hash + Eq + Clone> {
    places: Arc<Mutex<HashMap<K, usize>>>,
    owner: K,
}

impl<K: Hash + Eq + Clone> Drop for Place<K> {
    fn drop(&mut self) {
        let mut held = self.places.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.owner) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // Owners come and go (addresses): the map keeps only those holding places.
                held.remove(&self.owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_gets_cap_places_and_one_more_after_giving_one_back() {
        let places = Places::default();
        let first = places.take("a", 2).unwrap();
        let _second = places.take("a", 2).unwrap();
        assert!(places.take("a", 2).is_none());
        assert!(
            places.take("b", 2).is_some(),
            "another owner is not held back"
        );
        drop(first);
        assert_eq!(places.held(&"a"), 1);
        assert!(places.take("a", 2).is_some());
    }
}
