//! Server functions: the browser's only way to the database, and a stable JSON API for scripts
//! (`POST /api/...`, JSON in and out). Each is one line into `crate::server::registry::Registry`.

pub mod config;
pub mod metrics;
pub mod models;
pub mod runs;

#[cfg(feature = "ssr")]
fn registry() -> Result<crate::server::registry::Registry, crate::domain::AppError> {
    leptos::prelude::use_context::<crate::server::state::AppState>()
        .map(|state| state.registry)
        .ok_or_else(|| crate::domain::AppError::internal("server state is missing"))
}

#[cfg(feature = "ssr")]
fn supervisor() -> Result<crate::server::supervisor::Supervisor, crate::domain::AppError> {
    leptos::prelude::use_context::<crate::server::state::AppState>()
        .map(|state| state.supervisor)
        .ok_or_else(|| crate::domain::AppError::internal("server state is missing"))
}

#[cfg(feature = "ssr")]
fn history() -> Result<crate::server::metrics::history::MetricsHistory, crate::domain::AppError> {
    leptos::prelude::use_context::<crate::server::state::AppState>()
        .map(|state| state.metrics)
        .ok_or_else(|| crate::domain::AppError::internal("server state is missing"))
}
