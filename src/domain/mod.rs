//! The shared vocabulary: types both the server and the browser build compile. No I/O here.

#[macro_use]
mod choice;
pub mod activity;
pub mod answer;
pub mod api_key;
pub mod audit;
pub mod bulk_start;
pub mod capabilities;
pub mod command_diff;
pub mod config;
pub mod conversation;
pub mod device_memory;
pub mod discovery;
pub mod error;
pub mod export;
pub mod fields;
pub mod gguf;
pub mod import;
pub mod kept_kv;
pub mod kind;
pub mod live;
pub mod memory_estimate;
pub mod metrics;
pub mod model;
pub mod model_name;
pub mod page;
pub mod restart_rule;
pub mod run;
pub mod run_group;
pub mod settings;
pub mod sign_in;
pub mod status;
pub mod text;
pub mod time;
pub mod virtual_model;

pub use error::{AppError, FieldError, Rule};
pub use kind::ModelKind;
pub use model::{Model, ModelFilter, ModelSpec};
pub use status::{ModelStatus, Request, StatusEvent};
