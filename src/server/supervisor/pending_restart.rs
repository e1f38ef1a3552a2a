//! "Restart to apply". A saved setting does not reach a running process: after every save (each
//! `ModelUpdated`) and every change of Corral's settings, a running model's command is compared
//! with the one its saved settings would start now, and every tab hears what a restart would
//! change. The run's end clears it (the next run starts from the saved settings).

use std::sync::{Arc, Weak};

use tokio::sync::broadcast::error::RecvError;

use crate::domain::AppError;
use crate::domain::command_diff::{PendingRestart, command_changes};
use crate::domain::live::ServerEvent;
use crate::server::supervisor::prepare::args::ModelConfig;
use crate::server::supervisor::prepare::capabilities;
use crate::server::supervisor::prepare::launch::{LaunchPlan, Own, Port};
use crate::server::supervisor::{Inner, Supervisor};

impl Supervisor {
    /// Reviews a running model each time a save tells the tabs about it, for as long as the
    /// supervisor lives (the task holds it weakly).
    pub(in crate::server::supervisor) fn review_pending_on_saves(&self) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let mut events = self.inner.hub.subscribe();
        tokio::spawn(async move {
            loop {
                let id = match events.recv().await {
                    Ok(event) => match &**event {
                        ServerEvent::ModelUpdated(model) => Some(model.id),
                        _ => continue,
                    },
                    // Missed saves: review every running model.
                    Err(RecvError::Lagged(_)) => None,
                    Err(RecvError::Closed) => return,
                };
                let Some(inner) = weak.upgrade() else { return };
                let supervisor = Supervisor { inner };
                match id {
                    Some(id) => supervisor.review_pending(id).await,
                    None => supervisor.review_all_pending().await,
                }
            }
        });
    }

    /// Every running model, after Corral's own settings changed (a new llama-server, say).
    pub(in crate::server::supervisor) async fn review_all_pending(&self) {
        for id in self.inner.runner.handles.ids() {
            self.review_pending(id).await;
        }
    }

    /// Tells the tabs what restarting the model would change now, when that differs from what
    /// they were told.
    async fn review_pending(&self, id: i64) {
        let Some(handle) = self.inner.runner.handles.get(id) else {
            return;
        };
        if handle.command.is_empty() {
            return;
        }
        let changes = match self.saved_command(id, handle.port).await {
            Ok(saved) => command_changes(&handle.command, &saved),
            Err(error) => {
                tracing::debug!(model_id = id, %error, "cannot plan the saved command");
                return;
            }
        };
        let pending = PendingRestart {
            model_id: id,
            run_id: handle.run_id,
            changes,
        };
        let told = self.inner.hub.read(|s| {
            s.pending_restarts
                .iter()
                .find(|p| p.model_id == id)
                .map_or_else(|| pending.changes.is_empty(), |p| *p == pending)
        });
        if !told {
            self.inner.hub.publish(ServerEvent::PendingRestart(pending));
        }
    }

    /// The command a start of the model would record now, on the run's port.
    async fn saved_command(&self, id: i64, port: u16) -> Result<Vec<String>, AppError> {
        let detail = self.inner.registry.model_detail(id).await?;
        let config = ModelConfig::from_groups(detail.groups);
        let binary = self
            .binary_in_use()
            .map_err(|message| AppError::Unavailable { message })?;
        let caps = capabilities::of(&binary)
            .await
            .map_err(|message| AppError::Unavailable { message })?;
        let settings = self.settings();
        Ok(LaunchPlan::build(
            &binary,
            &detail.model,
            &config,
            Some(&caps),
            Port::Assigned(port),
            &Own {
                origin: &settings.corral_origin,
                kv: &self.inner.kv,
            },
        )
        .command())
    }

    /// What the model's process runs, when one does (the command its run recorded).
    pub fn running_command(&self, id: i64) -> Option<Arc<[String]>> {
        self.inner
            .runner
            .handles
            .get(id)
            .map(|handle| handle.command)
            .filter(|command| !command.is_empty())
    }
}
