//! The models Corral knows: the registry (rows and settings in SQLite), the names the gateway
//! resolves by, the folders model files may be in, and what a model's file is.

pub mod model_file;
pub mod model_roots;
pub mod name_cache;
pub mod registry;
pub mod run_groups;
pub mod virtual_models;
