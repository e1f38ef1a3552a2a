//! `serving.preload`: the models started when Corral starts, highest `serving.priority` first
//! (then by name), each only while a place under `--max-running` is free, the memory it needs
//! is free and its run-together group would stop nothing running: a preload never stops
//! another model. A model already running (adopted from an earlier Corral) is left as it is; a
//! start that fails is logged and shows on the models page like any other.

use std::cmp::Reverse;

use crate::domain::AppError;
use crate::server::models::registry::Registry;
use crate::server::supervisor::Supervisor;
use crate::server::supervisor::prepare::args::ModelConfig;

/// Starts the preloads in a task of their own (start-up does not wait for them).
pub fn spawn(registry: Registry, supervisor: Supervisor) {
    tokio::spawn(async move {
        if let Err(error) = preload(&registry, &supervisor).await {
            tracing::warn!(%error, "could not read which models to start with Corral");
        }
    });
}

/// The models it started, in order.
pub async fn preload(registry: &Registry, supervisor: &Supervisor) -> Result<Vec<i64>, AppError> {
    let mut chosen: Vec<_> = registry
        .listing()
        .await?
        .into_iter()
        .map(|(model, groups)| (model, ModelConfig::from_groups(groups).serving))
        .filter(|(model, serving)| serving.preload() && !model.status.is_active())
        .collect();
    chosen.sort_by_key(|(model, serving)| {
        (Reverse(serving.priority()), model.spec.name.to_lowercase())
    });
    let rules = registry
        .read(|conn| Ok(crate::server::db::run_groups_repo::rules(conn)?))
        .await?;
    let mut started = Vec::new();
    for (model, _) in chosen {
        let running = supervisor.live_runs();
        if let Some(other) = running.iter().find(|id| rules.must_stop(model.id, **id)) {
            tracing::info!(
                model = %model.spec.name,
                stopping = other,
                "not started with Corral: its group would stop a model that runs"
            );
            continue;
        }
        let max = supervisor.settings().max_running.max(1);
        if supervisor.live_runs().len() >= max {
            tracing::info!(
                model = %model.spec.name,
                "not started with Corral: every place under --max-running is taken"
            );
            continue;
        }
        match supervisor.start_model_beside_others(model.id).await {
            Ok(_) => started.push(model.id),
            Err(error) => {
                tracing::warn!(model = %model.spec.name, %error, "could not start with Corral");
            }
        }
    }
    Ok(started)
}
