//! Everything that only exists in the server build.
//!
//! # Layout
//!
//! - `boot/`: start-up and wiring. The command line (`cli`, with the flags of Corral's own
//!   settings built from their description in `setting_flags`), the data folder and its lock
//!   (`data_dir`), the peers built once (`start`) into the shared state (`state`), the one
//!   Axum router with its layers (`router`), and the models started with Corral (`preload`).
//! - `models/`: the model registry (models and their settings in SQLite, every write one
//!   transaction published to the tabs), the virtual models (one name, several targets), the
//!   name cache the gateway resolves by, the model
//!   folders (`model_roots`) and what a model's file is (`model_file`). Beside it: `discovery/`
//!   (GGUF files found in the folders) and `import/` (other tools' configs, and export).
//! - `supervisor/`: real llama-server processes, from prepare and admission to the run task and
//!   the run ledger, behind one façade.
//! - `gateway/`: the OpenAI-compatible and llama.cpp router endpoints; a request waits for its
//!   model in `on_demand.rs`. `metering/` records every gateway request.
//! - `access/`: the admin, sessions, API keys and the guard in front of everything.
//! - `live/`: the hub (authoritative live state, fan-out) and one WebSocket per tab.
//! - `http/`: the accept loop and the guards around every request (Host, Origin, CORS,
//!   deadlines, caps, security headers, TLS).
//! - `db/`: the SQLite pool, migrations and the stores that own the SQL.
//! - `gguf/`, `metrics/`, `settings/`: reading GGUF headers; host numbers and their history;
//!   Corral's own settings (stored, laid over the flags, and read by their owners by key in
//!   `settings/by_key.rs`; described once in `domain::settings`).
//! - `route_class.rs`: what kind of route a path is (a leaf every layer asks);
//!   `conversations.rs`: the Playground's saved conversations; `support/`: small shared parts
//!   (generation-stamped caches, a per-owner cap).

pub mod access;
pub mod boot;
pub mod conversations;
pub mod db;
pub mod discovery;
pub mod gateway;
pub mod gguf;
pub mod http;
pub mod import;
pub mod live;
pub mod metering;
pub mod metrics;
pub mod models;
pub mod route_class;
pub mod settings;
pub mod supervisor;
pub mod support;

pub use crate::domain::time::now_ms;
