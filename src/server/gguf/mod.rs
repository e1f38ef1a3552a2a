//! GGUF files: recognising one before handing it to llama-server, and writing small random-weight
//! models so tests (and people trying Corral without a download) have something real to load.

pub mod magic;
pub mod test_model;
