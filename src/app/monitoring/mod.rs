//! The monitoring page: live and historical charts of measured host numbers.

pub mod page;
