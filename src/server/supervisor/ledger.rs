//! The run ledger: the one writer of `runs` rows and of a model's status. Each lifecycle event
//! (spawned, failed before spawn, ready, ended, adopted, no process, stop asked) is one
//! transaction that writes the run row and moves the status by `domain::status`, published to
//! every tab once, in commit order. A Corral killed between two events therefore leaves a run
//! row and a status that agree: an alive run exactly while the status is loading, running or
//! stopping.
//!
//! Where an event's status move is refused (the model was cleared by start-up reconciling, say),
//! what happened to the process is still recorded: `ready` and `ended` keep the run write and
//! log the refusal. `spawned` and `failed_before_spawn` are all or nothing: the caller holds the
//! model's lock, so a refusal there means the database is failing, and nothing is kept.

use rusqlite::Transaction;

use crate::domain::live::ServerEvent;
use crate::domain::run::FailureReason;
use crate::domain::{AppError, Model, ModelStatus, StatusEvent};
use crate::server::db::runs_repo::{self, Ending};
use crate::server::db::{Db, models_repo, write_transaction};
use crate::server::live::Hub;

#[derive(Clone)]
pub struct RunLedger {
    db: Db,
    hub: Hub,
}

/// A status move, or the state machine's refusal (409), kept apart from a failing database.
type Moved = Result<Model, AppError>;

impl RunLedger {
    pub fn new(db: Db, hub: Hub) -> RunLedger {
        RunLedger { db, hub }
    }

    /// Writes in one transaction and publishes what it says, in commit order.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> Result<(T, Vec<ServerEvent>), AppError> + Send + 'static,
    ) -> Result<T, AppError> {
        let hub = self.hub.clone();
        self.db
            .call(move |conn| {
                hub.committed(|| {
                    let tx = write_transaction(conn)?;
                    let done = work(&tx)?;
                    tx.commit()?;
                    Ok(done)
                })
            })
            .await
    }

    /// A status-only event: refused (409) when the state machine does not allow it now.
    /// `reason` is kept only with `error`.
    pub async fn apply(
        &self,
        id: i64,
        event: StatusEvent,
        reason: Option<String>,
    ) -> Result<Model, AppError> {
        self.write(move |tx| {
            let model = step(tx, id, event, reason)??;
            Ok((model.clone(), vec![updated(model)]))
        })
        .await
    }

    /// A process was spawned: its run row and `loading`, together. Older ended runs beyond the
    /// retention go in the same transaction.
    pub async fn spawned(&self, spawn: Spawned) -> Result<(i64, Model), AppError> {
        let keep = self.db.retention().runs_per_model;
        self.write(move |tx| {
            let Spawned {
                model_id,
                pid,
                port,
                command,
                at,
            } = spawn;
            // The status first: a model deleted meanwhile is a 404 and keeps nothing; a refusal
            // means another start got there first.
            let model = step(tx, model_id, StatusEvent::Spawned, None)??;
            let run_id = runs_repo::insert(tx, model_id, pid, port, &command, at)?;
            runs_repo::prune(tx, model_id, keep)?;
            Ok(((run_id, model.clone()), vec![updated(model)]))
        })
        .await
    }

    /// A start that failed before any process existed: its run row and `error` with the
    /// message, together.
    pub async fn failed_before_spawn(
        &self,
        model_id: i64,
        command: Vec<String>,
        reason: FailureReason,
        message: String,
    ) -> Result<Model, AppError> {
        let keep = self.db.retention().runs_per_model;
        let at = crate::server::now_ms();
        self.write(move |tx| {
            let model = step(tx, model_id, StatusEvent::Failed, Some(message.clone()))??;
            runs_repo::insert_failed(tx, model_id, &command, at, reason, &message)?;
            runs_repo::prune(tx, model_id, keep)?;
            Ok((model.clone(), vec![updated(model)]))
        })
        .await
    }

    /// The server answered `/health`: the run is ready (with the log so far, the part worth
    /// having if Corral dies) and the model `running`.
    pub async fn ready(
        &self,
        model_id: i64,
        run_id: i64,
        at: i64,
        tail: Vec<String>,
    ) -> Result<(), AppError> {
        self.write(move |tx| {
            runs_repo::mark_ready(tx, run_id, at)?;
            runs_repo::save_tail(tx, run_id, &tail)?;
            Ok((
                (),
                kept(model_id, step(tx, model_id, StatusEvent::Healthy, None)?),
            ))
        })
        .await
    }

    /// The process ended (or, at start-up, was found gone or stopped): how, on its run row, and
    /// the status `event` moves to, together.
    pub async fn ended(&self, run: Ended) -> Result<(), AppError> {
        self.write(move |tx| {
            let Ended {
                model_id,
                run_id,
                ending,
                event,
                reason,
            } = run;
            runs_repo::finish(tx, run_id, &ending)?;
            let Some(event) = event else {
                return Ok(((), Vec::new()));
            };
            Ok(((), kept(model_id, step(tx, model_id, event, reason)?)))
        })
        .await
    }

    /// Rewords the reason of a model in error (a restart planned or given up is added to it);
    /// a model no longer in error is left as it is.
    pub async fn reword_error(
        &self,
        id: i64,
        reword: impl FnOnce(&str) -> String + Send + 'static,
    ) -> Result<(), AppError> {
        self.write(move |tx| {
            let Some(model) = models_repo::get(tx, id)? else {
                return Ok(((), Vec::new()));
            };
            if model.status != ModelStatus::Error {
                return Ok(((), Vec::new()));
            }
            let reason = reword(model.status_reason.as_deref().unwrap_or_default());
            models_repo::set_status(
                tx,
                id,
                ModelStatus::Error,
                Some(&crate::domain::text::kept(&reason)),
            )?;
            let model =
                models_repo::get(tx, id)?.ok_or_else(|| AppError::not_found("model", id))?;
            Ok(((), vec![updated(model)]))
        })
        .await
    }

    /// Keeps the newest log lines of a live run, so they survive Corral being killed.
    pub async fn save_tail(&self, run_id: i64, tail: Vec<String>) -> Result<(), AppError> {
        self.db
            .call(move |conn| Ok(runs_repo::save_tail(conn, run_id, &tail)?))
            .await
    }

    /// Raises the run's measured peak of resident memory.
    pub async fn record_peak(&self, run_id: i64, bytes: u64) -> Result<(), AppError> {
        self.db
            .call(move |conn| Ok(runs_repo::record_peak(conn, run_id, bytes)?))
            .await
    }

    /// Raises the run's measured peak on each GPU.
    pub async fn record_gpu_peak(
        &self,
        run_id: i64,
        gpus: Vec<crate::domain::device_memory::GpuBytes>,
    ) -> Result<(), AppError> {
        self.db
            .call(move |conn| Ok(runs_repo::record_gpu_peak(conn, run_id, &gpus)?))
            .await
    }
}

/// What a `spawned` event records.
pub struct Spawned {
    pub model_id: i64,
    pub pid: u32,
    pub port: u16,
    pub command: Vec<String>,
    pub at: i64,
}

/// What an `ended` event records.
pub struct Ended {
    pub model_id: i64,
    pub run_id: i64,
    pub ending: Ending,
    /// The status move (none for a leftover run whose model another run took over).
    pub event: Option<StatusEvent>,
    pub reason: Option<String>,
}

fn updated(model: Model) -> ServerEvent {
    ServerEvent::ModelUpdated(model)
}

/// The events to publish for a move that may have been refused (logged, not failed: the run
/// write beside it stands).
fn kept(model_id: i64, moved: Moved) -> Vec<ServerEvent> {
    match moved {
        Ok(model) => vec![updated(model)],
        Err(error) => {
            tracing::warn!(model_id, %error, "status not moved");
            Vec::new()
        }
    }
}

/// Moves the model's status by `event` inside `tx`; a move the state machine does not allow
/// now is `Refused` (409), a missing model or a failing database an error.
fn step(
    tx: &Transaction<'_>,
    id: i64,
    event: StatusEvent,
    reason: Option<String>,
) -> Result<Moved, AppError> {
    let current = models_repo::get(tx, id)?.ok_or_else(|| AppError::not_found("model", id))?;
    let Some(to) = current.status.next(event) else {
        return Ok(Err(AppError::Conflict {
            field: "status".into(),
            message: format!(
                "model '{}' is {}; it cannot be {}",
                current.spec.name,
                current.status,
                describe(event)
            ),
        }));
    };
    let reason = reason.filter(|_| to == ModelStatus::Error);
    models_repo::set_status(tx, id, to, reason.as_deref())?;
    let model = models_repo::get(tx, id)?.ok_or_else(|| AppError::not_found("model", id))?;
    Ok(Ok(model))
}

fn describe(event: StatusEvent) -> &'static str {
    match event {
        StatusEvent::Spawned => "started",
        StatusEvent::Adopted => "adopted",
        StatusEvent::Healthy => "marked ready",
        StatusEvent::StopRequested => "stopped",
        StatusEvent::StoppedAsAsked => "marked stopped",
        StatusEvent::Failed => "marked failed",
        StatusEvent::NoProcess => "cleared",
    }
}
