//! Putting the server together from a database file: registry, hub, state. Used by `main` and
//! by tests, so both run the same wiring.

use std::path::PathBuf;
use std::sync::Arc;

use leptos::config::LeptosOptions;

use crate::domain::AppError;
use crate::domain::settings::SetByFlag;
use crate::server::access::{Access, AccessSettings};
use crate::server::boot::state::{AppState, Shared};
use crate::server::db::runs_store::RunsStore;
use crate::server::db::{Db, DbOpenError, Retention, models_repo};
use crate::server::discovery::Discovery;
use crate::server::gateway::on_demand::OnDemand;
use crate::server::gateway::own_state::{Gateway, GatewaySettings};
use crate::server::http::host::AllowedHosts;
use crate::server::http::limits::HttpLimits;
use crate::server::live::Hub;
use crate::server::live::hub::HubConfig;
use crate::server::live::socket::SocketLimits;
use crate::server::metering::Metering;
use crate::server::metrics::history::MetricsHistory;
use crate::server::models::model_roots::ModelRoots;
use crate::server::models::registry::Registry;
use crate::server::models::run_groups::RunGroups;
use crate::server::models::virtual_models::VirtualModels;
use crate::server::now_ms;
use crate::server::settings::{self, Base, Settings};
use crate::server::supervisor::ledger::RunLedger;
use crate::server::supervisor::settings::SupervisorSettings;
use crate::server::supervisor::{Peers, Supervisor};

/// Why Corral could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] DbOpenError),
    #[error("cannot start the supervisor: {0}")]
    Supervisor(AppError),
}

/// Everything the server is built from.
pub struct Setup {
    pub db_path: PathBuf,
    pub leptos_options: LeptosOptions,
    pub hub: HubConfig,
    pub sockets: SocketLimits,
    pub supervisor: SupervisorSettings,
    /// The names Corral answers to (built from the address it is listening on).
    pub hosts: AllowedHosts,
    pub http: HttpLimits,
    pub retention: Retention,
    pub gateway: GatewaySettings,
    pub access: AccessSettings,
    /// Where files named by settings must be.
    pub model_roots: ModelRoots,
    /// Folders whose GGUF files are listed as found (scanned now, then watched).
    pub models_dirs: Vec<PathBuf>,
    /// The Settings page's settings a flag decided (they win over the stored ones).
    pub set_by_flag: Vec<SetByFlag>,
}

/// Opens the database, reconciles runs left by an earlier Corral, and builds the state every
/// handler shares. Call it once the listener is bound and the data directory is locked: it
/// stops servers it finds left over.
pub async fn app_state(setup: Setup) -> Result<AppState, StartError> {
    let db = Db::open(&setup.db_path).await?;
    let stored = settings::load(&db)
        .await
        .map_err(|e| DbOpenError::Pool(e.to_string()))?;
    let base = Base {
        supervisor: setup.supervisor,
        retention: setup.retention,
        models_dirs: setup.models_dirs,
    };
    let applied = settings::effective(&base, &stored, &setup.set_by_flag, &setup.model_roots);
    let db = db.with_retention(applied.retention);
    let models = db
        .call(|conn| Ok(models_repo::list(conn)?))
        .await
        .map_err(|e| DbOpenError::Pool(e.to_string()))?;
    let hub = Hub::new(models, now_ms(), setup.hub);
    let registry = Registry::new(db.clone(), hub.clone()).with_roots(setup.model_roots.clone());
    let virtuals = VirtualModels::load(registry.clone(), &hub)
        .await
        .map_err(|e| DbOpenError::Pool(e.to_string()))?;
    let run_groups = RunGroups::load(registry.clone(), &hub)
        .await
        .map_err(|e| DbOpenError::Pool(e.to_string()))?;
    let runs = RunsStore::new(db.clone());
    let metrics = MetricsHistory::new(db.clone());
    let access = Access::new(db.clone(), setup.access);
    let metering = Metering::start(db.clone(), hub.clone());
    let peers = Peers {
        registry: registry.clone(),
        runs: runs.clone(),
        history: metrics.clone(),
        hub: hub.clone(),
        ledger: RunLedger::new(db.clone(), hub.clone()),
        kv_root: setup
            .db_path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("kv"),
    };
    let discovery = Discovery::new(applied.models_dirs, hub.clone(), registry.clone());
    discovery.start();
    let supervisor = Supervisor::start(peers, applied.supervisor)
        .await
        .map_err(StartError::Supervisor)?;
    let settings = Settings::new(
        db.clone(),
        base,
        setup.set_by_flag,
        setup.model_roots,
        stored,
        supervisor.clone(),
        discovery.clone(),
    );
    crate::server::boot::preload::spawn(registry.clone(), supervisor.clone());
    let gateway = Gateway::new(
        setup.gateway,
        OnDemand::new(supervisor.clone(), registry.clone()),
    );
    Ok(AppState::new(Shared {
        leptos_options: setup.leptos_options,
        db,
        hub,
        registry,
        virtuals,
        run_groups,
        runs,
        supervisor,
        metrics,
        socket_limits: setup.sockets,
        hosts: Arc::new(setup.hosts),
        http_limits: setup.http,
        gateway,
        metering,
        access,
        discovery,
        settings,
    }))
}
