//! Out of memory while loading is a retry, once: the least recently used model that may be
//! stopped (not pinned, not busy, not shielded by its run-together group) is stopped, and the
//! start is tried again at once. A second out-of-memory load is not retried; it is left to the
//! restart rule and the person. Nothing is stopped when Settings says a full machine refuses
//! (`--when-full refuse`) or when no model may be stopped: then there is nothing to retry for.
//!
//! The failed run has already raised its need (`run/task.rs`), so the retry asks admission for
//! more room too.

use crate::domain::restart_rule::RunEnd;
use crate::domain::run::FailureReason;
use crate::domain::settings::WhenFull;
use crate::server::supervisor::Supervisor;
use crate::server::supervisor::prepare;
use crate::server::supervisor::restart_on_failure::RunFailed;

impl Supervisor {
    /// Deals with a load that ran out of memory by stopping one more model and starting it
    /// again; false when this failure is not one to retry (or was the retry).
    pub(super) async fn retry_out_of_memory(&self, failed: &RunFailed) -> bool {
        if failed.end != RunEnd::FailedToStart || failed.failure != FailureReason::OutOfMemory {
            return false;
        }
        let id = failed.model_id;
        if self.inner.restarts.take_memory_retry(id) {
            return false;
        }
        let settings = self.settings();
        if settings.when_full != WhenFull::StopLeastRecent {
            return false;
        }
        let Ok(prepared) = prepare::prepare(self.sources(&settings), id).await else {
            return false;
        };
        let (admission, runner) = (&self.inner.admission, &self.inner.runner);
        let Some(stopped) = admission
            .stop_one_more(
                id,
                prepared.need.as_ref(),
                &prepared.run_groups,
                runner,
                &settings,
            )
            .await
        else {
            return false;
        };
        let name = self
            .inner
            .registry
            .get_model(stopped)
            .await
            .map_or_else(|_| format!("model {stopped}"), |m| m.spec.name);
        tracing::info!(
            model_id = id,
            stopped,
            "out of memory while loading: stopped the least recently used model, trying again"
        );
        let said = format!(
            "Stopped '{name}', the least recently used model, and trying once more with more \
             memory."
        );
        let _ = self
            .inner
            .ledger
            .reword_error(id, move |reason| format!("{reason} {said}"))
            .await;
        self.inner.restarts.memory_retry(id);
        if let Err(error) = self.start_now(id).await {
            tracing::warn!(model_id = id, %error, "the retry after running out of memory was refused");
            self.inner.restarts.take_memory_retry(id);
        }
        true
    }
}
