//! GGUF files found in the model folders, whether or not they are registered.

use serde::{Deserialize, Serialize};

use crate::domain::gguf::FileReport;

/// One model file found (the first part of a split model stands for all of them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoundFile {
    pub path: String,
    pub size_bytes: u64,
    pub file: FileReport,
    /// The registered model that names this file, if any.
    pub registered_as: Option<i64>,
    /// A projector (`clip`) file in the same folder, to pair with this model.
    pub projector: Option<String>,
    /// The name Add gives it (from the file name, numbered past names taken); only for a file
    /// that can be added.
    #[serde(default)]
    pub suggested_name: Option<String>,
}

impl FoundFile {
    /// A readable GGUF model (not a projector, which goes with a model): what Add takes.
    pub fn can_be_added(&self) -> bool {
        matches!(self.file, FileReport::Read(_)) && !self.file.is_projector()
    }
}

/// The model folders and what is in them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Discovered {
    /// The folders scanned and watched.
    pub folders: Vec<String>,
    /// Caches present on this machine that are not scanned (the Hugging Face and llama.cpp
    /// download caches), to offer.
    pub offered: Vec<String>,
    /// One page of the files, in path order (`DiscoveryPage`).
    pub files: Vec<FoundFile>,
    /// Files found in all.
    #[serde(default)]
    pub total: usize,
    /// Ask with `"after": <this>` for the next page; `None` on the last.
    #[serde(default)]
    pub next_after: Option<String>,
}

/// Which files of `discovery/list`: at most `limit` (1–200, default 200) whose paths sort after
/// `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryPage {
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub after: Option<String>,
}

/// What a path typed in the Add dialog is, checked as it is typed: whether a model can be made
/// from it, why not in words, and what it would be named.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PathCheck {
    pub ok: bool,
    /// "A GGUF model: …", "No file at this path", "outside the model folders (…)"…
    pub message: String,
    /// The file's own name for its model (`general.name`).
    pub gguf_name: Option<String>,
    /// The name Add would give it (from the file name, numbered past the names taken).
    pub suggested_name: Option<String>,
}
