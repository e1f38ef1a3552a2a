//! The model folders (`--models-dir`): every GGUF file in them, with what its header says,
//! found at start-up and kept current by watching the folders. One owner of "which files are
//! there"; the registry still owns which of them are models.

pub mod scan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{Notify, RwLock};

use crate::domain::AppError;
use crate::domain::discovery::{Discovered, FoundFile};
use crate::domain::gguf::FileReport;
use crate::server::registry::Registry;

use scan::Seen;

/// Changes settle for this long before the folders are looked at again (a copy in progress
/// sends many events).
const SETTLE: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Discovery(Arc<Inner>);

struct Inner {
    folders: Vec<PathBuf>,
    found: RwLock<BTreeMap<PathBuf, Seen>>,
    changed: Notify,
    /// Kept alive for as long as Corral runs.
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

impl Discovery {
    /// Nothing is read until `start`.
    pub fn new(folders: Vec<PathBuf>) -> Discovery {
        Discovery(Arc::new(Inner {
            folders,
            found: RwLock::new(BTreeMap::new()),
            changed: Notify::new(),
            watcher: Mutex::new(None),
        }))
    }

    /// Watches the folders and scans them in the background: once now, then after each change
    /// has settled. Start-up does not wait for a large cache to be read.
    pub fn start(&self) {
        if self.0.folders.is_empty() {
            return;
        }
        // Watching begins before the first scan, so nothing copied meanwhile is missed.
        let inner = self.0.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                inner.changed.notify_one();
            }
        });
        match watcher {
            Ok(mut watcher) => {
                for folder in &self.0.folders {
                    if let Err(error) = watcher.watch(folder, RecursiveMode::Recursive) {
                        tracing::warn!(folder = %folder.display(), %error, "cannot watch a model folder");
                    }
                }
                *self.0.watcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(watcher);
            }
            Err(error) => tracing::warn!(%error, "cannot watch the model folders"),
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.rescan().await;
            loop {
                this.0.changed.notified().await;
                tokio::time::sleep(SETTLE).await;
                this.rescan().await;
            }
        });
    }

    /// Walks the folders again; headers are read again only for files whose size or time
    /// changed.
    async fn rescan(&self) {
        let folders = self.0.folders.clone();
        let before = self.0.found.read().await.clone();
        let scanned = tokio::task::spawn_blocking(move || scan::scan(&folders, &before)).await;
        match scanned {
            Ok(found) => *self.0.found.write().await = found,
            Err(error) => tracing::warn!(%error, "scanning the model folders failed"),
        }
    }

    /// The folders, the caches to offer, and every file found with whether it is registered.
    pub async fn list(&self, registry: &Registry) -> Result<Discovered, AppError> {
        let models = registry.list_models(Default::default()).await?;
        let found = self.0.found.read().await;
        let projectors: Vec<&Path> = found
            .iter()
            .filter(|(_, seen)| is_projector(&seen.report))
            .map(|(path, _)| path.as_path())
            .collect();
        let files = found
            .iter()
            .map(|(path, seen)| {
                let text = path.display().to_string();
                let projector = (!is_projector(&seen.report))
                    .then(|| {
                        projectors
                            .iter()
                            .find(|p| p.parent() == path.parent())
                            .map(|p| p.display().to_string())
                    })
                    .flatten();
                FoundFile {
                    registered_as: models.iter().find(|m| m.spec.path == text).map(|m| m.id),
                    path: text,
                    size_bytes: seen.size,
                    file: seen.report.clone(),
                    projector,
                }
            })
            .collect();
        Ok(Discovered {
            folders: self
                .0
                .folders
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
            offered: scan::offered_caches()
                .into_iter()
                .filter(|cache| !self.0.folders.iter().any(|f| cache.starts_with(f)))
                .map(|cache| cache.display().to_string())
                .collect(),
            files,
        })
    }
}

fn is_projector(report: &FileReport) -> bool {
    matches!(report, FileReport::Read(meta) if meta.architecture == "clip")
}
