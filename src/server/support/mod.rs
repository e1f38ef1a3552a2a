//! Small parts several owners share: caches stamped with a generation (a value read before a
//! write is never kept after it) and a cap on how many places one owner may hold.

pub mod file_cache;
pub mod generation_cache;
pub mod per_owner_cap;
