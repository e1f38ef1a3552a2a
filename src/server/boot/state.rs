//! What every handler and server function can reach: the server's peers, side by side. Each is
//! the only owner of its facts; handlers take the ones they need (`FromRef`), and none is
//! reached through another.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::server::access::Access;
use crate::server::db::Db;
use crate::server::db::runs_store::RunsStore;
use crate::server::discovery::Discovery;
use crate::server::gateway::own_state::Gateway;
use crate::server::http::cors::CorsOrigins;
use crate::server::http::host::AllowedHosts;
use crate::server::http::limits::HttpLimits;
use crate::server::live::Hub;
use crate::server::live::socket::SocketLimits;
use crate::server::metering::Metering;
use crate::server::metrics::history::MetricsHistory;
use crate::server::models::registry::Registry;
use crate::server::models::run_groups::RunGroups;
use crate::server::models::virtual_models::VirtualModels;
use crate::server::settings::Settings;
use crate::server::supervisor::Supervisor;

/// Cloned for every request by each layer that takes it: one reference count, not a copy of
/// every peer (the per-field clone was a fifth of the gateway's own time).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    /// Live state and fan-out to every tab.
    pub hub: Hub,
    /// Models and their settings.
    pub registry: Registry,
    /// Names served by one of several models.
    pub virtuals: VirtualModels,
    /// Run-together groups (their rules are read by each start).
    pub run_groups: RunGroups,
    pub runs: RunsStore,
    /// Processes and every status change.
    pub supervisor: Supervisor,
    pub metrics: MetricsHistory,
    pub socket_limits: SocketLimits,
    /// The names Corral answers to: checked against every request's Host and Origin.
    pub hosts: Arc<AllowedHosts>,
    pub http_limits: HttpLimits,
    /// The OpenAI-compatible routes' settings and upstream connections.
    pub gateway: Gateway,
    /// Gateway requests: their records, counters and charts.
    pub metering: Metering,
    /// Who may use Corral: the admin, sessions, the setup link.
    pub access: Access,
    /// The GGUF files in the model folders.
    pub discovery: Discovery,
    /// Corral's own settings (the Settings page) and applying them.
    pub settings: Settings,
}

macro_rules! peer {
    ($($field:ident: $ty:ty),* $(,)?) => {
        $(impl FromRef<AppState> for $ty {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        })*
    };
}

peer! {
    leptos_options: LeptosOptions,
    hosts: Arc<AllowedHosts>,
    http_limits: HttpLimits,
    hub: Hub,
    registry: Registry,
    virtuals: VirtualModels,
    run_groups: RunGroups,
    supervisor: Supervisor,
    metrics: MetricsHistory,
    runs: RunsStore,
    metering: Metering,
    discovery: Discovery,
    settings: Settings,
}

/// The CORS layer needs only the origins allowed to call the gateway.
impl FromRef<AppState> for CorsOrigins {
    fn from_ref(state: &AppState) -> Self {
        state.gateway.settings.cors.clone()
    }
}
