//! Running models: one real `llama-server` process per started model, from spawn to exit.
//!
//! The supervisor is the only writer of a model's status (`statuses.rs`, applying the state
//! machine of `domain::status`). Decisions about one model (start, stop, delete) are serialised
//! by that model's lock (`model_locks.rs`); places under `--max-running` are reserved before a
//! process exists (`places.rs`); one task per run drives the process phase by phase
//! (`run_task.rs`).

pub mod admission;
mod model_locks;
pub mod prepare;
pub mod run;
pub mod settings;
pub mod statuses;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::activity::ModelDemand;
use crate::domain::bulk_start::{BulkStartPlan, Selected, plan_bulk_start};
use crate::domain::live::ServerEvent;
use crate::domain::page::Page;
use crate::domain::run::{
    FailureReason, LaunchPreview, LiveRun, LogLine, LogSource, LogStream, Run,
};
use crate::domain::{AppError, FieldError, Model, ModelStatus, Rule, StatusEvent};
use crate::server::db::runs_repo::Ending;
use crate::server::db::runs_store::RunsStore;
use crate::server::gguf::magic::FileCheck;
use crate::server::live::Hub;
use crate::server::metrics::history::MetricsHistory;
use crate::server::now_ms;
use crate::server::registry::{Registry, distinct_ids};
use crate::server::supervisor::admission::demand::{Demand, Ticket};
use crate::server::supervisor::admission::places::{Decision, Places, Reservation};
use crate::server::supervisor::admission::{demand, ports};
use crate::server::supervisor::model_locks::ModelLocks;
use crate::server::supervisor::prepare::args::ModelConfig;
use crate::server::supervisor::prepare::launch::{LaunchPlan, Port};
use crate::server::supervisor::prepare::{
    args, capabilities, child_env, file_rules, locate, memory_need,
};
use crate::server::supervisor::run::handles::{HandleGuard, RunHandle, RunHandles, wait_ended};
use crate::server::supervisor::run::spawn::{SpawnRequest, Spawner, signal_group};
use crate::server::supervisor::run::{reconcile, task};
use crate::server::supervisor::settings::{SupervisorSettings, WhenFull};
use crate::server::supervisor::statuses::Statuses;

/// Most log lines one `/api/models/logs` call returns.
pub const MAX_LOG_LINES: usize = 2000;

/// The peers the supervisor works with; it reaches none of them through another.
pub struct Peers {
    pub registry: Registry,
    pub runs: RunsStore,
    pub history: MetricsHistory,
    pub hub: Hub,
    pub statuses: Statuses,
}

#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    runs: RunsStore,
    history: MetricsHistory,
    hub: Hub,
    statuses: Statuses,
    /// Replaced whole when the Settings page saves; each start reads the settings once.
    settings: std::sync::RwLock<Arc<SupervisorSettings>>,
    binary: std::sync::RwLock<Result<PathBuf, String>>,
    spawner: Spawner,
    handles: RunHandles,
    locks: ModelLocks,
    places: Places,
    /// Requests the gateway holds per model.
    demand: Demand,
    /// Gateway requests for a stopped model take turns to start it, so many at once start it
    /// once and share a failure.
    gateway_starts: ModelLocks,
    /// The last failed gateway start of each model (when, why), shared with the requests that
    /// waited for it.
    gateway_failures: std::sync::Mutex<std::collections::HashMap<i64, (i64, String)>>,
    /// An empty home for each model server (`child_env::ChildHomes`).
    homes: child_env::ChildHomes,
}

impl Supervisor {
    /// Finds llama-server, starts the spawner thread and reconciles runs left by an earlier Corral.
    pub async fn start(peers: Peers, settings: SupervisorSettings) -> Result<Supervisor, AppError> {
        let settings = settings.with_page_binary_resolved();
        let path_var = std::env::var_os("PATH");
        let binary = locate::find(settings.llama_server.as_deref(), path_var.as_deref());
        let spawner = Spawner::new().map_err(AppError::internal)?;
        let places = Places::default();
        let supervisor = Supervisor {
            inner: Arc::new(Inner {
                registry: peers.registry,
                runs: peers.runs,
                history: peers.history,
                hub: peers.hub,
                statuses: peers.statuses,
                settings: std::sync::RwLock::new(Arc::new(settings)),
                binary: std::sync::RwLock::new(binary),
                spawner,
                handles: RunHandles::default(),
                locks: ModelLocks::default(),
                demand: Demand::new(places.clone()),
                places,
                gateway_starts: ModelLocks::default(),
                gateway_failures: Default::default(),
                homes: child_env::ChildHomes::create().map_err(AppError::internal)?,
            }),
        };
        let hub = &supervisor.inner.hub;
        demand::spawn_updates(
            supervisor.inner.demand.clone(),
            hub.clone(),
            std::time::Duration::from_millis(250),
        );
        supervisor.publish_binary();
        supervisor.review_pending_on_saves();
        reconcile::reconcile(&supervisor).await?;
        Ok(supervisor)
    }

    /// The settings now; a start that has read them keeps them to its end.
    pub fn settings(&self) -> Arc<SupervisorSettings> {
        self.inner
            .settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// New settings from the Settings page: the next start, eviction and idle check use them;
    /// a changed llama-server is looked for again and every tab told.
    pub fn apply_settings(&self, settings: SupervisorSettings) {
        let settings = settings.with_page_binary_resolved();
        let binary_changed = self.settings().llama_server != settings.llama_server;
        if binary_changed {
            let path_var = std::env::var_os("PATH");
            let binary = locate::find(settings.llama_server.as_deref(), path_var.as_deref());
            *self.inner.binary.write().unwrap_or_else(|p| p.into_inner()) = binary;
        }
        *self
            .inner
            .settings
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        if binary_changed {
            self.publish_binary();
        }
        // A new program, origin or other setting may change every running model's command.
        let this = self.clone();
        tokio::spawn(async move { this.review_all_pending().await });
    }

    /// The llama-server in use, or why there is none. One named on the Settings page is vetted
    /// again on every call, which comes before anything runs it: a file or folder changed since
    /// it was saved refuses the run with the reason.
    pub fn binary_in_use(&self) -> Result<PathBuf, String> {
        let binary = self
            .inner
            .binary
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        if self.settings().llama_server_from_page {
            // What runs is the real path the check vetted, never the stored text again (one
            // saved by an older Corral may be a link).
            return locate::vet(&binary).map_err(|why| {
                format!(
                    "the llama-server named on the Settings page ({}) may not run: {why}",
                    binary.display()
                )
            });
        }
        Ok(binary)
    }

    fn publish_binary(&self) {
        let mut status = self.inner.hub.snapshot().server;
        status.llama_server = self.binary_in_use().ok().map(|p| p.display().to_string());
        self.inner.hub.publish(ServerEvent::ServerStatus(status));
    }

    fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    fn binary(&self) -> Result<PathBuf, AppError> {
        self.binary_in_use()
            .map_err(|message| AppError::Unavailable { message })
    }

    /// Moves a model's status by one event of the state machine — the only way any status
    /// changes. Refused (409) when the event cannot happen in the current status.
    pub async fn transition(
        &self,
        id: i64,
        event: StatusEvent,
        reason: Option<String>,
    ) -> Result<Model, AppError> {
        self.inner.statuses.apply(id, event, reason).await
    }

    /// Runs an operation to its end in a task of its own: a client that goes away (or a request
    /// deadline) must not leave a start or stop half done.
    async fn detached<T, F>(&self, work: F) -> Result<T, AppError>
    where
        F: std::future::Future<Output = Result<T, AppError>> + Send + 'static,
        T: Send + 'static,
    {
        tokio::spawn(work).await.map_err(AppError::internal)?
    }

    /// Starts the model's server. Returns once the status is `loading` (or `error` when the start
    /// failed before a process existed); `running` follows on the live channel.
    pub async fn start_model(&self, id: i64) -> Result<Model, AppError> {
        let this = self.clone();
        self.detached(async move { this.start_now(id).await }).await
    }

    async fn start_now(&self, id: i64) -> Result<Model, AppError> {
        // Everything that reads files or runs `--help` happens before the lock: a slow disk or a
        // FIFO must not hold up anything else.
        let detail = self.registry().model_detail(id).await?;
        if detail.model.status.is_active() {
            return Err(already(&detail.model));
        }
        let config = ModelConfig::from_groups(detail.groups);
        let binary = self.binary()?;
        let caps = self
            .checked_capabilities(&binary, &detail.model, &config)
            .await?;
        let files = self.open_files(&detail.model, &config).await?;
        let model_file = files.first().and_then(|c| c.check);
        let need = if model_file == Some(FileCheck::Gguf) {
            let command = LaunchPlan::build(
                &binary,
                &detail.model,
                &config,
                Some(&caps),
                Port::NotYetChosen,
                &self.settings().corral_origin,
            )
            .command();
            let gpus = self
                .inner
                .hub
                .read(|s| s.metrics.last().map_or(0, |m| m.gpus.len()));
            memory_need::need(&detail.model, &config, &command, &self.inner.runs, gpus).await?
        } else {
            None
        };
        let _model = self.inner.locks.lock(id).await;
        // Read again under the lock: it may have been deleted or started meanwhile.
        let model = self.registry().get_model(id).await?;
        if model.status.is_active() || self.inner.handles.contains(id) {
            return Err(already(&model));
        }
        let plan = |port| {
            LaunchPlan::build(
                &binary,
                &model,
                &config,
                Some(&caps),
                port,
                &self.settings().corral_origin,
            )
        };
        let refused = match model_file {
            Some(FileCheck::Gguf) => None,
            Some(FileCheck::Missing) => Some((
                FailureReason::FileMissing,
                format!("{} is not there", model.spec.path),
            )),
            Some(FileCheck::NotGguf) => Some((
                FailureReason::NotGguf,
                format!("{} does not start with GGUF", model.spec.path),
            )),
            Some(FileCheck::Unreadable | FileCheck::NotRegular) | None => Some((
                FailureReason::Other,
                format!("{} cannot be read", model.spec.path),
            )),
        };
        if let Some((reason, detail)) = refused {
            let command = plan(Port::NotYetChosen).command();
            return self.fail_before_spawn(id, command, reason, &detail).await;
        }
        // Only now, when this start can go ahead, is another model stopped for it.
        let place = self.make_room(&model).await?;
        self.make_memory_room(&model, need.as_ref()).await?;
        let range = self.settings().ports.clone();
        let Some(port) = ports::pick_free(range.clone(), &self.inner.handles.ports()) else {
            let detail = format!(
                "every port from {} to {} is in use",
                range.start(),
                range.end()
            );
            let command = plan(Port::NotYetChosen).command();
            return self
                .fail_before_spawn(id, command, FailureReason::PortInUse, &detail)
                .await;
        };
        // What runs names the files checked, as the open copies this start holds (a split
        // model's parts by links in the run's own home: llama-server finds them by name).
        let home = self.inner.homes.fresh(id).map_err(|e| {
            AppError::internal(format!("cannot make the model server's home folder: {e}"))
        })?;
        let (handed, passed) = file_rules::handed_on(files, &home.join(".files"))
            .map_err(|e| AppError::internal(format!("cannot hand the files on: {e}")))?;
        let run_config = config.with_files(&|setting| passed.get(setting).cloned())?;
        let mut run_model = model.clone();
        if let Some(path) = passed.get("path") {
            run_model.spec.path.clone_from(path);
        }
        // The run records the command as planned, with the files' paths (what a person reads,
        // and what the next start's memory need is matched by); `reconcile::is_ours` matches
        // it to the process through the descriptors it was handed.
        let command = plan(Port::Assigned(port)).command();
        let plan = LaunchPlan::build(
            &binary,
            &run_model,
            &run_config,
            Some(&caps),
            Port::Assigned(port),
            &self.settings().corral_origin,
        );
        // The key goes in the environment, not on the command line others can read.
        let api_key = child_env::new_key()?;
        let spawned = self
            .inner
            .spawner
            .spawn(SpawnRequest {
                program: plan.program,
                args: plan.args,
                env: child_env::for_run(std::env::vars_os(), &home, &api_key),
                files: handed,
            })
            .await;
        let child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let detail = format!("cannot start {}: {error}", binary.display());
                return self
                    .fail_before_spawn(id, command, FailureReason::Other, &detail)
                    .await;
            }
        };
        let pid = child.id().unwrap_or(0);
        let started_at = now_ms();
        // Read before this run is recorded, so it is not its own history.
        let typical_load_ms = self
            .inner
            .runs
            .typical_load_ms(id)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(model_id = id, %error, "cannot read earlier load times");
                None
            });
        let recorded: Arc<[String]> = command.clone().into();
        let run_id = self
            .inner
            .runs
            .started(id, pid, port, command, started_at)
            .await?;
        let live = LiveRun {
            model_id: id,
            run_id,
            pid,
            port,
            started_at,
            ready_at: None,
            stage: None,
            sample: None,
            typical_load_ms,
        };
        let process = task::Process::Child(child);
        let terms = Terms {
            place,
            pinned: config.serving.pinned(),
            idle_ttl: config
                .serving
                .idle_ttl_seconds
                .map_or(self.settings().idle_ttl, |s| {
                    Duration::from_secs(s.max(0) as u64)
                }),
            command: recorded,
        };
        self.supervise(
            live,
            process,
            StatusEvent::Spawned,
            Vec::new(),
            Some(api_key.into()),
            terms,
        )
        .await
    }

    /// Supervises a server an earlier Corral started (found alive at start-up) as if it were
    /// its own: health, numbers, stop. Its earlier output is gone; the run keeps its record.
    async fn adopt(&self, run: Run, pid: u32) -> Result<(), AppError> {
        self.inner.hub.log(
            LogSource::Model(run.model_id),
            run.id,
            LogStream::Stderr,
            "corral: adopted this server from an earlier Corral; its earlier output is not available",
        );
        let live = LiveRun {
            model_id: run.model_id,
            run_id: run.id,
            pid,
            port: run.port,
            started_at: run.started_at,
            ready_at: None,
            stage: Some("adopted from an earlier Corral".into()),
            sample: None,
            typical_load_ms: None,
        };
        let api_key = child_env::key_of(pid).map(Arc::from);
        let process = task::Process::Adopted { pid };
        let place = match self.inner.places.decide(
            run.model_id,
            usize::MAX,
            &self.inner.handles,
            false,
            &HashSet::new(),
        ) {
            Decision::Reserved(place) => place,
            _ => return Err(AppError::internal("no place for an adopted server")),
        };
        self.supervise(
            live,
            process,
            StatusEvent::Adopted,
            run.log_tail,
            api_key,
            Terms {
                place,
                pinned: false,
                idle_ttl: self.settings().idle_ttl,
                command: run.command.clone().into(),
            },
        )
        .await
        .map(drop)
    }

    /// Takes a live process under supervision: records its handle (which then holds the place
    /// the start reserved), moves the status, tells every tab, and hands the process to its run
    /// task. If the status cannot move (the database fails), the process is killed and the
    /// handle removed.
    async fn supervise(
        &self,
        live: LiveRun,
        mut process: task::Process,
        event: StatusEvent,
        tail: Vec<String>,
        api_key: Option<Arc<str>>,
        terms: Terms,
    ) -> Result<Model, AppError> {
        let Terms {
            place,
            pinned,
            idle_ttl,
            command,
        } = terms;
        let (stop, stop_rx) = watch::channel(false);
        let (ended_tx, ended) = watch::channel(false);
        let (ready_tx, ready) = watch::channel(false);
        let last_used = Arc::new(AtomicI64::new(now_ms()));
        let handles = &self.inner.handles;
        handles.insert(
            live.model_id,
            RunHandle {
                run_id: live.run_id,
                port: live.port,
                stop: Arc::new(stop),
                ended,
                last_used: last_used.clone(),
                api_key: api_key.clone(),
                ready,
                pinned,
                draining: Arc::default(),
                on_demand: Arc::default(),
                command,
            },
        );
        drop(place);
        let guard = HandleGuard::new(handles, live.model_id, live.run_id);
        let model = match self.transition(live.model_id, event, None).await {
            Ok(model) => model,
            Err(error) => {
                self.abandon(&live, &mut process, &error).await;
                return Err(error);
            }
        };
        self.inner
            .hub
            .publish(ServerEvent::RunUpdated(live.clone()));
        tokio::spawn(task::drive(task::RunContext {
            statuses: self.inner.statuses.clone(),
            runs: self.inner.runs.clone(),
            history: self.inner.history.clone(),
            hub: self.inner.hub.clone(),
            handles: handles.clone(),
            places: self.inner.places.clone(),
            settings: self.settings(),
            live,
            size_bytes: model.size_bytes,
            process,
            tail,
            stop: stop_rx,
            ended: ended_tx,
            last_used,
            api_key,
            ready: ready_tx,
            idle_ttl: (!idle_ttl.is_zero()).then_some(idle_ttl),
            demand: self.inner.demand.clone(),
        }));
        // From here the run task owns the handle and removes it when the process is gone.
        guard.disarm();
        Ok(model)
    }

    /// A process that cannot be supervised is killed, waited for and its run closed.
    async fn abandon(&self, live: &LiveRun, process: &mut task::Process, error: &AppError) {
        tracing::warn!(model_id = live.model_id, pid = live.pid, %error, "cannot supervise a new server: killing it");
        if let Err(kill_error) = signal_group(live.pid, libc::SIGKILL) {
            tracing::warn!(pid = live.pid, %kill_error, "cannot kill an unsupervised server");
        }
        let exit = tokio::time::timeout(Duration::from_secs(5), process.wait()).await;
        let ending = Ending {
            at: now_ms(),
            exit_code: exit.ok().and_then(|e| e.code),
            message: Some(format!("stopped at once: {error}")),
            ..Ending::default()
        };
        if let Err(error) = self.inner.runs.finish(live.run_id, ending).await {
            tracing::warn!(run_id = live.run_id, %error, "cannot record the end of an abandoned run");
        }
    }

    /// Every file the settings name (each part of a split one), checked inside the model
    /// folders (by path, then again as opened) and opened once, the model's file first.
    async fn open_files(
        &self,
        model: &Model,
        config: &ModelConfig,
    ) -> Result<Vec<file_rules::Checked>, AppError> {
        let named = file_rules::with_parts(file_rules::named_files(model, config));
        // Nothing is read outside the model folders: they are checked before the files are.
        self.registry()
            .roots()
            .check(
                named
                    .iter()
                    .map(|f| (f.setting.clone(), f.path.clone()))
                    .collect(),
            )
            .await?;
        let separators = file_rules::separator_refusals(&named);
        let files = file_rules::check_all(named).await;
        let mut refused = file_rules::refusals(&files);
        refused.extend(separators);
        refused.extend(file_rules::outside_roots(&files, self.registry().roots()));
        if !refused.is_empty() {
            return Err(AppError::Invalid { errors: refused });
        }
        Ok(files)
    }

    /// The capabilities of the installed server, after checking the settings against them:
    /// every setting has a flag there, and the extra arguments pass the allow-list.
    async fn checked_capabilities(
        &self,
        binary: &std::path::Path,
        model: &Model,
        config: &ModelConfig,
    ) -> Result<Arc<capabilities::Capabilities>, AppError> {
        let caps = capabilities::of(binary)
            .await
            .map_err(|message| AppError::Unavailable { message })?;
        // A database written by an older Corral, or by hand, must not smuggle a flag in.
        args::check_extra(&config.advanced.extra_args, &caps)
            .map_err(|errors| AppError::Invalid { errors })?;
        let unsupported = caps.unsupported(&args::plan(model, config));
        if !unsupported.is_empty() {
            return Err(AppError::Invalid {
                errors: unsupported
                    .into_iter()
                    .map(|u| {
                        FieldError::new(
                            u.setting,
                            Rule::Unsupported,
                            format!(
                                "the installed llama-server has no {}; clear this setting or \
                                 install a build that has it",
                                u.flag
                            ),
                        )
                    })
                    .collect(),
            });
        }
        Ok(caps)
    }

    /// Records a start that failed before any process existed, and shows it on the model.
    async fn fail_before_spawn(
        &self,
        id: i64,
        command: Vec<String>,
        reason: FailureReason,
        detail: &str,
    ) -> Result<Model, AppError> {
        let message = format!("{} ({detail})", reason.advice());
        self.inner
            .runs
            .failed_to_start(id, command, now_ms(), reason, message.clone())
            .await?;
        self.transition(id, StatusEvent::Failed, Some(message))
            .await
    }

    /// Holds a place under `--max-running` for `model`: at once when one is free, else by
    /// stopping the least recently used run (or refusing, as set). Only this model's lock is
    /// held while a stop takes its grace. Gives up with an error after one stop per place, or
    /// when nothing changes for longer than a stop can take, so it can never turn into a loop.
    async fn make_room(&self, model: &Model) -> Result<Reservation, AppError> {
        let max = self.settings().max_running.max(1);
        let evict = self.settings().when_full == WhenFull::StopLeastRecent;
        let patience = self.settings().stop_grace + Duration::from_secs(10);
        let mut stops_left = max + 1;
        loop {
            let changed = self.inner.places.changed();
            let notified = changed.notified();
            let busy = self.inner.demand.busy();
            match self
                .inner
                .places
                .decide(model.id, max, &self.inner.handles, evict, &busy)
            {
                Decision::Reserved(place) => return Ok(place),
                Decision::Full => return Err(full(max, model)),
                Decision::Evict(victim, run_id) if stops_left > 0 => {
                    stops_left -= 1;
                    tracing::info!(
                        stopping = victim,
                        starting = model.id,
                        "at the running-model limit: stopping the least recently used"
                    );
                    self.evict(victim, run_id).await;
                }
                Decision::Evict(victim, _) => {
                    self.inner.places.evicted(victim);
                    return Err(no_room(model));
                }
                Decision::Wait => {
                    if tokio::time::timeout(patience, notified).await.is_err() {
                        return Err(no_room(model));
                    }
                }
            }
        }
    }

    /// Stops a run picked to make room (marked as being evicted) and waits for it to end.
    async fn evict(&self, victim: i64, run_id: i64) {
        if let Some(ended) = self.inner.handles.request_stop(victim) {
            wait_ended(ended).await;
        }
        // A run that ended but is still listed has no task left to remove it.
        if self
            .inner
            .handles
            .get(victim)
            .is_some_and(|h| h.run_id == run_id)
        {
            tracing::error!(model_id = victim, run_id, "removing a stale run handle");
            self.inner.handles.forget(victim, run_id);
        }
        self.inner.places.evicted(victim);
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
        if self.inner.handles.drain(id).is_some() {
            let deadline = tokio::time::Instant::now() + self.settings().stop_grace;
            self.inner.demand.drained(id, deadline).await;
        }
        self.stop_at_once(id).await
    }

    async fn stop_at_once(&self, id: i64) -> Result<Model, AppError> {
        let ended = {
            let _model = self.inner.locks.lock(id).await;
            let model = self.registry().get_model(id).await?;
            match self.inner.handles.request_stop(id) {
                Some(ended) => ended,
                // No process: a status that says otherwise (an error, a leftover) is cleared.
                None if model.status.next(StatusEvent::NoProcess).is_some() => {
                    return self.transition(id, StatusEvent::NoProcess, None).await;
                }
                None => return Ok(model),
            }
        };
        wait_ended(ended).await;
        self.registry().get_model(id).await
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
            if let Some(id) = ids.iter().find(|id| this.inner.handles.contains(**id)) {
                let model = this.registry().get_model(*id).await?;
                return Err(AppError::Conflict {
                    field: "status".into(),
                    message: format!(
                        "model '{}' has a server running; stop it before deleting it",
                        model.spec.name
                    ),
                });
            }
            let deleted = this.registry().bulk_delete(ids).await?;
            for id in &deleted {
                this.inner.locks.forget(*id);
            }
            Ok(deleted)
        })
        .await
    }

    /// Starts every listed model that is not already active. All ids must exist; the first
    /// start that is refused ends the call with its error (models started before it stay up).
    pub async fn bulk_start(&self, ids: Vec<i64>) -> Result<Vec<Model>, AppError> {
        let this = self.clone();
        self.detached(async move {
            let ids = this.existing_ids(ids).await?;
            let mut models = Vec::with_capacity(ids.len());
            for id in ids {
                let model = this.registry().get_model(id).await?;
                if model.status.is_active() {
                    models.push(model);
                } else {
                    models.push(this.start_now(id).await?);
                }
            }
            Ok(models)
        })
        .await
    }

    /// What `bulk_start` of `ids` would do now under `--max-running`, without starting or
    /// stopping anything: the page asks before a selection would stop other models or itself.
    pub async fn bulk_start_plan(&self, ids: Vec<i64>) -> Result<BulkStartPlan, AppError> {
        let ids = self.existing_ids(ids).await?;
        let mut selected = Vec::with_capacity(ids.len());
        for id in ids {
            let model = self.registry().get_model(id).await?;
            selected.push(Selected {
                id,
                name: model.spec.name,
                active: model.status.is_active(),
            });
        }
        let busy = self.inner.demand.busy();
        let mut stoppable = Vec::new();
        for id in self.inner.handles.eviction_order(&busy) {
            if let Ok(model) = self.registry().get_model(id).await {
                stoppable.push((id, model.spec.name));
            }
        }
        let settings = self.settings();
        let used = self.inner.handles.len() + self.inner.places.reserved();
        Ok(plan_bulk_start(
            &selected,
            &stoppable,
            used,
            settings.max_running,
            settings.when_full == WhenFull::StopLeastRecent,
        ))
    }

    /// Stops every listed model at once and returns when all are down.
    pub async fn bulk_stop(&self, ids: Vec<i64>) -> Result<Vec<Model>, AppError> {
        let this = self.clone();
        self.detached(async move {
            let ids = this.existing_ids(ids).await?;
            let stops = ids.iter().map(|id| this.stop_now(*id));
            futures::future::join_all(stops).await.into_iter().collect()
        })
        .await
    }

    /// Restarts every listed model in turn (a stopped one is started); the first refusal ends
    /// the call with its error.
    pub async fn bulk_restart(&self, ids: Vec<i64>) -> Result<Vec<Model>, AppError> {
        let this = self.clone();
        self.detached(async move {
            let ids = this.existing_ids(ids).await?;
            let mut models = Vec::with_capacity(ids.len());
            for id in ids {
                models.push(this.restart_now(id).await?);
            }
            Ok(models)
        })
        .await
    }

    async fn existing_ids(&self, ids: Vec<i64>) -> Result<Vec<i64>, AppError> {
        let ids = distinct_ids(ids)?;
        for id in &ids {
            self.registry().get_model(*id).await?;
        }
        Ok(ids)
    }

    /// The last `lines` lines the model's processes logged, oldest first. After a restart of
    /// Corral, the tail kept with the model's last run.
    pub async fn logs(&self, id: i64, lines: usize) -> Result<Vec<LogLine>, AppError> {
        if !(1..=MAX_LOG_LINES).contains(&lines) {
            return Err(AppError::invalid(
                "lines",
                Rule::Range,
                format!("must be from 1 to {MAX_LOG_LINES}"),
            ));
        }
        self.registry().get_model(id).await?;
        let live = self.inner.hub.log_history(LogSource::Model(id), lines);
        if !live.is_empty() {
            return Ok(live);
        }
        let last = self.runs(id, Page::default()).await?.into_iter().next();
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

    /// A page of the model's runs, newest first: `limit` of them (20 by default), older than
    /// run `before` when given.
    pub async fn runs(&self, id: i64, page: Page) -> Result<Vec<Run>, AppError> {
        self.inner.runs.page(id, page).await
    }

    /// Requests queued and in flight, per model that holds any.
    pub fn demand(&self) -> Vec<ModelDemand> {
        self.inner.demand.all()
    }

    /// Holds a place for one gateway request to `model_id`, or refuses at the model's limit.
    pub fn queue_request(&self, model_id: i64, limit: u32) -> Result<Ticket, Refusal> {
        self.inner
            .demand
            .queue(model_id, limit)
            .ok_or(Refusal::Busy { limit })
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, (i64, String)>> {
        self.inner
            .gateway_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Why the model's last gateway start failed, if that was at or after `since`.
    fn gateway_failure(&self, id: i64, since: i64) -> Option<String> {
        self.failures()
            .get(&id)
            .filter(|(at, _)| *at >= since)
            .map(|(_, reason)| reason.clone())
    }

    /// Brings the ticket's model to `running` (starting it under the `--max-running` policy if
    /// no server exists, or joining a load under way) and puts the request in flight on it.
    /// Waits at most until `deadline`. A request for a running model never waits here.
    pub async fn serve_request(
        &self,
        ticket: &mut Ticket,
        deadline: tokio::time::Instant,
    ) -> Result<Upstream, Refusal> {
        self.serve(ticket, deadline, true).await
    }

    /// `serve_request` for a request that may not start its model (a GET any page could have
    /// sent): it joins a model that runs or is loading, and is refused by one that is not.
    pub async fn serve_if_up(
        &self,
        ticket: &mut Ticket,
        deadline: tokio::time::Instant,
    ) -> Result<Upstream, Refusal> {
        self.serve(ticket, deadline, false).await
    }

    async fn serve(
        &self,
        ticket: &mut Ticket,
        deadline: tokio::time::Instant,
        may_start: bool,
    ) -> Result<Upstream, Refusal> {
        let id = ticket.model_id();
        let arrived = now_ms();
        let mut started = false;
        let mut loading: Option<std::time::Duration> = None;
        loop {
            if let Some(handle) = self.inner.handles.get(id) {
                if handle.draining.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(Refusal::Stopping);
                }
                if *handle.ready.borrow() && !*handle.ended.borrow() {
                    ticket.enter(handle.last_used.clone());
                    return Ok(Upstream {
                        port: handle.port,
                        api_key: handle.api_key.clone(),
                        run_id: handle.run_id,
                        started,
                        load_ms: loading.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                    });
                }
                let mut ready = handle.ready.clone();
                let ended = handle.ended.clone();
                let waiting = std::time::Instant::now();
                let became_ready = tokio::select! {
                    _ = ready.wait_for(|r| *r) => true,
                    () = wait_ended(ended) => false,
                    () = tokio::time::sleep_until(deadline) => return Err(Refusal::Timeout),
                };
                *loading.get_or_insert_default() += waiting.elapsed();
                if became_ready {
                    continue;
                }
                // The run ended before it was ready: a failed load is this request's answer.
                let model = self.registry().get_model(id).await.map_err(Refusal::from)?;
                if model.status == ModelStatus::Error {
                    return Err(Refusal::StartFailed(reason_of(&model)));
                }
                continue;
            }
            if !may_start {
                return Err(Refusal::NotRunning);
            }
            let turn = tokio::time::timeout_at(deadline, self.inner.gateway_starts.lock(id));
            let Ok(_turn) = turn.await else {
                return Err(Refusal::Timeout);
            };
            if self.inner.handles.contains(id) {
                continue;
            }
            // A start that failed while this request waited for its turn is its answer too.
            if let Some(reason) = self.gateway_failure(id, arrived) {
                return Err(Refusal::StartFailed(reason));
            }
            let start = tokio::time::timeout_at(deadline, self.start_model(id)).await;
            match start {
                Err(_) => return Err(Refusal::Timeout),
                Ok(Ok(model)) if model.status == ModelStatus::Error => {
                    let reason = reason_of(&model);
                    self.failures().insert(id, (now_ms(), reason.clone()));
                    return Err(Refusal::StartFailed(reason));
                }
                Ok(Ok(_)) => {
                    started = true;
                    if let Some(handle) = self.inner.handles.get(id) {
                        handle
                            .on_demand
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                // Someone else's start got there first: join it.
                Ok(Err(AppError::Conflict { .. })) if self.inner.handles.contains(id) => {}
                Ok(Err(error)) => return Err(Refusal::from(error)),
            }
        }
    }

    /// The key a model's running server answers to, for Corral's own requests to it.
    pub fn api_key(&self, id: i64) -> Option<Arc<str>> {
        self.inner.handles.get(id).and_then(|h| h.api_key)
    }

    /// The ids of the models with a live run, for tests and diagnostics.
    pub fn live_runs(&self) -> Vec<i64> {
        self.inner.handles.ids()
    }

    /// What starting the model would run (the same plan a start builds, with the port still to
    /// be chosen), and anything that stands in the way.
    pub async fn preview(&self, id: i64) -> Result<LaunchPreview, AppError> {
        let detail = self.registry().model_detail(id).await?;
        let config = ModelConfig::from_groups(detail.groups);
        let binary = self.binary_in_use();
        let caps = match &binary {
            Err(message) => Err(message.clone()),
            Ok(binary) => capabilities::of(binary).await,
        };
        let program = binary.unwrap_or_else(|_| PathBuf::from("llama-server"));
        let plan = LaunchPlan::build(
            &program,
            &detail.model,
            &config,
            caps.as_deref().ok(),
            Port::NotYetChosen,
            &self.settings().corral_origin,
        );
        let (unsupported, problem) = match &caps {
            Err(message) => (Vec::new(), Some(message.clone())),
            Ok(caps) => {
                let unsupported = caps.unsupported(&args::plan(&detail.model, &config));
                let problem = match args::check_extra(&config.advanced.extra_args, caps) {
                    Err(errors) => Some(format!(
                        "extra arguments: {}",
                        errors
                            .iter()
                            .map(|e| e.message.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )),
                    Ok(()) if !unsupported.is_empty() => {
                        Some("the installed llama-server cannot express some settings".to_string())
                    }
                    Ok(()) => None,
                };
                (unsupported, problem)
            }
        };
        Ok(LaunchPreview {
            program: self
                .binary_in_use()
                .is_ok()
                .then(|| plan.program.display().to_string()),
            args: plan.args,
            unsupported,
            problem,
        })
    }

    /// Stops every run (Corral is shutting down) and waits for all of them.
    pub async fn shutdown(&self) {
        let waits: Vec<_> = self
            .inner
            .handles
            .ids()
            .into_iter()
            .filter_map(|id| self.inner.handles.request_stop(id))
            .collect();
        futures::future::join_all(waits.into_iter().map(wait_ended)).await;
    }

    /// For start-up reconciling: the runs store and the status authority.
    fn runs_store(&self) -> &RunsStore {
        &self.inner.runs
    }
}

/// What a new run holds and how it is served: the place its start reserved, and its
/// `serving` group's pinning and idle TTL.
struct Terms {
    place: Reservation,
    pinned: bool,
    idle_ttl: Duration,
    /// The command the run recorded ("Restart to apply" compares the saved settings with it).
    command: Arc<[String]>,
}

fn reason_of(model: &Model) -> String {
    model
        .status_reason
        .clone()
        .unwrap_or_else(|| format!("model '{}' could not be started", model.spec.name))
}

/// Where a request in flight goes: the run's port, and the key it answers to.
#[derive(Debug, Clone)]
pub struct Upstream {
    pub port: u16,
    pub api_key: Option<Arc<str>>,
    pub run_id: i64,
    /// This request started the model.
    pub started: bool,
    /// How long this request waited for the model to load (`None`: it was running).
    pub load_ms: Option<i64>,
}

/// Why a gateway request was not put in flight.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The model already holds its limit of requests.
    Busy { limit: u32 },
    /// The model is being stopped: its requests in flight finish, new ones are refused.
    Stopping,
    /// The model was not ready before the request's queue deadline.
    Timeout,
    /// The start failed; the classified reason and fix.
    StartFailed(String),
    /// The model is not running and this request may not start it.
    NotRunning,
    /// Anything else that stood in the way (no room, no llama-server, bad settings).
    Other(AppError),
}

impl From<AppError> for Refusal {
    fn from(error: AppError) -> Self {
        Refusal::Other(error)
    }
}

fn already(model: &Model) -> AppError {
    AppError::Conflict {
        field: "status".into(),
        message: format!("model '{}' is already {}", model.spec.name, model.status),
    }
}

fn full(max: usize, model: &Model) -> AppError {
    AppError::Conflict {
        field: "status".into(),
        message: format!(
            "{max} model(s) already running, the most Corral is set to run at once; stop one \
             before starting '{}'",
            model.spec.name
        ),
    }
}

fn no_room(model: &Model) -> AppError {
    AppError::Conflict {
        field: "status".into(),
        message: format!(
            "could not make room for '{}': other starts hold every place; try again",
            model.spec.name
        ),
    }
}
