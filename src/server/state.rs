//! What every handler and server function can reach.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::server::live::socket::SocketLimits;
use crate::server::registry::Registry;
use crate::server::supervisor::Supervisor;

#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub registry: Registry,
    pub supervisor: Supervisor,
    pub socket_limits: SocketLimits,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
