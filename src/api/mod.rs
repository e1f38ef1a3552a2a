//! Server functions: the browser's only way to the database, and a stable JSON API for scripts
//! (`POST /api/...`, JSON in and out). Each is one line into the owner of its facts.

pub mod activity;
pub mod auth;
pub mod backup;
pub mod config;
pub mod conversations;
pub mod discovery;
pub mod keys;
pub mod metrics;
pub mod models;
pub mod run_groups;
pub mod runs;
pub mod settings;
pub mod virtual_models;

#[cfg(feature = "ssr")]
fn state() -> Result<crate::server::boot::state::AppState, crate::domain::AppError> {
    leptos::prelude::use_context::<crate::server::boot::state::AppState>()
        .ok_or_else(|| crate::domain::AppError::internal("server state is missing"))
}

#[cfg(feature = "ssr")]
fn registry() -> Result<crate::server::models::registry::Registry, crate::domain::AppError> {
    state().map(|state| state.registry.clone())
}

#[cfg(feature = "ssr")]
fn supervisor() -> Result<crate::server::supervisor::Supervisor, crate::domain::AppError> {
    state().map(|state| state.supervisor.clone())
}

#[cfg(feature = "ssr")]
fn history() -> Result<crate::server::metrics::history::MetricsHistory, crate::domain::AppError> {
    state().map(|state| state.metrics.clone())
}

#[cfg(feature = "ssr")]
fn metering() -> Result<crate::server::metering::Metering, crate::domain::AppError> {
    state().map(|state| state.metering.clone())
}
