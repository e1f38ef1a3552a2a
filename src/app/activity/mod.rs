//! The activity page: every gateway request as it happens, and per-model charts.

pub mod page;
