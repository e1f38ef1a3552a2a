//! The bulk commands of the models page: each a loop over the single command (under the same
//! per-model locks), and the plan a bulk start would follow, asked before it stops anything.

use crate::domain::bulk_start::{BulkStartPlan, Selected, plan_bulk_start};
use crate::domain::{AppError, Model};
use crate::server::models::registry::distinct_ids;
use crate::server::supervisor::Supervisor;
use crate::server::supervisor::admission::{self, eviction};
use crate::server::supervisor::settings::WhenFull;

impl Supervisor {
    /// Starts every listed model that is not already active. All ids must exist; the first
    /// start that is refused ends the call with its error (models started before it stay up).
    pub async fn bulk_start(&self, ids: Vec<i64>) -> Result<Vec<Model>, AppError> {
        let this = self.clone();
        self.detached(async move {
            let mut models = Vec::new();
            for model in this.existing(ids).await? {
                if model.status.is_active() {
                    models.push(model);
                } else {
                    models.push(this.start_now(model.id).await?);
                }
            }
            Ok(models)
        })
        .await
    }

    /// What `bulk_start` of `ids` would do now under `--max-running`, without starting or
    /// stopping anything: the page asks before a selection would stop other models or itself.
    pub async fn bulk_start_plan(&self, ids: Vec<i64>) -> Result<BulkStartPlan, AppError> {
        let selected: Vec<Selected> = (self.existing(ids).await?.into_iter())
            .map(|m| Selected {
                id: m.id,
                active: m.status.is_active(),
                name: m.spec.name,
            })
            .collect();
        let handles = &self.inner.runner.handles;
        let running = admission::places::snapshot(
            handles,
            &self.demand_book().busy(),
            &Default::default(),
            &|_| Vec::new(),
        );
        let mut stoppable = Vec::new();
        for run in eviction::stop_order(&running, 0) {
            if let Ok(model) = self.inner.registry.get_model(run.model_id).await {
                stoppable.push((run.model_id, model.spec.name));
            }
        }
        let settings = self.settings();
        let used = handles.len() + self.inner.admission.places().reserved();
        let evict = settings.when_full == WhenFull::StopLeastRecent;
        Ok(plan_bulk_start(
            &selected,
            &stoppable,
            used,
            settings.max_running,
            evict,
        ))
    }

    /// Stops every listed model at once and returns when all are down.
    pub async fn bulk_stop(&self, ids: Vec<i64>) -> Result<Vec<Model>, AppError> {
        let this = self.clone();
        self.detached(async move {
            let models = this.existing(ids).await?;
            let stops = models.iter().map(|m| this.stop_now(m.id));
            futures::future::join_all(stops).await.into_iter().collect()
        })
        .await
    }

    /// Restarts every listed model in turn (a stopped one is started); the first refusal ends
    /// the call with its error.
    pub async fn bulk_restart(&self, ids: Vec<i64>) -> Result<Vec<Model>, AppError> {
        let this = self.clone();
        self.detached(async move {
            let mut models = Vec::new();
            for model in this.existing(ids).await? {
                models.push(this.restart_now(model.id).await?);
            }
            Ok(models)
        })
        .await
    }

    /// The listed models, each once; 404 when any is missing.
    async fn existing(&self, ids: Vec<i64>) -> Result<Vec<Model>, AppError> {
        let mut models = Vec::new();
        for id in distinct_ids(ids)? {
            models.push(self.inner.registry.get_model(id).await?);
        }
        Ok(models)
    }
}
