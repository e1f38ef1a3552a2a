//! Running models: one real `llama-server` process per started model, from spawn to exit.
//!
//! This file is the façade: the public lifecycle commands, each one call into the owners below,
//! under the model's lock (`model_locks.rs`) so decisions about one model are taken one at a
//! time. A start is lock → prepare → admit → spawn → ledger → run task:
//! - `prepare/` reads and checks everything a start needs before it takes the lock;
//! - `admission/` decides whether it may go now (places, memory, ports; which runs to stop);
//! - `run/` spawns the process, keeps its handle and drives it in a task of its own;
//! - `ledger.rs` is the one writer of run rows and model status, one transaction per event.
//!
//! A gateway request waiting for its model is the gateway's own (`gateway/on_demand.rs`); log
//! and run reads go straight to their stores.

pub mod admission;
mod bulk;
pub mod kept_kv;
pub mod ledger;
pub mod model_locks;
mod out_of_memory_retry;
mod pending_restart;
pub mod prepare;
mod restart_on_failure;
pub mod run;
pub mod run_handles;
pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;

use crate::domain::run::LaunchPreview;
use crate::domain::{AppError, Model, StatusEvent};
use crate::server::db::runs_store::RunsStore;
use crate::server::live::Hub;
use crate::server::metrics::history::MetricsHistory;
use crate::server::models::registry::{Registry, distinct_ids};
use admission::demand::Demand;
use admission::{Admission, Refused};
use kept_kv::KvStore;
use ledger::RunLedger;
use model_locks::ModelLocks;
use prepare::Sources;
use run::Runner;
use run_handles::{RunHandle, RunHandles, wait_ended};
use settings::{Current, SupervisorSettings, WhenFull};

/// The peers the supervisor works with; it reaches none of them through another.
pub struct Peers {
    pub registry: Registry,
    pub runs: RunsStore,
    pub history: MetricsHistory,
    pub hub: Hub,
    pub ledger: RunLedger,
    /// The folder kept KV caches live in (the data folder's `kv/`).
    pub kv_root: PathBuf,
}

#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    runs: RunsStore,
    hub: Hub,
    ledger: RunLedger,
    kv: KvStore,
    settings: Current,
    locks: ModelLocks,
    admission: Admission,
    runner: Runner,
    /// Each model's failures and planned restart (`serving.restart`).
    restarts: restart_on_failure::Restarts,
    /// Where a refused restart reports itself, as run tasks report their failures.
    failures: restart_on_failure::FailureNotices,
}

impl Supervisor {
    /// Finds llama-server, starts the spawner thread and reconciles runs left by an earlier Corral.
    pub async fn start(peers: Peers, settings: SupervisorSettings) -> Result<Supervisor, AppError> {
        let handles = RunHandles::default();
        let admission = Admission::new(handles.clone(), peers.hub.clone());
        let (failures, failed) = tokio::sync::mpsc::unbounded_channel();
        let kv = KvStore::new(peers.kv_root);
        kv.set_budget(settings.kv_disk_bytes()).await;
        let runner = Runner::new(
            peers.ledger.clone(),
            peers.history,
            peers.hub.clone(),
            admission.clone(),
            handles,
            failures.clone(),
            kv.clone(),
        )?;
        let supervisor = Supervisor {
            inner: Arc::new(Inner {
                registry: peers.registry,
                runs: peers.runs,
                settings: Current::new(settings, peers.hub.clone()),
                hub: peers.hub,
                ledger: peers.ledger,
                kv,
                locks: ModelLocks::default(),
                admission,
                runner,
                restarts: Default::default(),
                failures,
            }),
        };
        restart_on_failure::watch(Arc::downgrade(&supervisor.inner), failed);
        supervisor.inner.settings.publish_binary();
        supervisor.review_pending_on_saves();
        let (alive, active) = supervisor.inner.runs.alive().await?;
        (supervisor.inner.runner)
            .take_over_leftovers(alive, active, supervisor.settings())
            .await?;
        Ok(supervisor)
    }

    /// The settings now; a start that has read them keeps them to its end.
    pub fn settings(&self) -> Arc<SupervisorSettings> {
        self.inner.settings.get()
    }

    /// New settings from the Settings page: the next start, eviction and idle check use them;
    /// a changed llama-server is looked for again and every tab told.
    pub fn apply_settings(&self, settings: SupervisorSettings) {
        let kv_budget = settings.kv_disk_bytes();
        self.inner.settings.replace(settings);
        // A lower --kv-disk-mib takes effect at once.
        let kv = self.inner.kv.clone();
        tokio::spawn(async move { kv.set_budget(kv_budget).await });
        // A new program, origin or other setting may change every running model's command.
        let this = self.clone();
        tokio::spawn(async move { this.review_all_pending().await });
    }

    /// The llama-server in use, or why there is none (see `settings::Current::binary`).
    pub fn binary_in_use(&self) -> Result<PathBuf, String> {
        self.inner.settings.binary()
    }

    /// What a start or preview is prepared from, under `settings`.
    fn sources<'a>(&'a self, settings: &'a SupervisorSettings) -> Sources<'a> {
        Sources {
            registry: &self.inner.registry,
            hub: &self.inner.hub,
            binary: self.binary_in_use(),
            corral_origin: &settings.corral_origin,
            kv: &self.inner.kv,
        }
    }

    /// Runs an operation to its end in a task of its own: a client that goes away (or a request
    /// deadline) must not leave a start or stop half done.
    async fn detached<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: Future<Output = Result<T, AppError>> + Send + 'static,
        T: Send + 'static,
    {
        tokio::spawn(work).await.map_err(AppError::internal)?
    }

    /// Starts the model's server. Returns once the status is `loading` (or `error` when the start
    /// failed before a process existed); `running` follows on the live channel.
    pub async fn start_model(&self, id: i64) -> Result<Model, AppError> {
        self.inner.restarts.started(id);
        let this = self.clone();
        self.detached(async move { this.start_now(id).await }).await
    }

    /// `start_model`, refused rather than stopping another model for a place or for memory
    /// (`--when-full refuse` for this start): a preload never stops anything.
    pub async fn start_model_beside_others(&self, id: i64) -> Result<Model, AppError> {
        self.inner.restarts.started(id);
        let this = self.clone();
        self.detached(async move {
            let settings = SupervisorSettings {
                when_full: WhenFull::Refuse,
                ..(*this.settings()).clone()
            };
            this.start_now_with(id, Arc::new(settings)).await
        })
        .await
    }

    async fn start_now(&self, id: i64) -> Result<Model, AppError> {
        self.start_now_with(id, self.settings()).await
    }

    async fn start_now_with(
        &self,
        id: i64,
        settings: Arc<SupervisorSettings>,
    ) -> Result<Model, AppError> {
        // Everything that reads files or runs `--help` happens before the lock: a slow disk or a
        // FIFO must not hold up anything else.
        let prepared = prepare::prepare(self.sources(&settings), id).await?;
        let _model = self.inner.locks.lock(id).await;
        // Only now, when this start can go ahead, is another model stopped for it; a delete
        // meanwhile is refused by the ledger's check inside the transaction that records the run.
        let (admission, runner) = (&self.inner.admission, &self.inner.runner);
        let admitted = match admission.admit(&prepared, &settings, runner).await {
            Ok(admitted) => admitted,
            Err(Refused::Error(error)) => return Err(error),
            Err(Refused::Failed(reason, detail)) => {
                let failed = runner.failed_before_spawn(id, prepared.command, reason, detail);
                return failed.await;
            }
        };
        runner.start(prepared, admitted, settings).await
    }

    /// Stops the model's server and returns once the process is gone: first new gateway
    /// requests are refused and those in flight may finish (up to the stop grace), then
    /// SIGTERM, then SIGKILL after the grace. Stopping a model that does not run clears an
    /// error status.
    pub async fn stop_model(&self, id: i64) -> Result<Model, AppError> {
        let this = self.clone();
        self.detached(async move { this.stop_now(id).await }).await
    }

    /// Stops the model's server without waiting for its requests in flight: they end at once.
    pub async fn force_stop_model(&self, id: i64) -> Result<Model, AppError> {
        let this = self.clone();
        self.detached(async move { this.stop_at_once(id).await })
            .await
    }

    async fn stop_now(&self, id: i64) -> Result<Model, AppError> {
        // Outside the model's lock: a Force stop must not wait behind the drain.
        if self.inner.runner.handles.drain(id).is_some() {
            let deadline = tokio::time::Instant::now() + self.settings().stop_grace;
            self.demand_book().drained(id, deadline).await;
        }
        self.stop_at_once(id).await
    }

    async fn stop_at_once(&self, id: i64) -> Result<Model, AppError> {
        // A stop by a person: a planned restart is called off.
        self.inner.restarts.called_off(id);
        let ended = {
            let _model = self.inner.locks.lock(id).await;
            let model = self.inner.registry.get_model(id).await?;
            match self.inner.runner.handles.request_stop(id) {
                Some(ended) => ended,
                // No process: a status that says otherwise (an error, a leftover) is cleared.
                None if model.status.next(StatusEvent::NoProcess).is_some() => {
                    return self
                        .inner
                        .ledger
                        .apply(id, StatusEvent::NoProcess, None)
                        .await;
                }
                None => return Ok(model),
            }
        };
        wait_ended(ended).await;
        self.inner.registry.get_model(id).await
    }

    pub async fn restart_model(&self, id: i64) -> Result<Model, AppError> {
        let this = self.clone();
        self.detached(async move { this.restart_now(id).await })
            .await
    }

    async fn restart_now(&self, id: i64) -> Result<Model, AppError> {
        self.stop_now(id).await?;
        self.start_now(id).await
    }

    /// Deletes the models, or none if any is missing or running. Decided under the models'
    /// own locks, so a delete can never race a start of the same model.
    pub async fn delete_models(&self, ids: Vec<i64>) -> Result<Vec<i64>, AppError> {
        let this = self.clone();
        self.detached(async move {
            let ids = distinct_ids(ids)?;
            let _models = this.inner.locks.lock_all(&ids).await;
            let handles = &this.inner.runner.handles;
            if let Some(id) = ids.iter().find(|id| handles.contains(**id)) {
                let name = this.inner.registry.get_model(*id).await?.spec.name;
                let message = format!("model '{name}' has a server running; stop it first");
                return Err(AppError::conflict("status", message));
            }
            let deleted = this.inner.registry.bulk_delete(ids).await?;
            for id in &deleted {
                this.inner.locks.forget(*id);
                this.inner.restarts.called_off(*id);
                this.inner.kv.forget(*id).await;
            }
            Ok(deleted)
        })
        .await
    }

    /// What starting the model would run (the plan a start builds, the port still to be
    /// chosen), and anything that stands in the way.
    pub async fn preview(&self, id: i64) -> Result<LaunchPreview, AppError> {
        let settings = self.settings();
        let (mut preview, need) = prepare::preview(self.sources(&settings), id).await?;
        let running = self.inner.runner.handles.contains(id);
        if let (Some(need), false) = (need, running) {
            preview.memory_short = self.inner.admission.would_not_fit(id, &need, &settings);
        }
        Ok(preview)
    }

    /// The requests the gateway holds per model (admission's, read by the gateway's on-demand
    /// wait, the idle check and the activity page).
    pub fn demand_book(&self) -> Demand {
        self.inner.admission.demand().clone()
    }

    /// The model's live run, if it has one.
    pub fn run_handle(&self, id: i64) -> Option<RunHandle> {
        self.inner.runner.handles.get(id)
    }

    /// Resolves once no start, stop or delete of the model is under way.
    pub async fn settled(&self, id: i64) {
        drop(self.inner.locks.lock(id).await);
    }

    /// The ids of the models with a live run, for tests and diagnostics.
    pub fn live_runs(&self) -> Vec<i64> {
        self.inner.runner.handles.ids()
    }

    /// Stops every run (Corral is shutting down) and waits for all of them.
    pub async fn shutdown(&self) {
        let handles = &self.inner.runner.handles;
        let waits: Vec<_> = (handles.ids().into_iter())
            .filter_map(|id| handles.request_stop(id))
            .collect();
        futures::future::join_all(waits.into_iter().map(wait_ended)).await;
    }
}
