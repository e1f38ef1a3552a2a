//! Start-up and wiring: the command line, the data folder, the peers built once into the shared
//! state, and the router that serves them.

pub mod cli;
pub mod data_dir;
pub mod preload;
pub mod router;
pub mod setting_flags;
pub mod start;
pub mod state;
