//! The keys page: API keys for programs, made (shown once), listed by prefix, revoked.

pub mod page;
