//! The live channel: one hub holding the authoritative state, one WebSocket per tab.

pub mod corral_log;
pub mod hub;
pub mod log_book;
pub mod model_logs;
pub mod published;
pub mod route;
pub mod socket;

pub use hub::Hub;
