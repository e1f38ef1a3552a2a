//! `/api/models/start|stop|restart|bulk_start|bulk_stop|bulk_restart|logs|launch`, `/api/runs`,
//! `/api/memory/budgets`: running models.
//! Each is one line into `crate::server::supervisor::Supervisor`, or into the runs store and the
//! hub for what was logged and run.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::device_memory::MemoryBudgets;
use crate::domain::run::{LaunchPreview, LogLine, Run};
use crate::domain::{AppError, Model};

#[cfg(feature = "ssr")]
use crate::api::{state, supervisor};
#[cfg(feature = "ssr")]
use crate::domain::page::Page;
#[cfg(feature = "ssr")]
use crate::server::live::model_logs;

/// `{"id": N}` → the model, `loading` (or `error` if it could not even be spawned); `running`
/// follows on the live channel. 404 for an unknown id, 409 if it already runs.
#[server(prefix = "/api", endpoint = "models/start", input = Json)]
pub async fn start_model(id: i64) -> Result<Model, AppError> {
    supervisor()?.start_model(id).await
}

/// `{"id": N}` → the model once its process is gone: its gateway requests in flight finish
/// first (new ones get 503), up to the stop grace; then SIGTERM, then SIGKILL after the grace.
#[server(prefix = "/api", endpoint = "models/stop", input = Json)]
pub async fn stop_model(id: i64) -> Result<Model, AppError> {
    supervisor()?.stop_model(id).await
}

/// `{"id": N}` → the model once its process is gone, without letting its gateway requests in
/// flight finish (they are cut off).
#[server(prefix = "/api", endpoint = "models/force_stop", input = Json)]
pub async fn force_stop_model(id: i64) -> Result<Model, AppError> {
    supervisor()?.force_stop_model(id).await
}

#[server(prefix = "/api", endpoint = "models/restart", input = Json)]
pub async fn restart_model(id: i64) -> Result<Model, AppError> {
    supervisor()?.restart_model(id).await
}

/// `{"ids": [1, 2]}` → what `bulk_start` would do now, starting nothing: `{"max_running",
/// "start", "already_running", "would_stop", "would_not_start"}` (names). The models page asks
/// before a selection would stop other models, or more are chosen than may run at once.
#[server(prefix = "/api", endpoint = "models/bulk_start_plan", input = Json)]
pub async fn bulk_start_plan(
    ids: Vec<i64>,
) -> Result<crate::domain::bulk_start::BulkStartPlan, AppError> {
    supervisor()?.bulk_start_plan(ids).await
}

/// `{"ids": [..]}` → the models; ones already running are left as they are.
#[server(prefix = "/api", endpoint = "models/bulk_start", input = Json)]
pub async fn bulk_start_models(ids: Vec<i64>) -> Result<Vec<Model>, AppError> {
    supervisor()?.bulk_start(ids).await
}

/// `{"ids": [..]}` → the models, each stopped and started again (stopped ones are started).
#[server(prefix = "/api", endpoint = "models/bulk_restart", input = Json)]
pub async fn bulk_restart_models(ids: Vec<i64>) -> Result<Vec<Model>, AppError> {
    supervisor()?.bulk_restart(ids).await
}

#[server(prefix = "/api", endpoint = "models/bulk_stop", input = Json)]
pub async fn bulk_stop_models(ids: Vec<i64>) -> Result<Vec<Model>, AppError> {
    supervisor()?.bulk_stop(ids).await
}

/// `{"id": N, "lines": K}` → the last K log lines (1..=2000), oldest first.
#[server(prefix = "/api", endpoint = "models/logs", input = Json)]
pub async fn model_logs(id: i64, lines: usize) -> Result<Vec<LogLine>, AppError> {
    model_logs::model_logs(&state()?.hub, &state()?.runs, id, lines).await
}

/// `{"id": N}` → the exact command a start would run, and what stands in its way.
#[server(prefix = "/api", endpoint = "models/launch", input = Json)]
pub async fn get_launch_preview(id: i64) -> Result<LaunchPreview, AppError> {
    supervisor()?.preview(id).await
}

/// `{}` → the memory budgets in force per device (`--memory-budget-mib`,
/// `--gpu-budget-mib`), for the models page's devices.
#[server(prefix = "/api", endpoint = "memory/budgets", input = Json)]
pub async fn get_memory_budgets() -> Result<MemoryBudgets, AppError> {
    Ok(supervisor()?.settings().memory_budgets())
}

/// `{"id": N}` → the model's last 20 runs, newest first; `"limit": 1..=200` for more, and
/// `"before": <run id>` for the page after one ending with that run.
#[server(prefix = "/api", endpoint = "runs", input = Json)]
pub async fn list_runs(
    id: i64,
    #[server(default)] limit: Option<u32>,
    #[server(default)] before: Option<i64>,
) -> Result<Vec<Run>, AppError> {
    state()?.runs.page(id, Page { limit, before }).await
}

// The scope an API key needs for each (an untagged function needs `admin`).
#[cfg(feature = "ssr")]
crate::scoped!(ModelsRead: ModelLogs, GetLaunchPreview, ListRuns, BulkStartPlan);
#[cfg(feature = "ssr")]
crate::scoped!(ModelsManage: StartModel, StopModel, ForceStopModel, RestartModel, BulkStartModels, BulkStopModels, BulkRestartModels);
