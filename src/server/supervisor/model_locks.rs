//! One lock per model: the decisions about one model (start, stop, delete) are taken one at a
//! time, and never wait on another model's. Reads take no lock at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OwnedMutexGuard;

#[derive(Default)]
pub struct ModelLocks {
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl ModelLocks {
    fn of(&self, id: i64) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id)
            .or_default()
            .clone()
    }

    pub async fn lock(&self, id: i64) -> OwnedMutexGuard<()> {
        self.of(id).lock_owned().await
    }

    /// Locks several models, always in id order, so two callers can never wait on each other.
    pub async fn lock_all(&self, ids: &[i64]) -> Vec<OwnedMutexGuard<()>> {
        let mut sorted = ids.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let mut guards = Vec::with_capacity(sorted.len());
        for id in sorted {
            guards.push(self.lock(id).await);
        }
        guards
    }

    /// Drops a deleted model's lock (whoever still holds it keeps it until done).
    pub fn forget(&self, id: i64) {
        self.locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_models_lock_does_not_hold_up_another() {
        let locks = ModelLocks::default();
        let _first = locks.lock(1).await;
        let second = tokio::time::timeout(Duration::from_millis(100), locks.lock(2)).await;
        assert!(second.is_ok());
        let again = tokio::time::timeout(Duration::from_millis(50), locks.lock(1)).await;
        assert!(again.is_err(), "the same model waits");
    }
}
