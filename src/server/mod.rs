//! Everything that only exists in the server build: state, database, HTTP guards, the router.

pub mod cli;
pub mod data_dir;
pub mod db;
pub mod gguf;
pub mod http;
pub mod live;
pub mod metrics;
pub mod registry;
pub mod router;
pub mod start;
pub mod state;
pub mod supervisor;

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
