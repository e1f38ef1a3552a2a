//! What a registered model's file says (its GGUF header), read on demand for the model page:
//! inside the model folders only, off the async threads, within a deadline.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::domain::AppError;
use crate::domain::gguf::{FileReport, FileSummary, GgufMetadata};
use crate::server::file_cache::{self, FileCache};
use crate::server::gguf::reader::read_model;
use crate::server::registry::Registry;

/// How long reading one header may take (a hung network mount must not hold the page).
const READ_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn describe(registry: &Registry, id: i64) -> Result<FileReport, AppError> {
    let model = registry.get_model(id).await?;
    let path = model.spec.path;
    if let Err(AppError::Invalid { errors }) = registry
        .roots()
        .check(vec![("path".into(), path.clone())])
        .await
    {
        let why = errors.into_iter().map(|e| e.message).collect::<Vec<_>>();
        return Ok(FileReport::Unreadable(why.join("; ")));
    }
    let file = PathBuf::from(&path);
    let reading = tokio::task::spawn_blocking(move || read_model(&file));
    Ok(match tokio::time::timeout(READ_TIMEOUT, reading).await {
        Ok(Ok(Ok(metadata))) => FileReport::Read(Box::new(metadata)),
        Ok(Ok(Err(error))) => FileReport::Unreadable(format!("{path}: {error}")),
        Ok(Err(_)) => FileReport::Unreadable(format!("{path} could not be read")),
        Err(_) => FileReport::Unreadable(format!(
            "{path} could not be read within {} s",
            READ_TIMEOUT.as_secs()
        )),
    })
}

/// Headers read at once for the models table, and how long the whole table may take.
const READ_AT_ONCE: usize = 4;
const TABLE_WITHIN: Duration = Duration::from_secs(10);
/// Headers already read (a changed file is read again); a header is a few hundred bytes.
static HEADERS: FileCache<Option<Arc<GgufMetadata>>> = FileCache::new(20_000);

/// One file's header, from the cache or read now (blocking: call off the async threads).
fn cached_header(path: PathBuf) -> Option<Arc<GgufMetadata>> {
    let metadata = std::fs::metadata(&path).ok()?;
    let key = file_cache::key(&path, &metadata);
    if let Some(known) = HEADERS.get(&key) {
        return known;
    }
    let read = read_model(&path).ok().map(Arc::new);
    HEADERS.put(key, read.clone());
    read
}

/// What each registered model's file is (parameters, quantization, training context), for
/// the models table: files inside the model folders only, a few read at once, the whole within
/// a deadline (what is not read by then is left out, and shown as not known).
pub async fn summaries(registry: &Registry) -> Result<Vec<FileSummary>, AppError> {
    let models = registry.list_models(Default::default()).await?;
    let roots = registry.roots();
    let reads = futures::stream::iter(models)
        .map(|model| {
            let roots = roots.clone();
            async move {
                let path = model.spec.path;
                if !roots.is_open()
                    && roots
                        .check(vec![("path".into(), path.clone())])
                        .await
                        .is_err()
                {
                    return None;
                }
                let file = PathBuf::from(path);
                let meta = tokio::task::spawn_blocking(move || cached_header(file))
                    .await
                    .ok()??;
                Some(meta.summary(model.id))
            }
        })
        .buffer_unordered(READ_AT_ONCE)
        .filter_map(|summary| async move { summary });
    let mut found = Vec::new();
    let mut reads = std::pin::pin!(reads);
    let deadline = tokio::time::Instant::now() + TABLE_WITHIN;
    while let Ok(Some(summary)) = tokio::time::timeout_at(deadline, reads.next()).await {
        found.push(summary);
    }
    found.sort_by_key(|s| s.id);
    Ok(found)
}
