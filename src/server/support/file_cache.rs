//! Answers about a file, kept by what cheaply tells its content apart: its path, size and
//! modification time (an upgrade or edit in place makes a new key). Used for what a
//! llama-server build says (`--help`, `--version`) and for GGUF headers.

use std::collections::HashMap;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

pub type FileKey = (PathBuf, u64, Option<SystemTime>);

/// The key of `path` as `metadata` describes it.
pub fn key(path: &Path, metadata: &Metadata) -> FileKey {
    (path.to_path_buf(), metadata.len(), metadata.modified().ok())
}

/// At most `cap` answers; past it the cache starts again (the entries are small and cheap to
/// find again).
pub struct FileCache<T> {
    cap: usize,
    entries: OnceLock<Mutex<HashMap<FileKey, T>>>,
}

impl<T: Clone> FileCache<T> {
    pub const fn new(cap: usize) -> FileCache<T> {
        FileCache {
            cap,
            entries: OnceLock::new(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<FileKey, T>> {
        self.entries
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &FileKey) -> Option<T> {
        self.entries().get(key).cloned()
    }

    pub fn put(&self, key: FileKey, value: T) {
        let mut entries = self.entries();
        if entries.len() >= self.cap {
            entries.clear();
        }
        entries.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_a_new_key_and_the_cap_starts_over() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("f");
        std::fs::write(&path, b"one").unwrap_or_else(|e| panic!("{e}"));
        let first = key(
            &path,
            &std::fs::metadata(&path).unwrap_or_else(|e| panic!("{e}")),
        );
        let cache = FileCache::new(2);
        cache.put(first.clone(), 1);
        assert_eq!(cache.get(&first), Some(1));
        std::fs::write(&path, b"longer").unwrap_or_else(|e| panic!("{e}"));
        let second = key(
            &path,
            &std::fs::metadata(&path).unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(cache.get(&second), None);
        cache.put(second.clone(), 2);
        cache.put((PathBuf::from("/x"), 0, None), 3);
        assert_eq!(
            (cache.get(&first), cache.get(&second)),
            (None, None),
            "started over"
        );
    }
}
