//! The registry's memory of which model answers to a name: the gateway asks on every request,
//! and a database read each time was most of its cost. Only hits are kept (at most a model's
//! name and aliases each), and every registry write forgets them all: a read that raced a write
//! is not kept (the generation it started under has passed).

use std::sync::Arc;

use crate::domain::config::ServingConfig;
use crate::domain::config::serving::fold;
use crate::server::support::generation_cache::GenerationCache;

/// What the gateway needs of the model a request names. Not its status: the supervisor owns
/// that.
#[derive(Debug, Clone, PartialEq)]
pub struct Served {
    pub id: i64,
    pub name: String,
    pub size_bytes: Option<u64>,
    pub serving: ServingConfig,
    /// The variant asked for (`name:high`), as the model's settings spell it.
    pub variant: Option<String>,
}

#[derive(Clone, Default)]
pub struct NameCache {
    names: Arc<GenerationCache<String, Served>>,
}

impl NameCache {
    /// The model kept for `name`, or the generation to hand back to `keep` after a read.
    pub fn get(&self, name: &str) -> Result<Served, u64> {
        self.names.get(&fold(name), |_| true)
    }

    /// Keeps what a read found, unless a write came in between.
    pub fn keep(&self, name: &str, generation: u64, served: &Served) {
        self.names.keep(fold(name), generation, served.clone());
    }

    /// A write committed (or is about to): nothing kept is trusted any more.
    pub fn forget(&self) {
        self.names.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(id: i64) -> Served {
        Served {
            id,
            name: "m".into(),
            size_bytes: None,
            serving: ServingConfig::default(),
            variant: None,
        }
    }

    #[test]
    fn a_name_is_kept_without_regard_to_case_until_a_write() {
        let cache = NameCache::default();
        let generation = cache.get("Tiny").unwrap_err();
        cache.keep("Tiny", generation, &served(1));
        assert_eq!(cache.get("TINY"), Ok(served(1)));
        cache.forget();
        assert!(cache.get("tiny").is_err());
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = NameCache::default();
        let generation = cache.get("tiny").unwrap_err();
        cache.forget();
        cache.keep("tiny", generation, &served(1));
        assert!(cache.get("tiny").is_err());
    }
}
