//! Running models: one real `llama-server` process per started model, from spawn to exit.
//!
//! The supervisor decides (start, stop, make room); one task per run drives the process through
//! the state machine (`run_task.rs`); every status change goes through the registry, so the
//! database, the API and every tab agree.

pub mod args;
pub mod capabilities;
pub mod child_env;
pub mod classify;
pub mod file_rules;
pub mod http_probe;
pub mod line_reader;
pub mod locate;
pub mod ports;
pub mod reconcile;
mod run_task;
pub mod scrape;
pub mod settings;
pub mod spawn;
pub mod state_machine;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::domain::live::ServerEvent;
use crate::domain::page::Page;
use crate::domain::run::{FailureReason, LaunchPreview, LiveRun, LogLine, LogStream, Run};
use crate::domain::{AppError, FieldError, Model, ModelStatus, Rule};
use crate::server::db::runs_repo;
use crate::server::gguf::magic::FileCheck;
use crate::server::now_ms;
use crate::server::registry::{Registry, distinct_ids};
use crate::server::supervisor::args::ModelConfig;
use crate::server::supervisor::settings::{SupervisorSettings, WhenFull};
use crate::server::supervisor::spawn::{SpawnRequest, Spawner, signal_group};

/// Most log lines one `/api/models/logs` call returns.
pub const MAX_LOG_LINES: usize = 2000;

#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    settings: SupervisorSettings,
    binary: Result<PathBuf, String>,
    spawner: Spawner,
    runs: Mutex<HashMap<i64, RunHandle>>,
    /// Held while deciding a start or a stop, so two requests cannot both start one model.
    lifecycle: tokio::sync::Mutex<()>,
}

/// What the supervisor keeps of a live run; the run task holds the process.
#[derive(Clone)]
struct RunHandle {
    run_id: i64,
    port: u16,
    stop: Arc<watch::Sender<bool>>,
    ended: watch::Receiver<bool>,
    /// Unix milliseconds of the last sign of use, for least-recently-used stops.
    last_used: Arc<AtomicI64>,
    /// The key the server answers to (`None` for a server adopted from a Corral without keys).
    api_key: Option<Arc<str>>,
}

/// Removes a run handle that was registered for a start that then failed, whatever way it
/// failed (an error, or the request being dropped): a handle without a run task behind it would
/// count against `--max-running` for ever.
struct HandleGuard<'a> {
    supervisor: &'a Supervisor,
    model_id: i64,
    run_id: i64,
    armed: bool,
}

impl Drop for HandleGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.supervisor.forget_run(self.model_id, self.run_id);
        }
    }
}

impl Supervisor {
    /// Finds llama-server, starts the spawner thread and reconciles runs left by an earlier Corral.
    pub async fn start(
        registry: Registry,
        settings: SupervisorSettings,
    ) -> Result<Supervisor, AppError> {
        let path_var = std::env::var_os("PATH");
        let binary = locate::find(settings.llama_server.as_deref(), path_var.as_deref());
        let spawner = Spawner::new().map_err(AppError::internal)?;
        let supervisor = Supervisor {
            inner: Arc::new(Inner {
                registry,
                settings,
                binary,
                spawner,
                runs: Mutex::new(HashMap::new()),
                lifecycle: tokio::sync::Mutex::new(()),
            }),
        };
        let hub = supervisor.registry().hub();
        let mut status = hub.snapshot().server;
        status.llama_server = supervisor
            .inner
            .binary
            .as_ref()
            .ok()
            .map(|p| p.display().to_string());
        hub.publish(ServerEvent::ServerStatus(status));
        reconcile::reconcile(&supervisor).await?;
        Ok(supervisor)
    }

    fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub fn settings(&self) -> &SupervisorSettings {
        &self.inner.settings
    }

    fn binary(&self) -> Result<PathBuf, AppError> {
        self.inner
            .binary
            .clone()
            .map_err(|message| AppError::Unavailable { message })
    }

    fn handles(&self) -> std::sync::MutexGuard<'_, HashMap<i64, RunHandle>> {
        self.inner.runs.lock().unwrap_or_else(|p| p.into_inner())
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
        // FIFO must not hold up other models' starts and stops.
        let detail = self.registry().model_detail(id).await?;
        if detail.model.status.is_active() {
            return Err(already(&detail.model));
        }
        let config = ModelConfig::from_groups(detail.groups);
        let binary = self.binary()?;
        let (args, caps) = self.checked_args(&binary, &detail.model, &config).await?;
        let files = file_rules::check_all(file_rules::named_files(&detail.model, &config)).await;
        let refused = file_rules::refusals(&files);
        if !refused.is_empty() {
            return Err(AppError::Invalid { errors: refused });
        }
        let model_file = files.first().and_then(|c| c.check);
        let _deciding = self.inner.lifecycle.lock().await;
        self.start_locked(detail.model.id, binary, args, caps, model_file)
            .await
    }

    async fn start_locked(
        &self,
        id: i64,
        binary: PathBuf,
        args: Vec<OsString>,
        caps: Arc<capabilities::Capabilities>,
        model_file: Option<FileCheck>,
    ) -> Result<Model, AppError> {
        // Read again under the lock: it may have been deleted or started meanwhile.
        let model = self.registry().get_model(id).await?;
        if model.status.is_active() || self.handles().contains_key(&id) {
            return Err(already(&model));
        }
        let program = binary.display().to_string();
        let mut command: Vec<String> = std::iter::once(program.clone())
            .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect();
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
            return self.fail_before_spawn(id, &command, reason, &detail).await;
        }
        // Only now, when this start can go ahead, is another model stopped for it.
        self.make_room(&model).await?;
        let ours: HashSet<u16> = self.handles().values().map(|h| h.port).collect();
        let range = self.settings().ports.clone();
        let Some(port) = ports::pick_free(range.clone(), &ours) else {
            let detail = format!(
                "every port from {} to {} is in use",
                range.start(),
                range.end()
            );
            return self
                .fail_before_spawn(id, &command, FailureReason::PortInUse, &detail)
                .await;
        };
        // Last, so they win over anything else: always loopback, always ours, answering only
        // Corral (the key is in the environment, not on the command line others can read).
        let mut args = args;
        let own = self.own_args(&port.to_string(), Some(&caps));
        args.extend(own.iter().map(OsString::from));
        command.extend(own);
        let api_key = child_env::new_key()?;
        let child = match self
            .inner
            .spawner
            .spawn(SpawnRequest {
                program: binary,
                args,
                env: child_env::for_run(std::env::vars_os(), &api_key),
            })
            .await
        {
            Ok(child) => child,
            Err(error) => {
                let detail = format!("cannot start {program}: {error}");
                return self
                    .fail_before_spawn(id, &command, FailureReason::Other, &detail)
                    .await;
            }
        };
        let pid = child.id().unwrap_or(0);
        let started_at = now_ms();
        let recorded = command.clone();
        let keep = self.registry().db().retention().runs_per_model;
        let run_id = self
            .registry()
            .db()
            .call(move |conn| {
                let run_id = runs_repo::insert(conn, id, pid, port, &recorded, started_at)?;
                runs_repo::prune(conn, id, keep)?;
                Ok(run_id)
            })
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
        };
        self.supervise(
            live,
            run_task::Process::Child(child),
            Vec::new(),
            Some(api_key.into()),
        )
        .await
    }

    /// The arguments Corral always adds: where to listen, numbers for the scraper, and no
    /// cross-origin access for web pages (only Corral's own origin, without credentials).
    fn own_args(&self, port: &str, caps: Option<&capabilities::Capabilities>) -> Vec<String> {
        let mut own = vec![
            "--host".to_string(),
            "127.0.0.1".to_string(),
            "--port".to_string(),
            port.to_string(),
        ];
        let Some(caps) = caps else {
            return own;
        };
        if caps.has("--metrics") {
            own.push("--metrics".into());
        }
        if caps.has("--cors-origins") {
            own.push("--cors-origins".into());
            own.push(self.settings().corral_origin.clone());
        }
        if caps.has("--no-cors-credentials") {
            own.push("--no-cors-credentials".into());
        }
        own
    }

    /// Supervises a server an earlier Corral started (found alive at start-up) as if it were
    /// its own: health, numbers, stop. Its earlier output is gone; the run keeps its record.
    async fn adopt(&self, run: Run, pid: u32) -> Result<(), AppError> {
        self.registry().hub().log(
            run.model_id,
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
        };
        let api_key = child_env::key_of(pid).map(Arc::from);
        self.supervise(
            live,
            run_task::Process::Adopted { pid },
            run.log_tail,
            api_key,
        )
        .await
        .map(drop)
    }

    /// Takes a live process under supervision: records its handle, marks the model loading,
    /// tells every tab, and hands the process to its run task. If the model cannot be marked
    /// (it was deleted, the database fails), the process is killed and the handle removed.
    async fn supervise(
        &self,
        live: LiveRun,
        mut process: run_task::Process,
        tail: Vec<String>,
        api_key: Option<Arc<str>>,
    ) -> Result<Model, AppError> {
        let (stop, stop_rx) = watch::channel(false);
        let (ended_tx, ended) = watch::channel(false);
        let last_used = Arc::new(AtomicI64::new(now_ms()));
        self.handles().insert(
            live.model_id,
            RunHandle {
                run_id: live.run_id,
                port: live.port,
                stop: Arc::new(stop),
                ended,
                last_used: last_used.clone(),
                api_key: api_key.clone(),
            },
        );
        let mut guard = HandleGuard {
            supervisor: self,
            model_id: live.model_id,
            run_id: live.run_id,
            armed: true,
        };
        let model = match self
            .registry()
            .set_status(live.model_id, ModelStatus::Loading, None)
            .await
        {
            Ok(model) => model,
            Err(error) => {
                self.abandon(&live, &mut process, &error).await;
                return Err(error);
            }
        };
        self.registry()
            .hub()
            .publish(ServerEvent::RunUpdated(live.clone()));
        tokio::spawn(run_task::drive(run_task::RunContext {
            supervisor: self.clone(),
            live,
            size_bytes: model.size_bytes,
            process,
            tail,
            stop: stop_rx,
            ended: ended_tx,
            last_used,
            api_key,
        }));
        // From here the run task owns the handle and removes it when the process is gone.
        guard.armed = false;
        Ok(model)
    }

    /// A process that cannot be supervised is killed, waited for and its run closed.
    async fn abandon(&self, live: &LiveRun, process: &mut run_task::Process, error: &AppError) {
        tracing::warn!(model_id = live.model_id, pid = live.pid, %error, "cannot supervise a new server: killing it");
        if let Err(kill_error) = signal_group(live.pid, libc::SIGKILL) {
            tracing::warn!(pid = live.pid, %kill_error, "cannot kill an unsupervised server");
        }
        let exit = tokio::time::timeout(std::time::Duration::from_secs(5), process.wait()).await;
        let ending = runs_repo::Ending {
            at: now_ms(),
            exit_code: exit.ok().and_then(|e| e.code),
            message: Some(format!("stopped at once: {error}")),
            ..runs_repo::Ending::default()
        };
        let run_id = live.run_id;
        let closed = self
            .registry()
            .db()
            .call(move |conn| Ok(runs_repo::finish(conn, run_id, &ending)?))
            .await;
        if let Err(error) = closed {
            tracing::warn!(run_id, %error, "cannot record the end of an abandoned run");
        }
    }

    /// The argument list, after checking every setting has a flag in the installed build.
    async fn checked_args(
        &self,
        binary: &std::path::Path,
        model: &Model,
        config: &ModelConfig,
    ) -> Result<(Vec<OsString>, Arc<capabilities::Capabilities>), AppError> {
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
        Ok((args::argv(model, config), caps))
    }

    /// Records a start that failed before any process existed, and shows it on the model.
    async fn fail_before_spawn(
        &self,
        id: i64,
        command: &[String],
        reason: FailureReason,
        detail: &str,
    ) -> Result<Model, AppError> {
        let message = format!("{} ({detail})", reason.advice());
        let (command, recorded) = (command.to_vec(), message.clone());
        let keep = self.registry().db().retention().runs_per_model;
        self.registry()
            .db()
            .call(move |conn| {
                runs_repo::insert_failed(conn, id, &command, now_ms(), reason, &recorded)?;
                Ok(runs_repo::prune(conn, id, keep)?)
            })
            .await?;
        self.registry()
            .set_status(id, ModelStatus::Error, Some(message))
            .await
    }

    /// Keeps the number of running models within the setting: refuses, or stops the least
    /// recently used one first. Gives up with an error after one try per running model, so a
    /// stop that does not free a place can never turn into a loop.
    async fn make_room(&self, model: &Model) -> Result<(), AppError> {
        let max = self.settings().max_running.max(1);
        let tries = self.handles().len() + 1;
        for _ in 0..tries {
            let oldest = {
                let handles = self.handles();
                if handles.len() < max {
                    return Ok(());
                }
                handles
                    .iter()
                    .min_by_key(|(_, h)| h.last_used.load(Ordering::Relaxed))
                    .map(|(id, h)| (*id, h.run_id))
            };
            match (self.settings().when_full, oldest) {
                (WhenFull::StopLeastRecent, Some((oldest, run_id))) => {
                    tracing::info!(
                        stopping = oldest,
                        starting = model.id,
                        "at the running-model limit: stopping the least recently used"
                    );
                    if let Some(ended) = self.request_stop(oldest) {
                        wait_ended(ended).await;
                    }
                    // A run that ended but is still listed has no task left to remove it.
                    if self
                        .handles()
                        .get(&oldest)
                        .is_some_and(|h| h.run_id == run_id)
                    {
                        tracing::error!(model_id = oldest, run_id, "removing a stale run handle");
                        self.forget_run(oldest, run_id);
                    }
                }
                _ => return Err(self.full(max, model)),
            }
        }
        Err(AppError::Conflict {
            field: "status".into(),
            message: format!(
                "could not make room for '{}': stopping other models did not free a place",
                model.spec.name
            ),
        })
    }

    fn full(&self, max: usize, model: &Model) -> AppError {
        AppError::Conflict {
            field: "status".into(),
            message: format!(
                "{max} model(s) already running, the most Corral is set to run at once; stop one \
                 before starting '{}'",
                model.spec.name
            ),
        }
    }

    /// Asks a live run to stop; returns what to wait on, or `None` when nothing runs.
    fn request_stop(&self, id: i64) -> Option<watch::Receiver<bool>> {
        let handle = self.handles().get(&id).cloned()?;
        handle.stop.send_replace(true);
        Some(handle.ended)
    }

    /// Stops the model's server (SIGTERM, then SIGKILL after the grace period) and returns once
    /// the process is gone. Stopping a model that does not run clears an error status.
    pub async fn stop_model(&self, id: i64) -> Result<Model, AppError> {
        let this = self.clone();
        self.detached(async move { this.stop_now(id).await }).await
    }

    async fn stop_now(&self, id: i64) -> Result<Model, AppError> {
        let ended = {
            let _deciding = self.inner.lifecycle.lock().await;
            let model = self.registry().get_model(id).await?;
            match self.request_stop(id) {
                Some(ended) => Some(ended),
                None if model.status != ModelStatus::Stopped => {
                    return self
                        .registry()
                        .set_status(id, ModelStatus::Stopped, None)
                        .await;
                }
                None => return Ok(model),
            }
        };
        if let Some(ended) = ended {
            wait_ended(ended).await;
        }
        self.registry().get_model(id).await
    }

    pub async fn restart_model(&self, id: i64) -> Result<Model, AppError> {
        let this = self.clone();
        self.detached(async move {
            this.stop_now(id).await?;
            this.start_now(id).await
        })
        .await
    }

    /// Deletes the models, or none if any is missing or running. Decided under the same lock as
    /// starts and stops, so a delete can never race a start of the same model.
    pub async fn delete_models(&self, ids: Vec<i64>) -> Result<Vec<i64>, AppError> {
        let this = self.clone();
        self.detached(async move {
            let _deciding = this.inner.lifecycle.lock().await;
            let live: Vec<i64> = {
                let handles = this.handles();
                ids.iter()
                    .copied()
                    .filter(|id| handles.contains_key(id))
                    .collect()
            };
            if let Some(id) = live.first() {
                let model = this.registry().get_model(*id).await?;
                return Err(AppError::Conflict {
                    field: "status".into(),
                    message: format!(
                        "model '{}' has a server running; stop it before deleting it",
                        model.spec.name
                    ),
                });
            }
            this.registry().bulk_delete(ids).await
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
        let live = self.registry().hub().log_history(id, lines);
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
                    model_id: id,
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
        let limit = page.limit()?;
        self.registry()
            .db()
            .call(move |conn| {
                if crate::server::db::models_repo::get(conn, id)?.is_none() {
                    return Err(AppError::not_found("model", id));
                }
                Ok(runs_repo::for_model(conn, id, limit, page.before)?)
            })
            .await
    }

    /// The key a model's running server answers to, for Corral's own requests to it.
    pub fn api_key(&self, id: i64) -> Option<Arc<str>> {
        self.handles().get(&id).and_then(|h| h.api_key.clone())
    }

    /// The ids of the models with a live run, for tests and diagnostics.
    pub fn live_runs(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.handles().keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// What starting the model would run, and anything that stands in the way.
    pub async fn preview(&self, id: i64) -> Result<LaunchPreview, AppError> {
        let detail = self.registry().model_detail(id).await?;
        let config = ModelConfig::from_groups(detail.groups);
        let plan = args::plan(&detail.model, &config);
        let mut args: Vec<String> = args::argv(&detail.model, &config)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let caps = match &self.inner.binary {
            Err(message) => Err(message.clone()),
            Ok(binary) => capabilities::of(binary).await,
        };
        args.extend(self.own_args("<port>", caps.as_deref().ok()));
        let program = self
            .inner
            .binary
            .as_ref()
            .ok()
            .map(|b| b.display().to_string());
        let (unsupported, problem) = match &caps {
            Err(message) => (Vec::new(), Some(message.clone())),
            Ok(caps) => {
                let unsupported = caps.unsupported(&plan);
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
            program,
            args,
            unsupported,
            problem,
        })
    }

    /// Stops every run (Corral is shutting down) and waits for all of them.
    pub async fn shutdown(&self) {
        let ids: Vec<i64> = self.handles().keys().copied().collect();
        let waits: Vec<_> = ids.iter().filter_map(|id| self.request_stop(*id)).collect();
        futures::future::join_all(waits.into_iter().map(wait_ended)).await;
    }

    /// Called by a run task when its process is gone and recorded.
    fn forget_run(&self, model_id: i64, run_id: i64) {
        let mut handles = self.handles();
        if handles.get(&model_id).is_some_and(|h| h.run_id == run_id) {
            handles.remove(&model_id);
        }
    }
}

fn already(model: &Model) -> AppError {
    AppError::Conflict {
        field: "status".into(),
        message: format!("model '{}' is already {}", model.spec.name, model.status),
    }
}

async fn wait_ended(mut ended: watch::Receiver<bool>) {
    // An error means the run task is gone, which also means the run ended.
    let _ = ended.wait_for(|done| *done).await;
}
