//! The model folders (`--models-dir`): every GGUF file in them, with what its header says,
//! found at start-up and kept current by watching the folders. One owner of "which files are
//! there"; the registry still owns which of them are models.

pub mod scan;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::{Notify, RwLock};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::config::ConfigGroupKind;
use crate::domain::config::serving::fold;
use crate::domain::discovery::{Discovered, DiscoveryPage, FoundFile};
use crate::domain::gguf::FileReport;
use crate::domain::live::ServerEvent;
use crate::domain::model_name::{free_name, name_from_file};
use crate::domain::page::MAX_PAGE;
use crate::domain::{AppError, Model, ModelKind, Rule};
use crate::server::live::Hub;
use crate::server::models::registry::{MAX_BULK_IDS, Registry};

use scan::Seen;

/// Changes settle for this long before the folders are looked at again (a copy in progress
/// sends many events).
const SETTLE: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Discovery(Arc<Inner>);

struct Inner {
    /// Replaced whole when the Settings page saves new folders.
    folders: std::sync::RwLock<Vec<PathBuf>>,
    hub: Hub,
    registry: Registry,
    generation: AtomicU64,
    found: RwLock<BTreeMap<PathBuf, Seen>>,
    changed: Notify,
    /// Kept alive for as long as Corral runs.
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
}

impl Discovery {
    /// Nothing is read until `start`.
    pub fn new(folders: Vec<PathBuf>, hub: Hub, registry: Registry) -> Discovery {
        Discovery(Arc::new(Inner {
            folders: std::sync::RwLock::new(folders),
            hub,
            registry,
            generation: AtomicU64::new(0),
            found: RwLock::new(BTreeMap::new()),
            changed: Notify::new(),
            watcher: Mutex::new(None),
        }))
    }

    /// Watches the folders and scans them in the background: once now, then after each change
    /// has settled. Start-up does not wait for a large cache to be read.
    pub fn start(&self) {
        self.watch();
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

    /// The folders now.
    pub fn folders(&self) -> Vec<PathBuf> {
        self.0
            .folders
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// New folders (checked by the caller): watched from now on and scanned at once; files
    /// only the old folders held leave the list.
    pub fn set_folders(&self, folders: Vec<PathBuf>) {
        *self.0.folders.write().unwrap_or_else(|p| p.into_inner()) = folders;
        self.watch();
        self.0.changed.notify_one();
    }

    /// Watches the current folders, replacing (and so ending) the previous watch. Watching
    /// begins before a scan, so nothing copied meanwhile is missed.
    fn watch(&self) {
        let folders = self.folders();
        let mut kept = self.0.watcher.lock().unwrap_or_else(|p| p.into_inner());
        *kept = None;
        if folders.is_empty() {
            return;
        }
        let inner = self.0.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                inner.changed.notify_one();
            }
        });
        match watcher {
            Ok(mut watcher) => {
                for folder in &folders {
                    if let Err(error) = watcher.watch(folder, RecursiveMode::Recursive) {
                        tracing::warn!(folder = %folder.display(), %error, "cannot watch a model folder");
                    }
                }
                *kept = Some(watcher);
            }
            Err(error) => tracing::warn!(%error, "cannot watch the model folders"),
        }
    }

    /// Walks the folders again; headers are read again only for files whose size or time
    /// changed.
    async fn rescan(&self) {
        let folders = self.folders();
        let before = self.0.found.read().await.clone();
        let scanned = tokio::task::spawn_blocking(move || scan::scan(&folders, &before)).await;
        match scanned {
            Ok(found) => {
                let mut kept = self.0.found.write().await;
                if *kept != found {
                    let sizes = changed_sizes(&kept, &found);
                    *kept = found;
                    drop(kept);
                    for (path, size) in sizes {
                        if let Err(error) = self.0.registry.file_changed(path, size).await {
                            tracing::warn!(%error, "cannot record a model file's change");
                        }
                    }
                    let generation = self.0.generation.fetch_add(1, Ordering::SeqCst) + 1;
                    self.0.hub.publish(ServerEvent::FilesChanged { generation });
                }
            }
            Err(error) => tracing::warn!(%error, "scanning the model folders failed"),
        }
    }

    /// The folders, the caches to offer, and a page of the files found with whether each is
    /// registered (per-layer arrays left out: the answer stays small however many files).
    pub async fn list(
        &self,
        registry: &Registry,
        page: DiscoveryPage,
    ) -> Result<Discovered, AppError> {
        let limit = match page.limit.unwrap_or(MAX_PAGE) {
            n @ 1..=MAX_PAGE => n as usize,
            _ => {
                return Err(AppError::invalid(
                    "page.limit",
                    Rule::Range,
                    format!("must be between 1 and {MAX_PAGE}"),
                ));
            }
        };
        let models = registry.list_models(Default::default()).await?;
        let mut listed = self.listing(&models).await;
        listed.total = listed.files.len();
        // Pages follow the paths as text (the walk's order is by path component).
        listed.files.sort_by(|a, b| a.path.cmp(&b.path));
        suggest_names(&mut listed.files, &models);
        let start = page.after.as_ref().map_or(0, |after| {
            listed
                .files
                .partition_point(|f| f.path.as_str() <= after.as_str())
        });
        let mut files: Vec<FoundFile> = listed.files.drain(start..).take(limit + 1).collect();
        if files.len() > limit {
            files.truncate(limit);
            listed.next_after = files.last().map(|f| f.path.clone());
        }
        listed.files = files
            .into_iter()
            .map(|mut f| {
                f.file = f.file.without_per_layer();
                f
            })
            .collect();
        Ok(listed)
    }

    async fn listing(&self, models: &[Model]) -> Discovered {
        let by_path: HashMap<&str, i64> = models
            .iter()
            .map(|m| (m.spec.path.as_str(), m.id))
            .collect();
        let found = self.0.found.read().await;
        let projectors: Vec<&Path> = found
            .iter()
            .filter(|(_, seen)| seen.report.is_projector())
            .map(|(path, _)| path.as_path())
            .collect();
        let files: Vec<FoundFile> = found
            .iter()
            .map(|(path, seen)| {
                let text = path.display().to_string();
                // A projector in the same folder goes with a model (as llama.cpp's router pairs them).
                let projector = if seen.report.is_projector() {
                    None
                } else {
                    projectors
                        .iter()
                        .find(|p| p.parent() == path.parent())
                        .map(|p| p.display().to_string())
                };
                FoundFile {
                    suggested_name: None,
                    registered_as: by_path.get(text.as_str()).copied(),
                    path: text,
                    size_bytes: seen.size,
                    file: seen.report.clone(),
                    projector,
                }
            })
            .collect();
        let folders = self.folders();
        Discovered {
            folders: folders.iter().map(|f| f.display().to_string()).collect(),
            offered: scan::offered_caches()
                .into_iter()
                .filter(|cache| !folders.iter().any(|f| cache.starts_with(f)))
                .map(|cache| cache.display().to_string())
                .collect(),
            total: files.len(),
            files,
            next_after: None,
        }
    }
}

impl Discovery {
    /// Registers found files as models: the name from the file name (numbered when taken), the
    /// family from its architecture, and a projector in the same folder as its projector.
    /// Every path is checked before anything is made.
    pub async fn add(
        &self,
        registry: &Registry,
        paths: Vec<String>,
    ) -> Result<Vec<Model>, AppError> {
        if paths.is_empty() || paths.len() > MAX_BULK_IDS {
            return Err(AppError::invalid(
                "paths",
                Rule::MaxItems,
                format!("must list 1 to {MAX_BULK_IDS} files"),
            ));
        }
        let models = registry.list_models(Default::default()).await?;
        let listed = self.listing(&models).await;
        let mut taken: Vec<String> = models.iter().map(|m| fold(&m.spec.name)).collect();
        let mut plans = Vec::with_capacity(paths.len());
        for (i, path) in paths.iter().enumerate() {
            let field = format!("paths[{i}]");
            let Some(found) = listed.files.iter().find(|f| &f.path == path) else {
                return Err(AppError::invalid(
                    field,
                    Rule::OneOf,
                    "is not a file found in the model folders (POST /api/discovery/list)",
                ));
            };
            if found.registered_as.is_some() || paths[..i].contains(path) {
                return Err(AppError::Conflict {
                    field,
                    message: format!("{path} is registered already"),
                });
            }
            if found.file.is_projector() {
                return Err(AppError::invalid(
                    field,
                    Rule::GgufFile,
                    "is a projector: add the model it belongs to (it is paired by folder)",
                ));
            }
            let meta = match &found.file {
                FileReport::Read(meta) => meta,
                FileReport::Unreadable(why) => {
                    return Err(AppError::invalid(
                        field,
                        Rule::GgufFile,
                        format!("is not a GGUF model Corral can read: {why}"),
                    ));
                }
            };
            let name = free_name(&name_from_file(path), |n| taken.contains(&fold(n)));
            taken.push(fold(&name));
            let kind = ModelKind::from_architecture(&meta.architecture);
            plans.push((name, path.clone(), kind, found.projector.clone()));
        }
        let mut made = Vec::with_capacity(plans.len());
        for (name, path, kind, projector) in plans {
            let model = registry
                .create_model(serde_json::json!({"name": name, "path": path, "kind": kind}))
                .await?;
            if let Some(projector) = projector {
                registry
                    .save_config(
                        model.id,
                        ConfigGroupKind::Multimodal,
                        serde_json::json!({"mmproj": projector}),
                    )
                    .await?;
            }
            made.push(model);
        }
        Ok(made)
    }
}

/// A name for each file not yet a model (not a projector, readable), in path order: from the
/// file name, numbered past the models' names and the names given before it.
fn suggest_names(files: &mut [FoundFile], models: &[Model]) {
    let mut taken: Vec<String> = models.iter().map(|m| fold(&m.spec.name)).collect();
    for file in files {
        if file.registered_as.is_some() || !file.can_be_added() {
            continue;
        }
        let name = free_name(&name_from_file(&file.path), |n| taken.contains(&fold(n)));
        taken.push(fold(&name));
        file.suggested_name = Some(name);
    }
}

/// Files that went away (`None`), appeared or changed size, by path.
fn changed_sizes(
    before: &BTreeMap<PathBuf, Seen>,
    after: &BTreeMap<PathBuf, Seen>,
) -> Vec<(String, Option<u64>)> {
    let gone = before
        .keys()
        .filter(|path| !after.contains_key(*path))
        .map(|path| (path.display().to_string(), None));
    let changed = after
        .iter()
        .filter(|(path, seen)| before.get(*path).is_none_or(|old| old.size != seen.size))
        .map(|(path, seen)| (path.display().to_string(), Some(seen.size)));
    gone.chain(changed).collect()
}
