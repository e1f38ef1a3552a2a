//! Whether a prepared start may go now: a place under `--max-running`, room in memory, a free
//! port. Which runs to stop for room is decided without side effects; the stops themselves are
//! done by the façade.

pub mod demand;
mod memory_room;
pub mod places;
pub mod ports;
