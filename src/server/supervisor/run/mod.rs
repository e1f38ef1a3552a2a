//! One run of a model server: spawning it (`spawn.rs`, with its environment and home from
//! `prepare/child_env.rs`), its handle (in `run_handles.rs`), the task that drives it phase by phase
//! (`task.rs`: output, health, numbers, stop), how its end is classified (`classify.rs`), and
//! what start-up does with runs an earlier Corral left (`reconcile.rs`, as decisions).

pub mod classify;

pub mod http_probe;
pub mod line_reader;
pub mod reconcile;
pub mod scrape;
pub mod spawn;
mod task;

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use tokio::sync::watch;

use crate::domain::config::serving::ServingConfig;
use crate::domain::live::ServerEvent;
use crate::domain::restart_rule::RunEnd;
use crate::domain::run::{FailureReason, LiveRun, LogSource, LogStream, Run};
use crate::domain::{AppError, Model, StatusEvent};
use crate::server::db::runs_repo::Ending;
use crate::server::live::Hub;
use crate::server::metrics::history::MetricsHistory;
use crate::server::now_ms;
use crate::server::supervisor::admission::eviction::Victim;
use crate::server::supervisor::admission::places::{Decision, Promise, Reservation};
use crate::server::supervisor::admission::{Admission, Admitted, Stopper};
use crate::server::supervisor::kept_kv::{KvRun, KvStore};
use crate::server::supervisor::ledger::{Ended, RunLedger, Spawned};
use crate::server::supervisor::prepare::Prepared;
use crate::server::supervisor::prepare::memory_need::Need;
use crate::server::supervisor::prepare::{child_env, launch};
use crate::server::supervisor::restart_on_failure::FailureNotices;
use crate::server::supervisor::run_handles::{HandleGuard, RunHandle, RunHandles, wait_ended};
use crate::server::supervisor::settings::SupervisorSettings;
use reconcile::Leftover;
use spawn::{SpawnRequest, Spawner, signal_group};

/// What runs model servers: the spawner thread, the runs' homes, their handles, and what each
/// run task is handed (the ledger, the metrics history, the hub, admission's places and
/// requests).
pub struct Runner {
    pub handles: RunHandles,
    spawner: Spawner,
    homes: child_env::ChildHomes,
    ledger: RunLedger,
    history: MetricsHistory,
    hub: Hub,
    admission: Admission,
    /// Told of each run that ends with a failure (restart on crash).
    failures: FailureNotices,
    kv: KvStore,
}

/// How a new run is served: its `serving` group's pinning and idle TTL, and the command it
/// recorded ("Restart to apply" compares the saved settings with it).
struct Terms {
    place: Reservation,
    /// The memory admission promised the start, kept until the server has loaded.
    promise: Option<Promise>,
    pinned: bool,
    idle_ttl: Duration,
    command: Arc<[String]>,
    settings: Arc<SupervisorSettings>,
    /// The memory the start was admitted with, raised when it runs out while loading.
    need: Option<Need>,
    /// llama-server sleeps when idle: Corral does not stop it for being idle.
    sleeps: bool,
    /// Its KV cache is kept across stops (`serving.keep_kv`).
    kv: Option<KvRun>,
}

impl Terms {
    /// A new run's terms from the model's serving settings: an idle model is stopped after its
    /// own idle time, else the global one, unless llama-server sleeps it instead (its command
    /// says so).
    fn of(
        serving: &ServingConfig,
        place: Reservation,
        command: Arc<[String]>,
        settings: Arc<SupervisorSettings>,
        need: Option<Need>,
    ) -> Terms {
        let sleeps = launch::sleeps(&command);
        let idle_ttl = match serving.idle_ttl_seconds {
            _ if sleeps => Duration::ZERO,
            Some(seconds) => Duration::from_secs(seconds.max(0) as u64),
            None => settings.idle_ttl,
        };
        Terms {
            place,
            promise: None,
            pinned: serving.pinned(),
            idle_ttl,
            command,
            settings,
            need,
            sleeps,
            kv: None,
        }
    }
}

/// A live process and what it starts with.
struct Taken {
    live: LiveRun,
    process: task::Process,
    tail: Vec<String>,
    api_key: Option<Arc<str>>,
    size_bytes: Option<u64>,
}

impl Runner {
    pub fn new(
        ledger: RunLedger,
        history: MetricsHistory,
        hub: Hub,
        admission: Admission,
        handles: RunHandles,
        failures: FailureNotices,
        kv: KvStore,
    ) -> Result<Runner, AppError> {
        Ok(Runner {
            handles,
            spawner: Spawner::new().map_err(AppError::internal)?,
            homes: child_env::ChildHomes::create().map_err(AppError::internal)?,
            ledger,
            history,
            hub,
            admission,
            failures,
            kv,
        })
    }

    /// Spawns a prepared start on its admitted port, records it (run row and
    /// `loading` in one transaction) and hands it to its run task. A spawn that fails is
    /// recorded as a failed start and answered with the model in `error`.
    #[expect(
        clippy::too_many_lines,
        reason = "one sequence read top to bottom: launch, spawn, record, hand over; each \
                  step's values flow to the next"
    )]
    pub async fn start(
        &self,
        prepared: Prepared,
        admitted: Admitted,
        settings: Arc<SupervisorSettings>,
    ) -> Result<Model, AppError> {
        let Admitted {
            place,
            port,
            promise,
        } = admitted;
        let model = prepared.model.clone();
        let id = model.id;
        let home = self.homes.fresh(id).map_err(|e| {
            AppError::internal(format!("cannot make the model server's home folder: {e}"))
        })?;
        let (typical_load_ms, need) = (prepared.typical_load_ms, prepared.need.clone());
        let serving = prepared.config.serving.clone();
        let binary = prepared.binary.clone();
        let launch = prepared.launch(&model, port, &home)?;
        let kv = self
            .keep_kv(&serving, &model, &launch.command, &binary)
            .await?;
        // The key goes in the environment, not on the command line others can read.
        let api_key = child_env::new_key()?;
        let spawned = self
            .spawner
            .spawn(SpawnRequest {
                env: child_env::for_run(std::env::vars_os(), &home, &api_key, launch.plan.env),
                program: launch.plan.program,
                args: launch.plan.args,
                files: launch.files,
            })
            .await;
        let command = launch.command;
        let child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let detail = format!("cannot start {}: {error}", binary.display());
                return self
                    .failed_before_spawn(id, command, FailureReason::Other, detail)
                    .await;
            }
        };
        let pid = child.id().unwrap_or(0);
        let started_at = now_ms();
        let recorded: Arc<[String]> = command.clone().into();
        let mut process = task::Process::Child(child);
        let spawn = Spawned {
            model_id: id,
            pid,
            port,
            command,
            at: started_at,
        };
        let (run_id, model) = match self.ledger.spawned(spawn).await {
            Ok(recorded) => recorded,
            Err(error) => {
                abandon(id, pid, &mut process, &error).await;
                return Err(error);
            }
        };
        let taken = Taken {
            live: LiveRun {
                model_id: id,
                run_id,
                pid,
                port,
                started_at,
                ready_at: None,
                stage: None,
                sample: None,
                typical_load_ms,
                asleep: false,
                wake_ms: None,
                kv_restore: None,
            },
            process,
            tail: Vec::new(),
            api_key: Some(api_key.into()),
            size_bytes: model.size_bytes,
        };
        let terms = Terms {
            kv,
            promise,
            ..Terms::of(&serving, place, recorded, settings, need)
        };
        self.supervise(taken, terms);
        Ok(model)
    }

    /// A run that keeps its KV cache gets its folder (made now) and what a save must match; a
    /// model that no longer keeps one loses what an earlier run kept.
    async fn keep_kv(
        &self,
        serving: &ServingConfig,
        model: &Model,
        command: &[String],
        binary: &std::path::Path,
    ) -> Result<Option<KvRun>, AppError> {
        if !serving.keep_kv() || !command.iter().any(|arg| arg == "--slot-save-path") {
            if tokio::fs::try_exists(self.kv.dir(model.id))
                .await
                .unwrap_or(false)
            {
                self.kv.forget(model.id).await;
            }
            return Ok(None);
        }
        self.kv.make_dir(model.id).map_err(|e| {
            AppError::internal(format!("cannot make the model's KV cache folder: {e}"))
        })?;
        let fingerprint =
            crate::server::supervisor::prepare::kv_fingerprint(command.to_vec(), binary, model)
                .await;
        Ok(Some(KvRun {
            store: self.kv.clone(),
            model_id: model.id,
            fingerprint,
        }))
    }

    /// Records a start that failed before any process existed (run row and `error` together).
    pub async fn failed_before_spawn(
        &self,
        id: i64,
        command: Vec<String>,
        reason: FailureReason,
        detail: String,
    ) -> Result<Model, AppError> {
        let message = format!(
            "{}: {} ({detail})",
            RunEnd::FailedToStart.label(),
            reason.advice()
        );
        self.ledger
            .failed_before_spawn(id, command, reason, message)
            .await
    }

    /// Adopts or closes every run an earlier Corral left, as `reconcile` decides, and clears
    /// every other model still marked active.
    pub async fn take_over_leftovers(
        &self,
        alive: Vec<Run>,
        active: Vec<i64>,
        settings: Arc<SupervisorSettings>,
    ) -> Result<(), AppError> {
        let mut adopted = Vec::new();
        let mut closed = Vec::new();
        for leftover in reconcile::decide(alive, settings.leftovers) {
            let message = leftover.message();
            let run = match leftover {
                Leftover::Adopt { run, pid } => {
                    tracing::info!(
                        model_id = run.model_id,
                        pid,
                        "adopting a llama-server left by an earlier Corral"
                    );
                    adopted.push(run.model_id);
                    self.adopt(run, pid, settings.clone()).await?;
                    continue;
                }
                Leftover::Stop { run, pid } => {
                    tracing::warn!(
                        model_id = run.model_id,
                        pid,
                        "a llama-server from an earlier Corral is still running: stopping it"
                    );
                    reconcile::stop_leftover(pid, settings.stop_grace).await;
                    run
                }
                Leftover::Close(run) => run,
            };
            let keep_status = adopted.contains(&run.model_id) || closed.contains(&run.model_id);
            closed.push(run.model_id);
            self.close_leftover(run, message, keep_status).await?;
        }
        for id in active
            .into_iter()
            .filter(|id| !adopted.contains(id) && !closed.contains(id))
        {
            self.ledger.apply(id, StatusEvent::NoProcess, None).await?;
        }
        Ok(())
    }

    /// Supervises a server an earlier Corral started (found alive at start-up) as if it were
    /// its own: health, numbers, stop. Its earlier output is gone; the run keeps its record.
    async fn adopt(
        &self,
        run: Run,
        pid: u32,
        settings: Arc<SupervisorSettings>,
    ) -> Result<(), AppError> {
        self.hub.log(
            LogSource::Model(run.model_id),
            run.id,
            LogStream::Stderr,
            "corral: adopted this server from an earlier Corral; its earlier output is not available",
        );
        let place = match self.admission.places().decide(
            run.model_id,
            usize::MAX,
            &self.handles,
            false,
            &Default::default(),
        ) {
            Decision::Reserved(place) => place,
            _ => return Err(AppError::internal("no place for an adopted server")),
        };
        let model = self
            .ledger
            .apply(run.model_id, StatusEvent::Adopted, None)
            .await?;
        let taken = Taken {
            live: LiveRun {
                model_id: run.model_id,
                run_id: run.id,
                pid,
                port: run.port,
                started_at: run.started_at,
                ready_at: None,
                stage: Some("adopted from an earlier Corral".into()),
                sample: None,
                typical_load_ms: None,
                asleep: false,
                wake_ms: None,
                kv_restore: None,
            },
            process: task::Process::Adopted { pid },
            tail: run.log_tail,
            api_key: child_env::key_of(pid).map(Arc::from),
            size_bytes: model.size_bytes,
        };
        // A server that sleeps by itself is not stopped for being idle.
        let sleeps = launch::sleeps(&run.command);
        let terms = Terms {
            place,
            promise: None,
            pinned: false,
            idle_ttl: if sleeps {
                Duration::ZERO
            } else {
                settings.idle_ttl
            },
            sleeps,
            command: run.command.into(),
            settings,
            need: None,
            kv: None,
        };
        self.supervise(taken, terms);
        Ok(())
    }

    /// Closes a run an earlier Corral left (its process gone, or stopped at start-up), and
    /// clears its model's status unless `keep_status` (another run of it was adopted).
    async fn close_leftover(
        &self,
        run: Run,
        message: &str,
        keep_status: bool,
    ) -> Result<(), AppError> {
        let ending = Ending {
            at: now_ms(),
            message: Some(message.to_string()),
            log_tail: run.log_tail,
            ..Ending::default()
        };
        self.ledger
            .ended(Ended {
                model_id: run.model_id,
                run_id: run.id,
                ending,
                event: (!keep_status).then_some(StatusEvent::NoProcess),
                reason: None,
            })
            .await
    }

    /// Records the run's handle (which then holds the place the start reserved), tells every
    /// tab, and hands the process to its run task, which removes the handle when it ends.
    fn supervise(&self, taken: Taken, terms: Terms) {
        let Taken {
            live,
            process,
            tail,
            api_key,
            size_bytes,
        } = taken;
        let (stop, stop_rx) = watch::channel(false);
        let (ended_tx, ended) = watch::channel(false);
        let (ready_tx, ready) = watch::channel(false);
        let (awake_tx, awake) = watch::channel(true);
        let wake = Arc::new(tokio::sync::Notify::new());
        let last_used = Arc::new(AtomicI64::new(now_ms()));
        self.handles.insert(
            live.model_id,
            RunHandle {
                run_id: live.run_id,
                pid: live.pid,
                port: live.port,
                stop: Arc::new(stop),
                ended,
                last_used: last_used.clone(),
                api_key: api_key.clone(),
                ready,
                awake,
                wake: wake.clone(),
                pinned: terms.pinned,
                draining: Arc::default(),
                on_demand: Arc::default(),
                command: terms.command,
            },
        );
        drop(terms.place);
        let guard = HandleGuard::new(&self.handles, live.model_id, live.run_id);
        self.hub.publish(ServerEvent::RunUpdated(live.clone()));
        tokio::spawn(task::drive(task::RunContext {
            ledger: self.ledger.clone(),
            history: self.history.clone(),
            hub: self.hub.clone(),
            handles: self.handles.clone(),
            places: self.admission.places().clone(),
            settings: terms.settings,
            live,
            size_bytes,
            process,
            tail,
            stop: stop_rx,
            ended: ended_tx,
            last_used,
            api_key,
            ready: ready_tx,
            idle_ttl: (!terms.idle_ttl.is_zero()).then_some(terms.idle_ttl),
            demand: self.admission.demand().clone(),
            failures: self.failures.clone(),
            need: terms.need,
            promise: terms.promise,
            sleeps: terms.sleeps,
            kv: terms.kv,
            awake: awake_tx,
            wake,
        }));
        // From here the run task owns the handle and removes it when the process is gone.
        guard.disarm();
    }
}

impl Stopper for Runner {
    /// Asks the run to stop and waits for it to end; a run that ended but is still listed (no
    /// task left to remove it) is removed.
    async fn stop_for_room(&self, (victim, run_id): Victim) {
        if let Some(ended) = self.handles.request_stop(victim) {
            wait_ended(ended).await;
        }
        if self.handles.get(victim).is_some_and(|h| h.run_id == run_id) {
            tracing::error!(model_id = victim, run_id, "removing a stale run handle");
            self.handles.forget(victim, run_id);
        }
    }
}

/// A process that could not be recorded is killed and waited for (it has no run row).
async fn abandon(model_id: i64, pid: u32, process: &mut task::Process, error: &AppError) {
    tracing::warn!(model_id, pid, %error, "cannot record a new server: killing it");
    if let Err(kill_error) = signal_group(pid, libc::SIGKILL) {
        tracing::warn!(pid, %kill_error, "cannot kill an unrecorded server");
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), process.wait()).await;
}
