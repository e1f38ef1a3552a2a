//! GGUF files: recognising one before handing it to llama-server, reading what its header says
//! about the model, and writing them (small random-weight models so tests, and people trying
//! Corral without a download, have something real to load).

pub mod magic;
pub mod reader;
pub mod test_model;
pub mod types;
pub mod writer;
