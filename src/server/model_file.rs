//! What a registered model's file says (its GGUF header), read on demand for the model page:
//! inside the model folders only, off the async threads, within a deadline.

use std::path::PathBuf;
use std::time::Duration;

use crate::domain::AppError;
use crate::domain::gguf::FileReport;
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
