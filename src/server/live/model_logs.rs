//! A model's log for `/api/models/logs`: the lines its processes logged since Corral started
//! (the hub keeps them), else, after a restart of Corral, the tail kept with its last run.

use crate::domain::page::Page;
use crate::domain::run::{LogLine, LogSource, LogStream};
use crate::domain::{AppError, Rule};
use crate::server::db::runs_store::RunsStore;
use crate::server::live::Hub;

/// Most log lines one call returns.
pub const MAX_LOG_LINES: usize = 2000;

/// The last `lines` lines the model's processes logged, oldest first; 404 for an unknown model.
pub async fn model_logs(
    hub: &Hub,
    runs: &RunsStore,
    id: i64,
    lines: usize,
) -> Result<Vec<LogLine>, AppError> {
    if !(1..=MAX_LOG_LINES).contains(&lines) {
        return Err(AppError::invalid(
            "lines",
            Rule::Range,
            format!("must be from 1 to {MAX_LOG_LINES}"),
        ));
    }
    // One read: the model exists (else 404), and its last run if the hub has nothing.
    let last = runs.page(id, Page::first(1)).await?.into_iter().next();
    let live = hub.log_history(LogSource::Model(id), lines);
    if !live.is_empty() {
        return Ok(live);
    }
    Ok(last.map_or_else(Vec::new, |run| {
        let skip = run.log_tail.len().saturating_sub(lines);
        run.log_tail
            .iter()
            .skip(skip)
            .enumerate()
            .map(|(i, text)| LogLine {
                source: LogSource::Model(id),
                run_id: run.id,
                seq: i as u64 + 1,
                at: run.ended_at.unwrap_or(run.started_at),
                stream: LogStream::Stderr,
                text: text.clone(),
            })
            .collect()
    }))
}
