//! What a registered model's file says (its GGUF header), read on demand for the model page:
//! inside the model folders only, off the async threads, within a deadline.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::domain::config::ConfigGroup;
use crate::domain::config::serving::{Role, fold};
use crate::domain::discovery::PathCheck;
use crate::domain::gguf::{FileReport, FileSummary, GgufMetadata};
use crate::domain::model_name::{free_name, name_from_file};
use crate::domain::{AppError, Rule};
use crate::server::gguf::reader::{GgufError, read_model};
use crate::server::models::registry::Registry;
use crate::server::support::file_cache::{self, FileCache};

/// How long reading one header may take (a hung network mount must not hold the page).
const READ_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn describe(registry: &Registry, id: i64) -> Result<FileReport, AppError> {
    let model = registry.get_model(id).await?;
    Ok(match read_inside_roots(registry, &model.spec.path).await {
        Ok(metadata) => FileReport::Read(Box::new(metadata)),
        Err(why) => FileReport::Unreadable(why),
    })
}

/// The header of the file at `path`, if it is inside the model roots and readable within the
/// deadline; else why not, in words.
async fn read_inside_roots(registry: &Registry, path: &str) -> Result<GgufMetadata, String> {
    if let Err(AppError::Invalid { errors }) = registry
        .roots()
        .check(vec![("path".into(), path.to_string())])
        .await
    {
        let why = errors.into_iter().map(|e| e.message).collect::<Vec<_>>();
        return Err(why.join("; "));
    }
    let file = PathBuf::from(path);
    let reading = tokio::task::spawn_blocking(move || read_model(&file));
    match tokio::time::timeout(READ_TIMEOUT, reading).await {
        Ok(Ok(Ok(metadata))) => Ok(metadata),
        Ok(Ok(Err(GgufError::Io(error)))) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("{path}: no file at this path"))
        }
        Ok(Ok(Err(error))) => Err(format!("{path}: {error}")),
        Ok(Err(_)) => Err(format!("{path} could not be read")),
        Err(_) => Err(format!(
            "{path} could not be read within {} s",
            READ_TIMEOUT.as_secs()
        )),
    }
}

/// What a path typed in the Add dialog is: an absolute `.gguf` path inside the model roots
/// whose header reads, with the name Add would give it. Only an overlong path is an error;
/// everything else is an answer to show beside the field.
pub async fn check_path(registry: &Registry, path: String) -> Result<PathCheck, AppError> {
    if path.len() > MAX_CHECKED_PATH {
        return Err(AppError::invalid(
            "path",
            Rule::MaxLength,
            format!("must be at most {MAX_CHECKED_PATH} bytes"),
        ));
    }
    let not_ok = |message: &str| PathCheck {
        message: message.to_string(),
        ..PathCheck::default()
    };
    if !path.starts_with('/') {
        return Ok(not_ok("Type an absolute path (starting with /)."));
    }
    if !path.to_ascii_lowercase().ends_with(".gguf") {
        return Ok(not_ok("Must name a .gguf file."));
    }
    let metadata = match read_inside_roots(registry, &path).await {
        Ok(metadata) => metadata,
        Err(why) => return Ok(not_ok(&why)),
    };
    if metadata.architecture == "clip" {
        return Ok(not_ok(
            "A projector (mmproj), not a model: add the model and set this as its projector.",
        ));
    }
    let models = registry.list_models(Default::default()).await?;
    let taken: Vec<String> = models.iter().map(|m| fold(&m.spec.name)).collect();
    let suggested = free_name(&name_from_file(&path), |n| taken.contains(&fold(n)));
    let mut message = format!("A GGUF model: {}", metadata.summary(0).line());
    if let Some(model) = models.iter().find(|m| m.spec.path == path) {
        message.push_str(&format!(
            " (already model {}; a second one may run it with other settings)",
            model.spec.name
        ));
    }
    Ok(PathCheck {
        ok: true,
        message,
        gguf_name: metadata.name.clone(),
        suggested_name: Some(suggested),
    })
}

/// The longest path `check_path` looks at (as long as a model's path may be).
const MAX_CHECKED_PATH: usize = 4096;

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

/// What each registered model's file is (parameters, quantization, training context) and what
/// the model can do with its settings, for the models table: files inside the model folders
/// only, a few read at once, the whole within a deadline (what is not read by then is left out,
/// and shown as not known).
pub async fn summaries(registry: &Registry) -> Result<Vec<FileSummary>, AppError> {
    let models = registry.listing().await?;
    let reads = futures::stream::iter(models)
        .map(|(model, groups)| async move {
            let header = header_inside_roots(registry, &model.spec.path).await?;
            let mut summary = header.summary(model.id);
            summary.capabilities = capabilities_with(registry, &groups, Some(&header)).await;
            Some(summary)
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

/// The cached header of a file inside the model folders, read off the async threads.
async fn header_inside_roots(registry: &Registry, path: &str) -> Option<Arc<GgufMetadata>> {
    let roots = registry.roots();
    if !roots.is_open()
        && roots
            .check(vec![("path".into(), path.to_string())])
            .await
            .is_err()
    {
        return None;
    }
    let file = PathBuf::from(path);
    tokio::task::spawn_blocking(move || cached_header(file))
        .await
        .ok()?
}

/// What a model with these settings can do (`domain::capabilities`), its file's header given
/// (or read now when `None`).
pub async fn capabilities(
    registry: &Registry,
    model: &crate::domain::Model,
    groups: &[ConfigGroup],
) -> Vec<String> {
    let header = header_inside_roots(registry, &model.spec.path).await;
    capabilities_with(registry, groups, header.as_ref()).await
}

async fn capabilities_with(
    registry: &Registry,
    groups: &[ConfigGroup],
    header: Option<&Arc<GgufMetadata>>,
) -> Vec<String> {
    let mut role = Role::Chat;
    let mut projector = None;
    for group in groups {
        match group {
            ConfigGroup::Serving(serving) => role = serving.role(),
            ConfigGroup::Multimodal(multimodal) => projector = multimodal.mmproj.clone(),
            _ => {}
        }
    }
    let projects_for = match projector {
        Some(path) => Some(
            header_inside_roots(registry, &path)
                .await
                .map(|h| h.projects_for.clone())
                .unwrap_or_default(),
        ),
        None => None,
    };
    crate::domain::capabilities::capabilities(
        role,
        projects_for.as_deref(),
        header.map(AsRef::as_ref),
    )
}
