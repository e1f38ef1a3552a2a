//! Everything a start knows before it takes its model's lock: the model and its settings, what
//! the installed llama-server can express, the files (checked and opened), the command and the
//! memory it will need. A preview is the same preparation, rendered instead of run.

pub mod args;
pub mod capabilities;
pub mod child_env;
pub mod file_rules;
pub mod launch;
pub mod locate;
pub mod memory_need;
mod pending_restart;
