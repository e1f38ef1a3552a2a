//! Running models: turning settings into a `llama-server` command line (and, next, supervising
//! the process).

pub mod args;
