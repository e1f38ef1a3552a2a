//! What every handler and server function can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::server::http::host::AllowedHosts;
use crate::server::http::limits::HttpLimits;
use crate::server::live::socket::SocketLimits;
use crate::server::registry::Registry;
use crate::server::supervisor::Supervisor;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub registry: Registry,
    pub supervisor: Supervisor,
    pub socket_limits: SocketLimits,
    /// The names Corral answers to: checked against every request's Host and Origin.
    pub hosts: Arc<AllowedHosts>,
    pub http_limits: HttpLimits,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
