//! Putting the server together from a database file: registry, hub, state. Used by `main` and
//! by tests, so both run the same wiring.

use std::path::Path;

use leptos::config::LeptosOptions;

use crate::domain::AppError;
use crate::server::db::{Db, DbOpenError, models_repo};
use crate::server::live::Hub;
use crate::server::live::hub::HubConfig;
use crate::server::live::socket::SocketLimits;
use crate::server::now_ms;
use crate::server::registry::Registry;
use crate::server::state::AppState;
use crate::server::supervisor::Supervisor;
use crate::server::supervisor::settings::SupervisorSettings;

/// Why Corral could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] DbOpenError),
    #[error("cannot start the supervisor: {0}")]
    Supervisor(AppError),
}

/// Opens the database, reconciles runs left by an earlier Corral, and builds the state every
/// handler shares.
pub async fn app_state(
    db_path: &Path,
    leptos_options: LeptosOptions,
    hub_config: HubConfig,
    socket_limits: SocketLimits,
    supervisor_settings: SupervisorSettings,
) -> Result<AppState, StartError> {
    let db = Db::open(db_path).await?;
    let models = db
        .call(|conn| Ok(models_repo::list(conn)?))
        .await
        .map_err(|e| DbOpenError::Pool(e.to_string()))?;
    let hub = Hub::new(models, now_ms(), hub_config);
    let registry = Registry::new(db, hub);
    let supervisor = Supervisor::start(registry.clone(), supervisor_settings)
        .await
        .map_err(StartError::Supervisor)?;
    Ok(AppState {
        leptos_options,
        registry,
        supervisor,
        socket_limits,
    })
}
