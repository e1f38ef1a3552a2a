//! One run of a model server: spawning it, its handle, the task that drives it phase by phase
//! (output, health, numbers, stop), how its end is classified, and start-up's reconciling of
//! runs an earlier Corral left.

pub mod classify;
pub mod handles;
pub mod http_probe;
pub mod line_reader;
pub mod reconcile;
pub mod scrape;
pub mod spawn;
pub(super) mod task;
