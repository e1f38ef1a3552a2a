//! The one writer of a model's status. Every change is an event applied to the state machine of
//! `domain::status`, read and written in one transaction (so two events at once cannot both
//! apply to the same old status), and published to every tab once, in commit order. The supervisor hands a copy
//! to each run task; nothing else in Corral writes `status`.

use crate::domain::live::ServerEvent;
use crate::domain::{AppError, Model, ModelStatus, StatusEvent};
use crate::server::db::{Db, models_repo, write_transaction};
use crate::server::live::Hub;

#[derive(Clone)]
pub struct Statuses {
    db: Db,
    hub: Hub,
}

impl Statuses {
    pub fn new(db: Db, hub: Hub) -> Statuses {
        Statuses { db, hub }
    }

    /// Applies `event` to the model's status. `reason` is kept only with `error` (any other
    /// status clears it). An event the state machine does not allow now is refused with 409.
    pub async fn apply(
        &self,
        id: i64,
        event: StatusEvent,
        reason: Option<String>,
    ) -> Result<Model, AppError> {
        let hub = self.hub.clone();
        self.db
            .call(move |conn| {
                hub.committed(|| {
                    let tx = write_transaction(conn)?;
                    let current = models_repo::get(&tx, id)?
                        .ok_or_else(|| AppError::not_found("model", id))?;
                    let Some(to) = current.status.next(event) else {
                        return Err(AppError::Conflict {
                            field: "status".into(),
                            message: format!(
                                "model '{}' is {}; it cannot be {}",
                                current.spec.name,
                                current.status,
                                describe(event)
                            ),
                        });
                    };
                    let reason = reason.filter(|_| to == ModelStatus::Error);
                    models_repo::set_status(&tx, id, to, reason.as_deref())?;
                    let model = models_repo::get(&tx, id)?
                        .ok_or_else(|| AppError::not_found("model", id))?;
                    tx.commit()?;
                    Ok((model.clone(), vec![ServerEvent::ModelUpdated(model)]))
                })
            })
            .await
    }
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
