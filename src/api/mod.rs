//! Server functions: the browser's only way to the database, and a stable JSON API for scripts
//! (`POST /api/...`, JSON in and out). Each is one line into `crate::server::registry`.

pub mod config;
pub mod models;

#[cfg(feature = "ssr")]
fn db() -> Result<crate::server::db::Db, crate::domain::AppError> {
    leptos::prelude::use_context::<crate::server::state::AppState>()
        .map(|state| state.db)
        .ok_or_else(|| crate::domain::AppError::internal("server state is missing"))
}
