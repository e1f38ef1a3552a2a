//! KV caches kept across a stop (`serving.keep_kv`). Each model has a folder of its own under
//! the data folder's `kv/` (its `--slot-save-path`; never a path a person names), holding the
//! slot files llama-server wrote and `kept.json`, which says what they were saved with
//! (`fingerprint.rs`). The store is the one owner of those folders: a run task asks it to save
//! before the process is stopped and to restore after the next healthy load, before the first
//! request is let through (`slot_calls.rs` talks to llama-server). Saves, restores and removals
//! are taken one at a time, so the disk bound (`--kv-disk-mib`) is kept by removing the oldest
//! saves after each save (`oldest_first.rs`).

pub mod fingerprint;
pub mod oldest_first;
mod slot_calls;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::domain::kept_kv::KeptKv;
use crate::domain::time::format_bytes;
use crate::server::now_ms;
use oldest_first::Save;

/// The manifest's name in a model's folder.
const MANIFEST: &str = "kept.json";
/// A manifest larger than this is not one Corral wrote.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// What a run with `keep_kv` carries: the store, whose cache, and what it must match.
#[derive(Clone)]
pub struct KvRun {
    pub store: KvStore,
    pub model_id: i64,
    pub fingerprint: String,
}

impl KvRun {
    /// Saves the run's slots before its server stops (`KvStore::save`).
    pub async fn save(&self, port: u16, key: Option<&str>) -> Result<Option<Moved>, String> {
        self.store.save(self, port, key).await
    }

    /// Restores what an earlier run kept into this one's server (`KvStore::restore`).
    pub async fn restore(&self, port: u16, key: Option<&str>) -> Result<Option<Moved>, String> {
        self.store.restore(self, port, key).await
    }
}

/// One saved slot.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedSlot {
    id: u32,
    file: String,
    tokens: i64,
    bytes: u64,
}

/// `kept.json`: what the slot files beside it were saved with.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Manifest {
    fingerprint: String,
    saved_at: i64,
    slots: Vec<SavedSlot>,
}

impl Manifest {
    // Saturating: a manifest is read from the disk.
    fn bytes(&self) -> u64 {
        (self.slots.iter()).fold(0u64, |sum, slot| sum.saturating_add(slot.bytes))
    }
    fn tokens(&self) -> i64 {
        (self.slots.iter()).fold(0i64, |sum, slot| sum.saturating_add(slot.tokens.max(0)))
    }
}

/// What a save or a restore did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    pub tokens: i64,
    pub bytes: u64,
    pub ms: i64,
}

#[derive(Clone)]
pub struct KvStore {
    root: PathBuf,
    /// One save, restore or removal at a time, across every model.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The most disk all saves may take (`--kv-disk-mib`, in bytes), as the settings say now.
    budget: Arc<AtomicU64>,
}

impl KvStore {
    /// The store for `root` (the data folder's `kv/`); nothing is created until a save.
    pub fn new(root: PathBuf) -> KvStore {
        KvStore {
            root,
            turn: Arc::default(),
            budget: Arc::default(),
        }
    }

    /// A new `--kv-disk-mib` (bytes): saves beyond it are removed at once.
    pub async fn set_budget(&self, bytes: u64) {
        self.budget.store(bytes, Ordering::Relaxed);
        let _turn = self.turn.lock().await;
        self.keep_within().await;
    }

    pub fn budget(&self) -> u64 {
        self.budget.load(Ordering::Relaxed)
    }

    /// The model's folder: its `--slot-save-path`.
    pub fn dir(&self, model_id: i64) -> PathBuf {
        self.root.join(model_id.to_string())
    }

    /// Makes the model's folder (private to Corral's user) for a run about to start.
    pub fn make_dir(&self, model_id: i64) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let dir = self.dir(model_id);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        // Not a link to elsewhere, and Corral's alone whatever made it.
        if !std::fs::symlink_metadata(&dir)?.is_dir() {
            return Err(std::io::Error::other(format!(
                "{} is not a folder",
                dir.display()
            )));
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        Ok(dir)
    }

    /// Saves every slot that holds tokens, replacing the model's earlier save (removed first: a
    /// save cut short leaves nothing to restore, never half of one), then removes the oldest
    /// saves beyond the budget (this one too when it alone is larger). `Ok(None)`: no slot held
    /// anything.
    async fn save(
        &self,
        run: &KvRun,
        port: u16,
        key: Option<&str>,
    ) -> Result<Option<Moved>, String> {
        let _turn = self.turn.lock().await;
        let (began, budget) = (Instant::now(), self.budget());
        let dir = self.dir(run.model_id);
        clear(&dir).await;
        if budget == 0 {
            return Err("nothing is kept: --kv-disk-mib is 0".into());
        }
        let slots = match slot_calls::save_all(port, key, &dir).await {
            Ok(slots) if slots.is_empty() => return Ok(None),
            Ok(slots) => slots,
            Err(error) => {
                clear(&dir).await;
                return Err(error);
            }
        };
        let manifest = Manifest {
            fingerprint: run.fingerprint.clone(),
            saved_at: now_ms(),
            slots,
        };
        if let Err(error) = write_manifest(&dir, &manifest).await {
            clear(&dir).await;
            return Err(error);
        }
        self.keep_within().await;
        if read_manifest(&dir).await.is_none() {
            return Err(format!(
                "{} is more than --kv-disk-mib allows ({})",
                format_bytes(manifest.bytes()),
                format_bytes(budget)
            ));
        }
        Ok(Some(Moved {
            tokens: manifest.tokens(),
            bytes: manifest.bytes(),
            ms: elapsed_ms(began),
        }))
    }

    /// Restores the model's save into the server on `port` when it was saved with the same
    /// fingerprint; a save made with anything else is removed. `Ok(None)`: nothing to restore.
    async fn restore(
        &self,
        run: &KvRun,
        port: u16,
        key: Option<&str>,
    ) -> Result<Option<Moved>, String> {
        let _turn = self.turn.lock().await;
        let began = Instant::now();
        let dir = self.dir(run.model_id);
        let Some(manifest) = read_manifest(&dir).await else {
            // Slot files of a save cut short (its manifest is written last) are not kept.
            clear(&dir).await;
            return Ok(None);
        };
        if manifest.fingerprint != run.fingerprint || run.fingerprint.is_empty() {
            tracing::info!(
                model_id = run.model_id,
                "the kept KV cache was saved with another file, llama-server or settings: removed"
            );
            clear(&dir).await;
            return Ok(None);
        }
        let mut tokens: i64 = 0;
        for slot in &manifest.slots {
            let restored = slot_calls::restore(port, key, slot.id, &slot.file).await?;
            tokens = tokens.saturating_add(restored);
        }
        Ok(Some(Moved {
            tokens,
            bytes: manifest.bytes(),
            ms: elapsed_ms(began),
        }))
    }

    /// What is kept for the model, as a start with `fingerprint` would find it.
    pub async fn kept(&self, model_id: i64, fingerprint: &str) -> Option<KeptKv> {
        let manifest = read_manifest(&self.dir(model_id)).await?;
        let all_bytes =
            (self.saves().await.iter()).fold(0u64, |sum, save| sum.saturating_add(save.bytes));
        Some(KeptKv {
            tokens: manifest.tokens(),
            bytes: manifest.bytes(),
            slots: u32::try_from(manifest.slots.len()).unwrap_or(u32::MAX),
            saved_at: manifest.saved_at,
            restorable: manifest.fingerprint == fingerprint,
            all_bytes,
            budget_bytes: self.budget(),
        })
    }

    /// Removes the model's save and folder (the model was deleted).
    pub async fn forget(&self, model_id: i64) {
        let _turn = self.turn.lock().await;
        remove_folder(&self.dir(model_id)).await;
    }

    async fn keep_within(&self) {
        let saves = self.saves().await;
        for model_id in oldest_first::over_budget(&saves, self.budget()) {
            tracing::info!(
                model_id,
                "a kept KV cache was removed: the kept caches took more than --kv-disk-mib"
            );
            // The folder stays: it is a running server's --slot-save-path.
            clear(&self.dir(model_id)).await;
        }
    }

    /// Every model's save, by its manifest.
    async fn saves(&self) -> Vec<Save> {
        let mut saves = Vec::new();
        let Ok(mut entries) = tokio::fs::read_dir(&self.root).await else {
            return saves;
        };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let Some(model_id) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some(manifest) = read_manifest(&entry.path()).await {
                saves.push(Save {
                    model_id,
                    saved_at: manifest.saved_at,
                    bytes: manifest.bytes(),
                });
            }
        }
        saves
    }
}

fn elapsed_ms(began: Instant) -> i64 {
    i64::try_from(began.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// The manifest, read without following a link and no further than a manifest's size.
async fn read_manifest(dir: &Path) -> Option<Manifest> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(MANIFEST))
        .await
        .ok()?;
    let mut text = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut text)
        .await
        .ok()?;
    if text.len() as u64 > MAX_MANIFEST_BYTES {
        return None;
    }
    serde_json::from_slice(&text).ok()
}

/// Written beside, then renamed over: a crash leaves the old manifest or the new one.
async fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), String> {
    let text = serde_json::to_vec(manifest).map_err(|e| e.to_string())?;
    let (temporary, path) = (dir.join(".kept.json.new"), dir.join(MANIFEST));
    tokio::fs::write(&temporary, text)
        .await
        .map_err(|e| format!("cannot write {}: {e}", temporary.display()))?;
    tokio::fs::rename(&temporary, &path)
        .await
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Removes the manifest first (slot files without one are never restored), then every slot
/// file in the folder, whatever the manifest named.
async fn clear(dir: &Path) {
    let _ = tokio::fs::remove_file(dir.join(MANIFEST)).await;
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if entry
            .file_name()
            .to_str()
            .is_some_and(slot_calls::is_slot_file)
        {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
}

async fn remove_folder(dir: &Path) {
    match tokio::fs::remove_dir_all(dir).await {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!(dir = %dir.display(), %error, "cannot remove a kept KV cache");
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_model_folder_that_is_a_link_elsewhere_is_refused() {
        let (root, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = KvStore::new(root.path().to_path_buf());
        std::os::unix::fs::symlink(elsewhere.path(), store.dir(7)).unwrap();
        let error = store.make_dir(7).unwrap_err();
        assert!(error.to_string().contains("is not a folder"), "{error}");
        assert!(store.make_dir(8).unwrap().is_dir());
    }

    #[tokio::test]
    async fn a_manifest_with_huge_numbers_and_foreign_files_neither_overflows_nor_reaches_out() {
        let root = tempfile::tempdir().unwrap();
        let store = KvStore::new(root.path().to_path_buf());
        store.set_budget(u64::MAX).await;
        let dir = store.make_dir(1).unwrap();
        let outside = root.path().join("corral.db");
        std::fs::write(&outside, b"keep me").unwrap();
        let slot = |id: u32, file: &str| SavedSlot {
            id,
            file: file.to_string(),
            tokens: i64::MAX,
            bytes: u64::MAX,
        };
        let manifest = Manifest {
            fingerprint: "f".into(),
            saved_at: 1,
            slots: vec![slot(1, "../corral.db"), slot(2, "slot-2.bin")],
        };
        write_manifest(&dir, &manifest).await.unwrap();
        let kept = store.kept(1, "f").await.unwrap();
        assert_eq!(
            (kept.tokens, kept.bytes, kept.all_bytes),
            (i64::MAX, u64::MAX, u64::MAX)
        );
        // Cleared whatever it names: only Corral's own slot files go.
        std::fs::write(dir.join("slot-2.bin"), b"x").unwrap();
        clear(&dir).await;
        assert!(outside.exists());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        // A manifest that is a link, or too large, is not read.
        std::os::unix::fs::symlink(&outside, dir.join(MANIFEST)).unwrap();
        assert!(read_manifest(&dir).await.is_none());
    }
}
