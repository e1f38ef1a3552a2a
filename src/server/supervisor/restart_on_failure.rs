//! Restart on crash (`serving.restart: on-failure`): a run task that ends with a failure says
//! so here; whether and when the model starts again is `domain::restart_rule`'s decision, read
//! against the model's setting as it is now (so turning it on for a running model applies to
//! its next crash). The plan is added to the model's status reason, where a person sees it.
//!
//! A person's stop (or delete) calls a planned restart off and forgets the failures before it;
//! a start by anyone else makes the planned one unneeded. A restart that does not get the
//! model running again counts as a failure of the same chain, unless what stopped it is in the
//! model's settings or files.
//!
//! Before any of that, a load that ran out of memory is tried again once (`out_of_memory_retry.rs`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::mpsc;

use crate::domain::ModelStatus;
use crate::domain::config::{ConfigGroup, ConfigGroupKind};
use crate::domain::restart_rule::{Decision, Failures, Restart, RunEnd, worth_retrying};
use crate::domain::run::FailureReason;
use crate::server::now_ms;
use crate::server::supervisor::{Inner, Supervisor};

/// A run that ended with a failure, as its task (or a refused restart) reports it.
#[derive(Debug, Clone, Copy)]
pub struct RunFailed {
    pub model_id: i64,
    pub end: RunEnd,
    pub failure: FailureReason,
}

pub type FailureNotices = mpsc::UnboundedSender<RunFailed>;

/// Each model's failures and planned restart.
#[derive(Clone, Default)]
pub struct Restarts(Arc<Mutex<HashMap<i64, Book>>>);

#[derive(Default)]
struct Book {
    failures: Failures,
    /// Moved by every call-off and start: a planned restart goes ahead only if it has not.
    generation: u64,
    /// The latest start was a restart: its failure to start continues the chain.
    restarting: bool,
    /// The latest start was the retry after running out of memory while loading.
    memory_retried: bool,
}

impl Restarts {
    fn with<T>(&self, model_id: i64, work: impl FnOnce(&mut Book) -> T) -> T {
        let mut books = self.0.lock().unwrap_or_else(|p| p.into_inner());
        work(books.entry(model_id).or_default())
    }

    /// A person stopped or deleted the model.
    pub fn called_off(&self, model_id: i64) {
        self.with(model_id, |book| {
            book.failures.forget();
            book.generation += 1;
            book.restarting = false;
            book.memory_retried = false;
        });
    }

    /// The next start is the retry after running out of memory.
    pub fn memory_retry(&self, model_id: i64) {
        self.with(model_id, |book| book.memory_retried = true);
    }

    /// Whether the start that just failed was that retry (and forgets it).
    pub fn take_memory_retry(&self, model_id: i64) -> bool {
        self.with(model_id, |book| std::mem::take(&mut book.memory_retried))
    }

    /// Someone started the model: a planned restart is not needed.
    pub fn started(&self, model_id: i64) {
        self.with(model_id, |book| {
            book.generation += 1;
            book.restarting = false;
        });
    }
}

/// Reads failures until the supervisor is gone.
pub fn watch(inner: Weak<Inner>, mut failed: mpsc::UnboundedReceiver<RunFailed>) {
    tokio::spawn(async move {
        while let Some(notice) = failed.recv().await {
            let Some(inner) = inner.upgrade() else { return };
            Supervisor { inner }.after_failure(notice).await;
        }
    });
}

impl Supervisor {
    async fn after_failure(&self, failed: RunFailed) {
        if self.retry_out_of_memory(&failed).await {
            return;
        }
        let id = failed.model_id;
        let restart = match self
            .inner
            .registry
            .load_config(id, ConfigGroupKind::Serving)
            .await
        {
            Ok(ConfigGroup::Serving(serving)) => serving.restart(),
            _ => Restart::Never,
        };
        let planned = self.inner.restarts.with(id, |book| {
            let after_restart = std::mem::take(&mut book.restarting);
            let counts = failed.end.restarts() || (after_restart && worth_retrying(failed.failure));
            (restart == Restart::OnFailure && counts)
                .then(|| (book.failures.failed(now_ms()), book.generation))
        });
        let Some((decision, generation)) = planned else {
            return;
        };
        let plan = decision.describe();
        let noted = self
            .inner
            .ledger
            .reword_error(id, move |reason| format!("{reason} {plan}"))
            .await;
        if let Err(error) = noted {
            tracing::warn!(model_id = id, %error, "cannot note the restart plan");
        }
        let Decision::RestartAfter { delay, failures } = decision else {
            tracing::warn!(model_id = id, "giving up restarting: too many failures");
            return;
        };
        tracing::info!(
            model_id = id,
            failures,
            ?delay,
            "restarting after a failure"
        );
        let this = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            this.restart_after_failure(id, generation).await;
        });
    }

    async fn restart_after_failure(&self, id: i64, generation: u64) {
        let current = self.inner.restarts.with(id, |book| {
            let current = book.generation == generation;
            book.restarting = current;
            current
        });
        // Called off, started by someone, or no longer in error (cleared, deleted).
        let in_error = matches!(
            self.inner.registry.get_model(id).await,
            Ok(model) if model.status == ModelStatus::Error
        );
        if !current || !in_error {
            return;
        }
        let started = self.start_now(id).await;
        // A start refused, or failed before a process existed, has no run task to say so.
        let failed = match started {
            Ok(model) => model.status == ModelStatus::Error,
            Err(error) => {
                tracing::warn!(model_id = id, %error, "a restart after a failure was refused");
                let reason = format!(
                    "{}: the restart was refused ({error}).",
                    RunEnd::FailedToStart.label()
                );
                let _ = self.inner.ledger.reword_error(id, move |_| reason).await;
                true
            }
        };
        if failed {
            let _ = self.inner.failures.send(RunFailed {
                model_id: id,
                end: RunEnd::FailedToStart,
                failure: FailureReason::Other,
            });
        }
    }
}
