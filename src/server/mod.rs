//! Everything that only exists in the server build: state, database, HTTP guards, the router.

pub mod access;
pub mod cli;
pub mod conversations;
pub mod data_dir;
pub mod db;
pub mod discovery;
pub mod file_cache;
pub mod gateway;
pub mod generation_cache;
pub mod gguf;
pub mod http;
pub mod import;
pub mod live;
pub mod metering;
pub mod metrics;
pub mod model_file;
pub mod model_roots;
pub mod name_cache;
pub mod places;
pub mod registry;
pub mod route_class;
pub mod router;
pub mod settings;
pub mod start;
pub mod state;
pub mod supervisor;

pub use crate::domain::time::now_ms;
