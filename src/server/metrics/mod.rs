//! Measured numbers: the host probe and the task that samples it, publishes and keeps history.

pub mod collector;
pub mod history;
pub mod system;
