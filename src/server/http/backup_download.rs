//! `GET /api/backup`: a consistent copy of the database (`VACUUM INTO`) as a download, made
//! while Corral runs. The copy is written beside the database, unlinked at once (the open file
//! keeps it until the answer is sent) and streamed, never read into memory. Two at most are
//! made at a time; a third is told to try again.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::io::ReaderStream;

use crate::domain::AppError;
use crate::domain::time::format_utc;
use crate::server::boot::state::AppState;
use crate::server::db::backup;
use crate::server::http::error_response;
use crate::server::http::origin::same_origin_request;
use crate::server::now_ms;

/// Backups made at once: each is a full copy on disk until it is sent.
const AT_ONCE: usize = 2;

static MAKING: Semaphore = Semaphore::const_new(AT_ONCE);
static COUNTER: AtomicU64 = AtomicU64::new(0);

pub async fn download(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // A GET another site's page can send (an <img>, a link): the copy is not even made.
    if !same_origin_request(&headers, &state.hosts) {
        return error_response(&AppError::Forbidden {
            message: "a backup is downloaded from Corral's own page or by a script, not from \
                      another site's page"
                .into(),
        });
    }
    match make(&state).await {
        Ok(response) => response,
        Err(error) => error_response(&error),
    }
}

async fn make(state: &AppState) -> Result<Response, AppError> {
    let Ok(permit) = MAKING.try_acquire() else {
        return Err(AppError::TooManyRequests {
            message: format!("{AT_ONCE} backups are being made already; try again shortly"),
            retry_after_seconds: 5,
        });
    };
    let source = state.db.path().to_path_buf();
    let folder = source
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let target = folder.join(format!(".backup-{}-{n}.db", std::process::id()));
    let made = target.clone();
    let bytes = tokio::task::spawn_blocking(move || {
        let _ = std::fs::remove_file(&made); // left by a crash mid-backup
        backup::backup(&source, &made)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(AppError::internal)?;
    let file = tokio::fs::File::open(&target).await;
    // Unlinked now, whatever happens next: the open file keeps the copy readable.
    let removed = tokio::fs::remove_file(&target).await;
    let file = file.map_err(AppError::internal)?;
    removed.map_err(AppError::internal)?;
    // `2026-11-27 18:03 UTC` → `corral-2026-11-27-1803.db`.
    let stamp = format_utc(now_ms())
        .trim_end_matches(" UTC")
        .replace(' ', "-")
        .replace(':', "");
    let name = format!("corral-{stamp}.db");
    // The permit goes with the stream: the copy counts until it is sent or the client leaves.
    let stream = ReaderStream::new(file).map(move |chunk| {
        let _held = &permit;
        chunk
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.sqlite3".to_string()),
            (header::CONTENT_LENGTH, bytes.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}
